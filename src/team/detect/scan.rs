//! The state of one scan of a project tree ([`Scan`]) and what it records
//! per directory and per file; [`Detection`] is what it ends in.

use std::collections::{BTreeMap, HashSet};
use std::path::Path;

use serde::Serialize;

use super::evidence::*;
use super::manifests::compose_services;
use super::walk::{READ_BUDGET, READ_LIMIT};
use super::{DATA, SYS};

/// What [`detect`](super::detect) found in a project tree.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Detection {
    /// One of [`PROJECT_TYPES`](super::PROJECT_TYPES).
    pub project_type: String,
    /// 0..1: the winner's share of all the evidence, scaled down when the
    /// evidence is thin (a winning score under 8). 0 when nothing matched.
    pub confidence: f32,
    /// Evidence score per project type (every type is present).
    pub scores: BTreeMap<String, u32>,
    /// Human-readable evidence, e.g. "package.json with react".
    pub indicators: Vec<String>,
    /// Migrations, SQL schemas, Prisma, database drivers in the dependencies,
    /// database services in docker-compose or Kubernetes, database resources
    /// in Terraform, dbt.
    pub has_database: bool,
    /// Deployment plans (`*_deployment_*.md`), production configs, Kubernetes
    /// manifests, systemd units.
    pub production: bool,
    /// The largest of: docker-compose services, Kubernetes
    /// Deployments/StatefulSets/DaemonSets, systemd `*.service` units.
    pub service_count: u32,
    /// Files seen (at most [`MAX_FILES`](super::walk::MAX_FILES)).
    pub file_count: u64,
    /// Lines of the text files read (a lower bound when `truncated`).
    pub line_count: u64,
    /// The scan hit one of its bounds (depth, file count or read budget).
    pub truncated: bool,
}

pub(super) struct Hit {
    pub(super) ty: Option<usize>,
    pub(super) weight: u32,
    pub(super) text: String,
}

/// A kind of file counted over the whole tree, turned into one indicator.
#[derive(Default)]
pub(super) struct Tally {
    pub(super) n: u32,
    pub(super) first: String,
}

impl Tally {
    pub(super) fn add(&mut self, rel: &str) {
        if self.n == 0 {
            self.first = rel.to_string();
        }
        self.n += 1;
    }
}

#[derive(Default)]
pub(super) struct Scan {
    pub(super) hits: Vec<Hit>,
    pub(super) keys: HashSet<String>,
    pub(super) has_database: bool,
    pub(super) production: bool,
    pub(super) files: u64,
    pub(super) lines: u64,
    pub(super) read: u64,
    pub(super) truncated: bool,
    pub(super) terraform: Tally,
    pub(super) cloudformation: Tally,
    pub(super) playbooks: Tally,
    pub(super) ansible_roles: Tally,
    pub(super) k8s: Tally,
    pub(super) k8s_workloads: u32,
    pub(super) units: Tally,
    pub(super) components: Tally,
    pub(super) airflow: Tally,
    pub(super) spark: Tally,
    pub(super) etl: Tally,
    pub(super) data_files: Tally,
    pub(super) sql: Tally,
    pub(super) compose_services: u32,
}

impl Scan {
    /// Record evidence once per `key`.
    pub(super) fn hit(
        &mut self,
        key: impl Into<String>,
        ty: Option<usize>,
        weight: u32,
        text: impl Into<String>,
    ) {
        if self.keys.insert(key.into()) {
            self.hits.push(Hit {
                ty,
                weight,
                text: text.into(),
            });
        }
    }

    pub(super) fn database(&mut self, key: impl Into<String>, text: impl Into<String>) {
        self.has_database = true;
        self.hit(format!("db:{}", key.into()), None, 0, text);
    }

    pub(super) fn production(&mut self, key: impl Into<String>, text: impl Into<String>) {
        self.production = true;
        self.hit(format!("prod:{}", key.into()), None, 0, text);
    }

    pub(super) fn libs(&mut self, rel: &str, found: &[&Lib]) {
        for (name, ty, weight, db) in found {
            if ty.is_some() {
                self.hit(
                    format!("lib:{name}"),
                    *ty,
                    *weight,
                    format!("{rel} with {name}"),
                );
            }
            if *db {
                self.database(
                    format!("lib:{name}"),
                    format!("database library {name} in {rel}"),
                );
            }
        }
    }

    pub(super) fn dir(&mut self, rel: &str, name: &str) {
        let parent = rel.rsplit_once('/').map(|(p, _)| p).unwrap_or("");
        let migrations = matches!(name, "migrations" | "alembic")
            || (name == "migrate" && parent.ends_with("db"));
        if migrations {
            self.hit(
                "migrations",
                Some(DATA),
                1,
                format!("database migrations in {rel}/"),
            );
            self.has_database = true;
        }
    }

    pub(super) fn file(&mut self, path: &Path, rel: &str, name: &str, size: u64) {
        self.files += 1;
        let lower = name.to_lowercase();
        let ext = lower.rsplit_once('.').map(|(_, e)| e).unwrap_or("");
        let stem = lower.rsplit_once('.').map(|(s, _)| s).unwrap_or(&lower);
        let content = self.read_text(path, &lower, ext, size);
        if let Some(c) = &content {
            self.lines += c.lines().count() as u64;
        }
        let c = content.as_deref().unwrap_or("");

        self.manifest(rel, &lower, c);
        if lower == "dockerfile" || lower.starts_with("dockerfile.") || ext == "dockerfile" {
            self.hit(
                "dockerfile",
                Some(SYS),
                1,
                format!("{rel} (container image)"),
            );
        }

        self.by_extension(rel, &lower, ext, stem, content.is_some(), c);
        self.etl_code(rel, ext, stem);
        self.production_config(rel, &lower, ext);
    }

    /// The file's text, if it is a kind of text file that is read and fits
    /// under the size limit and the scan's read budget.
    fn read_text(&mut self, path: &Path, lower: &str, ext: &str, size: u64) -> Option<String> {
        let special = matches!(
            lower,
            "dockerfile"
                | "gemfile"
                | "pipfile"
                | "go.mod"
                | "makefile"
                | "procfile"
                | "vagrantfile"
        ) || lower.starts_with(".env")
            || lower.starts_with("dockerfile.");
        let texty = (TEXT_EXTS.contains(&ext) || special) && !LOCK_FILES.contains(&lower);
        if !texty {
            None
        } else if size > READ_LIMIT || self.read + size > READ_BUDGET {
            if size <= READ_LIMIT {
                self.truncated = true;
            }
            None
        } else {
            self.read += size;
            std::fs::read(path)
                .ok()
                .filter(|b| !b[..b.len().min(1024)].contains(&0))
                .map(|b| String::from_utf8_lossy(&b).into_owned())
        }
    }

    /// Evidence from a file's extension (and, for some, its content).
    fn by_extension(&mut self, rel: &str, lower: &str, ext: &str, stem: &str, read: bool, c: &str) {
        match ext {
            "jsx" | "tsx" | "vue" | "svelte" => self.components.add(rel),
            "tf" => {
                self.terraform.add(rel);
                if TF_DB_RESOURCES.iter().any(|r| c.contains(r)) {
                    self.database("tf", format!("database resource in {rel}"));
                }
            }
            "service" if !read || c.contains("[Service]") || c.contains("[Unit]") => {
                self.units.add(rel)
            }
            "md" => {
                if DEPLOYMENT_DOC.is_match(stem) {
                    self.hit(
                        format!("doc:{rel}"),
                        Some(SYS),
                        5,
                        format!("deployment plan {rel}"),
                    );
                    self.production(
                        format!("doc:{rel}"),
                        format!("production: deployment plan {rel}"),
                    );
                } else if stem.contains("runbook") {
                    self.hit("runbook", Some(SYS), 2, format!("operations runbook {rel}"));
                }
            }
            "sql" => {
                self.sql.add(rel);
                self.database("sql", format!("SQL file {rel}"));
            }
            "csv" | "parquet" | "avro" | "orc" | "feather" | "jsonl" | "ndjson" => {
                self.data_files.add(rel)
            }
            "yml" | "yaml" => self.yaml(rel, lower, c),
            "json" if c.contains("AWSTemplateFormatVersion") => self.cloudformation.add(rel),
            "py" => self.python(rel, c),
            "scala" | "java" if c.contains("SparkSession") => self.spark.add(rel),
            _ => {}
        }
    }

    /// Airflow, Spark, pandas and pipeline schedulers in Python code.
    fn python(&mut self, rel: &str, c: &str) {
        if c.contains("from airflow") || c.contains("import airflow") {
            self.airflow.add(rel);
        }
        if c.contains("pyspark") || c.contains("SparkSession") {
            self.spark.add(rel);
        }
        if c.contains("import pandas") || c.contains("from pandas") {
            self.hit("pandas", Some(DATA), 1, format!("pandas code in {rel}"));
        }
        for (lib, label) in [
            ("luigi", "Luigi"),
            ("prefect", "Prefect"),
            ("dagster", "Dagster"),
        ] {
            if c.contains(&format!("import {lib}")) || c.contains(&format!("from {lib}")) {
                self.hit(
                    format!("sched:{lib}"),
                    Some(DATA),
                    4,
                    format!("{label} pipeline {rel}"),
                );
            }
        }
    }

    /// ETL code: a data language in a directory named like `etl/` or
    /// `pipelines/`, or a file named like `extract_*.py`.
    fn etl_code(&mut self, rel: &str, ext: &str, stem: &str) {
        let data_code = matches!(ext, "py" | "sql" | "scala" | "java" | "r" | "sh");
        let (dirs, _) = rel.rsplit_once('/').unwrap_or(("", rel));
        let in_etl_dir = dirs
            .split('/')
            .any(|d| ETL_WORDS.contains(&d.to_lowercase().as_str()));
        let etl_name = path_words(stem)
            .next()
            .is_some_and(|w| ETL_WORDS.contains(&w.as_str()));
        if data_code && (in_etl_dir || etl_name) {
            self.etl.add(rel);
        }
    }

    /// A config file with `prod` or `production` in its path.
    fn production_config(&mut self, rel: &str, lower: &str, ext: &str) {
        let config = matches!(
            ext,
            "yml"
                | "yaml"
                | "json"
                | "toml"
                | "env"
                | "tfvars"
                | "ini"
                | "cfg"
                | "conf"
                | "rb"
                | "properties"
        ) || lower.starts_with(".env");
        if config && path_words(rel).any(|w| w == "prod" || w == "production") {
            self.production("config", format!("production: production config {rel}"));
        }
    }

    fn yaml(&mut self, rel: &str, lower: &str, c: &str) {
        let compose = lower.starts_with("docker-compose") || lower.starts_with("compose.");
        if compose {
            let services = compose_services(c);
            self.compose_services = self.compose_services.max(services.len() as u32);
            self.hit(
                format!("compose:{rel}"),
                Some(SYS),
                1,
                format!("{rel} with {} services", services.len()),
            );
            for (svc, image) in services {
                if let Some(image) = image.filter(|i| is_db_image(i)) {
                    self.database(
                        format!("compose:{rel}:{svc}"),
                        format!("{rel} service {svc} runs {image}"),
                    );
                }
            }
            return;
        }
        if c.contains("AWSTemplateFormatVersion") {
            self.cloudformation.add(rel);
            return;
        }
        let mut manifest = false;
        for doc in c.split("\n---") {
            let kind = doc
                .lines()
                .find_map(|l| K8S_KIND.captures(l).map(|m| m[1].to_string()));
            let api = doc.lines().any(|l| l.starts_with("apiVersion:"));
            if let (true, Some(kind)) = (api, kind) {
                manifest = true;
                if matches!(kind.as_str(), "Deployment" | "StatefulSet" | "DaemonSet") {
                    self.k8s_workloads += 1;
                    for m in IMAGE.captures_iter(doc) {
                        if is_db_image(&m[1]) {
                            self.database(
                                format!("k8s:{rel}"),
                                format!("Kubernetes {kind} in {rel} runs {}", &m[1]),
                            );
                        }
                    }
                }
            }
        }
        if manifest {
            self.k8s.add(rel);
            return;
        }
        let words: Vec<String> = path_words(rel).collect();
        if let Some(i) = words.iter().position(|w| w == "roles") {
            if words
                .get(i + 2)
                .is_some_and(|w| w == "tasks" || w == "handlers")
            {
                self.ansible_roles.add(rel);
                return;
            }
        }
        if PLAYBOOK_HOSTS.is_match(c) && c.trim_start().starts_with('-') {
            self.playbooks.add(rel);
        }
    }
}

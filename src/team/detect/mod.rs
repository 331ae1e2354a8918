//! Team templates (`roles/teams/*.toml`), project-type detection and sizing.
//!
//! Pure apart from [`detect`], which reads a project tree (bounded: depth,
//! file count and bytes read). The flow for `orc up` is
//! `detect` → [`template`] for the detected (or chosen) type → [`Size`] →
//! [`select_roles`] against the [`PlanTier`] cap → [`explain`].

use std::collections::{BTreeMap, HashSet, VecDeque};
use std::fmt;
use std::path::Path;
use std::str::FromStr;
use std::sync::LazyLock;

use regex::Regex;
use serde::{Deserialize, Serialize};

use crate::routing::Policy;

include!(concat!(env!("OUT_DIR"), "/team_files.rs"));

/// Every role orc knows, in no particular order.
pub const ROLES: [&str; 15] = [
    "orchestrator",
    "project_manager",
    "developer",
    "tester",
    "testrunner",
    "researcher",
    "logtracker",
    "devops",
    "code_reviewer",
    "documentation_writer",
    "sysadmin",
    "securityops",
    "networkops",
    "monitoringops",
    "databaseops",
];

/// The role that is always on a team and never trimmed.
pub const HUB: &str = "orchestrator";

/// The project types, which are also the built-in template names. On a tie in
/// score the earlier one wins.
pub const PROJECT_TYPES: [&str; 4] = [
    "infrastructure_as_code",
    "system_deployment",
    "data_pipeline",
    "web_application",
];
const IAC: usize = 0;
const SYS: usize = 1;
const DATA: usize = 2;
const WEB: usize = 3;

fn unknown_role(role: &str) -> String {
    format!("unknown role {role:?}; valid roles: {}", ROLES.join(", "))
}

fn check_role(role: &str) -> Result<(), String> {
    if ROLES.contains(&role) {
        Ok(())
    } else {
        Err(unknown_role(role))
    }
}

// ---------------------------------------------------------------------------
// Detection

/// Directory names never descended into: VCS data, dependencies, build
/// output, test fixtures (which may hold whole sample projects).
/// Hidden directories (`.github`, `.terraform`, ...) are skipped as well.
const SKIP_DIRS: [&str; 11] = [
    "node_modules",
    "target",
    "vendor",
    "venv",
    "dist",
    "build",
    "__pycache__",
    "site-packages",
    "bower_components",
    // test data, not the project
    "fixtures",
    "testdata",
];
/// Directories deeper than this below the project root are not read.
pub const MAX_DEPTH: usize = 6;
/// The walk stops after this many files.
pub const MAX_FILES: u64 = 20_000;
/// Files larger than this are counted but not read.
const READ_LIMIT: u64 = 512 * 1024;
/// Total bytes read per scan; past it, files are counted but not read.
const READ_BUDGET: u64 = 64 * 1024 * 1024;

/// What [`detect`] found in a project tree.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Detection {
    /// One of [`PROJECT_TYPES`].
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
    /// Files seen (at most [`MAX_FILES`]).
    pub file_count: u64,
    /// Lines of the text files read (a lower bound when `truncated`).
    pub line_count: u64,
    /// The scan hit one of its bounds (depth, file count or read budget).
    pub truncated: bool,
}

struct Hit {
    ty: Option<usize>,
    weight: u32,
    text: String,
}

/// A kind of file counted over the whole tree, turned into one indicator.
#[derive(Default)]
struct Tally {
    n: u32,
    first: String,
}

impl Tally {
    fn add(&mut self, rel: &str) {
        if self.n == 0 {
            self.first = rel.to_string();
        }
        self.n += 1;
    }
}

#[derive(Default)]
struct Scan {
    hits: Vec<Hit>,
    keys: HashSet<String>,
    has_database: bool,
    production: bool,
    files: u64,
    lines: u64,
    read: u64,
    truncated: bool,
    terraform: Tally,
    cloudformation: Tally,
    playbooks: Tally,
    ansible_roles: Tally,
    k8s: Tally,
    k8s_workloads: u32,
    units: Tally,
    components: Tally,
    airflow: Tally,
    spark: Tally,
    etl: Tally,
    data_files: Tally,
    sql: Tally,
    compose_services: u32,
}

/// Frameworks and libraries in dependency manifests: (name, type or None for
/// database-only evidence, weight, marks a database).
type Lib = (&'static str, Option<usize>, u32, bool);

const NPM_LIBS: &[Lib] = &[
    ("react", Some(WEB), 3, false),
    ("next", Some(WEB), 3, false),
    ("vue", Some(WEB), 3, false),
    ("nuxt", Some(WEB), 3, false),
    ("@angular/core", Some(WEB), 3, false),
    ("svelte", Some(WEB), 3, false),
    ("express", Some(WEB), 3, false),
    ("koa", Some(WEB), 3, false),
    ("fastify", Some(WEB), 3, false),
    ("@nestjs/core", Some(WEB), 3, false),
    ("@remix-run/react", Some(WEB), 3, false),
    ("@pulumi/pulumi", Some(IAC), 5, false),
    ("aws-cdk-lib", Some(IAC), 5, false),
    ("cdktf", Some(IAC), 5, false),
    ("pg", None, 0, true),
    ("mysql", None, 0, true),
    ("mysql2", None, 0, true),
    ("mongodb", None, 0, true),
    ("mongoose", None, 0, true),
    ("sequelize", None, 0, true),
    ("typeorm", None, 0, true),
    ("prisma", None, 0, true),
    ("@prisma/client", None, 0, true),
    ("knex", None, 0, true),
    ("sqlite3", None, 0, true),
    ("better-sqlite3", None, 0, true),
    ("drizzle-orm", None, 0, true),
];

const PY_LIBS: &[Lib] = &[
    ("django", Some(WEB), 3, false),
    ("flask", Some(WEB), 3, false),
    ("fastapi", Some(WEB), 3, false),
    ("starlette", Some(WEB), 2, false),
    ("tornado", Some(WEB), 2, false),
    ("pyramid", Some(WEB), 2, false),
    ("apache-airflow", Some(DATA), 4, false),
    ("luigi", Some(DATA), 4, false),
    ("prefect", Some(DATA), 4, false),
    ("dagster", Some(DATA), 4, false),
    ("dbt-core", Some(DATA), 4, true),
    ("pyspark", Some(DATA), 3, false),
    ("pandas", Some(DATA), 2, false),
    ("polars", Some(DATA), 2, false),
    ("pulumi", Some(IAC), 5, false),
    ("aws-cdk-lib", Some(IAC), 5, false),
    ("psycopg2", None, 0, true),
    ("psycopg", None, 0, true),
    ("asyncpg", None, 0, true),
    ("sqlalchemy", None, 0, true),
    ("pymysql", None, 0, true),
    ("mysqlclient", None, 0, true),
    ("pymongo", None, 0, true),
    ("alembic", None, 0, true),
];

const GEMS: &[Lib] = &[
    ("rails", Some(WEB), 3, false),
    ("sinatra", Some(WEB), 3, false),
    ("hanami", Some(WEB), 3, false),
    ("pg", None, 0, true),
    ("mysql2", None, 0, true),
    ("sqlite3", None, 0, true),
    ("activerecord", None, 0, true),
    ("sequel", None, 0, true),
    ("mongoid", None, 0, true),
];

/// Module path prefixes in go.mod.
const GO_MODS: &[Lib] = &[
    ("github.com/gin-gonic/gin", Some(WEB), 3, false),
    ("github.com/labstack/echo", Some(WEB), 3, false),
    ("github.com/gofiber/fiber", Some(WEB), 3, false),
    ("github.com/go-chi/chi", Some(WEB), 3, false),
    ("github.com/gorilla/mux", Some(WEB), 3, false),
    ("github.com/pulumi/pulumi", Some(IAC), 5, false),
    ("github.com/aws/aws-cdk-go", Some(IAC), 5, false),
    ("github.com/lib/pq", None, 0, true),
    ("github.com/jackc/pgx", None, 0, true),
    ("gorm.io/gorm", None, 0, true),
    ("github.com/go-sql-driver/mysql", None, 0, true),
    ("go.mongodb.org/mongo-driver", None, 0, true),
    ("github.com/mattn/go-sqlite3", None, 0, true),
];

const CRATES: &[Lib] = &[
    ("actix-web", Some(WEB), 3, false),
    ("axum", Some(WEB), 3, false),
    ("rocket", Some(WEB), 3, false),
    ("warp", Some(WEB), 3, false),
    ("poem", Some(WEB), 3, false),
    ("leptos", Some(WEB), 3, false),
    ("yew", Some(WEB), 3, false),
    ("polars", Some(DATA), 2, false),
    ("datafusion", Some(DATA), 2, false),
    ("sqlx", None, 0, true),
    ("diesel", None, 0, true),
    ("postgres", None, 0, true),
    ("tokio-postgres", None, 0, true),
    ("rusqlite", None, 0, true),
    ("sea-orm", None, 0, true),
    ("mongodb", None, 0, true),
    ("mysql", None, 0, true),
];

/// Image names (last path segment, before the tag) that are databases.
const DB_IMAGES: &[&str] = &[
    "postgres",
    "postgis",
    "mysql",
    "mariadb",
    "mongo",
    "cockroach",
    "cassandra",
    "clickhouse",
    "timescaledb",
    "mssql",
    "couchdb",
    "neo4j",
    "influxdb",
];

/// Terraform resource types that are databases.
const TF_DB_RESOURCES: &[&str] = &[
    "\"aws_db_instance\"",
    "\"aws_rds_cluster\"",
    "\"aws_dynamodb_table\"",
    "\"google_sql_database_instance\"",
    "\"azurerm_postgresql",
    "\"azurerm_mysql",
    "\"azurerm_mssql",
];

/// Path words that mark ETL code.
const ETL_WORDS: &[&str] = &[
    "etl",
    "elt",
    "pipeline",
    "pipelines",
    "ingest",
    "ingestion",
    "extract",
    "transform",
    "transforms",
];

/// Extensions of files read for content and line counts.
const TEXT_EXTS: &[&str] = &[
    "rs", "py", "js", "jsx", "mjs", "cjs", "ts", "tsx", "vue", "svelte", "rb", "go", "java", "kt",
    "scala", "php", "cs", "c", "h", "cc", "cpp", "hpp", "swift", "sh", "bash", "sql", "html",
    "css", "scss", "toml", "yaml", "yml", "json", "tf", "hcl", "tfvars", "ini", "cfg", "conf",
    "service", "timer", "socket", "md", "txt", "prisma", "j2", "env",
];
/// Generated files that are counted but not read.
const LOCK_FILES: &[&str] = &[
    "package-lock.json",
    "yarn.lock",
    "pnpm-lock.yaml",
    "cargo.lock",
    "poetry.lock",
    "gemfile.lock",
    "go.sum",
    "composer.lock",
    "pipfile.lock",
];

static DEPLOYMENT_DOC: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"(^|[_-])deployment([_-]|$)").unwrap());
static PLAYBOOK_HOSTS: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"(?m)^(?:-\s+|\s{2,4})hosts:\s*\S").unwrap());
static K8S_KIND: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"^kind:\s*([A-Za-z]+)").unwrap());
static IMAGE: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r#"(?m)^\s*-?\s*image:\s*["']?([^\s"']+)"#).unwrap());

fn is_db_image(image: &str) -> bool {
    let last = image.rsplit('/').next().unwrap_or(image);
    let name = last.split([':', '@']).next().unwrap_or(last).to_lowercase();
    DB_IMAGES.iter().any(|d| name.starts_with(d))
}

/// Words of a relative path, lowercased: `etl/load_sales.py` → etl, load, sales, py.
fn path_words(rel: &str) -> impl Iterator<Item = String> + '_ {
    rel.split(['/', '.', '_', '-'])
        .filter(|w| !w.is_empty())
        .map(|w| w.to_lowercase())
}

/// `name` or `name-...` / `name[...]` (a Python distribution and its variants).
fn py_token_matches(token: &str, name: &str) -> bool {
    token == name
        || token
            .strip_prefix(name)
            .is_some_and(|rest| rest.starts_with('-') || rest.starts_with('['))
}

impl Scan {
    /// Record evidence once per `key`.
    fn hit(
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

    fn database(&mut self, key: impl Into<String>, text: impl Into<String>) {
        self.has_database = true;
        self.hit(format!("db:{}", key.into()), None, 0, text);
    }

    fn production(&mut self, key: impl Into<String>, text: impl Into<String>) {
        self.production = true;
        self.hit(format!("prod:{}", key.into()), None, 0, text);
    }

    fn libs(&mut self, rel: &str, found: &[&Lib]) {
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

    fn dir(&mut self, rel: &str, name: &str) {
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

    fn file(&mut self, path: &Path, rel: &str, name: &str, size: u64) {
        self.files += 1;
        let lower = name.to_lowercase();
        let ext = lower.rsplit_once('.').map(|(_, e)| e).unwrap_or("");
        let stem = lower.rsplit_once('.').map(|(s, _)| s).unwrap_or(&lower);
        let special = matches!(
            lower.as_str(),
            "dockerfile"
                | "gemfile"
                | "pipfile"
                | "go.mod"
                | "makefile"
                | "procfile"
                | "vagrantfile"
        ) || lower.starts_with(".env")
            || lower.starts_with("dockerfile.");
        let texty = (TEXT_EXTS.contains(&ext) || special) && !LOCK_FILES.contains(&lower.as_str());
        let content = if !texty {
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
        };
        if let Some(c) = &content {
            self.lines += c.lines().count() as u64;
        }
        let c = content.as_deref().unwrap_or("");

        // Dependency manifests.
        match lower.as_str() {
            "package.json" => {
                self.hit("manifest:npm", Some(WEB), 1, format!("{rel} (Node.js)"));
                let deps = npm_deps(c);
                let found: Vec<&Lib> = NPM_LIBS.iter().filter(|l| deps.contains(l.0)).collect();
                self.libs(rel, &found);
            }
            "requirements.txt" | "pyproject.toml" | "pipfile" | "setup.py" | "setup.cfg" => {
                self.hit("manifest:py", Some(WEB), 1, format!("{rel} (Python)"));
                let tokens: Vec<String> = c
                    .split(|ch: char| !(ch.is_ascii_alphanumeric() || "-_.[".contains(ch)))
                    .map(|t| t.to_lowercase().replace('_', "-"))
                    .collect();
                let found: Vec<&Lib> = PY_LIBS
                    .iter()
                    .filter(|l| tokens.iter().any(|t| py_token_matches(t, l.0)))
                    .collect();
                self.libs(rel, &found);
            }
            "gemfile" => {
                self.hit("manifest:gem", Some(WEB), 1, format!("{rel} (Ruby)"));
                let gems: HashSet<&str> = c
                    .lines()
                    .filter_map(|l| l.trim().strip_prefix("gem "))
                    .filter_map(|l| {
                        l.trim()
                            .trim_start_matches(['\'', '"'])
                            .split(['\'', '"'])
                            .next()
                    })
                    .collect();
                let found: Vec<&Lib> = GEMS.iter().filter(|l| gems.contains(l.0)).collect();
                self.libs(rel, &found);
            }
            "go.mod" => {
                self.hit("manifest:go", Some(WEB), 1, format!("{rel} (Go)"));
                let found: Vec<&Lib> = GO_MODS.iter().filter(|l| c.contains(l.0)).collect();
                self.libs(rel, &found);
            }
            "cargo.toml" => {
                self.hit("manifest:cargo", Some(WEB), 1, format!("{rel} (Rust)"));
                let deps = cargo_deps(c);
                let found: Vec<&Lib> = CRATES.iter().filter(|l| deps.contains(l.0)).collect();
                self.libs(rel, &found);
            }
            "manage.py" if c.contains("django") => {
                self.hit("django:manage", Some(WEB), 2, format!("{rel} (Django)"));
            }
            "schema.prisma" => self.database("prisma", format!("Prisma schema {rel}")),
            "dbt_project.yml" => {
                self.hit("dbt", Some(DATA), 6, format!("dbt project {rel}"));
                self.has_database = true;
            }
            "pulumi.yaml" | "pulumi.yml" => {
                self.hit("pulumi", Some(IAC), 6, format!("Pulumi project {rel}"));
            }
            "cdk.json" => self.hit("cdk", Some(IAC), 5, format!("AWS CDK app {rel}")),
            "terragrunt.hcl" => self.hit(
                "terragrunt",
                Some(IAC),
                3,
                format!("Terragrunt config {rel}"),
            ),
            "ansible.cfg" => self.hit("ansible.cfg", Some(SYS), 4, format!("Ansible config {rel}")),
            "inventory" | "inventory.ini" | "hosts.ini" => self.hit(
                "inventory",
                Some(SYS),
                1,
                format!("Ansible inventory {rel}"),
            ),
            "chart.yaml" if c.contains("apiVersion") => {
                self.hit("helm", Some(SYS), 3, format!("Helm chart {rel}"))
            }
            _ => {}
        }
        if lower == "dockerfile" || lower.starts_with("dockerfile.") || ext == "dockerfile" {
            self.hit(
                "dockerfile",
                Some(SYS),
                1,
                format!("{rel} (container image)"),
            );
        }

        match ext {
            "jsx" | "tsx" | "vue" | "svelte" => self.components.add(rel),
            "tf" => {
                self.terraform.add(rel);
                if TF_DB_RESOURCES.iter().any(|r| c.contains(r)) {
                    self.database("tf", format!("database resource in {rel}"));
                }
            }
            "service" if content.is_none() || c.contains("[Service]") || c.contains("[Unit]") => {
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
            "yml" | "yaml" => self.yaml(rel, &lower, c),
            "json" if c.contains("AWSTemplateFormatVersion") => self.cloudformation.add(rel),
            "py" => {
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
            "scala" | "java" if c.contains("SparkSession") => self.spark.add(rel),
            _ => {}
        }

        // ETL code: a data language in a directory named like `etl/` or
        // `pipelines/`, or a file named like `extract_*.py`.
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

    fn finish(mut self) -> Detection {
        let service_count = self
            .compose_services
            .max(self.k8s_workloads)
            .max(self.units.n);
        let tally = |t: &Tally, one: &str, many: &str| {
            if t.n == 1 {
                format!("{one} {}", t.first)
            } else {
                format!("{} {many}, e.g. {}", t.n, t.first)
            }
        };
        let t = std::mem::take(&mut self.terraform);
        if t.n > 0 {
            let text = tally(&t, "Terraform file", "Terraform files (*.tf)");
            self.hit("terraform", Some(IAC), 4 + t.n.min(6), text);
        }
        let t = std::mem::take(&mut self.cloudformation);
        if t.n > 0 {
            let text = tally(&t, "CloudFormation template", "CloudFormation templates");
            self.hit("cloudformation", Some(IAC), 5 + t.n.min(5), text);
        }
        let t = std::mem::take(&mut self.playbooks);
        if t.n > 0 {
            let text = tally(&t, "Ansible playbook", "Ansible playbooks");
            self.hit("playbooks", Some(SYS), 3 + t.n.min(3), text);
        }
        let t = std::mem::take(&mut self.ansible_roles);
        if t.n > 0 {
            self.hit(
                "ansible-roles",
                Some(SYS),
                2,
                format!("Ansible roles, e.g. {}", t.first),
            );
        }
        let t = std::mem::take(&mut self.k8s);
        if t.n > 0 {
            let text = format!(
                "{} Kubernetes manifest(s) with {} Deployments/StatefulSets/DaemonSets, e.g. {}",
                t.n, self.k8s_workloads, t.first
            );
            self.hit("k8s", Some(SYS), 3 + t.n.min(4), text);
            self.production("k8s", "production: Kubernetes manifests");
        }
        let t = std::mem::take(&mut self.units);
        if t.n > 0 {
            let text = tally(&t, "systemd unit", "systemd units (*.service)");
            self.hit("systemd", Some(SYS), 3 + t.n.min(3), text);
            self.production("systemd", "production: systemd units");
        }
        let t = std::mem::take(&mut self.components);
        if t.n > 0 {
            let text = tally(
                &t,
                "UI component file",
                "UI component files (*.jsx/*.tsx/*.vue/*.svelte)",
            );
            self.hit("components", Some(WEB), 2, text);
        }
        let t = std::mem::take(&mut self.airflow);
        if t.n > 0 {
            let text = tally(&t, "Airflow DAG", "Airflow DAGs");
            self.hit("airflow", Some(DATA), 5 + t.n.min(3), text);
        }
        let t = std::mem::take(&mut self.spark);
        if t.n > 0 {
            self.hit("spark", Some(DATA), 3, tally(&t, "Spark job", "Spark jobs"));
        }
        let t = std::mem::take(&mut self.etl);
        if t.n > 0 {
            let text = tally(&t, "ETL code", "ETL/pipeline code files");
            self.hit("etl", Some(DATA), 2 + t.n.min(3), text);
        }
        let t = std::mem::take(&mut self.sql);
        if t.n >= 3 {
            self.hit(
                "sql-files",
                Some(DATA),
                1,
                tally(&t, "SQL file", "SQL files"),
            );
        }
        let t = std::mem::take(&mut self.data_files);
        if t.n >= 3 {
            let text = tally(&t, "data file", "data files (*.csv/*.parquet/...)");
            self.hit("data-files", Some(DATA), 2, text);
        }

        let mut scores = [0u32; 4];
        for h in &self.hits {
            if let Some(ty) = h.ty {
                scores[ty] += h.weight;
            }
        }
        let total: u32 = scores.iter().sum();
        // Highest score; on a tie the earlier type in PROJECT_TYPES.
        let best = (0..4).fold(0, |b, i| if scores[i] > scores[b] { i } else { b });
        let mut indicators: Vec<String> = self.hits.into_iter().map(|h| h.text).collect();
        let (project_type, confidence) = if total == 0 {
            indicators.push(
                "nothing matched: no known project files; defaulting to web_application".into(),
            );
            ("web_application", 0.0)
        } else {
            let share = scores[best] as f32 / total as f32;
            let strength = (scores[best] as f32 / 8.0).min(1.0);
            (PROJECT_TYPES[best], share * strength)
        };
        Detection {
            project_type: project_type.to_string(),
            confidence,
            scores: PROJECT_TYPES
                .iter()
                .zip(scores)
                .map(|(t, s)| (t.to_string(), s))
                .collect(),
            indicators,
            has_database: self.has_database,
            production: self.production,
            service_count,
            file_count: self.files,
            line_count: self.lines,
            truncated: self.truncated,
        }
    }
}

/// Dependency names in a package.json (dependencies, devDependencies,
/// peerDependencies).
fn npm_deps(c: &str) -> HashSet<String> {
    let Ok(v) = serde_json::from_str::<serde_json::Value>(c) else {
        return HashSet::new();
    };
    ["dependencies", "devDependencies", "peerDependencies"]
        .iter()
        .filter_map(|k| v.get(k).and_then(|d| d.as_object()))
        .flat_map(|o| o.keys().cloned())
        .collect()
}

/// Dependency names in a Cargo.toml (`[*dependencies]`, also under
/// `[workspace]` and `[target.'cfg(...)']`).
fn cargo_deps(c: &str) -> HashSet<String> {
    fn collect(t: &toml::Table, out: &mut HashSet<String>) {
        for (k, v) in t {
            let Some(v) = v.as_table() else { continue };
            if k.ends_with("dependencies") {
                out.extend(v.keys().cloned());
            } else if k == "workspace" {
                collect(v, out);
            } else if k == "target" {
                for cfg in v.values().filter_map(|x| x.as_table()) {
                    collect(cfg, out);
                }
            }
        }
    }
    let mut out = HashSet::new();
    if let Ok(t) = c.parse::<toml::Table>() {
        collect(&t, &mut out);
    }
    out
}

/// The services of a docker-compose file and their images, read line by line
/// (no YAML parser): the keys one level under the top-level `services:`.
fn compose_services(c: &str) -> Vec<(String, Option<String>)> {
    let mut out: Vec<(String, Option<String>)> = Vec::new();
    let mut in_services = false;
    let mut svc_indent = None;
    for line in c.lines() {
        let trimmed = line.trim();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        let indent = line.len() - line.trim_start().len();
        if indent == 0 {
            in_services = trimmed == "services:";
            continue;
        }
        if !in_services {
            continue;
        }
        let si = *svc_indent.get_or_insert(indent);
        if indent == si {
            if let Some(name) = trimmed.strip_suffix(':') {
                out.push((name.trim_matches(['"', '\'']).to_string(), None));
            }
        } else if indent > si {
            if let (Some(img), Some(last)) = (trimmed.strip_prefix("image:"), out.last_mut()) {
                last.1 = Some(img.trim().trim_matches(['"', '\'']).to_string());
            }
        }
    }
    out
}

/// Scan a project tree and guess its type. Breadth first, so the top of a huge
/// repository is seen before the file bound is reached; never follows symlinks.
pub fn detect(project: &Path) -> Detection {
    let mut scan = Scan::default();
    let mut queue = VecDeque::from([(project.to_path_buf(), String::new(), 0usize)]);
    'walk: while let Some((dir, rel, depth)) = queue.pop_front() {
        let Ok(rd) = std::fs::read_dir(&dir) else {
            continue;
        };
        let mut entries: Vec<_> = rd.filter_map(Result::ok).collect();
        entries.sort_by_key(|e| e.file_name());
        for e in entries {
            let Ok(ft) = e.file_type() else { continue };
            let name = e.file_name().to_string_lossy().into_owned();
            let child = if rel.is_empty() {
                name.clone()
            } else {
                format!("{rel}/{name}")
            };
            if ft.is_dir() {
                if name.starts_with('.') || SKIP_DIRS.contains(&name.as_str()) {
                    continue;
                }
                if depth >= MAX_DEPTH {
                    scan.truncated = true;
                    continue;
                }
                scan.dir(&child, &name);
                queue.push_back((e.path(), child, depth + 1));
            } else if ft.is_file() {
                if scan.files >= MAX_FILES {
                    scan.truncated = true;
                    break 'walk;
                }
                let size = e.metadata().map(|m| m.len()).unwrap_or(0);
                scan.file(&e.path(), &child, &name, size);
            }
        }
    }
    scan.finish()
}

// ---------------------------------------------------------------------------
// Sizing and plans

/// How big a project is, which decides how many optional roles a team gets.
///
/// From a [`Detection`], the largest bucket any measure reaches:
///
/// | size       | files    | lines     | services |
/// |------------|----------|-----------|----------|
/// | small      | < 50     | < 5,000   | <= 2     |
/// | medium     | < 500    | < 50,000  | <= 5     |
/// | large      | < 5,000  | < 500,000 | <= 15    |
/// | enterprise | more     | more      | more     |
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Size {
    Small,
    Medium,
    Large,
    Enterprise,
}

impl Size {
    pub const ALL: [Size; 4] = [Size::Small, Size::Medium, Size::Large, Size::Enterprise];

    pub fn name(self) -> &'static str {
        match self {
            Size::Small => "small",
            Size::Medium => "medium",
            Size::Large => "large",
            Size::Enterprise => "enterprise",
        }
    }

    pub fn from_detection(d: &Detection) -> Size {
        fn bucket(v: u64, limits: [u64; 3]) -> Size {
            match limits.iter().position(|l| v < *l) {
                Some(0) => Size::Small,
                Some(1) => Size::Medium,
                Some(2) => Size::Large,
                _ => Size::Enterprise,
            }
        }
        bucket(d.file_count, [50, 500, 5_000])
            .max(bucket(d.line_count, [5_000, 50_000, 500_000]))
            .max(bucket(d.service_count as u64, [3, 6, 16]))
    }

    /// How many of a template's optional roles (from the front) this size
    /// takes: small none, medium two, large and enterprise all.
    pub fn optional_roles(self) -> usize {
        match self {
            Size::Small => 0,
            Size::Medium => 2,
            Size::Large | Size::Enterprise => usize::MAX,
        }
    }
}

impl fmt::Display for Size {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Size {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let s = s.trim().to_lowercase();
        Size::ALL
            .into_iter()
            .find(|z| z.name() == s)
            .ok_or_else(|| {
                let valid: Vec<&str> = Size::ALL.iter().map(|z| z.name()).collect();
                format!("unknown size {s:?}; valid sizes: {}", valid.join(", "))
            })
    }
}

/// The subscription plan, which caps how many agents run at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PlanTier {
    Pro,
    Max5,
    Max20,
    Console,
}

impl PlanTier {
    pub const ALL: [PlanTier; 4] = [
        PlanTier::Pro,
        PlanTier::Max5,
        PlanTier::Max20,
        PlanTier::Console,
    ];

    pub fn name(self) -> &'static str {
        match self {
            PlanTier::Pro => "pro",
            PlanTier::Max5 => "max5",
            PlanTier::Max20 => "max20",
            PlanTier::Console => "console",
        }
    }

    /// Most agents (orchestrator included) this plan runs.
    pub fn cap(self) -> usize {
        match self {
            PlanTier::Pro => 3,
            PlanTier::Max5 => 5,
            PlanTier::Max20 => 8,
            PlanTier::Console => 10,
        }
    }
}

impl fmt::Display for PlanTier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for PlanTier {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let s = s.trim().to_lowercase();
        PlanTier::ALL
            .into_iter()
            .find(|p| p.name() == s)
            .ok_or_else(|| {
                let valid: Vec<&str> = PlanTier::ALL.iter().map(|p| p.name()).collect();
                format!("unknown plan {s:?}; valid plans: {}", valid.join(", "))
            })
    }
}

// ---------------------------------------------------------------------------
// Templates

/// When a conditional role joins a team.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Condition {
    /// `database`: the project has a database.
    Database,
    /// `production`: the project deploys to production.
    Production,
    /// `services >= N` (or `services > N-1`).
    ServicesAtLeast(u32),
}

impl Condition {
    pub fn holds(&self, d: &Detection) -> bool {
        match *self {
            Condition::Database => d.has_database,
            Condition::Production => d.production,
            Condition::ServicesAtLeast(n) => d.service_count >= n,
        }
    }
}

impl fmt::Display for Condition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Condition::Database => f.write_str("database"),
            Condition::Production => f.write_str("production"),
            Condition::ServicesAtLeast(n) => write!(f, "services >= {n}"),
        }
    }
}

impl FromStr for Condition {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let t = s.trim();
        match t {
            "database" => return Ok(Condition::Database),
            "production" => return Ok(Condition::Production),
            _ => {}
        }
        let bad = || {
            format!(
                "unknown condition {s:?}; valid: \"database\", \"production\", \"services >= N\""
            )
        };
        let rest = t.strip_prefix("services").ok_or_else(bad)?.trim_start();
        let (strict, n) = if let Some(n) = rest.strip_prefix(">=") {
            (false, n)
        } else if let Some(n) = rest.strip_prefix('>') {
            (true, n)
        } else {
            return Err(bad());
        };
        let n: u32 = n.trim().parse().map_err(|_| bad())?;
        Ok(Condition::ServicesAtLeast(if strict { n + 1 } else { n }))
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Conditional {
    pub role: String,
    pub condition: Condition,
}

/// A team template: which roles a kind of project gets, in priority order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    pub name: String,
    pub description: String,
    /// Always on the team (plan permitting); the first is the orchestrator.
    pub core: Vec<String>,
    /// Taken from the front as the project's size allows.
    pub optional: Vec<String>,
    /// Joins when its condition holds; ranked after the core roles.
    pub conditional: Vec<Conditional>,
    /// role → the roles it cannot work without.
    pub dependencies: BTreeMap<String, Vec<String>>,
    /// The team's routing policy.
    pub routing: Policy,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTemplate {
    name: String,
    description: String,
    core: Vec<String>,
    #[serde(default)]
    optional: Vec<String>,
    #[serde(default)]
    conditional: Vec<RawConditional>,
    #[serde(default)]
    dependencies: BTreeMap<String, Vec<String>>,
    #[serde(default)]
    routing: Policy,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConditional {
    role: String,
    condition: String,
}

impl Template {
    /// Parse and check a template file; `stem` is its file name without `.toml`.
    pub fn parse(stem: &str, src: &str) -> Result<Template, String> {
        let raw: RawTemplate =
            toml::from_str(src).map_err(|e| format!("team template {stem}: {e}"))?;
        let err = |m: String| format!("team template {stem}: {m}");
        if raw.name != stem {
            return Err(err(format!(
                "name {:?} does not match the file name",
                raw.name
            )));
        }
        if raw.core.first().map(String::as_str) != Some(HUB) {
            return Err(err(format!("the first core role must be {HUB}")));
        }
        let mut seen = HashSet::new();
        for r in raw.core.iter().chain(&raw.optional) {
            check_role(r).map_err(err)?;
            if !seen.insert(r) {
                return Err(err(format!("role {r} is listed twice")));
            }
        }
        let mut conditional = Vec::new();
        for c in raw.conditional {
            check_role(&c.role).map_err(err)?;
            let condition = c.condition.parse().map_err(err)?;
            conditional.push(Conditional {
                role: c.role,
                condition,
            });
        }
        for (r, deps) in &raw.dependencies {
            check_role(r).map_err(err)?;
            for d in deps {
                check_role(d).map_err(err)?;
                if d == r {
                    return Err(err(format!("{r} depends on itself")));
                }
            }
        }
        check_role(&raw.routing.hub).map_err(err)?;
        for (a, b) in &raw.routing.allow {
            for r in [a, b] {
                if r != "*" {
                    check_role(r).map_err(err)?;
                }
            }
        }
        Ok(Template {
            name: raw.name,
            description: raw.description,
            core: raw.core,
            optional: raw.optional,
            conditional,
            dependencies: raw.dependencies,
            routing: raw.routing,
        })
    }

    /// `role` and everything it needs, transitively; needs come first.
    fn with_needs(&self, role: &str) -> Vec<String> {
        fn visit(t: &Template, r: &str, path: &mut Vec<String>, out: &mut Vec<String>) {
            // `path` ends a dependency cycle instead of looping.
            if out.iter().chain(path.iter()).any(|o| o == r) {
                return;
            }
            path.push(r.to_string());
            for d in t.dependencies.get(r).into_iter().flatten() {
                visit(t, d, path, out);
            }
            path.pop();
            out.push(r.to_string());
        }
        let mut out = Vec::new();
        visit(self, role, &mut Vec::new(), &mut out);
        out
    }
}

/// The built-in templates (`roles/teams/*.toml`), by name.
pub fn templates() -> Vec<Template> {
    TEAM_FILES
        .iter()
        .filter_map(|(stem, src)| match Template::parse(stem, src) {
            Ok(t) => Some(t),
            Err(e) => {
                tracing::error!("{e}");
                None
            }
        })
        .collect()
}

/// A built-in template by name.
pub fn template(name: &str) -> Result<Template, String> {
    let all = templates();
    let valid: Vec<&str> = all.iter().map(|t| t.name.as_str()).collect();
    let msg = format!(
        "unknown team template {name:?}; valid templates: {}",
        valid.join(", ")
    );
    all.iter().find(|t| t.name == name).cloned().ok_or(msg)
}

// ---------------------------------------------------------------------------
// Role selection

/// The roles chosen for a team and why others are not on it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Selection {
    /// In priority order, the orchestrator first; a role's dependencies come
    /// before it.
    pub roles: Vec<String>,
    /// (role, why) for every wanted role that did not make it.
    pub dropped: Vec<(String, String)>,
    /// Roles on the team only because another role needs them.
    pub added_for_dependencies: Vec<String>,
}

/// Choose a team's roles.
///
/// Wanted roles, in priority order: the orchestrator; then either exactly
/// `only`, or the template's core roles, then `add`, then the conditional
/// roles whose condition holds, then as many optional roles as `size` allows
/// (`add` is appended to `only` too). Every role must be one of [`ROLES`].
///
/// Then, in that order, each role joins together with the roles it needs
/// (from the template's `[dependencies]`, placed just before it) if they all
/// fit under the plan's cap; otherwise it is dropped, and so are the needs it
/// alone brought. So a role never stays without its dependencies, the lowest
/// priority roles go first (optional from the end, then core from the end),
/// and the orchestrator always stays.
pub fn select_roles(
    t: &Template,
    d: &Detection,
    size: Size,
    plan: PlanTier,
    only: Option<&[String]>,
    add: &[String],
) -> Result<Selection, String> {
    for r in only.into_iter().flatten().chain(add) {
        check_role(r)?;
    }
    let mut wanted: Vec<String> = vec![HUB.to_string()];
    let mut want = |r: &str| {
        if !wanted.iter().any(|w| w == r) {
            wanted.push(r.to_string());
        }
    };
    match only {
        Some(only) => only.iter().chain(add).for_each(|r| want(r)),
        None => {
            t.core.iter().chain(add).for_each(|r| want(r));
            t.conditional
                .iter()
                .filter(|c| c.condition.holds(d))
                .for_each(|c| want(&c.role));
            t.optional
                .iter()
                .take(size.optional_roles())
                .for_each(|r| want(r));
        }
    }

    let cap = plan.cap();
    let mut sel = Selection::default();
    for role in &wanted {
        if sel.roles.contains(role) {
            continue;
        }
        let group: Vec<String> = t
            .with_needs(role)
            .into_iter()
            .filter(|r| !sel.roles.contains(r))
            .collect();
        if role == HUB || sel.roles.len() + group.len() <= cap {
            for r in group {
                sel.dropped.retain(|(d, _)| *d != r);
                if !wanted.contains(&r) {
                    sel.added_for_dependencies.push(r.clone());
                }
                sel.roles.push(r);
            }
            continue;
        }
        let limit = format!("plan {plan} allows {cap} agents");
        let needs: Vec<&String> = group.iter().filter(|r| *r != role).collect();
        let why = if needs.is_empty() {
            limit.clone()
        } else {
            let names: Vec<&str> = needs.iter().map(|s| s.as_str()).collect();
            format!("needs {}, which was dropped: {limit}", names.join(", "))
        };
        if !sel.dropped.iter().any(|(d, _)| d == role) {
            sel.dropped.push((role.clone(), why));
        }
        for n in needs {
            if !wanted.contains(n) && !sel.dropped.iter().any(|(d, _)| d == n) {
                sel.dropped
                    .push((n.clone(), format!("{limit} (needed by {role})")));
            }
        }
    }
    Ok(sel)
}

/// A few lines for the user: the team, what was added and what was dropped.
pub fn explain(s: &Selection) -> String {
    let mut out = format!("team ({}): {}\n", s.roles.len(), s.roles.join(", "));
    for r in &s.added_for_dependencies {
        out.push_str(&format!("added {r}: another role on the team needs it\n"));
    }
    for (r, why) in &s.dropped {
        out.push_str(&format!("dropped {r}: {why}\n"));
    }
    out
}

#[cfg(test)]
mod tests {

    use super::*;

    fn fixture(case: &str) -> std::path::PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("fixtures/projects")
            .join(case)
    }

    fn has(d: &Detection, needle: &str) -> bool {
        d.indicators.iter().any(|i| i.contains(needle))
    }

    #[test]
    fn detects_fixture_projects() {
        // (case, type, indicators, database, production, services)
        type Case<'a> = (&'a str, &'a str, &'a [&'a str], bool, bool, u32);
        let cases: &[Case] = &[
            (
                "react_app",
                "web_application",
                &["package.json with react", "UI component files"],
                false,
                false,
                0,
            ),
            (
                "django_app",
                "web_application",
                &[
                    "requirements.txt with django",
                    "manage.py (Django)",
                    "database migrations in blog/migrations/",
                ],
                true,
                false,
                0,
            ),
            (
                "compose_app",
                "web_application",
                &[
                    "package.json with express",
                    "docker-compose.yml with 3 services",
                    "service db runs postgres:16",
                ],
                true,
                false,
                3,
            ),
            (
                "terraform_repo",
                "infrastructure_as_code",
                &["4 Terraform files", "database resource in main.tf"],
                true,
                false,
                0,
            ),
            (
                "ansible_deploy",
                "system_deployment",
                &[
                    "Ansible config ansible.cfg",
                    "Ansible playbook site.yml",
                    "Ansible roles",
                    "2 systemd units",
                    "deployment plan docs/web_deployment_plan.md",
                ],
                false,
                true,
                2,
            ),
            (
                "airflow_etl",
                "data_pipeline",
                &[
                    "Airflow DAG dags/daily_sales.py",
                    "ETL/pipeline code",
                    "requirements.txt with apache-airflow",
                ],
                true,
                false,
                0,
            ),
            (
                "k8s_manifests",
                "system_deployment",
                &["5 Kubernetes manifest(s) with 4 Deployments/StatefulSets/DaemonSets"],
                false,
                true,
                4,
            ),
        ];
        for &(case, ty, indicators, db, prod, services) in cases {
            let d = detect(&fixture(case));
            assert_eq!(d.project_type, ty, "{case}: {d:#?}");
            for i in indicators {
                assert!(
                    has(&d, i),
                    "{case}: no indicator {i:?} in {:#?}",
                    d.indicators
                );
            }
            assert_eq!(d.has_database, db, "{case} database: {:#?}", d.indicators);
            assert_eq!(d.production, prod, "{case} production: {:#?}", d.indicators);
            assert_eq!(d.service_count, services, "{case} services");
            assert!(d.confidence > 0.3, "{case}: confidence {}", d.confidence);
            assert!(d.file_count > 0 && d.line_count > 0, "{case}");
            assert!(!d.truncated);
            let size = if services > 2 {
                Size::Medium
            } else {
                Size::Small
            };
            assert_eq!(Size::from_detection(&d), size, "{case}");
        }
    }

    #[test]
    fn empty_project_defaults_to_web_with_no_confidence() {
        let dir = tempfile::tempdir().unwrap();
        let d = detect(dir.path());
        assert_eq!(d.project_type, "web_application");
        assert_eq!(d.confidence, 0.0);
        assert!(has(&d, "nothing matched"));
        assert_eq!((d.file_count, d.line_count, d.service_count), (0, 0, 0));
        assert!(!d.has_database && !d.production);
        assert_eq!(d.scores.len(), 4);
    }

    #[test]
    fn skips_dependency_dirs_and_respects_depth() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path();
        std::fs::create_dir_all(p.join("node_modules/x")).unwrap();
        std::fs::write(p.join("node_modules/x/main.tf"), "resource {}").unwrap();
        std::fs::create_dir_all(p.join(".git")).unwrap();
        std::fs::write(p.join(".git/app.service"), "[Service]").unwrap();
        let deep = p.join("a/b/c/d/e/f/g");
        std::fs::create_dir_all(&deep).unwrap();
        std::fs::write(deep.join("deep.tf"), "resource {}").unwrap();
        let d = detect(p);
        assert_eq!(d.file_count, 0, "{d:#?}");
        assert!(d.truncated, "depth bound reached");
        assert_eq!(d.project_type, "web_application");
    }

    #[test]
    fn compose_parsing() {
        let c = "version: '3'\nservices:\n  web:\n    image: nginx\n  \"db\":\n    image: \"mariadb:11\"\n    ports:\n      - 3306\nvolumes:\n  x:\n";
        assert_eq!(
            compose_services(c),
            vec![
                ("web".to_string(), Some("nginx".to_string())),
                ("db".to_string(), Some("mariadb:11".to_string()))
            ]
        );
        assert!(is_db_image("docker.io/library/postgres:16@sha256:abc"));
        assert!(!is_db_image("redis:7"));
    }

    #[test]
    fn sizes() {
        let d = |files, lines, services| Detection {
            file_count: files,
            line_count: lines,
            service_count: services,
            ..Detection::default()
        };
        let cases = [
            (d(10, 800, 0), Size::Small),
            (d(49, 4_999, 2), Size::Small),
            (d(50, 100, 0), Size::Medium),
            (d(10, 100, 3), Size::Medium),
            (d(400, 60_000, 1), Size::Large),
            (d(100, 100, 6), Size::Large),
            (d(20_000, 100, 0), Size::Enterprise),
            (d(10, 100, 16), Size::Enterprise),
        ];
        for (det, want) in cases {
            assert_eq!(Size::from_detection(&det), want, "{det:?}");
        }
        assert_eq!("Large".parse::<Size>(), Ok(Size::Large));
        let e = "huge".parse::<Size>().unwrap_err();
        assert!(e.contains("small, medium, large, enterprise"), "{e}");
    }

    #[test]
    fn plans() {
        let caps: Vec<(PlanTier, usize)> = ["pro", "max5", "max20", "console"]
            .iter()
            .map(|s| {
                let p: PlanTier = s.parse().unwrap();
                assert_eq!(p.to_string(), *s);
                (p, p.cap())
            })
            .collect();
        assert_eq!(
            caps,
            [
                (PlanTier::Pro, 3),
                (PlanTier::Max5, 5),
                (PlanTier::Max20, 8),
                (PlanTier::Console, 10)
            ]
        );
        let e = "team".parse::<PlanTier>().unwrap_err();
        assert!(e.contains("pro, max5, max20, console"), "{e}");
    }

    #[test]
    fn builtin_templates_parse() {
        let stems: Vec<&str> = TEAM_FILES.iter().map(|(s, _)| *s).collect();
        let mut types = PROJECT_TYPES.to_vec();
        types.sort();
        assert_eq!(stems, types, "one template per project type");
        for (stem, src) in TEAM_FILES {
            let t = Template::parse(stem, src).unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(t.core[0], HUB);
            assert_eq!(t.routing.hub, HUB);
            let end = |role| crate::routing::End {
                name: "x",
                role: Some(role),
                project: None,
            };
            assert!(
                !t.routing.allowed(&end("researcher"), &end("logtracker")),
                "{stem}: spokes go through the hub"
            );
            assert!(
                t.routing.allowed(&end(HUB), &end("databaseops")),
                "{stem}: hub reaches all"
            );
            assert!(!t.optional.is_empty() && !t.conditional.is_empty());
            for r in ["monitoringops", "securityops", "databaseops", "networkops"] {
                assert_eq!(t.dependencies[r], ["sysadmin"], "{stem}: {r}");
            }
            for r in ["tester", "testrunner"] {
                assert_eq!(t.dependencies[r], ["developer"], "{stem}: {r}");
            }
        }
        assert_eq!(templates().len(), TEAM_FILES.len());
        let e = template("mobile_app").unwrap_err();
        assert!(
            e.contains("data_pipeline, infrastructure_as_code, system_deployment, web_application"),
            "{e}"
        );
        let w = template("web_application").unwrap();
        assert_eq!(
            w.core,
            ["orchestrator", "developer", "tester", "testrunner"]
        );
    }

    #[test]
    fn template_errors() {
        let base = "name = \"x\"\ndescription = \"d\"\ncore = [\"orchestrator\"]\n";
        assert!(Template::parse("x", base).is_ok());
        assert!(Template::parse("y", base)
            .unwrap_err()
            .contains("does not match"));
        let e = Template::parse("x", &format!("{base}optional = [\"wizard\"]\n")).unwrap_err();
        assert!(e.contains("valid roles: orchestrator"), "{e}");
        let e = Template::parse(
            "x",
            &format!("{base}[[conditional]]\nrole = \"databaseops\"\ncondition = \"moon\"\n"),
        )
        .unwrap_err();
        assert!(e.contains("services >= N"), "{e}");
        assert_eq!("services > 5".parse(), Ok(Condition::ServicesAtLeast(6)));
        assert_eq!("services>=4".parse(), Ok(Condition::ServicesAtLeast(4)));
        let e = Template::parse(
            "x",
            &format!("{base}[routing]\nhub = \"orchestrator\"\nbogus = 1\n"),
        )
        .unwrap_err();
        assert!(e.contains("bogus"), "{e}");
    }

    fn det(db: bool, prod: bool, services: u32) -> Detection {
        Detection {
            has_database: db,
            production: prod,
            service_count: services,
            ..Detection::default()
        }
    }

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn selection_by_size_plan_and_conditions() {
        // (template, detection, size, plan, roles)
        let cases: &[(&str, Detection, Size, PlanTier, &[&str])] = &[
            (
                "system_deployment",
                det(false, true, 2),
                Size::Large,
                PlanTier::Pro,
                &["orchestrator", "sysadmin", "devops"],
            ),
            (
                "system_deployment",
                det(false, true, 2),
                Size::Large,
                PlanTier::Max20,
                &[
                    "orchestrator",
                    "sysadmin",
                    "devops",
                    "securityops",
                    "networkops",
                    "monitoringops",
                    "databaseops",
                ],
            ),
            (
                "web_application",
                det(false, false, 0),
                Size::Small,
                PlanTier::Console,
                &["orchestrator", "developer", "tester", "testrunner"],
            ),
            (
                "web_application",
                det(false, false, 0),
                Size::Medium,
                PlanTier::Console,
                &[
                    "orchestrator",
                    "developer",
                    "tester",
                    "testrunner",
                    "devops",
                    "researcher",
                ],
            ),
            (
                // database → databaseops, which brings sysadmin just before it
                "web_application",
                det(true, false, 0),
                Size::Small,
                PlanTier::Console,
                &[
                    "orchestrator",
                    "developer",
                    "tester",
                    "testrunner",
                    "sysadmin",
                    "databaseops",
                ],
            ),
            (
                // databaseops + sysadmin do not fit in the last slot; devops does
                "data_pipeline",
                det(false, false, 0),
                Size::Small,
                PlanTier::Pro,
                &["orchestrator", "developer", "devops"],
            ),
            (
                "infrastructure_as_code",
                det(false, false, 8),
                Size::Small,
                PlanTier::Max5,
                &[
                    "orchestrator",
                    "devops",
                    "sysadmin",
                    "securityops",
                    "monitoringops",
                ],
            ),
        ];
        for (name, d, size, plan, want) in cases {
            let t = template(name).unwrap();
            let sel = select_roles(&t, d, *size, *plan, None, &[]).unwrap();
            assert_eq!(
                sel.roles,
                s(want),
                "{name} {size} {plan}: {}",
                explain(&sel)
            );
            assert!(sel.roles.len() <= plan.cap());
            assert_eq!(sel.roles[0], HUB);
        }
    }

    #[test]
    fn pro_plan_trims_and_explains() {
        let t = template("system_deployment").unwrap();
        let sel = select_roles(
            &t,
            &det(true, true, 7),
            Size::Large,
            PlanTier::Pro,
            None,
            &[],
        )
        .unwrap();
        assert_eq!(sel.roles, s(&["orchestrator", "sysadmin", "devops"]));
        let dropped: Vec<&str> = sel.dropped.iter().map(|(r, _)| r.as_str()).collect();
        assert_eq!(
            dropped,
            ["securityops", "databaseops", "monitoringops", "networkops"]
        );
        let text = explain(&sel);
        assert!(
            text.contains("team (3): orchestrator, sysadmin, devops"),
            "{text}"
        );
        assert!(
            text.contains("dropped databaseops: plan pro allows 3 agents"),
            "{text}"
        );
    }

    #[test]
    fn dependencies_are_added() {
        let t = template("web_application").unwrap();
        let only = s(&["tester", "monitoringops"]);
        let sel = select_roles(
            &t,
            &det(false, false, 0),
            Size::Small,
            PlanTier::Console,
            Some(&only),
            &[],
        )
        .unwrap();
        assert_eq!(
            sel.roles,
            s(&[
                "orchestrator",
                "developer",
                "tester",
                "sysadmin",
                "monitoringops"
            ])
        );
        assert_eq!(sel.added_for_dependencies, s(&["developer", "sysadmin"]));
        assert!(sel.dropped.is_empty());
        assert!(explain(&sel).contains("added sysadmin"));
        // `add` on top of the template
        let sel = select_roles(
            &t,
            &det(false, false, 0),
            Size::Small,
            PlanTier::Console,
            None,
            &s(&["securityops"]),
        )
        .unwrap();
        assert_eq!(
            sel.roles,
            s(&[
                "orchestrator",
                "developer",
                "tester",
                "testrunner",
                "sysadmin",
                "securityops"
            ])
        );
    }

    #[test]
    fn dependent_dropped_with_its_dependency() {
        // Four slots taken; monitoringops would need sysadmin too: both go.
        let t = template("web_application").unwrap();
        let sel = select_roles(
            &t,
            &det(false, false, 0),
            Size::Small,
            PlanTier::Max5,
            None,
            &s(&["monitoringops"]),
        )
        .unwrap();
        assert_eq!(
            sel.roles,
            s(&["orchestrator", "developer", "tester", "testrunner"])
        );
        assert_eq!(
            sel.dropped,
            vec![
                (
                    "monitoringops".to_string(),
                    "needs sysadmin, which was dropped: plan max5 allows 5 agents".to_string()
                ),
                (
                    "sysadmin".to_string(),
                    "plan max5 allows 5 agents (needed by monitoringops)".to_string()
                ),
            ]
        );
        // A role never stays without what it needs, on every plan.
        for plan in PlanTier::ALL {
            for name in PROJECT_TYPES {
                let t = template(name).unwrap();
                let sel = select_roles(&t, &det(true, true, 9), Size::Enterprise, plan, None, &[])
                    .unwrap();
                assert!(sel.roles.len() <= plan.cap());
                for (i, r) in sel.roles.iter().enumerate() {
                    for need in t.dependencies.get(r).into_iter().flatten() {
                        let at = sel.roles.iter().position(|x| x == need);
                        assert!(
                            at.is_some_and(|at| at < i),
                            "{name} {plan}: {r} without {need}"
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn unknown_roles_are_rejected() {
        let t = template("web_application").unwrap();
        let e = select_roles(
            &t,
            &det(false, false, 0),
            Size::Small,
            PlanTier::Pro,
            Some(&s(&["developer", "ninja"])),
            &[],
        )
        .unwrap_err();
        assert!(
            e.contains("\"ninja\"") && e.contains("valid roles: orchestrator, project_manager"),
            "{e}"
        );
        assert!(select_roles(
            &t,
            &det(false, false, 0),
            Size::Small,
            PlanTier::Pro,
            None,
            &s(&["wizard"])
        )
        .is_err());
    }
}

//! Turning a finished scan into a [`Detection`]: the tree-wide tallies
//! become indicators, the evidence is scored per project type.

use super::scan::{Detection, Scan, Tally};
use super::{DATA, IAC, PROJECT_TYPES, SYS, WEB};

impl Scan {
    pub(super) fn finish(mut self) -> Detection {
        let service_count = self
            .compose_services
            .max(self.k8s_workloads)
            .max(self.units.n);
        self.infra_tallies();
        self.app_tallies();
        self.score(service_count)
    }

    /// Infrastructure and deployment files counted over the tree:
    /// Terraform, CloudFormation, Ansible, Kubernetes, systemd.
    fn infra_tallies(&mut self) {
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
    }

    /// Application and data files counted over the tree: UI components,
    /// Airflow DAGs, Spark jobs, ETL code, SQL and data files.
    fn app_tallies(&mut self) {
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
    }

    /// Scores per project type from the evidence, the winner and its
    /// confidence.
    fn score(self, service_count: u32) -> Detection {
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

/// One indicator for a tally: the file itself, or how many and an example.
fn tally(t: &Tally, one: &str, many: &str) -> String {
    if t.n == 1 {
        format!("{one} {}", t.first)
    } else {
        format!("{} {many}, e.g. {}", t.n, t.first)
    }
}

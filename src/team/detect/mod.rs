//! Team templates (`roles/teams/*.toml`), project-type detection and sizing.
//!
//! Pure apart from [`detect`], which reads a project tree (bounded: depth,
//! file count and bytes read). The flow for `orc up` is
//! `detect` → [`template`] for the detected (or chosen) type → [`Size`] →
//! [`select_roles`] against the [`PlanTier`] cap → [`explain`].

mod evidence;
mod manifests;
mod scan;
mod score;
mod select;
mod size;
mod template;
mod walk;

pub use scan::Detection;
pub use select::{explain, select_roles, Selection};
pub use size::{PlanTier, Size};
pub use template::template;
pub use walk::detect;

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

#[cfg(test)]
mod tests {

    use std::path::Path;

    use super::evidence::is_db_image;
    use super::manifests::compose_services;
    use super::template::{templates, Condition, Template};
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

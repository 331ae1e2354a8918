//! What counts as evidence of a project type: the frameworks and libraries
//! looked for in dependency manifests, database images and resources, ETL
//! words, which files are read, and small matching helpers.

use std::sync::LazyLock;

use regex::Regex;

use super::{DATA, IAC, WEB};

/// Frameworks and libraries in dependency manifests: (name, type or None for
/// database-only evidence, weight, marks a database).
pub(super) type Lib = (&'static str, Option<usize>, u32, bool);

pub(super) const NPM_LIBS: &[Lib] = &[
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

pub(super) const PY_LIBS: &[Lib] = &[
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

pub(super) const GEMS: &[Lib] = &[
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
pub(super) const GO_MODS: &[Lib] = &[
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

pub(super) const CRATES: &[Lib] = &[
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
pub(super) const DB_IMAGES: &[&str] = &[
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
pub(super) const TF_DB_RESOURCES: &[&str] = &[
    "\"aws_db_instance\"",
    "\"aws_rds_cluster\"",
    "\"aws_dynamodb_table\"",
    "\"google_sql_database_instance\"",
    "\"azurerm_postgresql",
    "\"azurerm_mysql",
    "\"azurerm_mssql",
];

/// Path words that mark ETL code.
pub(super) const ETL_WORDS: &[&str] = &[
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
pub(super) const TEXT_EXTS: &[&str] = &[
    "rs", "py", "js", "jsx", "mjs", "cjs", "ts", "tsx", "vue", "svelte", "rb", "go", "java", "kt",
    "scala", "php", "cs", "c", "h", "cc", "cpp", "hpp", "swift", "sh", "bash", "sql", "html",
    "css", "scss", "toml", "yaml", "yml", "json", "tf", "hcl", "tfvars", "ini", "cfg", "conf",
    "service", "timer", "socket", "md", "txt", "prisma", "j2", "env",
];
/// Generated files that are counted but not read.
pub(super) const LOCK_FILES: &[&str] = &[
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

pub(super) static DEPLOYMENT_DOC: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"(^|[_-])deployment([_-]|$)").unwrap());
pub(super) static PLAYBOOK_HOSTS: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"(?m)^(?:-\s+|\s{2,4})hosts:\s*\S").unwrap());
pub(super) static K8S_KIND: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^kind:\s*([A-Za-z]+)").unwrap());
pub(super) static IMAGE: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r#"(?m)^\s*-?\s*image:\s*["']?([^\s"']+)"#).unwrap());

pub(super) fn is_db_image(image: &str) -> bool {
    let last = image.rsplit('/').next().unwrap_or(image);
    let name = last.split([':', '@']).next().unwrap_or(last).to_lowercase();
    DB_IMAGES.iter().any(|d| name.starts_with(d))
}

/// Words of a relative path, lowercased: `etl/load_sales.py` → etl, load, sales, py.
pub(super) fn path_words(rel: &str) -> impl Iterator<Item = String> + '_ {
    rel.split(['/', '.', '_', '-'])
        .filter(|w| !w.is_empty())
        .map(|w| w.to_lowercase())
}

/// `name` or `name-...` / `name[...]` (a Python distribution and its variants).
pub(super) fn py_token_matches(token: &str, name: &str) -> bool {
    token == name
        || token
            .strip_prefix(name)
            .is_some_and(|rest| rest.starts_with('-') || rest.starts_with('['))
}

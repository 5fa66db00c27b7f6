//! Migration sets: both backends carry the same numbered migrations and produce the same
//! tables and columns; published migrations are never edited.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use clavis_store::migrate::{POSTGRES, SQLITE};
use clavis_store::testing::{Backend, TestDb};
use std::collections::BTreeMap;

/// (table, column) → (type class, nullable)
type Schema = BTreeMap<(String, String), (&'static str, bool)>;

fn class(sql_type: &str) -> &'static str {
    match sql_type.to_ascii_lowercase().as_str() {
        "text" | "character varying" => "text",
        "bigint" | "integer" => "integer",
        "boolean" => "boolean",
        "blob" | "bytea" => "bytes",
        other => panic!("unexpected column type {other}"),
    }
}

async fn sqlite_schema(url: &str) -> Schema {
    let pool = sqlx::SqlitePool::connect(url).await.unwrap();
    let rows: Vec<(String, String, String, i64, i64)> = sqlx::query_as(
        "SELECT m.name, p.name, p.type, p.\"notnull\", p.pk FROM sqlite_master m, pragma_table_info(m.name) p
         WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite_%'",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    pool.close().await;
    rows.into_iter()
        .map(|(t, c, ty, notnull, pk)| ((t, c), (class(&ty), notnull == 0 && pk == 0)))
        .collect()
}

async fn pg_schema(url: &str) -> Schema {
    let pool = sqlx::PgPool::connect(url).await.unwrap();
    let rows: Vec<(String, String, String, String)> = sqlx::query_as(
        "SELECT table_name::text, column_name::text, data_type::text, is_nullable::text
         FROM information_schema.columns WHERE table_schema = current_schema()",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    pool.close().await;
    rows.into_iter()
        .map(|(t, c, ty, nullable)| ((t, c), (class(&ty), nullable == "YES")))
        .collect()
}

#[test]
fn both_backends_have_the_same_numbered_migrations() {
    let s: Vec<_> = SQLITE.iter().map(|m| (m.version, m.name)).collect();
    let p: Vec<_> = POSTGRES.iter().map(|m| (m.version, m.name)).collect();
    assert_eq!(s, p);
    for (i, m) in SQLITE.iter().enumerate() {
        assert_eq!(
            m.version,
            i64::try_from(i).unwrap() + 1,
            "migrations are numbered 1, 2, 3…"
        );
        assert!(m.name.starts_with(&format!("{:04}_", m.version)));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn both_backends_produce_the_same_tables_and_columns() {
    let sqlite = TestDb::new(Backend::Sqlite).await;
    let pg = TestDb::new(Backend::Postgres).await;
    let s = sqlite_schema(&sqlite.url).await;
    let p = pg_schema(&pg.url).await;
    assert!(s.len() > 50, "schema read: {} columns", s.len());
    let only_s: Vec<_> = s.iter().filter(|(k, v)| p.get(*k) != Some(v)).collect();
    let only_p: Vec<_> = p.iter().filter(|(k, v)| s.get(*k) != Some(v)).collect();
    assert!(
        only_s.is_empty() && only_p.is_empty(),
        "SQLite differs: {only_s:#?}\nPostgreSQL differs: {only_p:#?}"
    );
}

/// Published migrations are append-only: this list pins the SHA-256 of every published
/// file. Add a line for a new migration; never change an existing one.
const PUBLISHED: &[(&str, &str)] = &[
    (
        "sqlite/0001_core",
        "7b0f3c4f4c4da5285b4677c91d1e49e3ed7e24dfeeed035484fa7184ef7c602f",
    ),
    (
        "postgres/0001_core",
        "bc78e646edf7c3a5b23c5ee0287f94cc876567f0ab2f13ff2730409b012a0480",
    ),
    (
        "sqlite/0002_signing_key_states",
        "6c70a3c2b5ce9c2d717d1ed1b99bfd4e8b5135d00f9b9f1a9f6456400f2487c3",
    ),
    (
        "postgres/0002_signing_key_states",
        "6c70a3c2b5ce9c2d717d1ed1b99bfd4e8b5135d00f9b9f1a9f6456400f2487c3",
    ),
    (
        "sqlite/0003_oauth",
        "a58f835741cb2eb71ad3d043ce3dad4ef306cff912c760be639f8112d03f8895",
    ),
    (
        "postgres/0003_oauth",
        "7dc52e71ff2a7a12a63ed429a5cf023c60d1bb216f4f5a3290228e20da92e1fb",
    ),
];

#[test]
fn every_migration_is_pinned() {
    for m in SQLITE {
        let name = format!("sqlite/{}", m.name);
        assert!(
            PUBLISHED.iter().any(|(n, _)| *n == name),
            "{name} is not pinned in PUBLISHED"
        );
    }
    for m in POSTGRES {
        let name = format!("postgres/{}", m.name);
        assert!(
            PUBLISHED.iter().any(|(n, _)| *n == name),
            "{name} is not pinned in PUBLISHED"
        );
    }
}

#[test]
fn published_migrations_are_unchanged() {
    for (name, want) in PUBLISHED {
        let m = if let Some(n) = name.strip_prefix("sqlite/") {
            SQLITE.iter().find(|m| m.name == n)
        } else {
            POSTGRES
                .iter()
                .find(|m| Some(m.name) == name.strip_prefix("postgres/"))
        }
        .unwrap_or_else(|| panic!("published migration {name} is missing"));
        assert_eq!(
            clavis_crypto::sha256_hex(m.sql.as_bytes()),
            *want,
            "migration {name} was edited"
        );
    }
}

//! Migration sets: both backends carry the same numbered migrations and produce the same
//! tables and columns; published migrations are never edited; a database of an earlier
//! version upgrades with its data intact.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use clavis_core::model::{AuditActor, AuditEvent, AuditOrganization, JsonMap};
use clavis_store::migrate::{POSTGRES, SQLITE};
use clavis_store::testing::{Backend, TestDb};
use clavis_types::{TenantId, Timestamp};
use std::collections::BTreeMap;
use std::str::FromStr;

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
    (
        "sqlite/0004_audit_chain",
        "af5fd297f1dbf0761339b151fe5194c671042e5e95bbf97b23a7aedfaaeca0ed",
    ),
    (
        "postgres/0004_audit_chain",
        "af5fd297f1dbf0761339b151fe5194c671042e5e95bbf97b23a7aedfaaeca0ed",
    ),
    (
        "sqlite/0005_authz_version",
        "5b64ab22578ea3030c9d609cf951545739c4fce2155be9db8c29d5bad6a372fe",
    ),
    (
        "postgres/0005_authz_version",
        "5b64ab22578ea3030c9d609cf951545739c4fce2155be9db8c29d5bad6a372fe",
    ),
    (
        "sqlite/0006_management",
        "f36c84b700e199cded74e25fd844f7d24c5fe85a2715a8fb2064c0a1b298f85f",
    ),
    (
        "postgres/0006_management",
        "6bf5e0b6c94fd04e848427126f68ca4ee096cae8bdeff8ea977fdced0972653f",
    ),
    (
        "sqlite/0007_universal_login",
        "c0928e7a40125b79b915b5fe7753b65a3c188f469ea7f60fd4c8cf9bf522e296",
    ),
    (
        "postgres/0007_universal_login",
        "36b71330a7b5590141f021e1c620f84aab36236ce759cb42b7f6d58434024f40",
    ),
    (
        "sqlite/0008_custom_domains",
        "477deba094a8131c176d0b1446d09cbadc1c81b3b6f7b4a4966d1aa7c087f7df",
    ),
    (
        "postgres/0008_custom_domains",
        "477deba094a8131c176d0b1446d09cbadc1c81b3b6f7b4a4966d1aa7c087f7df",
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

/// A database left at version 3 by an earlier Clavis, holding audit events in the old
/// `audit_events` table.
struct V3Db {
    url: String,
    _dir: Option<tempfile::TempDir>,
    pg_name: Option<String>,
}

impl Drop for V3Db {
    fn drop(&mut self) {
        if let Some(name) = self.pg_name.take() {
            clavis_store::testing::drop_pg_database(name);
        }
    }
}

const CREATE_MIGRATIONS: &str = "CREATE TABLE clavis_migrations (
    version BIGINT NOT NULL PRIMARY KEY,
    name TEXT NOT NULL,
    checksum TEXT NOT NULL,
    applied_at BIGINT NOT NULL
)";

fn legacy_events() -> Vec<AuditEvent> {
    let rng = clavis_crypto::SystemRng::new();
    let t0 = Timestamp::from_millis(1_705_329_000_000);
    let a = TenantId::generate(t0, &rng);
    let b = TenantId::generate(t0, &rng);
    let mut out = Vec::new();
    for (t, n) in [(&a, 70_i64), (&b, 3)] {
        for seq in 1..=n {
            out.push(AuditEvent {
                tenant_id: t.clone(),
                seq,
                event_id: format!("evt_{}_{seq}", &t.as_str()[..8]),
                timestamp: t0.plus_secs(seq),
                event_type: if seq % 2 == 0 {
                    "user.login.success"
                } else {
                    "token.issued"
                }
                .into(),
                actor: AuditActor {
                    user_id: Some(format!("usr_{seq}")),
                    email: Some("alice@example.com".into()),
                    ip_address: Some("203.0.113.7".into()),
                    ..AuditActor::default()
                },
                organization: (seq % 3 == 0).then(|| AuditOrganization {
                    org_id: "org_1".into(),
                    name: Some("Acme".into()),
                }),
                context: JsonMap::from_iter([("n".to_owned(), serde_json::json!(seq))]),
            });
        }
    }
    out
}

async fn v3_database(backend: Backend, events: &[AuditEvent]) -> V3Db {
    let (url, dir, pg_name) = TestDb::empty(backend).await;
    let db = V3Db {
        url,
        _dir: dir,
        pg_name,
    };
    let set = match backend {
        Backend::Sqlite => SQLITE,
        Backend::Postgres => POSTGRES,
    };
    let mut stmts: Vec<(String, Vec<String>)> = vec![(CREATE_MIGRATIONS.to_owned(), vec![])];
    for m in set.iter().filter(|m| m.version <= 3) {
        stmts.push((m.sql.to_owned(), vec![]));
        stmts.push((
            format!(
                "INSERT INTO clavis_migrations (version, name, checksum, applied_at) \
                 VALUES ({}, '{}', '{}', 0)",
                m.version,
                m.name,
                clavis_crypto::sha256_hex(m.sql.as_bytes())
            ),
            vec![],
        ));
    }
    for e in events {
        stmts.push((
            format!(
                "INSERT INTO audit_events (tenant_id, seq, event_id, occurred_at, event_type, actor, \
                 organization, context) VALUES ($1, {}, $2, {}, $3, $4, $5, $6)",
                e.seq,
                e.timestamp.as_millis()
            ),
            vec![
                e.tenant_id.to_string(),
                e.event_id.clone(),
                e.event_type.clone(),
                serde_json::to_string(&e.actor).unwrap(),
                e.organization
                    .as_ref()
                    .map_or("null".to_owned(), |o| serde_json::to_string(o).unwrap()),
                serde_json::to_string(&e.context).unwrap(),
            ],
        ));
    }
    let mut heads: BTreeMap<String, i64> = BTreeMap::new();
    for e in events {
        heads.insert(e.tenant_id.to_string(), e.seq);
    }
    for (t, seq) in heads {
        stmts.push((
            format!("INSERT INTO audit_heads (tenant_id, seq) VALUES ($1, {seq})"),
            vec![t],
        ));
    }
    match backend {
        Backend::Sqlite => {
            let opts = sqlx::sqlite::SqliteConnectOptions::from_str(&db.url)
                .unwrap()
                .create_if_missing(true);
            let pool = sqlx::SqlitePool::connect_with(opts).await.unwrap();
            let mut tx = pool.begin().await.unwrap();
            for (sql, args) in stmts {
                if args.is_empty() {
                    sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
                        .execute(&mut *tx)
                        .await
                        .unwrap();
                } else {
                    let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
                    for a in args {
                        q = q.bind(if a == "null" { None } else { Some(a) });
                    }
                    q.execute(&mut *tx).await.unwrap();
                }
            }
            tx.commit().await.unwrap();
            pool.close().await;
        }
        Backend::Postgres => {
            let pool = sqlx::PgPool::connect(&db.url).await.unwrap();
            let mut tx = pool.begin().await.unwrap();
            for (sql, args) in stmts {
                if args.is_empty() {
                    sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
                        .execute(&mut *tx)
                        .await
                        .unwrap();
                } else {
                    let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
                    for a in args {
                        q = q.bind(if a == "null" { None } else { Some(a) });
                    }
                    q.execute(&mut *tx).await.unwrap();
                }
            }
            tx.commit().await.unwrap();
            pool.close().await;
        }
    }
    db
}

async fn upgrade_from_v3_chains_the_old_events(backend: Backend) {
    let events = legacy_events();
    let db = v3_database(backend, &events).await;
    let store = clavis_store::AnyStore::connect(&db.url).await.unwrap();
    let status = store.migrate(Timestamp::from_millis(1)).await.unwrap();
    assert_eq!(status.applied, clavis_store::migrate::latest());
    let store = store.into_store();
    let mut tx = store.begin().await.unwrap();
    let tenants: Vec<TenantId> = {
        let mut ts: Vec<_> = events.iter().map(|e| e.tenant_id.clone()).collect();
        ts.dedup();
        ts
    };
    for t in &tenants {
        let want: Vec<&AuditEvent> = events.iter().filter(|e| e.tenant_id == *t).collect();
        let chain = tx.audit_range(t, 0, None, 1000).await.unwrap();
        assert_eq!(chain.len(), want.len());
        let mut prev = clavis_core::chain::GENESIS.to_owned();
        for (stored, original) in chain.iter().zip(&want) {
            clavis_core::chain::check_link(stored, &prev)
                .unwrap_or_else(|e| panic!("seq {}: {e:?}", stored.seq));
            assert_eq!(stored.seq, original.seq);
            assert_eq!(
                stored.org_id,
                original.organization.as_ref().map(|o| o.org_id.clone())
            );
            prev = stored.hash.clone();
        }
        let head = tx.audit_head(t).await.unwrap();
        assert_eq!(
            (head.seq, head.hash.as_str()),
            (want.len() as i64, prev.as_str())
        );
        let decoded = tx.audit_list(t, 0, 1000).await.unwrap();
        assert_eq!(
            decoded.iter().collect::<Vec<_>>(),
            want,
            "events kept as they were"
        );
        // appends continue the migrated chain
        let mut next = vec![AuditEvent {
            seq: 0,
            event_id: format!("evt_after_{}", t.as_str()),
            ..want[0].clone()
        }];
        let last = tx.audit_append(t, &mut next).await.unwrap();
        assert_eq!(last, want.len() as i64 + 1);
        let tail = tx
            .audit_range(t, want.len() as i64, None, 10)
            .await
            .unwrap();
        assert_eq!(tail.len(), 1);
        clavis_core::chain::check_link(&tail[0], &prev).unwrap();
    }
    tx.commit().await.unwrap();
    store.close().await;
    // the old table is gone
    let gone = match backend {
        Backend::Sqlite => {
            let pool = sqlx::SqlitePool::connect(&db.url).await.unwrap();
            let r = sqlx::query("SELECT COUNT(*) FROM audit_events")
                .fetch_one(&pool)
                .await;
            pool.close().await;
            r.is_err()
        }
        Backend::Postgres => {
            let pool = sqlx::PgPool::connect(&db.url).await.unwrap();
            let r = sqlx::query("SELECT COUNT(*) FROM audit_events")
                .fetch_one(&pool)
                .await;
            pool.close().await;
            r.is_err()
        }
    };
    assert!(gone, "audit_events is dropped");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_upgrade_from_v3_chains_the_old_events() {
    upgrade_from_v3_chains_the_old_events(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_upgrade_from_v3_chains_the_old_events() {
    upgrade_from_v3_chains_the_old_events(Backend::Postgres).await;
}

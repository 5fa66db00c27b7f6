//! Configuration as code: `parse`, `Core::apply` and `Core::export` on both backends.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod grants;
mod login_settings;

use clavis_core::Core;
use clavis_core::declarative::{Action, Change, DeclError, Document, ResourceKind, parse, to_yaml};
use clavis_core::model::Page;
use clavis_crypto::verify_password;
use clavis_store::testing::TestDb;
use clavis_types::{AppType, Email, Slug, Timestamp};

const EXAMPLE: &str = include_str!("../../../../examples/clavis.yaml");
const ALICE_PASSWORD: &str = "correct horse battery staple";
const API: &str = "https://api.example.com";
const GRANT_KEY: &str = "default/Reporting Service/https://api.example.com";
/// The example's grant, as written in it.
const EXAMPLE_GRANT: &str = "        grants:
          - api: https://api.example.com
            scope: [read:documents]
";

fn slug(s: &str) -> Slug {
    Slug::parse(s).unwrap()
}

/// `updated_at` of every kind of record the example creates, to prove a no-op apply
/// wrote nothing.
async fn stamps(core: &Core) -> Vec<(String, Timestamp)> {
    let mut tx = core.store.read().await.unwrap();
    let t = tx
        .tenant_get_by_slug(&slug("default"))
        .await
        .unwrap()
        .unwrap();
    let mut out = vec![("tenant".to_owned(), t.updated_at)];
    let page = Page::first();
    for c in tx.connection_list(&t.id, page).await.unwrap() {
        out.push((format!("connection {}", c.name), c.updated_at));
    }
    for a in tx.api_list(&t.id, page).await.unwrap() {
        out.push((format!("api {}", a.identifier), a.updated_at));
    }
    for r in tx.role_list(&t.id, page).await.unwrap() {
        out.push((format!("role {}", r.name), r.updated_at));
    }
    for a in tx.app_list(&t.id, page).await.unwrap() {
        out.push((format!("app {}", a.name), a.updated_at));
        for g in tx.client_grant_list(&t.id, &a.client_id).await.unwrap() {
            out.push((format!("grant {} {}", a.name, g.api_id), g.updated_at));
        }
    }
    for u in tx.user_list(&t.id, page).await.unwrap() {
        out.push((format!("user {:?}", u.email), u.updated_at));
    }
    for o in tx.org_list(&t.id, page).await.unwrap() {
        for team in tx.team_list(&t.id, &o.id, page).await.unwrap() {
            out.push((format!("team {}", team.slug), team.updated_at));
        }
        out.push((format!("org {}", o.slug), o.updated_at));
    }
    out
}

fn count(changes: &[Change], kind: ResourceKind, action: Action) -> usize {
    changes
        .iter()
        .filter(|c| c.kind == kind && c.action == action)
        .count()
}

async fn full_example_round_trips(db: TestDb) {
    let core = db.core();
    let doc = parse(EXAMPLE).unwrap();

    let report = core.apply(&doc).await.unwrap();
    let created = |k| count(&report.changes, k, Action::Created);
    assert_eq!(created(ResourceKind::Tenant), 1, "{:?}", report.changes);
    // The default database connection comes with the tenant; `Partners` is new.
    assert_eq!(created(ResourceKind::Connection), 1);
    assert_eq!(created(ResourceKind::Api), 1);
    assert_eq!(created(ResourceKind::Role), 3);
    assert_eq!(created(ResourceKind::Application), 3);
    assert_eq!(created(ResourceKind::User), 2);
    assert_eq!(created(ResourceKind::Organization), 2);
    assert_eq!(created(ResourceKind::Team), 1);
    assert_eq!(created(ResourceKind::ClientGrant), 1);
    assert_eq!(
        count(&report.changes, ResourceKind::Tenant, Action::Updated),
        0
    );
    assert!(report.changes.iter().all(|c| c.action == Action::Created));

    // Secrets for the two confidential applications only, stored as keyed digests.
    let mut apps: Vec<&str> = report
        .secrets
        .iter()
        .map(|s| s.application.as_str())
        .collect();
    apps.sort_unstable();
    assert_eq!(apps, ["Example Web", "Reporting Service"]);
    {
        let mut tx = core.store.begin().await.unwrap();
        let t = tx
            .tenant_get_by_slug(&slug("default"))
            .await
            .unwrap()
            .unwrap();
        let dk = core.keyring.data_key(&mut *tx, &t.id).await.unwrap();
        for s in &report.secrets {
            assert_eq!(s.tenant.as_str(), "default");
            assert_eq!(s.client_secret.expose().len(), 43, "32 bytes base64url");
            let app = tx.app_get(&t.id, &s.client_id).await.unwrap().unwrap();
            let digest = app.client_secret_digest.unwrap();
            assert_eq!(
                digest,
                dk.secret_digest(s.client_secret.expose().as_bytes())
            );
        }
        let spa = tx
            .app_list(&t.id, Page::first())
            .await
            .unwrap()
            .into_iter()
            .find(|a| a.name == "Example SPA")
            .unwrap();
        assert_eq!(spa.client_secret_digest, None);
        assert_eq!(spa.token_endpoint_auth_method, "none");

        // Initial password hashed with argon2id; imported bcrypt hash kept as is; both
        // users have an identity on the database connection.
        let conn = tx
            .connection_get_by_name(&t.id, "Username-Password-Authentication")
            .await
            .unwrap()
            .unwrap();
        let alice = tx
            .user_get_by_email(&t.id, &Email::parse("alice@acme.example").unwrap())
            .await
            .unwrap()
            .unwrap();
        let hash = tx.password_get(&t.id, &alice.id).await.unwrap().unwrap();
        assert!(hash.starts_with("$argon2id$"));
        assert!(verify_password(ALICE_PASSWORD, &hash).unwrap().ok);
        let ids = tx.identity_list(&t.id, &alice.id).await.unwrap();
        assert_eq!(ids.len(), 1);
        assert_eq!(
            (&ids[0].connection_id, ids[0].subject.as_str()),
            (&conn.id, alice.id.as_str())
        );
        let bob = tx
            .user_get_by_email(&t.id, &Email::parse("bob@acme.example").unwrap())
            .await
            .unwrap()
            .unwrap();
        let hash = tx.password_get(&t.id, &bob.id).await.unwrap().unwrap();
        assert!(verify_password("My S3cre7 P@55w0rd!", &hash).unwrap().ok);
    }

    // Applying again changes nothing, writes nothing, and exports the same.
    let export1 = core.export(None).await.unwrap();
    let before = stamps(&core).await;
    let again = core.apply(&doc).await.unwrap();
    assert!(again.is_noop(), "{:?}", again.changes);
    assert!(again.secrets.is_empty());
    assert_eq!(stamps(&core).await, before);
    assert_eq!(core.export(None).await.unwrap(), export1);
    assert_eq!(core.export(Some(&slug("default"))).await.unwrap(), export1);

    // export -> YAML -> parse -> apply is a no-op and the export is stable.
    let yaml = to_yaml(&export1).unwrap();
    for leak in [
        ALICE_PASSWORD,
        "$argon2",
        "$2b$",
        "password",
        "secret_digest",
    ] {
        assert!(!yaml.contains(leak), "export contains `{leak}`:\n{yaml}");
    }
    for s in &report.secrets {
        assert!(!yaml.contains(s.client_secret.expose()));
    }
    let reparsed = parse(&yaml).unwrap_or_else(|e| panic!("{e}\n{yaml}"));
    assert_eq!(reparsed, export1);
    let third = core.apply(&reparsed).await.unwrap();
    assert!(third.is_noop(), "{:?}", third.changes);
    assert_eq!(stamps(&core).await, before);
    assert_eq!(core.export(None).await.unwrap(), export1);

    // What the export says, spot-checked.
    let t = &export1.tenants[0];
    let acme = t
        .organizations
        .iter()
        .find(|o| o.slug.as_str() == "acme")
        .unwrap();
    assert_eq!(acme.members.len(), 2);
    assert_eq!(acme.teams[0].members.len(), 2);
    assert_eq!(acme.teams[0].roles, ["viewer"]);
    let editor = t.roles.iter().find(|r| r.name == "editor").unwrap();
    assert_eq!(editor.inherits.as_deref(), Some(&["viewer".to_owned()][..]));
    assert!(t.applications.iter().all(|a| a.client_id.is_some()));
    let reporting = t
        .applications
        .iter()
        .find(|a| a.name == "Reporting Service")
        .unwrap();
    assert_eq!(reporting.grants.len(), 1);
    assert_eq!(reporting.grants[0].api, API);
    assert_eq!(reporting.grants[0].scope, ["read:documents"]);
    assert!(t.applications.iter().all(|a| a.pkce_required.is_none()));
    assert!(
        t.users
            .iter()
            .all(|u| u.password.is_none() && u.password_hash.is_none())
    );

    // The export applies to an empty database and exports back the same.
    let other = TestDb::new(db.backend).await;
    let other_core = other.core();
    let fresh = other_core.apply(&reparsed).await.unwrap();
    assert_eq!(
        fresh.secrets.len(),
        2,
        "fresh secrets for the confidential apps"
    );
    assert_eq!(other_core.export(None).await.unwrap(), export1);
}

async fn one_field_changed_is_one_update(db: TestDb) {
    let core = db.core();
    core.apply(&parse(EXAMPLE).unwrap()).await.unwrap();
    let edited = EXAMPLE.replace("display_name: Acme Corporation", "display_name: Acme Corp");
    assert_ne!(edited, EXAMPLE);
    let report = core.apply(&parse(&edited).unwrap()).await.unwrap();
    assert_eq!(
        report.changes,
        [Change {
            kind: ResourceKind::Organization,
            key: "default/acme".to_owned(),
            action: Action::Updated,
        }]
    );
    assert!(report.secrets.is_empty());
    let org = core.export(Some(&slug("default"))).await.unwrap().tenants[0]
        .organizations
        .iter()
        .find(|o| o.slug.as_str() == "acme")
        .and_then(|o| o.display_name.clone());
    assert_eq!(org.as_deref(), Some("Acme Corp"));
    assert!(
        core.apply(&parse(&edited).unwrap())
            .await
            .unwrap()
            .is_noop()
    );

    // Fields absent from the file are left alone: a file with only the key changes nothing.
    let minimal = "tenants:\n  - slug: default\n    organizations:\n      - slug: acme\n";
    assert!(
        core.apply(&parse(minimal).unwrap())
            .await
            .unwrap()
            .is_noop()
    );
    // Assignments are added, existing ones kept.
    let add = "tenants:
  - slug: default
    users:
      - email: bob@acme.example
        roles: [admin]
";
    let report = core.apply(&parse(add).unwrap()).await.unwrap();
    assert_eq!(report.changes.len(), 1);
    assert_eq!(report.changes[0].key, "default/bob@acme.example");
    let export = core.export(None).await.unwrap();
    let bob = export.tenants[0]
        .users
        .iter()
        .find(|u| u.email.as_str() == "bob@acme.example")
        .unwrap();
    assert_eq!(bob.roles, ["admin"]);
    let alice = export.tenants[0]
        .users
        .iter()
        .find(|u| u.email.as_str() == "alice@acme.example")
        .unwrap();
    assert_eq!(alice.roles, ["viewer"]);
}

/// The error names the line and the field path.
fn assert_located(e: &impl std::fmt::Display, line: u64, path: &str, reason: &str) {
    let msg = e.to_string();
    assert!(
        msg.contains(&format!("line {line}, column ")),
        "no line {line} in: {msg}"
    );
    assert!(msg.contains(path), "no path {path} in: {msg}");
    assert!(msg.contains(reason), "no `{reason}` in: {msg}");
}

fn parse_err(yaml: &str) -> DeclError {
    match parse(yaml) {
        Ok(_) => panic!("accepted:\n{yaml}"),
        Err(e) => e,
    }
}

#[test]
fn invalid_documents_are_refused_with_line_and_path() {
    let unknown = "tenants:
  - slug: default
    organizations:
      - slug: acme
      - slug: globex
        display_nam: Globex
";
    let e = parse_err(unknown);
    assert_eq!(
        (e.line, e.path.as_str()),
        (Some(6), "tenants[0].organizations[1].display_nam")
    );
    assert_located(
        &e,
        6,
        "tenants[0].organizations[1].display_nam",
        "unknown field `display_nam`",
    );

    let bad_email = "tenants:
  - slug: default
    users:
      - email: alice@acme.example
      - email: not-an-email
";
    assert_located(
        &parse_err(bad_email),
        5,
        "tenants[0].users[1].email",
        "must contain `@`",
    );

    let bad_slug = "tenants:\n  - slug: default\n    organizations:\n      - slug: Acme Corp\n";
    assert_located(
        &parse_err(bad_slug),
        4,
        "tenants[0].organizations[0].slug",
        "a-z, 0-9",
    );

    let bad_enum =
        "tenants:\n  - slug: default\n    applications:\n      - name: X\n        type: desktop\n";
    assert_located(
        &parse_err(bad_enum),
        5,
        "tenants[0].applications[0].type",
        "spa, native, web, m2m",
    );

    let missing = "tenants:\n  - slug: default\n    organizations:\n      - display_name: Acme\n";
    assert_located(
        &parse_err(missing),
        4,
        "tenants[0].organizations[0]",
        "missing field `slug`",
    );

    let cycle = "tenants:
  - slug: default
    roles:
      - name: a
        inherits: [b]
      - name: b
        inherits: [c]
      - name: c
        inherits: [a]
";
    assert_located(
        &parse_err(cycle),
        5,
        "tenants[0].roles[0].inherits",
        "cycle: a -> b -> c -> a",
    );

    let both = "tenants:
  - slug: default
    users:
      - email: a@example.com
        password: long enough password
        password_hash: \"$2b$05$HlFShUxTu4ZHHfOLJwfmCeDj/kuKFKboanXtDJXxCC7aIPTUgxNDe\"
";
    assert_located(&parse_err(both), 4, "tenants[0].users[0]", "not both");

    let bad_hash = "tenants:\n  - slug: default\n    users:\n      - email: a@example.com\n        password_hash: md5:abc\n";
    assert_located(
        &parse_err(bad_hash),
        5,
        "tenants[0].users[0].password_hash",
        "unrecognised password hash",
    );

    let dup =
        "tenants:\n  - slug: default\n    roles:\n      - name: viewer\n      - name: viewer\n";
    assert_located(
        &parse_err(dup),
        5,
        "tenants[0].roles[1].name",
        "listed twice",
    );

    let public_secret = "tenants:
  - slug: default
    applications:
      - name: SPA
        type: spa
        token_endpoint_auth_method: client_secret_post
";
    assert_located(
        &parse_err(public_secret),
        6,
        "token_endpoint_auth_method",
        "public",
    );

    let syntax = "tenants:\n  - slug: [default\n";
    let e = parse_err(syntax);
    assert_eq!(e.line, Some(2), "{e}");
}

async fn invalid_references_change_nothing(db: TestDb) {
    let core = db.core();
    core.apply(&parse(EXAMPLE).unwrap()).await.unwrap();
    let before = core.export(None).await.unwrap();
    let stamps_before = stamps(&core).await;

    // Valid on its own (the Api may exist in the database), refused by apply: the
    // permission is defined nowhere. The other changes in the file are not made.
    let unknown_permission = "tenants:
  - slug: default
    display_name: Renamed
    organizations:
      - slug: acme
        display_name: Renamed Acme
      - slug: initech
    roles:
      - name: auditor
        permissions:
          - { api: https://api.example.com, permission: read:documents }
          - { api: https://api.example.com, permission: audit:everything }
";
    let doc = parse(unknown_permission).unwrap();
    let e = core.apply(&doc).await.unwrap_err();
    assert_located(
        &e,
        12,
        "tenants[0].roles[0].permissions[1].permission",
        "no permission `audit:everything`",
    );

    let unknown_role = "tenants:
  - slug: default
    users:
      - email: carol@acme.example
        password: another long password
        roles: [viewer, ghost]
";
    let e = core.apply(&parse(unknown_role).unwrap()).await.unwrap_err();
    assert_located(
        &e,
        6,
        "tenants[0].users[0].roles[1]",
        "role `ghost` is not defined",
    );

    // A cycle through roles stored by an earlier apply (admin -> editor -> viewer).
    let stored_cycle = "tenants:
  - slug: default
    roles:
      - name: viewer
        inherits: [admin]
";
    let e = core.apply(&parse(stored_cycle).unwrap()).await.unwrap_err();
    assert_located(&e, 5, "tenants[0].roles[0].inherits", "cycle");

    let not_a_member = "tenants:
  - slug: default
    users:
      - email: dave@acme.example
    organizations:
      - slug: acme
        teams:
          - slug: platform
            members: [dave@acme.example]
";
    let e = core.apply(&parse(not_a_member).unwrap()).await.unwrap_err();
    assert_located(
        &e,
        9,
        "tenants[0].organizations[0].teams[0].members[0]",
        "not a member",
    );

    let too_long = "tenants:
  - slug: default
    apis:
      - identifier: https://api.example.com
        token_lifetime: 100000
";
    let e = core.apply(&parse(too_long).unwrap()).await.unwrap_err();
    assert_located(
        &e,
        5,
        "tenants[0].apis[0].token_lifetime",
        "exceeds the tenant's max_token_lifetime of 86400 s",
    );

    assert_eq!(core.export(None).await.unwrap(), before);
    assert_eq!(stamps(&core).await, stamps_before);
    let mut tx = core.store.read().await.unwrap();
    let t = tx
        .tenant_get_by_slug(&slug("default"))
        .await
        .unwrap()
        .unwrap();
    assert!(
        tx.org_get_by_slug(&t.id, &slug("initech"))
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        tx.role_get_by_name(&t.id, "auditor")
            .await
            .unwrap()
            .is_none()
    );
}

async fn documents_built_in_code_apply(db: TestDb) {
    let core = db.core();
    let mut doc = Document::default();
    let mut t = clavis_core::declarative::TenantDoc::new(slug("acme-prod"));
    t.display_name = Some("Acme production".to_owned());
    doc.tenants.push(t);
    let report = core.apply(&doc).await.unwrap();
    assert_eq!(report.changes.len(), 1);
    assert_eq!(report.changes[0].to_string(), "created tenant acme-prod");
    let yaml = to_yaml(&core.export(Some(&slug("acme-prod"))).await.unwrap()).unwrap();
    assert!(yaml.contains("slug: acme-prod"), "{yaml}");
    assert!(yaml.contains("Username-Password-Authentication"), "{yaml}");
}

async fn applies_onto_a_bootstrapped_install(db: TestDb) {
    let core = db.core();
    assert!(core.ensure_default_tenant().await.unwrap());
    let report = core.apply(&parse(EXAMPLE).unwrap()).await.unwrap();
    // The tenant and its database connection already match the file.
    assert!(
        !report.changes.iter().any(|c| c.kind == ResourceKind::Tenant
            || c.key == "default/Username-Password-Authentication"),
        "{:?}",
        report.changes
    );
    assert_eq!(
        count(&report.changes, ResourceKind::User, Action::Created),
        2
    );
    assert!(
        core.apply(&parse(EXAMPLE).unwrap())
            .await
            .unwrap()
            .is_noop()
    );
}

/// An `email` (passwordless) connection applies and exports; it takes no options, in a
/// file as through the Management API.
async fn email_connections_take_no_options(db: TestDb) {
    let core = db.core();
    let ok = "tenants:
  - slug: default
    connections:
      - name: acme-email
        strategy: email
";
    core.apply(&parse(ok).unwrap()).await.unwrap();
    let yaml = to_yaml(&core.export(None).await.unwrap()).unwrap();
    assert!(yaml.contains("strategy: email"), "{yaml}");
    for bad in [
        "tenants:
  - slug: default
    connections:
      - name: other-email
        strategy: email
        options: { otp_length: 8 }
",
        "tenants:
  - slug: default
    connections:
      - name: acme-email
        options: { disable_signup: true }
",
    ] {
        let e = core.apply(&parse(bad).unwrap()).await.unwrap_err();
        assert!(
            e.to_string()
                .contains("an email connection takes no options"),
            "{e}"
        );
    }
    let again = to_yaml(&core.export(None).await.unwrap()).unwrap();
    assert_eq!(yaml, again, "a refused file changes nothing");
}

clavis_store::on_both_backends!(
    email_connections_take_no_options,
    applies_onto_a_bootstrapped_install,
    full_example_round_trips,
    one_field_changed_is_one_update,
    invalid_references_change_nothing,
    documents_built_in_code_apply,
);

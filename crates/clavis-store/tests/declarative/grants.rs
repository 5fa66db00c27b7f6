//! Client grants and `pkce_required` in configuration as code.

use super::*;

clavis_store::on_both_backends!(
    client_grants_are_managed,
    pkce_required_is_managed,
    invalid_grants_change_nothing,
);

/// The stored grants of application `app` of tenant `default`: (api identifier, scope).
async fn grants_of(core: &Core, app: &str) -> Vec<(String, Vec<String>, Timestamp)> {
    let mut tx = core.store.read().await.unwrap();
    let t = tx
        .tenant_get_by_slug(&slug("default"))
        .await
        .unwrap()
        .unwrap();
    let a = tx
        .app_list(&t.id, Page::first())
        .await
        .unwrap()
        .into_iter()
        .find(|a| a.name == app)
        .unwrap();
    let mut out = Vec::new();
    for g in tx.client_grant_list(&t.id, &a.client_id).await.unwrap() {
        let api = tx.api_get(&t.id, &g.api_id).await.unwrap().unwrap();
        out.push((api.identifier, g.scope, g.created_at));
    }
    out.sort();
    out
}

fn with_grant(scope: &str) -> String {
    let edited = EXAMPLE.replace(
        EXAMPLE_GRANT,
        &EXAMPLE_GRANT.replace("[read:documents]", scope),
    );
    assert_ne!(edited, EXAMPLE);
    edited
}

async fn client_grants_are_managed(db: TestDb) {
    let core = db.core();
    let report = core.apply(&parse(EXAMPLE).unwrap()).await.unwrap();
    assert!(report.changes.contains(&Change {
        kind: ResourceKind::ClientGrant,
        key: GRANT_KEY.to_owned(),
        action: Action::Created,
    }));
    let created = grants_of(&core, "Reporting Service").await;
    assert_eq!(created.len(), 1);
    assert_eq!(
        (created[0].0.as_str(), &created[0].1[..]),
        (API, &["read:documents".to_owned()][..])
    );

    // Again: nothing.
    let before = stamps(&core).await;
    assert!(
        core.apply(&parse(EXAMPLE).unwrap())
            .await
            .unwrap()
            .is_noop()
    );
    assert_eq!(stamps(&core).await, before);

    // A scope change is one update of the grant, and nothing else.
    let wider = with_grant("[write:documents, read:documents]");
    let report = core.apply(&parse(&wider).unwrap()).await.unwrap();
    assert_eq!(
        report.changes,
        [Change {
            kind: ResourceKind::ClientGrant,
            key: GRANT_KEY.to_owned(),
            action: Action::Updated,
        }]
    );
    assert!(report.secrets.is_empty());
    let updated = grants_of(&core, "Reporting Service").await;
    assert_eq!(updated.len(), 1);
    assert_eq!(updated[0].1, ["read:documents", "write:documents"]);
    assert_eq!(updated[0].2, created[0].2, "same grant, updated in place");
    // The order of the scope does not matter.
    let reordered = with_grant("[read:documents, write:documents]");
    let before = stamps(&core).await;
    assert!(
        core.apply(&parse(&reordered).unwrap())
            .await
            .unwrap()
            .is_noop()
    );
    assert_eq!(stamps(&core).await, before);

    // A file that leaves the grants out keeps them.
    let without = EXAMPLE.replace(EXAMPLE_GRANT, "");
    assert!(
        core.apply(&parse(&without).unwrap())
            .await
            .unwrap()
            .is_noop()
    );
    assert_eq!(grants_of(&core, "Reporting Service").await, updated);

    // Export writes them back (sorted), and the export round-trips.
    let export = core.export(None).await.unwrap();
    let yaml = to_yaml(&export).unwrap();
    assert!(yaml.contains("grants:"), "{yaml}");
    let reporting = export.tenants[0]
        .applications
        .iter()
        .find(|a| a.name == "Reporting Service")
        .unwrap();
    assert_eq!(reporting.grants.len(), 1);
    assert_eq!(reporting.grants[0].api, API);
    assert_eq!(
        reporting.grants[0].scope,
        ["read:documents", "write:documents"]
    );
    let reparsed = parse(&yaml).unwrap_or_else(|e| panic!("{e}\n{yaml}"));
    assert_eq!(reparsed, export);
    let before = stamps(&core).await;
    assert!(core.apply(&reparsed).await.unwrap().is_noop());
    assert_eq!(stamps(&core).await, before);
    let other = TestDb::new(db.backend).await;
    let report = other.core().apply(&reparsed).await.unwrap();
    assert_eq!(
        count(&report.changes, ResourceKind::ClientGrant, Action::Created),
        1
    );
    assert_eq!(other.core().export(None).await.unwrap(), export);

    // A grant on a second Api is added; the first is left alone.
    let second = "tenants:
  - slug: default
    apis:
      - identifier: https://billing.example.com
        permissions:
          - value: read:invoices
    applications:
      - name: Reporting Service
        type: m2m
        grants:
          - api: https://billing.example.com
            scope: [read:invoices]
";
    let report = core.apply(&parse(second).unwrap()).await.unwrap();
    assert_eq!(
        report
            .changes
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>(),
        [
            "created api default/https://billing.example.com",
            "created client_grant default/Reporting Service/https://billing.example.com",
        ]
    );
    let both = grants_of(&core, "Reporting Service").await;
    assert_eq!(both.len(), 2);
    assert_eq!(both[0], updated[0]);
    let export = core.export(None).await.unwrap();
    let reporting = export.tenants[0]
        .applications
        .iter()
        .find(|a| a.name == "Reporting Service")
        .unwrap();
    let apis: Vec<&str> = reporting.grants.iter().map(|g| g.api.as_str()).collect();
    assert_eq!(
        apis,
        ["https://api.example.com", "https://billing.example.com"]
    );
}

async fn pkce_required_is_managed(db: TestDb) {
    let core = db.core();
    core.apply(&parse(EXAMPLE).unwrap()).await.unwrap();
    let app = |export: &Document, name: &str| {
        export.tenants[0]
            .applications
            .iter()
            .find(|a| a.name == name)
            .unwrap()
            .pkce_required
    };
    let export = core.export(None).await.unwrap();
    assert_eq!(app(&export, "Example Web"), None, "true is the default");

    let relaxed = EXAMPLE.replace("pkce_required: true ", "pkce_required: false");
    assert_ne!(relaxed, EXAMPLE);
    let report = core.apply(&parse(&relaxed).unwrap()).await.unwrap();
    assert_eq!(
        report.changes,
        [Change {
            kind: ResourceKind::Application,
            key: "default/Example Web".to_owned(),
            action: Action::Updated,
        }]
    );
    assert!(
        core.apply(&parse(&relaxed).unwrap())
            .await
            .unwrap()
            .is_noop()
    );
    let export = core.export(None).await.unwrap();
    assert_eq!(app(&export, "Example Web"), Some(false));
    assert_eq!(app(&export, "Example SPA"), None);
    let yaml = to_yaml(&export).unwrap();
    assert_eq!(yaml.matches("pkce_required: false").count(), 1, "{yaml}");
    assert!(core.apply(&parse(&yaml).unwrap()).await.unwrap().is_noop());

    // Absent: kept. The example again (true): one update back.
    let without = relaxed.replace("pkce_required: false", "");
    assert!(
        core.apply(&parse(&without).unwrap())
            .await
            .unwrap()
            .is_noop()
    );
    let report = core.apply(&parse(EXAMPLE).unwrap()).await.unwrap();
    assert_eq!(report.changes.len(), 1, "{:?}", report.changes);
    assert_eq!(app(&core.export(None).await.unwrap(), "Example Web"), None);
}

async fn invalid_grants_change_nothing(db: TestDb) {
    let core = db.core();
    core.apply(&parse(EXAMPLE).unwrap()).await.unwrap();
    let before = core.export(None).await.unwrap();
    let stamps_before = stamps(&core).await;
    let grants_before = grants_of(&core, "Reporting Service").await;

    // Only m2m applications have grants: refused when parsed, and by apply.
    let not_m2m = "tenants:
  - slug: default
    display_name: Renamed
    applications:
      - name: Example Web
        type: web
        grants:
          - api: https://api.example.com
            scope: [read:documents]
";
    let e = parse_err(not_m2m);
    assert_located(
        &e,
        8,
        "tenants[0].applications[0].grants",
        "only `m2m` applications have client grants",
    );
    let mut doc = parse(&not_m2m.replace("type: web", "type: m2m")).unwrap();
    doc.tenants[0].applications[0].app_type = AppType::Web;
    let e = core.apply(&doc).await.unwrap_err();
    assert_located(
        &e,
        8,
        "tenants[0].applications[0].grants",
        "`web` application",
    );

    let unknown_api = "tenants:
  - slug: default
    display_name: Renamed
    applications:
      - name: Reporting Service
        type: m2m
        grants:
          - api: https://api.example.com
            scope: [write:documents]
          - api: https://nowhere.example.com
            scope: [read:documents]
";
    let e = core.apply(&parse(unknown_api).unwrap()).await.unwrap_err();
    assert_located(
        &e,
        10,
        "tenants[0].applications[0].grants[1].api",
        "Api `https://nowhere.example.com` is not defined",
    );

    let unknown_permission = "tenants:
  - slug: default
    applications:
      - name: Reporting Service
        type: m2m
        grants:
          - api: https://api.example.com
            scope:
              - read:documents
              - audit:everything
";
    let e = core
        .apply(&parse(unknown_permission).unwrap())
        .await
        .unwrap_err();
    assert_located(
        &e,
        10,
        "tenants[0].applications[0].grants[0].scope[1]",
        "no permission `audit:everything`",
    );

    let twice = "tenants:
  - slug: default
    applications:
      - name: Reporting Service
        type: m2m
        grants:
          - { api: https://api.example.com, scope: [read:documents] }
          - { api: https://api.example.com, scope: [write:documents] }
";
    assert_located(
        &parse_err(twice),
        8,
        "tenants[0].applications[0].grants[1].api",
        "listed twice",
    );

    assert_eq!(core.export(None).await.unwrap(), before);
    assert_eq!(stamps(&core).await, stamps_before);
    assert_eq!(grants_of(&core, "Reporting Service").await, grants_before);
}

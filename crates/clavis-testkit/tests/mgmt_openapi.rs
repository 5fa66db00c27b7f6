//! The OpenAPI description of the Management API as served at
//! `{issuer}/api/v2/openapi.json`: OpenAPI 3.1, the tenant's own server URL, and every
//! operation fully described (operationId, summary, security, the error responses) —
//! against a real server, on SQLite and PostgreSQL.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeSet;

use clavis_testkit::{Backend, TestServer};
use serde_json::Value;

clavis_testkit::on_both!(
    the_spec_is_served_per_tenant,
    every_operation_is_fully_described,
);

const METHODS: &[&str] = &["get", "put", "post", "delete", "patch", "head", "options"];

async fn spec(s: &TestServer, tenant: &str) -> Value {
    let r = s
        .client
        .get(&format!("/t/{tenant}/api/v2/openapi.json"))
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(
        r.header("content-type")
            .unwrap()
            .starts_with("application/json"),
        "{:?}",
        r.header("content-type")
    );
    serde_json::from_str(&r.body).expect("the spec is valid JSON")
}

async fn the_spec_is_served_per_tenant(b: Backend) {
    let s = TestServer::start(b).await;
    s.fixtures("acme").tenant().await;
    for tenant in ["default", "acme"] {
        let doc = spec(&s, tenant).await;
        assert_eq!(doc["openapi"], "3.1.0");
        assert_eq!(doc["info"]["title"], "Clavis Management API");
        let servers = doc["servers"].as_array().unwrap();
        assert_eq!(servers.len(), 1);
        assert_eq!(
            servers[0]["url"],
            format!("{}/api/v2", s.issuer(tenant)),
            "{tenant}"
        );
        assert_eq!(
            doc["components"]["securitySchemes"]["bearer"]["scheme"],
            "bearer"
        );
        assert!(doc["components"]["schemas"]["ErrorBody"].is_object());
    }
    // The committed copy describes the same operations and schemas (only the server
    // differs: a `{tenant}` template there).
    let committed: Value = serde_json::from_str(
        &std::fs::read_to_string(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/openapi.json"),
        )
        .expect("docs/openapi.json"),
    )
    .expect("docs/openapi.json is JSON");
    let served = spec(&s, "default").await;
    assert_eq!(
        committed["paths"], served["paths"],
        "regenerate docs/openapi.json"
    );
    assert_eq!(committed["components"], served["components"]);
    assert_eq!(committed["servers"][0]["url"], "/t/{tenant}/api/v2");
    // Public, like discovery: no token needed. An unknown tenant is a 404.
    let r = s.client.get("/t/nobody/api/v2/openapi.json").await;
    assert_eq!(r.status, 404, "{}", r.body);
}

async fn every_operation_is_fully_described(b: Backend) {
    let s = TestServer::start(b).await;
    let doc = spec(&s, "default").await;
    let paths = doc["paths"].as_object().unwrap();
    let mut ids = BTreeSet::new();
    let mut count = 0;
    for (path, item) in paths {
        assert!(path.starts_with('/') && !path.starts_with("/t/"), "{path}");
        for (method, op) in item.as_object().unwrap() {
            if !METHODS.contains(&method.as_str()) {
                continue;
            }
            count += 1;
            let at = format!("{} {path}", method.to_uppercase());
            let id = op["operationId"]
                .as_str()
                .unwrap_or_else(|| panic!("{at}: operationId"));
            assert!(
                id.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_'),
                "{at}: {id}"
            );
            assert!(
                ids.insert(id.to_owned()),
                "{at}: operationId `{id}` repeated"
            );
            assert!(
                op["summary"].as_str().is_some_and(|s| !s.trim().is_empty()),
                "{at}: summary"
            );
            assert!(
                op["tags"].as_array().is_some_and(|t| !t.is_empty()),
                "{at}: tag"
            );
            let security = op["security"]
                .as_array()
                .unwrap_or_else(|| panic!("{at}: security"));
            let scopes = security
                .iter()
                .find_map(|r| r["bearer"].as_array())
                .unwrap_or_else(|| panic!("{at}: bearer security"));
            assert!(!scopes.is_empty(), "{at}: the scope it needs");
            for scope in scopes {
                assert!(
                    clavis_testkit::MGMT_SCOPES.contains(&scope.as_str().unwrap()),
                    "{at}: unknown scope {scope}"
                );
            }
            let responses = op["responses"]
                .as_object()
                .unwrap_or_else(|| panic!("{at}: responses"));
            for code in ["400", "401", "403"] {
                assert!(responses.contains_key(code), "{at}: {code}");
            }
            assert!(
                responses.keys().any(|c| c.starts_with('2')),
                "{at}: a success response"
            );
            for (code, r) in responses {
                assert!(
                    r["description"].as_str().is_some_and(|d| !d.is_empty()),
                    "{at}: {code} description"
                );
            }
            // Every path parameter is declared.
            let declared: BTreeSet<&str> = op["parameters"]
                .as_array()
                .map(|ps| {
                    ps.iter()
                        .filter(|p| p["in"] == "path")
                        .filter_map(|p| p["name"].as_str())
                        .collect()
                })
                .unwrap_or_default();
            for seg in path.split('/') {
                if let Some(name) = seg.strip_prefix('{').and_then(|x| x.strip_suffix('}')) {
                    assert!(declared.contains(name), "{at}: path parameter {name}");
                }
            }
        }
    }
    // The operations of this crate's own families, at least, are there.
    for id in [
        "get_api_keys",
        "post_api_keys",
        "get_api_keys_by_id",
        "patch_api_keys_by_id",
        "delete_api_keys_by_id",
        "post_rotate_api_key",
        "get_logs",
        "get_logs_by_id",
        "get_logs_export",
        "get_reports_by_kind",
        "post_authorize_check",
        "post_authorize_check_batch",
        "get_log_streams",
    ] {
        assert!(ids.contains(id), "{id} missing from {ids:?}");
    }
    assert_eq!(ids.len(), count);
}

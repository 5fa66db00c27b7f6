//! API keys across nodes and in the audit log, and every tenant's built-in Management API.

use std::path::PathBuf;
use std::sync::Arc;

use clavis_core::model::Permission;
use clavis_server::{Config, LogFormat, Server};
use clavis_testkit::{Backend, MGMT_SCOPES, TestServer};
use serde_json::{Value, json};

use super::{KEYS, create, send};

/// The audit events of one type, newest first.
async fn events(s: &TestServer, token: &str, kind: &str) -> Vec<Value> {
    let r = send(
        s,
        "GET",
        &format!("/t/default/api/v2/logs?type={kind}"),
        token,
        None,
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    r.json()["logs"].as_array().unwrap().clone()
}

pub(crate) async fn audit_trail_names_the_caller_and_holds_no_secret(b: Backend) {
    let s = TestServer::start(b).await;
    let admin = s.mgmt_token("default", MGMT_SCOPES).await;
    let admin_client = {
        let claims = admin.split('.').nth(1).unwrap();
        let raw = clavis_crypto::b64url_decode(claims).unwrap();
        serde_json::from_slice::<Value>(&raw).unwrap()["client_id"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    let c = create(&s, &admin, json!({"name": "auditor", "scopes": ["read:logs", "create:api_keys", "update:api_keys", "delete:api_keys"]})).await;
    let (id, key) = (
        c["id"].as_str().unwrap().to_owned(),
        c["key"].as_str().unwrap().to_owned(),
    );
    let r = send(
        &s,
        "PATCH",
        &format!("{KEYS}/{id}"),
        &admin,
        Some(json!({"name": "auditor 2"})),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let r = send(&s, "POST", &format!("{KEYS}/{id}/rotate"), &admin, None).await;
    let key2 = r.json()["key"].as_str().unwrap().to_owned();
    // A change made with the key names the key as the actor.
    let made = create(
        &s,
        &key2,
        json!({"name": "made by a key", "scopes": ["read:logs"]}),
    )
    .await;
    let r = send(
        &s,
        "DELETE",
        &format!("{KEYS}/{}", made["id"].as_str().unwrap()),
        &key2,
        None,
    )
    .await;
    assert_eq!(r.status, 204, "{}", r.body);

    let created = events(&s, &admin, "api_key.created").await;
    assert_eq!(created.len(), 2, "{created:?}");
    assert_eq!(
        created[1]["actor"]["client_id"],
        admin_client.as_str(),
        "{}",
        created[1]
    );
    assert_eq!(created[1]["context"]["api_key_id"], id.as_str());
    assert_eq!(
        created[0]["actor"]["client_id"],
        id.as_str(),
        "{}",
        created[0]
    );
    let updated = events(&s, &admin, "api_key.updated").await;
    assert_eq!(updated.len(), 1);
    assert_eq!(updated[0]["context"]["name_before"], "auditor");
    assert_eq!(updated[0]["context"]["name_after"], "auditor 2");
    let rotated = events(&s, &admin, "api_key.rotated").await;
    assert_eq!(rotated.len(), 1);
    let revoked = events(&s, &admin, "api_key.revoked").await;
    assert_eq!(revoked.len(), 1);
    assert_eq!(revoked[0]["actor"]["client_id"], id.as_str());
    assert_eq!(revoked[0]["context"]["api_key_id"], made["id"]);
    // No key, and no digest, anywhere in the log.
    let all = send(
        &s,
        "GET",
        "/t/default/api/v2/logs?per_page=100",
        &admin,
        None,
    )
    .await;
    for secret in [key.as_str(), key2.as_str(), made["key"].as_str().unwrap()] {
        assert!(!all.body.contains(secret), "a key leaked into the log");
        assert!(
            !all.body.contains(&secret[4..20]),
            "a key leaked into the log"
        );
    }
    assert!(!all.body.contains("digest"), "{}", all.body);
}

/// A second node of `s`: the same database, master key and public URL (as behind one load
/// balancer), its own address and clock. Returns the address it listens on.
async fn second_server(
    s: &TestServer,
) -> (
    String,
    tokio::sync::oneshot::Sender<()>,
    tokio::task::JoinHandle<()>,
    tempfile::TempDir,
) {
    let dir = tempfile::tempdir().unwrap();
    let cfg = Config {
        data_dir: PathBuf::from(dir.path()),
        database_url: Some(s.db.url.clone()),
        listen: "127.0.0.1:0".parse().unwrap(),
        public_url: Some(s.base_url.clone()),
        master_key: Some(s.db.master_key_b64.clone()),
        master_key_file: None,
        log_format: LogFormat::Json,
        log_level: "warn".to_owned(),
        ..Config::default()
    };
    let clock = Arc::new(clavis_types::ManualClock::new(s.core.now()));
    let server = Server::build_with_clock(cfg, clock).await.unwrap();
    let base = format!("http://{}", server.local_addr());
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let handle = tokio::spawn(async move {
        let _ = server
            .run(async {
                let _ = rx.await;
            })
            .await;
    });
    (base, tx, handle, dir)
}

pub(crate) async fn revocation_is_seen_at_once_by_another_server(b: Backend) {
    let s = TestServer::start(b).await;
    let admin = s.mgmt_token("default", MGMT_SCOPES).await;
    let (base, stop, handle, _dir) = second_server(&s).await;
    let other = clavis_testkit::Client::new(&base);
    let c = create(
        &s,
        &admin,
        json!({"name": "shared", "scopes": ["read:api_keys"]}),
    )
    .await;
    let (id, key) = (
        c["id"].as_str().unwrap().to_owned(),
        c["key"].as_str().unwrap().to_owned(),
    );
    // Both nodes accept it.
    assert_eq!(send(&s, "GET", KEYS, &key, None).await.status, 200);
    let r = other.send("GET", KEYS, &key, None).await;
    assert_eq!(r.status, 200, "{}", r.body);
    // Rotated on one node: the old key is refused by the other at its very next request.
    let r = send(&s, "POST", &format!("{KEYS}/{id}/rotate"), &admin, None).await;
    let key2 = r.json()["key"].as_str().unwrap().to_owned();
    assert_eq!(other.send("GET", KEYS, &key, None).await.status, 401);
    assert_eq!(other.send("GET", KEYS, &key2, None).await.status, 200);
    // Revoked on one node: refused by the other at once.
    assert_eq!(
        send(&s, "DELETE", &format!("{KEYS}/{id}"), &admin, None)
            .await
            .status,
        204
    );
    let r = other.send("GET", KEYS, &key2, None).await;
    assert_eq!(r.status, 401, "{}", r.body);
    assert_eq!(r.json()["error"], "invalid_token");
    let _ = stop.send(());
    let _ = handle.await;
}

pub(crate) async fn every_tenant_has_the_management_api(b: Backend) {
    let s = TestServer::start(b).await;
    // A tenant created after start gets it with the tenant.
    let t = s.fixtures("fresh").tenant().await;
    let audience = format!("{}/api/v2/", s.issuer("fresh"));
    let api = {
        let mut tx = s.core.store.read().await.unwrap();
        tx.api_get_by_identifier(&t.id, &audience).await.unwrap()
    }
    .expect("the Management API of a new tenant");
    assert_eq!(api.name, "Clavis Management API");
    let mut values: Vec<&str> = api.permissions.iter().map(|p| p.value.as_str()).collect();
    let mut expected = MGMT_SCOPES.to_vec();
    values.sort_unstable();
    expected.sort_unstable();
    assert_eq!(values, expected);
    // A client granted it gets a working token (the Api is found, not created).
    let token = s
        .mgmt_token(
            "fresh",
            &["create:api_keys", "read:api_keys", "read:resource_servers"],
        )
        .await;
    let r = send(&s, "GET", "/t/fresh/api/v2/api-keys", &token, None).await;
    assert_eq!(r.status, 200, "{}", r.body);
    // And it is listed among the tenant's Apis.
    let r = send(&s, "GET", "/t/fresh/api/v2/resource-servers", &token, None).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let listed = r.json();
    let apis = listed.as_array().unwrap();
    assert_eq!(apis.len(), 1, "{listed}");
    assert_eq!(apis[0]["identifier"], audience.as_str());
    assert_eq!(apis[0]["name"], "Clavis Management API");
    assert_eq!(
        apis[0]["scopes"].as_array().unwrap().len(),
        MGMT_SCOPES.len(),
        "{listed}"
    );
    let count = {
        let mut tx = s.core.store.read().await.unwrap();
        tx.api_count(&t.id).await.unwrap()
    };
    assert_eq!(count, 1, "no second Management API");

    // The default tenant has it from the start, and a start brings it up to date: a
    // scope missing from it (an older version) is added back.
    let d = s.fixtures("default").tenant().await;
    let default_aud = format!("{}/api/v2/", s.issuer("default"));
    let mut tx = s.core.store.begin().await.unwrap();
    let api = tx
        .api_get_by_identifier(&d.id, &default_aud)
        .await
        .unwrap()
        .expect("default tenant's Management API");
    let older: Vec<Permission> = api
        .permissions
        .iter()
        .filter(|p| p.value != "read:authz")
        .cloned()
        .collect();
    tx.api_permissions_set(&d.id, &api.id, &older)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    let (_base, stop, handle, _dir) = second_server(&s).await;
    let _ = stop.send(());
    let _ = handle.await;
    let mut tx = s.core.store.read().await.unwrap();
    let after = tx
        .api_get_by_identifier(&d.id, &default_aud)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(after.id, api.id, "the same Api, updated");
    let values: Vec<&str> = after.permissions.iter().map(|p| p.value.as_str()).collect();
    assert!(values.contains(&"read:authz"), "{values:?}");
    assert_eq!(values.len(), MGMT_SCOPES.len());
    assert_eq!(tx.api_count(&d.id).await.unwrap(), 1);
}

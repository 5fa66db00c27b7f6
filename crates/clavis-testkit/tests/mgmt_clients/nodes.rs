//! Two nodes on one database: a secret rotated or an application deleted through one node
//! stops authenticating on the other within the configuration cache's lifetime.

use std::path::PathBuf;
use std::sync::Arc;

use clavis_server::{Config, LogFormat, Server};
use clavis_testkit::{Backend, Client, TestServer};
use clavis_types::ManualClock;
use serde_json::json;

use super::{API, CLIENT_SCOPES, CLIENTS, GRANT_SCOPES, GRANTS, created, send};

/// A second server on the same database, with its own clock.
struct Node {
    client: Client,
    clock: Arc<ManualClock>,
    stop: tokio::sync::oneshot::Sender<()>,
    handle: tokio::task::JoinHandle<()>,
    _dir: tempfile::TempDir,
}

async fn second_node(s: &TestServer) -> Node {
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
    let clock = Arc::new(ManualClock::new(s.core.now()));
    let server = Server::build_with_clock(cfg, clock.clone()).await.unwrap();
    let client = Client::new(&format!("http://{}", server.local_addr()));
    let (stop, rx) = tokio::sync::oneshot::channel::<()>();
    let handle = tokio::spawn(async move {
        let _ = server
            .run(async {
                let _ = rx.await;
            })
            .await;
    });
    Node {
        client,
        clock,
        stop,
        handle,
        _dir: dir,
    }
}

async fn token_at(node: &Client, client_id: &str, secret: &str) -> u16 {
    node.post_form(
        "/t/default/oauth/token",
        &[
            ("grant_type", "client_credentials"),
            ("client_id", client_id),
            ("client_secret", secret),
            ("audience", API),
        ],
        &[],
    )
    .await
    .status
}

pub(super) async fn another_node_follows_within_the_cache_lifetime(b: Backend) {
    let s = TestServer::start(b).await;
    s.fixtures("default").api(API, &["read:invoices"]).await;
    let mut scopes = CLIENT_SCOPES.to_vec();
    scopes.extend(GRANT_SCOPES);
    let admin = s.mgmt_token("default", &scopes).await;
    let app = created(
        &s,
        CLIENTS,
        &admin,
        json!({"name": "Job", "app_type": "m2m", "token_endpoint_auth_method": "client_secret_post"}),
    )
    .await;
    let id = app["client_id"].as_str().unwrap().to_owned();
    let first = app["client_secret"].as_str().unwrap().to_owned();
    created(
        &s,
        GRANTS,
        &admin,
        json!({"client_id": id, "audience": API, "scope": ["read:invoices"]}),
    )
    .await;
    let node = second_node(&s).await;
    // The other node authenticates the client (and caches the application).
    assert_eq!(token_at(&node.client, &id, &first).await, 200);

    // Rotated through the first node: refused there at once, and by the other node once
    // its cached copy has expired.
    let r = send(
        &s,
        "POST",
        &format!("{CLIENTS}/{id}/rotate-secret"),
        &admin,
        None,
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let second = r.json()["client_secret"].as_str().unwrap().to_owned();
    assert_eq!(token_at(&s.client, &id, &first).await, 401);
    node.clock
        .advance_secs(clavis_core::service::CONFIG_CACHE_SECS);
    assert_eq!(token_at(&node.client, &id, &first).await, 401);
    assert_eq!(token_at(&node.client, &id, &second).await, 200);

    // Deleted through the first node: likewise.
    let r = send(&s, "DELETE", &format!("{CLIENTS}/{id}"), &admin, None).await;
    assert_eq!(r.status, 204, "{}", r.body);
    node.clock
        .advance_secs(clavis_core::service::CONFIG_CACHE_SECS);
    assert_eq!(token_at(&node.client, &id, &second).await, 401);
    let _ = node.stop.send(());
    let _ = node.handle.await;
}

//! Two Clavis servers on one database (as behind a load balancer): failed logins, the
//! per-address request limit and the refresh limit are counted once for both.

use std::path::PathBuf;
use std::sync::Arc;

use clavis_core::Core;
use clavis_core::service::Throttle;
use clavis_server::{Config, LogFormat, Server};
use clavis_testkit::{Backend, Client, TestServer};
use clavis_types::ManualClock;

use super::refresh::{assert_too_many, refresh, refresh_times, refresh_token_for};
use crate::{EMAIL, IP, PASSWORD, align, fail_times, locked_for, login, meta};

/// A second node of `s`: the same database, master key and public URL, its own address,
/// process state (caches, audit writer) and clock.
struct Node {
    core: Core,
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
    let core = server.core().clone();
    let (stop, rx) = tokio::sync::oneshot::channel::<()>();
    let handle = tokio::spawn(async move {
        let _ = server
            .run(async {
                let _ = rx.await;
            })
            .await;
    });
    Node {
        core,
        client,
        clock,
        stop,
        handle,
        _dir: dir,
    }
}

pub(crate) async fn limits_hold_across_two_servers(b: Backend) {
    let s = TestServer::start(b).await;
    let fx = s.fixtures("default");
    fx.user(EMAIL, PASSWORD).await;
    let app = fx.web_app(&["https://rp.example.com/callback"], &[]).await;
    let t = fx.tenant().await;
    let n2 = second_node(&s).await;
    let (one, two) = (&s.core, &n2.core);
    assert!(!Arc::ptr_eq(&one.caches, &two.caches), "two separate nodes");
    align(&[&s.clock, &n2.clock], 3_600, 30);
    let m = meta(Some(IP), Some("agent"));

    // Failed logins split 3 + 2 over the nodes lock the address on both.
    fail_times(one, &t, EMAIL, 3, &m).await;
    fail_times(two, &t, EMAIL, 2, &m).await;
    assert_eq!(locked_for(login(one, &t, EMAIL, PASSWORD, &m).await), 900);
    assert_eq!(locked_for(login(two, &t, EMAIL, PASSWORD, &m).await), 900);
    // The lock ends on both; the address logs in on either.
    for c in [&s.clock, &n2.clock] {
        c.advance_secs(900);
    }
    login(two, &t, EMAIL, PASSWORD, &m).await.unwrap();
    login(one, &t, EMAIL, PASSWORD, &m).await.unwrap();

    // The per-address request limit (10 a minute) counts requests on both nodes.
    align(&[&s.clock, &n2.clock], 60, 0);
    for i in 0..10 {
        let node = if i % 2 == 0 { one } else { two };
        let r = node.throttle_auth_ip(&t, Some(IP)).await.unwrap();
        assert_eq!(r, Throttle::Allowed, "request {i}");
    }
    for node in [one, two] {
        assert_eq!(
            node.throttle_auth_ip(&t, Some(IP)).await.unwrap(),
            Throttle::Limited {
                retry_after_secs: 60
            }
        );
    }

    // Refresh grants over HTTP: 15 on each node, then both answer 429.
    let rt = refresh_token_for(&s, &app, &fx.user("bob@example.com", PASSWORD).await).await;
    let rt = refresh_times(&s.client, &app, rt, 15).await;
    let rt = refresh_times(&n2.client, &app, rt, 15).await;
    let wait = assert_too_many(&refresh(&n2.client, &app, &rt).await);
    assert!((1..=3_600).contains(&wait), "{wait}");
    assert_eq!(assert_too_many(&refresh(&s.client, &app, &rt).await), wait);

    let _ = n2.stop.send(());
    let _ = n2.handle.await;
}

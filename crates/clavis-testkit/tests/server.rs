//! End-to-end tests of `clavis serve`'s HTTP surface against a real server on port 0, on
//! SQLite and on PostgreSQL.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use clavis_testkit::{Backend, TestServer};

clavis_testkit::on_both!(
    health_ready_and_metrics,
    default_tenant_publishes_its_jwks,
    unknown_tenant_is_a_clear_404,
    request_ids_are_echoed_or_generated,
    bootstrap_creates_the_first_administrator_once,
    bootstrap_form_requires_csrf,
    oversized_bodies_are_refused,
);

async fn health_ready_and_metrics(b: Backend) {
    let s = TestServer::start(b).await;
    let h = s.client.health().await;
    assert_eq!((h.status, h.json()["status"].as_str()), (200, Some("ok")));
    let r = s.client.ready().await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["status"], "ready");
    assert_eq!(r.json()["schema_version"], clavis_store::migrate::latest());
    let m = s.client.metrics().await;
    assert!(m.contains("# TYPE http_requests_total counter"), "{m}");
    assert!(
        m.contains("http_requests_total{method=\"GET\",route=\"/ready\",status=\"200\"} 1"),
        "{m}"
    );
    assert!(m.contains("process_resident_memory_bytes"), "{m}");
    s.stop().await;
}

async fn default_tenant_publishes_its_jwks(b: Backend) {
    let s = TestServer::start(b).await;
    let r = s.client.get("/t/default/.well-known/jwks.json").await;
    assert_eq!(r.status, 200);
    assert_eq!(r.header("cache-control"), Some("public, max-age=300"));
    let jwks = s.client.jwks("default").await;
    assert_eq!(jwks.keys.len(), 2, "active + next");
    for k in &jwks.keys {
        assert_eq!(
            (k.kty.as_str(), k.alg.as_str(), k.use_.as_str()),
            ("RSA", "RS256", "sig")
        );
        assert_eq!(k.e.as_deref(), Some("AQAB"));
    }
    assert!(
        !r.body.contains("\"d\""),
        "private exponent leaked: {}",
        r.body
    );
}

async fn unknown_tenant_is_a_clear_404(b: Backend) {
    let s = TestServer::start(b).await;
    for path in [
        "/t/nope/.well-known/jwks.json",
        "/t/NOT%20A%20SLUG/.well-known/jwks.json",
    ] {
        let r = s.client.get(path).await;
        assert_eq!(r.status, 404, "{path}");
        assert_eq!(r.json()["error"], "not_found");
        assert!(
            r.json()["error_description"]
                .as_str()
                .unwrap()
                .contains("tenant")
        );
    }
}

async fn request_ids_are_echoed_or_generated(b: Backend) {
    let s = TestServer::start(b).await;
    let r = s
        .client
        .get_with("/health", &[("x-request-id", "abc-123")])
        .await;
    assert_eq!(r.header("x-request-id"), Some("abc-123"));
    let r = s
        .client
        .get_with("/health", &[("x-request-id", "bad id\twith\"quotes")])
        .await;
    let id = r.header("x-request-id").unwrap();
    assert_ne!(id, "bad id\twith\"quotes");
    assert_eq!(id.len(), 20);
    assert_eq!(r.header("x-content-type-options"), Some("nosniff"));
}

fn csrf_from(body: &str) -> String {
    let marker = "name=\"csrf\" value=\"";
    let start = body.find(marker).expect("csrf field") + marker.len();
    body[start..].split('"').next().unwrap().to_owned()
}

async fn bootstrap_creates_the_first_administrator_once(b: Backend) {
    let s = TestServer::start(b).await;
    let token = s
        .bootstrap_token()
        .expect("a fresh install prints a bootstrap link")
        .to_owned();
    let page = s.client.get(&format!("/bootstrap?token={token}")).await;
    assert_eq!(page.status, 200);
    assert!(
        page.header("content-security-policy")
            .unwrap()
            .contains("default-src 'none'")
    );
    let cookie = page
        .header("set-cookie")
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    assert!(page.header("set-cookie").unwrap().contains("HttpOnly"));
    let csrf = csrf_from(&page.body);
    // too-short password: refused, token still usable
    let r = s
        .client
        .post_form(
            "/bootstrap",
            &[
                ("token", &token),
                ("csrf", &csrf),
                ("email", "admin@example.com"),
                ("password", "short"),
            ],
            &[("cookie", &cookie)],
        )
        .await;
    assert_eq!(r.status, 400);
    assert!(r.body.contains("at least 12 characters"));
    let r = s
        .client
        .post_form(
            "/bootstrap",
            &[
                ("token", &token),
                ("csrf", &csrf),
                ("email", "Admin@Example.com"),
                ("password", "a long enough password"),
            ],
            &[("cookie", &cookie)],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r.body.contains("admin@example.com"));
    // the link is single-use
    assert_eq!(
        s.client
            .get(&format!("/bootstrap?token={token}"))
            .await
            .status,
        404
    );
    let again = s
        .client
        .post_form(
            "/bootstrap",
            &[
                ("token", &token),
                ("csrf", &csrf),
                ("email", "evil@example.com"),
                ("password", "another long password"),
            ],
            &[("cookie", &cookie)],
        )
        .await;
    assert_eq!(again.status, 404);
    // the administrator exists, with an argon2id password, and no new token is issued
    let tenant = s.core.tenant_by_slug("default").await.unwrap();
    let mut tx = s.core.store.read().await.unwrap();
    let user = tx
        .user_get_by_email(
            &tenant.id,
            &clavis_types::Email::parse("admin@example.com").unwrap(),
        )
        .await
        .unwrap()
        .unwrap();
    assert!(tx.admin_is(&tenant.id, &user.id).await.unwrap());
    assert!(
        tx.password_get(&tenant.id, &user.id)
            .await
            .unwrap()
            .unwrap()
            .starts_with("$argon2id$")
    );
    assert!(
        tx.user_get_by_email(
            &tenant.id,
            &clavis_types::Email::parse("evil@example.com").unwrap()
        )
        .await
        .unwrap()
        .is_none()
    );
    drop(tx);
    assert_eq!(s.core.issue_bootstrap_token().await.unwrap(), None);
    // a made-up token shows the same "cannot be used" page
    assert_eq!(s.client.get("/bootstrap?token=forged").await.status, 404);
    assert_eq!(s.client.get("/bootstrap").await.status, 404);
}

async fn bootstrap_form_requires_csrf(b: Backend) {
    let s = TestServer::start(b).await;
    let token = s.bootstrap_token().unwrap().to_owned();
    let page = s.client.get(&format!("/bootstrap?token={token}")).await;
    let csrf = csrf_from(&page.body);
    let form = [
        ("token", token.as_str()),
        ("csrf", csrf.as_str()),
        ("email", "a@example.com"),
        ("password", "a long enough password"),
    ];
    // no cookie (a cross-site post cannot carry the SameSite=Strict cookie)
    assert_eq!(
        s.client.post_form("/bootstrap", &form, &[]).await.status,
        403
    );
    // a cookie that does not match the field
    assert_eq!(
        s.client
            .post_form("/bootstrap", &form, &[("cookie", "clavis_csrf=forged")])
            .await
            .status,
        403
    );
    // the token was not consumed by the refused posts
    assert!(s.core.bootstrap_token_valid(&token).await.unwrap());
}

async fn oversized_bodies_are_refused(b: Backend) {
    let s = TestServer::start(b).await;
    // the limit is 64 KiB (clavis_api::MAX_BODY_BYTES)
    let big = "x".repeat(64 * 1024 + 1);
    let r = s
        .client
        .post_form("/bootstrap", &[("token", &big)], &[])
        .await;
    assert_eq!(r.status, 413);
}

/// Several stateless nodes started at the same moment on one fresh PostgreSQL database:
/// migrations run once (advisory lock) and exactly one `default` tenant is created.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn nodes_can_start_together_on_one_postgres_database() {
    use clavis_server::{Config, LogFormat, Server};
    let (url, _dir, name) = clavis_testkit::TestDb::empty(Backend::Postgres).await;
    let key = clavis_crypto::MasterKey::generate(&clavis_crypto::SystemRng::new()).to_base64();
    let data = tempfile::tempdir().unwrap();
    let builds = (0..3).map(|_| {
        let cfg = Config {
            data_dir: data.path().to_owned(),
            database_url: Some(url.clone()),
            listen: "127.0.0.1:0".parse().unwrap(),
            public_url: None,
            master_key: Some(key.clone()),
            master_key_file: None,
            log_format: LogFormat::Json,
            log_level: "warn".into(),
            ..Config::default()
        };
        tokio::spawn(Server::build(cfg))
    });
    let mut servers = Vec::new();
    for b in builds.collect::<Vec<_>>() {
        servers.push(
            b.await
                .unwrap()
                .unwrap_or_else(|e| panic!("a node failed to start: {e}")),
        );
    }
    let mut tx = servers[0].core().store.read().await.unwrap();
    let tenants = tx
        .tenant_list(clavis_core::model::Page::first())
        .await
        .unwrap();
    assert_eq!(tenants.len(), 1);
    drop(tx);
    for s in servers {
        s.core().store.close().await;
    }
    if let Some(n) = name {
        clavis_store::testing::drop_pg_database(n);
    }
}

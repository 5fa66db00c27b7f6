//! Test kit: [`TestServer::start`] runs a real Clavis server in-process on `127.0.0.1:0`
//! with its own fresh database (a SQLite file or a new PostgreSQL database, dropped
//! afterwards) and hands back a typed [`Client`], so end-to-end tests stay short and
//! independent of each other.

#![allow(clippy::expect_used, clippy::panic)] // test support: failing loudly is the point

mod browser;
pub mod dns;
mod fixtures;
pub mod smtp;

pub use browser::{Browser, Landing, hidden};
pub use dns::DnsServer;
pub use fixtures::{Confidential, Fixtures};
pub use smtp::{Received, SinkOptions, SmtpSink};

use clavis_core::Core;
use clavis_crypto::JwkSet;
use clavis_server::{Config, LogFormat, Server};
pub use clavis_store::testing::{Backend, TestDb};
use clavis_types::{Clock, ManualClock, SystemClock};
use std::path::PathBuf;
use std::sync::Arc;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// Every scope the Management API knows (the permissions of its Api in tests).
pub const MGMT_SCOPES: &[&str] = clavis_core::service::management::MANAGEMENT_SCOPES;

/// A running server and everything needed to talk to it.
pub struct TestServer {
    pub base_url: String,
    /// The server's clock: starts at the real time, moved by tests.
    pub clock: Arc<ManualClock>,
    pub client: Client,
    pub core: Core,
    pub db: TestDb,
    bootstrap_token: Option<String>,
    shutdown: Option<oneshot::Sender<()>>,
    handle: Option<JoinHandle<()>>,
    _data_dir: tempfile::TempDir,
}

impl TestServer {
    /// Start a server on a fresh database of the given backend.
    pub async fn start(backend: Backend) -> Self {
        Self::start_with(backend, |_| {}).await
    }

    /// [`TestServer::start`] with configuration keys set by `configure` (e.g. `smtp_url`)
    /// after the test defaults (fresh database, port 0, the database's master key).
    pub async fn start_with(backend: Backend, configure: impl FnOnce(&mut Config)) -> Self {
        let db = TestDb::new(backend).await;
        let data_dir = tempfile::tempdir().expect("temp dir");
        let mut cfg = Config {
            data_dir: PathBuf::from(data_dir.path()),
            database_url: Some(db.url.clone()),
            listen: "127.0.0.1:0".parse().expect("addr"),
            public_url: None,
            master_key: Some(db.master_key_b64.clone()),
            master_key_file: None,
            log_format: LogFormat::Json,
            log_level: "warn".to_owned(),
            ..Config::default()
        };
        configure(&mut cfg);
        let clock = Arc::new(ManualClock::new(SystemClock.now()));
        let server = Server::build_with_clock(cfg, clock.clone())
            .await
            .expect("server builds");
        let base_url = server.public_url().to_owned();
        let core = server.core().clone();
        let bootstrap_token = server.bootstrap_token().map(str::to_owned);
        let (tx, rx) = oneshot::channel::<()>();
        let handle = tokio::spawn(async move {
            let _ = server
                .run(async {
                    let _ = rx.await;
                })
                .await;
        });
        Self {
            client: Client::new(&base_url),
            base_url,
            clock,
            core,
            db,
            bootstrap_token,
            shutdown: Some(tx),
            handle: Some(handle),
            _data_dir: data_dir,
        }
    }

    pub async fn sqlite() -> Self {
        Self::start(Backend::Sqlite).await
    }
    pub async fn postgres() -> Self {
        Self::start(Backend::Postgres).await
    }

    /// The issuer URL of a tenant.
    pub fn issuer(&self, tenant: &str) -> String {
        format!("{}/t/{tenant}", self.base_url)
    }

    /// Create resources of a tenant directly through core.
    pub fn fixtures(&self, tenant: &str) -> Fixtures {
        Fixtures::new(self.core.clone(), tenant)
    }

    /// A Management API access token of `tenant` carrying `scopes`: registers the
    /// Management API (audience `{issuer}/api/v2/`) with those permissions if needed, an
    /// m2m application granted them, and runs the client-credentials grant over HTTP.
    pub async fn mgmt_token(&self, tenant: &str, scopes: &[&str]) -> String {
        let fx = self.fixtures(tenant);
        let audience = format!("{}/api/v2/", self.issuer(tenant));
        let t = fx.tenant().await;
        let existing = {
            let mut tx = self.core.store.read().await.expect("read");
            tx.api_get_by_identifier(&t.id, &audience)
                .await
                .expect("api lookup")
        };
        let api = match existing {
            Some(api) => api,
            None => fx.api(&audience, MGMT_SCOPES).await,
        };
        let app = fx.m2m_app(&api, scopes, "client_secret_post", None).await;
        let r = self
            .client
            .post_form(
                &format!("/t/{tenant}/oauth/token"),
                &[
                    ("grant_type", "client_credentials"),
                    ("client_id", &app.client_id),
                    ("client_secret", &app.secret),
                    ("audience", &audience),
                ],
                &[],
            )
            .await;
        assert_eq!(r.status, 200, "management token: {}", r.body);
        r.json()["access_token"]
            .as_str()
            .expect("access_token")
            .to_owned()
    }

    /// A cookie-keeping HTTP client that follows redirects on this server.
    pub fn browser(&self) -> Browser {
        Browser::new(&self.base_url)
    }

    /// A client for `http://{domain}` (a custom domain) that reaches this server as its
    /// proxy, so requests carry `Host: {domain}`.
    pub fn client_at(&self, domain: &str) -> Client {
        Client {
            http: proxied_client(&self.base_url),
            base: format!("http://{domain}"),
        }
    }

    /// A cookie-keeping browser at `http://{domain}` (see [`TestServer::client_at`]).
    pub fn browser_at(&self, domain: &str) -> Browser {
        Browser::through(&format!("http://{domain}"), &self.base_url)
    }

    /// The one-time first-administrator token printed at start.
    pub fn bootstrap_token(&self) -> Option<&str> {
        self.bootstrap_token.as_deref()
    }

    /// Stop gracefully and wait for in-flight requests.
    pub async fn stop(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(h) = self.handle.take() {
            let _ = h.await;
        }
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

/// A typed client for the server's HTTP surface.
#[derive(Debug, Clone)]
pub struct Client {
    pub http: reqwest::Client,
    pub base: String,
}

/// A response reduced to what tests assert on.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub body: String,
}

impl Reply {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

impl Client {
    pub fn new(base: &str) -> Self {
        Self {
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .expect("client"),
            base: base.to_owned(),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    async fn reply(resp: reqwest::Response) -> Reply {
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let body = resp.text().await.expect("body");
        Reply {
            status,
            headers,
            body,
        }
    }

    pub async fn get(&self, path: &str) -> Reply {
        Self::reply(self.http.get(self.url(path)).send().await.expect("GET")).await
    }

    pub async fn get_with(&self, path: &str, headers: &[(&str, &str)]) -> Reply {
        let mut req = self.http.get(self.url(path));
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        Self::reply(req.send().await.expect("GET")).await
    }

    /// Any method with an optional JSON body and a bearer token.
    pub async fn send(
        &self,
        method: &str,
        path: &str,
        bearer: &str,
        json: Option<&serde_json::Value>,
    ) -> Reply {
        let method = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
        let mut req = self.http.request(method, self.url(path));
        if !bearer.is_empty() {
            req = req.bearer_auth(bearer);
        }
        if let Some(body) = json {
            req = req
                .header("content-type", "application/json")
                .body(body.to_string());
        }
        Self::reply(req.send().await.expect("request")).await
    }

    /// POST an `application/x-www-form-urlencoded` body, with extra headers.
    pub async fn post_form(
        &self,
        path: &str,
        form: &[(&str, &str)],
        headers: &[(&str, &str)],
    ) -> Reply {
        let body = form
            .iter()
            .map(|(k, v)| format!("{}={}", urlencode(k), urlencode(v)))
            .collect::<Vec<_>>()
            .join("&");
        let mut req = self
            .http
            .post(self.url(path))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body);
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        Self::reply(req.send().await.expect("POST")).await
    }

    pub async fn health(&self) -> Reply {
        self.get("/health").await
    }
    pub async fn ready(&self) -> Reply {
        self.get("/ready").await
    }
    pub async fn metrics(&self) -> String {
        self.get("/metrics").await.body
    }
    pub async fn jwks(&self, tenant: &str) -> JwkSet {
        let r = self
            .get(&format!("/t/{tenant}/.well-known/jwks.json"))
            .await;
        assert_eq!(r.status, 200, "{}", r.body);
        serde_json::from_str(&r.body).expect("JWKS")
    }
}

/// A client sending every http request to `server` as to an HTTP proxy (the request
/// line carries the absolute URL, `Host` its host), following no redirects.
pub fn proxied_client(server: &str) -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .proxy(reqwest::Proxy::http(server).expect("proxy"))
        .build()
        .expect("client")
}

/// Percent-encode for form bodies and query strings.
pub fn urlencode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Run each named `async fn(Backend)` as two `#[tokio::test]`s, one on SQLite and one on
/// PostgreSQL: `clavis_testkit::on_both!(my_test, other_test);`.
#[macro_export]
macro_rules! on_both {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                super::$name($crate::Backend::Sqlite).await
            })*
        }
        mod postgres {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                super::$name($crate::Backend::Postgres).await
            })*
        }
    };
}

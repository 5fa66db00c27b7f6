//! What every browser test needs: the tools check (Chromium, node, the npm packages — a
//! missing one fails the test and says to run `scripts/test`), a server with a
//! third-party web application, an Api with a permission that needs consent and an API
//! key that reads the email outbox, the client's redirect URI (a tiny HTTP listener: the
//! browser follows the server's redirect there, and Playwright's routing does not see
//! redirected requests), running a `tests/browser/<flow>.mjs` script with its JSON input,
//! and redeeming the authorization code the script brought back.

use std::path::PathBuf;
use std::time::Duration;

use clavis_core::model::{Api, Permission};
use clavis_testkit::{Backend, Confidential, TestServer};
use clavis_types::{ApiId, SigningAlg};
use openidconnect::core::{CoreClient, CoreIdTokenClaims, CoreProviderMetadata};
use openidconnect::{
    AuthorizationCode, ClientId, ClientSecret, CsrfToken, IssuerUrl, Nonce, PkceCodeChallenge,
    PkceCodeVerifier, RedirectUrl, TokenResponse,
};
use serde_json::{Value, json};

use crate::common::{http, query_of};

pub const TENANT: &str = "default";
pub const API: &str = "https://docs.example.com";
pub const SCOPE: &str = "openid profile email offline_access read:docs";
/// The longest a flow script may run.
const FLOW_TIMEOUT: Duration = Duration::from_secs(300);

/// `tests/browser` at the root of the workspace.
pub fn browser_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/browser")
}

/// The hosted pages' message catalogues (`crates/clavis-web/locales`): the scripts check
/// each page's heading against them.
pub fn catalogue_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../clavis-web/locales")
}

/// `target/browser-artifacts`: screenshots of every visited page, kept after the run.
pub fn artifact_dir() -> PathBuf {
    // The test binary is target/<profile>/deps/browser-…; its target dir is 3 levels up.
    let from_exe = std::env::current_exe().ok().and_then(|exe| {
        exe.ancestors()
            .nth(3)
            .filter(|t| t.join("debug").is_dir() || t.join("release").is_dir())
            .map(PathBuf::from)
    });
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .or(from_exe)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target"));
    target.join("browser-artifacts")
}

fn chromium() -> PathBuf {
    std::env::var_os("CLAVIS_CHROMIUM")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/bin/chromium"))
}

/// Fail (never skip) when something the browser tests need is missing.
pub fn require_tools() {
    let fix = "run scripts/test, which installs chromium (apt) and the npm packages \
               (npm ci --prefix tests/browser)";
    let chromium = chromium();
    assert!(
        chromium.exists(),
        "the browser tests need Chromium at {}: {fix}",
        chromium.display()
    );
    let node = std::process::Command::new("node").arg("--version").output();
    assert!(
        node.as_ref().is_ok_and(|o| o.status.success()),
        "the browser tests need node (nodejs) on PATH: {fix} ({node:?})"
    );
    let modules = browser_dir().join("node_modules");
    for pkg in ["playwright-core", "axe-core"] {
        assert!(
            modules.join(pkg).join("package.json").exists(),
            "the browser tests need the npm package {pkg} in {}: {fix}",
            modules.display()
        );
    }
}

/// Run `node tests/browser/<script>` with `input` (JSON) and return its result line.
/// Panics with the script's problems, error and log when it fails.
pub async fn run_flow(script: &str, input: &Value) -> Value {
    require_tools();
    let dir = browser_dir();
    let mut cmd = tokio::process::Command::new("node");
    cmd.arg(dir.join(script))
        .arg(input.to_string())
        .current_dir(&dir)
        .env("CLAVIS_CHROMIUM", chromium())
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true);
    let out = match tokio::time::timeout(FLOW_TIMEOUT, cmd.output()).await {
        Ok(Ok(out)) => out,
        Ok(Err(e)) => panic!("could not run node {script}: {e}"),
        Err(_) => panic!("node {script} did not finish within {FLOW_TIMEOUT:?}"),
    };
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let result: Option<Value> = stdout
        .lines()
        .rev()
        .find(|l| l.starts_with('{'))
        .and_then(|l| serde_json::from_str(l).ok());
    let Some(result) = result else {
        panic!(
            "node {script} printed no result (exit {:?})\n--- stdout\n{stdout}\n--- stderr\n{stderr}",
            out.status.code()
        );
    };
    if !out.status.success() || result["ok"] != json!(true) {
        let problems = result["problems"]
            .as_array()
            .map(|p| {
                p.iter()
                    .map(|x| format!("  - {}", x.as_str().unwrap_or_default()))
                    .collect::<Vec<_>>()
                    .join("\n")
            })
            .unwrap_or_default();
        panic!(
            "browser flow {script} ({}) failed\nerror: {}\nproblems:\n{problems}\npages: {}\n--- log\n{stderr}\nscreenshots: {}",
            input["locale"],
            result["error"].as_str().unwrap_or("-"),
            serde_json::to_string_pretty(&result["pages"]).unwrap_or_default(),
            artifact_dir().display()
        );
    }
    eprintln!("{stderr}");
    result
}

/// The client application's redirect URI: answers every request with a small page (the
/// scripts read the URL the browser reached). Stops when dropped.
pub struct Callback {
    pub url: String,
    task: tokio::task::JoinHandle<()>,
}

impl Callback {
    pub async fn start() -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind callback");
        let port = listener.local_addr().expect("addr").port();
        let task = tokio::spawn(async move {
            while let Ok((mut sock, _)) = listener.accept().await {
                tokio::spawn(async move {
                    use tokio::io::{AsyncReadExt, AsyncWriteExt};
                    let mut buf = vec![0u8; 16 * 1024];
                    let mut n = 0;
                    while n < buf.len() {
                        match sock.read(&mut buf[n..]).await {
                            Ok(0) | Err(_) => break,
                            Ok(k) => n += k,
                        }
                        if buf[..n].windows(4).any(|w| w == b"\r\n\r\n") {
                            break;
                        }
                    }
                    let body = "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
                                <title>Client application</title></head><body><main>\
                                <h1>Back at the application</h1></main></body></html>";
                    let resp = format!(
                        "HTTP/1.1 200 OK\r\ncontent-type: text/html; charset=utf-8\r\n\
                         content-length: {}\r\ncache-control: no-store\r\nconnection: close\r\n\r\n{body}",
                        body.len()
                    );
                    let _ = sock.write_all(resp.as_bytes()).await;
                    let _ = sock.shutdown().await;
                });
            }
        });
        Self {
            url: format!("http://127.0.0.1:{port}/callback"),
            task,
        }
    }
}

impl Drop for Callback {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// A server and the tenant objects the flows use.
pub struct Setup {
    pub s: TestServer,
    pub callback: Callback,
    pub app: Confidential,
    pub api_key: String,
    pub client: CoreClient<
        openidconnect::EndpointSet,
        openidconnect::EndpointNotSet,
        openidconnect::EndpointNotSet,
        openidconnect::EndpointNotSet,
        openidconnect::EndpointMaybeSet,
        openidconnect::EndpointMaybeSet,
    >,
}

/// One authorization request's secrets.
pub struct Request {
    pub state: String,
    pub nonce: Nonce,
    pub challenge: PkceCodeChallenge,
    pub verifier: PkceCodeVerifier,
}

impl Request {
    pub fn new() -> Self {
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        Self {
            state: CsrfToken::new_random().secret().clone(),
            nonce: Nonce::new_random(),
            challenge,
            verifier,
        }
    }
}

/// A fresh SQLite server with a third-party web application (`is_first_party: false`,
/// its callback a [`Callback`] listener), an Api whose permission needs consent, and (with `outbox`) an
/// API key holding `read:email_outbox`. The per-address rate limit is raised unless
/// `keep_ip_limit`, so a flow that submits many forms is not throttled (the lockout
/// limits stay at their defaults).
pub async fn setup(keep_ip_limit: bool, outbox: bool) -> Setup {
    require_tools();
    let s = TestServer::start(Backend::Sqlite).await;
    let fx = s.fixtures(TENANT);
    let t = fx.tenant().await;
    if !keep_ip_limit {
        let mut tenant = t.clone();
        tenant.settings.attack_protection.auth_per_ip_per_minute = 10_000;
        let mut tx = s.core.store.begin().await.expect("begin");
        assert!(tx.tenant_update(&tenant).await.expect("tenant update"));
        tx.commit().await.expect("commit");
        s.clock.advance_secs(5); // past the tenant cache
    }
    let now = s.core.now();
    let api = Api {
        tenant_id: t.id.clone(),
        id: ApiId::generate(now, &*s.core.rng),
        identifier: API.to_owned(),
        name: "Docs".to_owned(),
        signing_alg: SigningAlg::Rs256,
        token_lifetime: 3600,
        rbac_enabled: false,
        permissions_in_token: false,
        allow_offline_access: true,
        skip_consent: false,
        permissions: vec![Permission {
            value: "read:docs".to_owned(),
            description: "Read your documents".to_owned(),
        }],
        created_at: now,
        updated_at: now,
    };
    let mut tx = s.core.store.begin().await.expect("begin");
    tx.api_insert(&api).await.expect("api");
    tx.commit().await.expect("commit");

    let callback = Callback::start().await;
    let app = fx.web_app(&[&callback.url], &[]).await;
    fx.edit_app(&app.client_id, |a| {
        a.name = "Partner Docs".to_owned();
        a.is_first_party = false;
    })
    .await;

    let api_key = if outbox {
        outbox_key(&s).await
    } else {
        String::new()
    };

    let meta = CoreProviderMetadata::discover_async(
        IssuerUrl::new(s.issuer(TENANT)).expect("issuer"),
        &http,
    )
    .await
    .expect("discovery");
    let client = CoreClient::from_provider_metadata(
        meta,
        ClientId::new(app.client_id.clone()),
        Some(ClientSecret::new(app.secret.clone())),
    )
    .set_redirect_uri(RedirectUrl::new(callback.url.clone()).expect("redirect"));
    Setup {
        s,
        callback,
        app,
        api_key,
        client,
    }
}

/// An API key of the tenant that may only read the email outbox.
async fn outbox_key(s: &TestServer) -> String {
    let admin = s
        .mgmt_token(TENANT, &["create:api_keys", "read:email_outbox"])
        .await;
    let r = s
        .client
        .send(
            "POST",
            &format!("/t/{TENANT}/api/v2/api-keys"),
            &admin,
            Some(&json!({"name": "browser tests", "scopes": ["read:email_outbox"]})),
        )
        .await;
    assert_eq!(r.status, 201, "API key for the outbox: {}", r.body);
    r.json()["key"].as_str().expect("key").to_owned()
}

impl Setup {
    /// The JSON a flow script reads, for `req` in `locale`, plus `extra` fields.
    pub fn input(&self, req: &Request, locale: &str, extra: Value) -> Value {
        let mut v = json!({
            "base_url": self.s.base_url,
            "tenant": TENANT,
            "client_id": self.app.client_id,
            "redirect_uri": self.callback.url,
            "scope": SCOPE,
            "audience": API,
            "state": req.state,
            "nonce": req.nonce.secret(),
            "code_challenge": req.challenge.as_str(),
            "api_key": self.api_key,
            "locale": locale,
            "artifact_dir": artifact_dir(),
            "catalogue_dir": catalogue_dir(),
            "email_templates_dir": PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                .join("../clavis-core/src/service/lifecycle/templates"),
        });
        if let (Some(o), Some(e)) = (v.as_object_mut(), extra.as_object()) {
            o.extend(e.clone());
        }
        v
    }

    /// Check the callback URL (state, iss, code) and redeem the code with the PKCE
    /// verifier; returns the verified ID token's claims.
    pub async fn redeem(&self, callback: &str, req: Request) -> CoreIdTokenClaims {
        assert!(callback.starts_with(&self.callback.url), "{callback}");
        let q = query_of(callback);
        assert_eq!(q.get("state"), Some(&req.state), "state in {callback}");
        assert_eq!(
            q.get("iss"),
            Some(&self.s.issuer(TENANT)),
            "iss in {callback}"
        );
        let code = q
            .get("code")
            .unwrap_or_else(|| panic!("no code in {callback}"));
        let tokens = self
            .client
            .exchange_code(AuthorizationCode::new(code.clone()))
            .expect("token endpoint")
            .set_pkce_verifier(req.verifier)
            .request_async(&http)
            .await
            .expect("code exchange");
        let id = tokens.id_token().expect("id token");
        id.claims(&self.client.id_token_verifier(), &req.nonce)
            .expect("valid ID token")
            .clone()
    }
}

/// The callback URL a flow reached (its `callback` field).
pub fn callback_of(result: &Value) -> String {
    result["callback"]
        .as_str()
        .unwrap_or_else(|| panic!("the flow reached no callback: {result}"))
        .to_owned()
}

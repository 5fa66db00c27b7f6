//! Helpers for the adversarial OpenID Provider tests: raw authorization requests, code
//! and token exchanges with chosen (bad) inputs, and exact assertions on RFC 6749 errors,
//! error pages and error redirects.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use clavis_core::model::User;
use clavis_crypto::{SystemRng, b64url, sha256};
use clavis_testkit::{Backend, Browser, Confidential, Landing, Reply, TestServer, urlencode};
use clavis_types::Rng as _;
use serde_json::Value;
use std::collections::HashMap;

use crate::common::query_of;

pub const CB: &str = "https://rp.example.com/callback";
pub const LOGOUT: &str = "https://rp.example.com/logged-out";
pub const API: &str = "https://api.example.com";
pub const EMAIL: &str = "alice@example.com";
pub const PASSWORD: &str = "correct horse battery";

pub const CB2: &str = "https://rp.example.com/other-callback";

/// A server with user alice and a confidential web app (callbacks [`CB`] and [`CB2`],
/// logout URL [`LOGOUT`]).
pub async fn world(b: Backend) -> (TestServer, Confidential, User) {
    let s = TestServer::start(b).await;
    let fx = s.fixtures("default");
    let user = fx.user(EMAIL, PASSWORD).await;
    let web = fx.web_app(&[CB, CB2], &[LOGOUT]).await;
    (s, web, user)
}

/// Log alice in and exchange a fresh code: the token response.
pub async fn tokens(s: &TestServer, tenant: &str, app: &Confidential) -> Value {
    let (verifier, challenge) = pkce();
    let mut br = s.browser();
    let code = code_via(
        &mut br,
        &code_request(tenant, &app.client_id, &challenge, "st", &[]),
    )
    .await;
    let r = exchange(s, tenant, app, &code, Some(&verifier)).await;
    assert_eq!(r.status, 200, "{}", r.body);
    r.json()
}

/// A string member of a JSON object.
pub fn str_of<'a>(v: &'a Value, k: &str) -> &'a str {
    v[k].as_str()
        .unwrap_or_else(|| panic!("{k} missing in {v}"))
}

/// The `Cookie` header carrying the browser's session.
pub fn session_cookie(br: &Browser) -> String {
    format!(
        "clavis_session={}",
        br.cookies.get("clavis_session").expect("a session")
    )
}

/// A redirect to the login page (not to the client).
pub fn assert_sent_to_login(r: &Reply) -> String {
    assert_eq!(r.status, 303, "{}", r.body);
    let loc = r.header("location").unwrap().to_owned();
    assert!(loc.starts_with("/t/default/login?"), "{loc}");
    loc
}

/// A redirect to [`CB`] carrying a code and the issuer.
pub fn assert_code(r: &Reply, issuer: &str) -> String {
    assert_eq!(r.status, 303, "{}", r.body);
    let loc = r.header("location").unwrap();
    assert!(loc.starts_with(&format!("{CB}?")), "{loc}");
    let q = query_of(loc);
    assert_eq!(q.get("iss").map(String::as_str), Some(issuer));
    q.get("code").expect("a code").clone()
}

/// The page a navigation ended on.
pub fn page_of(l: Landing) -> Reply {
    match l {
        Landing::Page(p) => p,
        Landing::Left(u) => panic!("expected a page, left to {u}"),
    }
}

/// Like [`code_via`] for a flow that returns to `target`.
pub async fn code_via_to(br: &mut Browser, path: &str, target: &str) -> String {
    let Landing::Left(back) = br.authorize(path, EMAIL, PASSWORD).await else {
        panic!("no redirect to the client")
    };
    assert!(back.starts_with(&format!("{target}?")), "{back}");
    query_of(&back)["code"].clone()
}

/// Random base64url of `n` bytes.
pub fn random(n: usize) -> String {
    let mut raw = vec![0u8; n];
    SystemRng::new().fill(&mut raw);
    b64url(&raw)
}

/// A PKCE pair: (verifier, S256 challenge).
pub fn pkce() -> (String, String) {
    let verifier = random(32);
    let challenge = b64url(&sha256(verifier.as_bytes()));
    (verifier, challenge)
}

/// `Authorization: Basic` for a client (RFC 6749 §2.3.1).
pub fn basic(id: &str, secret: &str) -> String {
    let mut b = b64url(format!("{}:{}", urlencode(id), urlencode(secret)).as_bytes())
        .replace('-', "+")
        .replace('_', "/");
    while !b.len().is_multiple_of(4) {
        b.push('=');
    }
    format!("Basic {b}")
}

/// A path with a form-encoded query.
pub fn with_query(path: &str, params: &[(&str, &str)]) -> String {
    let q = params
        .iter()
        .map(|(k, v)| format!("{}={}", urlencode(k), urlencode(v)))
        .collect::<Vec<_>>()
        .join("&");
    format!("{path}?{q}")
}

/// An authorization request path: the given parameters, nothing added.
pub fn authorize_path(tenant: &str, params: &[(&str, &str)]) -> String {
    with_query(&format!("/t/{tenant}/authorize"), params)
}

/// A well-formed code request for `client_id` (S256 challenge, state, nonce) with
/// `extra` parameters appended (or overriding when the name repeats is NOT done: callers
/// pass only new names).
pub fn code_request(
    tenant: &str,
    client_id: &str,
    challenge: &str,
    state: &str,
    extra: &[(&str, &str)],
) -> String {
    let mut p: Vec<(&str, &str)> = vec![
        ("response_type", "code"),
        ("client_id", client_id),
        ("redirect_uri", CB),
        ("scope", "openid profile email offline_access"),
        ("state", state),
        ("nonce", "n-0S6_WzA2Mj"),
        ("code_challenge", challenge),
        ("code_challenge_method", "S256"),
    ];
    p.extend_from_slice(extra);
    authorize_path(tenant, &p)
}

/// Log in (if asked) through `browser` and return the code the flow sent to [`CB`].
pub async fn code_via(browser: &mut clavis_testkit::Browser, path: &str) -> String {
    let Landing::Left(back) = browser.authorize(path, EMAIL, PASSWORD).await else {
        panic!("the flow did not return to the client: {path}");
    };
    assert!(back.starts_with(&format!("{CB}?")), "{back}");
    let q = query_of(&back);
    q.get("code")
        .unwrap_or_else(|| panic!("no code in {back}"))
        .clone()
}

/// POST the token endpoint of `tenant` with a form and extra headers.
pub async fn token(
    s: &TestServer,
    tenant: &str,
    form: &[(&str, &str)],
    headers: &[(&str, &str)],
) -> Reply {
    s.client
        .post_form(&format!("/t/{tenant}/oauth/token"), form, headers)
        .await
}

/// Exchange a code as the confidential client `app` (Basic).
pub async fn exchange(
    s: &TestServer,
    tenant: &str,
    app: &Confidential,
    code: &str,
    verifier: Option<&str>,
) -> Reply {
    let mut form = vec![
        ("grant_type", "authorization_code"),
        ("code", code),
        ("redirect_uri", CB),
    ];
    if let Some(v) = verifier {
        form.push(("code_verifier", v));
    }
    let auth = basic(&app.client_id, &app.secret);
    token(s, tenant, &form, &[("authorization", &auth)]).await
}

/// Refresh as the confidential client `app` (Basic), with extra form fields.
pub async fn refresh(
    s: &TestServer,
    tenant: &str,
    app: &Confidential,
    rt: &str,
    extra: &[(&str, &str)],
) -> Reply {
    let mut form = vec![("grant_type", "refresh_token"), ("refresh_token", rt)];
    form.extend_from_slice(extra);
    let auth = basic(&app.client_id, &app.secret);
    token(s, tenant, &form, &[("authorization", &auth)]).await
}

/// Introspect `tok` at `tenant` as the confidential client `app`.
pub async fn introspect(s: &TestServer, tenant: &str, app: &Confidential, tok: &str) -> Reply {
    let auth = basic(&app.client_id, &app.secret);
    s.client
        .post_form(
            &format!("/t/{tenant}/oauth/introspect"),
            &[("token", tok)],
            &[("authorization", &auth)],
        )
        .await
}

/// Userinfo of `tenant` with a bearer token.
pub async fn userinfo(s: &TestServer, tenant: &str, tok: &str) -> Reply {
    let bearer = format!("Bearer {tok}");
    s.client
        .get_with(
            &format!("/t/{tenant}/userinfo"),
            &[("authorization", &bearer)],
        )
        .await
}

/// A JSON error (RFC 6749 §5.2) with exactly this status and `error`; returns the body.
pub fn assert_oauth_error(r: &Reply, status: u16, error: &str) -> serde_json::Value {
    assert_eq!(r.status, status, "status of {}", r.body);
    let body = r.json();
    assert_eq!(body["error"], error, "{}", r.body);
    assert!(
        body["error_description"].is_string(),
        "an error_description: {}",
        r.body
    );
    assert_eq!(r.header("cache-control"), Some("no-store"));
    if status == 401 {
        assert!(
            r.header("www-authenticate").is_some(),
            "401 without WWW-Authenticate: {}",
            r.body
        );
    }
    body
}

/// 401 `invalid_token` with a Bearer challenge (RFC 6750 §3).
pub fn assert_invalid_token(r: &Reply) {
    assert_oauth_error(r, 401, "invalid_token");
    let challenge = r.header("www-authenticate").unwrap_or("");
    assert!(
        challenge.starts_with("Bearer") && challenge.contains("invalid_token"),
        "{challenge}"
    );
}

/// An introspection answer `{"active": false}` and nothing else (RFC 7662 §2.2).
pub fn assert_inactive(r: &Reply) {
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json(), serde_json::json!({ "active": false }));
}

/// The HTML error page of the authorization endpoint: 400, no redirect anywhere.
pub fn assert_error_page(r: &Reply, error: &str) {
    assert_eq!(r.status, 400, "{}", r.body);
    assert!(
        r.header("location").is_none(),
        "an untrusted request must not be redirected: {:?}",
        r.header("location")
    );
    assert!(
        r.header("content-type")
            .is_some_and(|c| c.starts_with("text/html")),
        "{:?}",
        r.header("content-type")
    );
    assert!(
        r.body.contains(&format!("<code>{error}</code>")),
        "error code {error} on the page: {}",
        r.body
    );
}

/// An error sent to the registered redirect URI `registered` with `error`, the `state`
/// and the issuer (RFC 6749 §4.1.2.1, RFC 9207). Returns the query.
pub fn assert_redirect_error(
    r: &Reply,
    registered: &str,
    error: &str,
    state: Option<&str>,
    issuer: &str,
) -> HashMap<String, String> {
    assert_eq!(r.status, 303, "{}", r.body);
    let loc = r.header("location").expect("a Location header");
    let (target, _) = loc.split_once('?').expect("a query on the redirect");
    assert_eq!(target, registered, "redirected to {loc}");
    let q = query_of(loc);
    assert_eq!(q.get("error").map(String::as_str), Some(error), "{loc}");
    assert_eq!(q.get("state").map(String::as_str), state, "{loc}");
    assert_eq!(q.get("iss").map(String::as_str), Some(issuer), "{loc}");
    assert!(!q.contains_key("code"), "{loc}");
    q
}

/// Replace a JWT's header, keeping payload and signature.
pub fn with_header(jwt: &str, header: &serde_json::Value) -> String {
    let mut parts = jwt.splitn(2, '.');
    let _ = parts.next();
    format!(
        "{}.{}",
        b64url(&serde_json::to_vec(header).unwrap()),
        parts.next().unwrap()
    )
}

/// The signing input `b64(header).b64(payload)` of a new JWT.
pub fn signing_input(header: &serde_json::Value, payload: &serde_json::Value) -> String {
    format!(
        "{}.{}",
        b64url(&serde_json::to_vec(header).unwrap()),
        b64url(&serde_json::to_vec(payload).unwrap())
    )
}

/// HMAC-SHA256 JWS over `input` with `key`.
pub fn hs256(input: &str, key: &[u8]) -> String {
    let k = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, key);
    let mac = aws_lc_rs::hmac::sign(&k, input.as_bytes());
    format!("{input}.{}", b64url(mac.as_ref()))
}

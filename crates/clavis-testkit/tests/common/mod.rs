//! Helpers shared by the protocol tests: an HTTP client for the `openidconnect` crate,
//! JWT inspection, query parsing.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::HashMap;

/// The HTTP transport handed to `openidconnect` (no redirects, plain loopback HTTP).
pub async fn http(
    req: openidconnect::HttpRequest,
) -> Result<openidconnect::HttpResponse, HttpError> {
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .map_err(|e| HttpError(e.to_string()))?;
    let (parts, body) = req.into_parts();
    let mut rb = client
        .request(parts.method, parts.uri.to_string())
        .body(body);
    for (k, v) in &parts.headers {
        rb = rb.header(k, v);
    }
    let resp = rb.send().await.map_err(|e| HttpError(e.to_string()))?;
    let mut out = openidconnect::http::Response::builder().status(resp.status());
    for (k, v) in resp.headers() {
        out = out.header(k, v);
    }
    let bytes = resp.bytes().await.map_err(|e| HttpError(e.to_string()))?;
    out.body(bytes.to_vec())
        .map_err(|e| HttpError(e.to_string()))
}

#[derive(Debug)]
pub struct HttpError(pub String);
impl std::fmt::Display for HttpError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}
impl std::error::Error for HttpError {}

fn part(jwt: &str, i: usize) -> serde_json::Value {
    let p = jwt.split('.').nth(i).unwrap();
    serde_json::from_slice(&clavis_crypto::b64url_decode(p).unwrap()).unwrap()
}

/// The decoded (unverified) payload of a JWT.
pub fn payload(jwt: &str) -> serde_json::Value {
    part(jwt, 1)
}

/// The decoded header of a JWT.
pub fn header(jwt: &str) -> serde_json::Value {
    part(jwt, 0)
}

/// Query parameters of a URL.
pub fn query_of(url: &str) -> HashMap<String, String> {
    let q = url.split_once('?').map(|(_, q)| q).unwrap_or("");
    url::form_urlencoded::parse(q.as_bytes())
        .into_owned()
        .collect()
}

/// Verify a JWT against the tenant's published JWKS.
pub async fn verify_with_jwks(s: &clavis_testkit::TestServer, tenant: &str, jwt: &str) -> bool {
    let jwks = s.client.jwks(tenant).await;
    let kid = header(jwt)["kid"].as_str().unwrap_or("").to_owned();
    match jwks.find(&kid) {
        Some(k) => clavis_crypto::Verifier::from_jwk(k)
            .and_then(|v| v.verify_jws(jwt))
            .is_ok(),
        None => false,
    }
}

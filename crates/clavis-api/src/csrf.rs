//! CSRF protection for forms: a random token in a `SameSite=Strict`, `HttpOnly` cookie
//! that the form must echo in a hidden field; compared in constant time.

use axum::http::{HeaderMap, HeaderValue, header};
use clavis_types::Rng;

const COOKIE: &str = "clavis_csrf";

/// A new token and the `Set-Cookie` header that carries it.
pub fn issue(rng: &dyn Rng, secure: bool, path: &str) -> (String, Option<HeaderValue>) {
    let mut raw = [0u8; 32];
    rng.fill(&mut raw);
    let token = clavis_crypto::b64url(&raw);
    let cookie = format!(
        "{COOKIE}={token}; Path={path}; HttpOnly; SameSite=Strict; Max-Age=3600{}",
        if secure { "; Secure" } else { "" }
    );
    (token, HeaderValue::from_str(&cookie).ok())
}

/// True when the form field matches the cookie.
pub fn verify(headers: &HeaderMap, field: &str) -> bool {
    let Some(cookie) = headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == COOKIE)
        .map(|(_, v)| v.to_owned())
    else {
        return false;
    };
    !field.is_empty() && clavis_crypto::constant_time_eq(cookie.as_bytes(), field.as_bytes())
}

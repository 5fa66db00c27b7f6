//! CSRF protection for forms: a random token in a `SameSite=Strict`, `HttpOnly` cookie
//! that the form must echo in a hidden field; compared in constant time.
//!
//! A page rendered for a request that already carries a well-formed token reuses it (and
//! renews its cookie) instead of minting a new one, so opening a second tab does not
//! invalidate the form of the first.

use axum::http::{HeaderMap, HeaderValue, header};
use clavis_types::Rng;

const COOKIE: &str = "clavis_csrf";
/// Length of a token: 32 random bytes in unpadded base64url.
const TOKEN_CHARS: usize = 43;

/// The `Set-Cookie` header carrying `token` for `path`.
fn set_cookie(token: &str, secure: bool, path: &str) -> Option<HeaderValue> {
    let cookie = format!(
        "{COOKIE}={token}; Path={path}; HttpOnly; SameSite=Strict; Max-Age=3600{}",
        if secure { "; Secure" } else { "" }
    );
    HeaderValue::from_str(&cookie).ok()
}

/// Whether `v` has the shape of a token [`issue`] makes (so nothing else is echoed back
/// into a page or a header).
fn well_formed(v: &str) -> bool {
    v.len() == TOKEN_CHARS
        && v.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// A new token and the `Set-Cookie` header that carries it.
pub fn issue(rng: &dyn Rng, secure: bool, path: &str) -> (String, Option<HeaderValue>) {
    let mut raw = [0u8; 32];
    rng.fill(&mut raw);
    let token = clavis_crypto::b64url(&raw);
    let cookie = set_cookie(&token, secure, path);
    (token, cookie)
}

/// The token of the request's CSRF cookie (the one [`verify`] checks against), if any.
pub fn token_of(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == COOKIE)
        .map(|(_, v)| v.to_owned())
}

/// The request's token when it carries a well-formed one (its cookie renewed), else a
/// new one as [`issue`] makes.
pub fn issue_or_reuse(
    rng: &dyn Rng,
    secure: bool,
    path: &str,
    existing: Option<&str>,
) -> (String, Option<HeaderValue>) {
    match existing.filter(|t| well_formed(t)) {
        Some(token) => (token.to_owned(), set_cookie(token, secure, path)),
        None => issue(rng, secure, path),
    }
}

/// True when the form field matches the cookie.
pub fn verify(headers: &HeaderMap, field: &str) -> bool {
    let Some(cookie) = token_of(headers) else {
        return false;
    };
    !field.is_empty() && clavis_crypto::constant_time_eq(cookie.as_bytes(), field.as_bytes())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use clavis_crypto::SystemRng;

    #[test]
    fn a_well_formed_token_is_reused_and_anything_else_replaced() {
        let rng = SystemRng::new();
        let (first, _) = issue(&rng, false, "/t/a/");
        let (again, cookie) = issue_or_reuse(&rng, true, "/t/a/", Some(&first));
        assert_eq!(again, first);
        let cookie = cookie.unwrap();
        let cookie = cookie.to_str().unwrap();
        assert!(cookie.starts_with(&format!("{COOKIE}={first}; Path=/t/a/;")));
        assert!(cookie.ends_with("; Secure"));
        for bad in ["", "short", "a\"b", &format!("{first}x"), &".".repeat(43)] {
            let (fresh, _) = issue_or_reuse(&rng, false, "/t/a/", Some(bad));
            assert_ne!(fresh, bad);
            assert!(well_formed(&fresh));
        }
        let (fresh, _) = issue_or_reuse(&rng, false, "/t/a/", None);
        assert!(well_formed(&fresh) && fresh != first);
    }
}

//! Helpers for the hosted-page tests (`pages*.rs`): page assertions (CSP, no inline style
//! or script, language, structure), the development outbox, tenant settings, form posts
//! with chosen cookies.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use clavis_core::model::{OutboxEmail, Page, Tenant, TenantSettings};
use clavis_core::service::RequestMeta;
use clavis_testkit::{Browser, Reply, TestServer, hidden, urlencode};

/// The Content-Security-Policy of a page that continues no authorization.
pub const CSP: &str = "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// The policy of a page whose forms lead back to a client at `origin`.
pub fn csp_with(origin: &str) -> String {
    format!(
        "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self' {origin}; frame-ancestors 'none'; base-uri 'none'"
    )
}

/// A hosted page: HTML, never cached, the exact policy, no inline style or script, the
/// structure every page shares, in `lang`.
pub fn assert_page(r: &Reply, lang: &str, csp: &str) {
    assert!(
        r.header("content-type")
            .is_some_and(|c| c.starts_with("text/html")),
        "{:?}: {}",
        r.header("content-type"),
        r.body
    );
    assert_eq!(r.header("content-security-policy"), Some(csp), "{}", r.body);
    assert_eq!(r.header("cache-control"), Some("no-store"));
    let b = &r.body;
    for bad in ["style=", "<style", "<script", "javascript:"] {
        assert!(!b.contains(bad), "{bad} in {b}");
    }
    assert!(
        b.contains(&format!("<html lang=\"{lang}\">")),
        "lang {lang}: {b}"
    );
    assert!(b.contains("<main"), "{b}");
    assert!(b.contains("<h1>"), "{b}");
    assert!(b.contains("<nav id=\"languages\""), "{b}");
    assert!(b.contains("href=\"/assets/clavis.css?v="), "{b}");
    // Every input but hidden ones has a label.
    for (i, _) in b.match_indices("<input id=\"") {
        let id = &b[i + 11..];
        let id = &id[..id.find('"').unwrap()];
        assert!(
            b.contains(&format!("<label for=\"{id}\">")),
            "no label for {id}"
        );
        let tag = &b[i..i + b[i..].find('>').unwrap()];
        assert!(tag.contains("autocomplete=\""), "no autocomplete: {tag}");
    }
    // Every alert is referenced by the field it describes, if it has an id.
    for (i, _) in b.match_indices("role=\"alert\"") {
        let before = &b[..i];
        if let Some(j) = before.rfind("id=\"") {
            let id = &before[j + 4..];
            let id = &id[..id.find('"').unwrap()];
            if id.ends_with("-error") {
                assert!(
                    b.contains(&format!("aria-describedby=\"{id}")),
                    "{id} not referenced"
                );
            }
        }
    }
}

/// `url` with `ui_locales` added.
pub fn in_lang(url: &str, lang: &str) -> String {
    let sep = if url.contains('?') { '&' } else { '?' };
    format!("{url}{sep}ui_locales={lang}")
}

/// The newest message of the development outbox to `to`.
pub async fn latest_email(s: &TestServer, tenant: &str, to: &str) -> OutboxEmail {
    let t = s.fixtures(tenant).tenant().await;
    let mut tx = s.core.store.read().await.unwrap();
    tx.outbox_list(&t.id, Some(to), Page::new(0, 1))
        .await
        .unwrap()
        .into_iter()
        .next()
        .unwrap_or_else(|| panic!("no email to {to}"))
}

/// How many messages the outbox holds for `to`.
pub async fn email_count(s: &TestServer, tenant: &str, to: &str) -> i64 {
    let t = s.fixtures(tenant).tenant().await;
    let mut tx = s.core.store.read().await.unwrap();
    tx.outbox_count(&t.id, Some(to)).await.unwrap()
}

/// The value of `param` in the first link of `text` that has it.
pub fn link_param(text: &str, param: &str) -> String {
    let marker = format!("{param}=");
    let i = text
        .find(&marker)
        .unwrap_or_else(|| panic!("no {param} in {text}"))
        + marker.len();
    text[i..]
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
        .collect()
}

/// The 6-digit code of a verification email.
pub fn code_in(text: &str) -> String {
    let digits: Vec<char> = text.chars().collect();
    for w in digits.windows(8) {
        if !w[0].is_ascii_digit()
            && w[1..7].iter().all(char::is_ascii_digit)
            && !w[7].is_ascii_digit()
        {
            return w[1..7].iter().collect();
        }
    }
    panic!("no code in {text}")
}

/// Change the tenant's settings (and let its cached copy expire).
pub async fn edit_settings(s: &TestServer, tenant: &str, f: impl FnOnce(&mut TenantSettings)) {
    let mut t: Tenant = s.fixtures(tenant).tenant().await;
    f(&mut t.settings);
    let mut tx = s.core.store.begin().await.unwrap();
    assert!(tx.tenant_update(&t).await.unwrap());
    tx.commit().await.unwrap();
    s.clock
        .advance_secs(clavis_core::service::CONFIG_CACHE_SECS + 1);
}

/// A page's form fields to post back: its CSRF token and `return_to` (when present).
pub fn form_of(page: &Reply) -> Vec<(String, String)> {
    ["csrf", "return_to", "ticket"]
        .into_iter()
        .filter(|n| page.body.contains(&format!("name=\"{n}\" value=\"")))
        .map(|n| (n.to_owned(), hidden(&page.body, n)))
        .collect()
}

/// POST `fields` (plus `extra`) to `path` with exactly the `cookie` header given.
pub async fn post(
    s: &TestServer,
    path: &str,
    fields: &[(String, String)],
    extra: &[(&str, &str)],
    cookie: &str,
) -> Reply {
    let mut all: Vec<(&str, &str)> = fields
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    all.extend_from_slice(extra);
    let headers: Vec<(&str, &str)> = if cookie.is_empty() {
        Vec::new()
    } else {
        vec![("cookie", cookie)]
    };
    s.client.post_form(path, &all, &headers).await
}

/// The `Cookie` header value of a browser (all its cookies).
pub fn cookies_of(br: &Browser) -> String {
    br.cookies
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("; ")
}

/// The `Cookie` header value of a browser without its CSRF cookie.
pub fn cookies_without_csrf(br: &Browser) -> String {
    br.cookies
        .iter()
        .filter(|(k, _)| *k != "clavis_csrf")
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("; ")
}

/// `Set-Cookie` headers of a reply.
pub fn set_cookies(r: &Reply) -> Vec<String> {
    r.headers
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .map(str::to_owned)
        .collect()
}

/// Path with a `return_to` query.
pub fn with_return(path: &str, return_to: &str) -> String {
    format!("{path}?return_to={}", urlencode(return_to))
}

pub fn meta() -> RequestMeta {
    RequestMeta::default()
}

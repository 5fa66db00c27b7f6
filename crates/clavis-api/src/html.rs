//! Minimal server-rendered HTML: escaping and the page shell with its strict
//! Content-Security-Policy (no scripts, inline styles only from this shell).

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

/// Escape text for HTML element content and attribute values.
pub(crate) fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#x27;"),
            c => out.push(c),
        }
    }
    out
}

const STYLE: &str = "body{font-family:system-ui,sans-serif;max-width:32rem;margin:3rem auto;padding:0 1rem;color:#111;line-height:1.5}\
label{display:block;margin-top:1rem;font-weight:600}\
input{display:block;width:100%;padding:.5rem;font-size:1rem;border:1px solid #555;border-radius:4px;box-sizing:border-box}\
button{margin-top:1.5rem;padding:.6rem 1.2rem;font-size:1rem;background:#1a4fd6;color:#fff;border:0;border-radius:4px}\
.error{color:#a00000;font-weight:600}";

/// A complete page. `body` must already be escaped where it holds untrusted text.
pub(crate) fn page(status: StatusCode, title: &str, body: &str) -> Response {
    let html = format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{} · Clavis</title><style>{STYLE}</style></head><body><main>{body}</main></body></html>",
        escape(title)
    );
    let mut resp = (status, html).into_response();
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; style-src 'unsafe-inline'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
        ),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp
}

/// The pages of this crate's endpoints without the hosted templates (a router built by
/// [`crate::router`] alone, as in tests of this crate).
#[derive(Debug, Default)]
pub(crate) struct PlainPages;

impl crate::pages::HostedPages for PlainPages {
    fn render<'a>(
        &'a self,
        tenant: Option<&'a clavis_core::model::Tenant>,
        _headers: &'a axum::http::HeaderMap,
        _uri: &'a axum::http::Uri,
        page: crate::pages::ApiPage,
    ) -> crate::pages::PageFuture<'a> {
        use crate::pages::ApiPage;
        let status = page.status();
        let resp = match page {
            ApiPage::RequestError(e) => self::page(
                status,
                "Sign-in request refused",
                &format!(
                    "<h1>This sign-in request cannot be completed</h1>\
                     <p>The application sent a request Clavis cannot safely answer: <strong>{}</strong>.</p>\
                     <p>Go back to the application and try again; if it keeps happening, tell its developers \
                     (error <code>{}</code>).</p>",
                    escape(&e.description),
                    escape(e.code.as_str())
                ),
            ),
            ApiPage::LogoutConfirm { csrf, fields } => {
                let hidden: String = fields
                    .iter()
                    .map(|(k, v)| {
                        format!(
                            "<input type=\"hidden\" name=\"{}\" value=\"{}\">",
                            escape(k),
                            escape(v)
                        )
                    })
                    .collect();
                let slug = tenant.map(|t| t.slug.to_string()).unwrap_or_default();
                self::page(
                    status,
                    "Log out",
                    &format!(
                        "<h1>Log out?</h1><p>Do you want to log out of your account?</p>\
                         <form method=\"post\" action=\"/t/{}/oidc/logout\"><input type=\"hidden\" name=\"csrf\" value=\"{}\">{hidden}\
                         <button type=\"submit\">Log out</button></form>",
                        escape(&slug),
                        escape(&csrf),
                    ),
                )
            }
            ApiPage::LoggedOut => self::page(
                status,
                "Logged out",
                "<h1>You are logged out</h1><p>You can close this window.</p>",
            ),
            ApiPage::FormExpired => self::page(
                status,
                "Form expired",
                "<h1>This form has expired</h1><p>Go back to the application and log out again.</p>",
            ),
        };
        Box::pin(std::future::ready(resp))
    }
}

//! Serving a tenant at its custom domain. Runs before routing: a request whose `Host` is a
//! `ready` custom domain of a tenant (never `X-Forwarded-Host`, which any client can send)
//! is routed into that tenant — `/x` becomes `/t/{slug}/x`, a path already under the
//! tenant's own `/t/{slug}/` stays, and a path under another `/t/…/` is answered 404, so a
//! custom domain reaches only its tenant. The request carries a [`ServedAt`] extension,
//! from which handlers take the issuer of the request ([`crate::Context::request_issuer`]).
//!
//! On the way back, cookies scoped to `Path=/t/{slug}/` are scoped to `Path=/` (the whole
//! host belongs to the tenant, and the browser sees paths without the prefix), so the
//! session set by a login at the domain is sent to its `/authorize`.
//!
//! The public URL's host and every unknown host pass unchanged. The stylesheet of the
//! hosted pages (`/assets/…`, the same for every tenant) is served as is.

use axum::extract::{FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderValue, Uri, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::{ApiContext, ApiError};

/// The request arrived at custom domain `domain` of the tenant `tenant_slug`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServedAt {
    pub domain: String,
    pub tenant_slug: String,
}

/// The request's [`ServedAt`], if it came through a custom domain (an extractor that never
/// fails).
#[derive(Debug, Clone, Default)]
pub struct Served(pub Option<ServedAt>);

impl<S: Send + Sync> FromRequestParts<S> for Served {
    type Rejection = std::convert::Infallible;
    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(Served(parts.extensions.get::<ServedAt>().cloned()))
    }
}

/// Paths served the same on every host.
const SHARED_PREFIXES: &[&str] = &["/assets/"];

/// The host a request names: the authority of an absolute-form target, else `Host`;
/// lower case, without the port.
fn request_host(req: &Request) -> Option<String> {
    let raw = match req.uri().authority() {
        Some(a) => a.host().to_owned(),
        None => req.headers().get(header::HOST)?.to_str().ok()?.to_owned(),
    };
    let host = if raw.starts_with('[') {
        raw.split(']').next().map(|h| format!("{h}]"))?
    } else {
        raw.rsplit_once(':')
            .map_or(raw.as_str(), |(h, _)| h)
            .to_owned()
    };
    Some(host.trim_end_matches('.').to_ascii_lowercase())
}

/// Where a path at the custom domain of tenant `slug` goes: `None` when it names another
/// tenant.
fn rewrite(path: &str, slug: &str) -> Option<String> {
    if SHARED_PREFIXES.iter().any(|p| path.starts_with(p)) {
        return Some(path.to_owned());
    }
    if let Some(rest) = path.strip_prefix("/t/") {
        let first = rest.split('/').next().unwrap_or("");
        return (first == slug).then(|| path.to_owned());
    }
    if path == "/t" {
        return None;
    }
    Some(format!("/t/{slug}{path}"))
}

/// `Path=/t/{slug}/` (or without the final `/`) of a `Set-Cookie` value becomes `Path=/`.
fn widen_cookie_path(v: &str, slug: &str) -> Option<String> {
    let own = [format!("path=/t/{slug}/"), format!("path=/t/{slug}")];
    let mut changed = false;
    let parts: Vec<String> = v
        .split(';')
        .map(|p| {
            let t = p.trim();
            if own.iter().any(|o| t.eq_ignore_ascii_case(o)) {
                changed = true;
                " Path=/".to_owned()
            } else {
                p.to_owned()
            }
        })
        .collect();
    changed.then(|| parts.join(";"))
}

pub(crate) async fn route(State(ctx): State<ApiContext>, mut req: Request, next: Next) -> Response {
    let Some(host) = request_host(&req) else {
        return next.run(req).await;
    };
    if ctx.public_host.as_deref() == Some(host.as_str()) {
        return next.run(req).await;
    }
    let found = match ctx.core.custom_domain_route(&host).await {
        Ok(found) => found,
        Err(e) => return ApiError::from(e).into_response(),
    };
    let Some(found) = found else {
        return next.run(req).await;
    };
    let slug = found.tenant_slug.clone();
    let Some(path) = rewrite(req.uri().path(), &slug) else {
        return ApiError::not_found("page").into_response();
    };
    let path_and_query = match req.uri().query() {
        Some(q) => format!("{path}?{q}"),
        None => path,
    };
    let mut parts = req.uri().clone().into_parts();
    parts.path_and_query = match path_and_query.parse() {
        Ok(pq) => Some(pq),
        Err(_) => return ApiError::not_found("page").into_response(),
    };
    match Uri::from_parts(parts) {
        Ok(uri) => *req.uri_mut() = uri,
        Err(_) => return ApiError::not_found("page").into_response(),
    }
    req.extensions_mut().insert(ServedAt {
        domain: found.domain.clone(),
        tenant_slug: slug.clone(),
    });
    let mut resp = next.run(req).await;
    let cookies: Vec<HeaderValue> = resp
        .headers()
        .get_all(header::SET_COOKIE)
        .iter()
        .map(|v| {
            v.to_str()
                .ok()
                .and_then(|s| widen_cookie_path(s, &slug))
                .and_then(|s| HeaderValue::from_str(&s).ok())
                .unwrap_or_else(|| v.clone())
        })
        .collect();
    if !cookies.is_empty() {
        let h = resp.headers_mut();
        h.remove(header::SET_COOKIE);
        for c in cookies {
            h.append(header::SET_COOKIE, c);
        }
    }
    resp
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn paths_stay_inside_the_tenant() {
        assert_eq!(rewrite("/authorize", "acme").unwrap(), "/t/acme/authorize");
        assert_eq!(rewrite("/", "acme").unwrap(), "/t/acme/");
        assert_eq!(
            rewrite("/.well-known/openid-configuration", "acme").unwrap(),
            "/t/acme/.well-known/openid-configuration"
        );
        assert_eq!(rewrite("/t/acme/login", "acme").unwrap(), "/t/acme/login");
        assert_eq!(
            rewrite("/assets/clavis.css", "acme").unwrap(),
            "/assets/clavis.css"
        );
        for other in [
            "/t/other/authorize",
            "/t/acme2/login",
            "/t/ac%6De/login",
            "/t//acme/login",
            "/t/",
            "/t",
        ] {
            assert_eq!(rewrite(other, "acme"), None, "{other}");
        }
        // anything else is a path below the tenant, whatever it looks like
        assert_eq!(rewrite("//t/other", "acme").unwrap(), "/t/acme//t/other");
        assert_eq!(rewrite("/T/other", "acme").unwrap(), "/t/acme/T/other");
    }

    #[test]
    fn own_cookie_paths_widen_to_the_host() {
        assert_eq!(
            widen_cookie_path("s=1; Path=/t/acme/; HttpOnly", "acme").unwrap(),
            "s=1; Path=/; HttpOnly"
        );
        assert_eq!(
            widen_cookie_path("s=1; path=/t/acme", "acme").unwrap(),
            "s=1; Path=/"
        );
        assert_eq!(widen_cookie_path("s=1; Path=/t/other/", "acme"), None);
        assert_eq!(widen_cookie_path("s=1; Path=/t/acme/x/", "acme"), None);
    }
}

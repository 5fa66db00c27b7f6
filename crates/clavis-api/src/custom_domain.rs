//! Serving a tenant at its custom domain. Runs before routing: a request whose host is a
//! `ready` custom domain of a tenant is routed into that tenant. The host is the authority
//! of an absolute-form request target when there is one (RFC 9112 §3.2.2: it wins over
//! `Host`), else the `Host` header (HTTP/2's `:authority` is the target's authority);
//! compared lower case, without the port and a final dot; never `X-Forwarded-Host`, which
//! any client can send. Several `Host` headers, or an invalid one, are answered 400. A
//! `ready` host is routed into its tenant — `/x` becomes `/t/{slug}/x`, a path already under the
//! tenant's own `/t/{slug}/` stays, and a path under another `/t/…/` is answered 404, so a
//! custom domain reaches only its tenant. The rewritten URI also replaces the request's
//! `OriginalUri` (set by the outer router), which extractors read the tenant from. The request carries a [`ServedAt`] extension,
//! from which handlers take the issuer of the request ([`crate::Context::request_issuer`]).
//!
//! On the way back, cookies scoped to `Path=/t/{slug}/` are scoped to `Path=/` (the whole
//! host belongs to the tenant, and the browser sees paths without the prefix), so the
//! session set by a login at the domain is sent to its `/authorize`.
//!
//! The public URL's host and every host that is not in the routing snapshot pass unchanged
//! (to the canonical surface; never a 5xx for a host, whatever the database does). The stylesheet of the
//! hosted pages (`/assets/…`, the same for every tenant) is served as is.

use axum::extract::{FromRequestParts, OriginalUri, Request, State};
use axum::http::request::Parts;
use axum::http::uri::Authority;
use axum::http::{HeaderValue, StatusCode, Uri, header};
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

/// The host a request names: the authority of an absolute-form target, else `Host`; lower
/// case, without the port and a final dot. `Err` for several `Host` headers or an invalid
/// `Host` (RFC 9112 §3.2: 400).
fn request_host(req: &Request) -> Result<Option<String>, &'static str> {
    let mut hosts = req.headers().get_all(header::HOST).iter();
    let first = hosts.next();
    if hosts.next().is_some() {
        return Err("a request may carry one Host header");
    }
    let host = match (req.uri().authority(), first) {
        (Some(a), _) => a.host().to_owned(),
        (None, None) => return Ok(None),
        (None, Some(v)) => {
            let invalid = "the Host header is not a valid host";
            let v = v.to_str().map_err(|_| invalid)?;
            if v.is_empty() {
                return Ok(None);
            }
            let a: Authority = v.parse().map_err(|_| invalid)?;
            // No user info, a host, and a port of digits only (the parser lets any through).
            let port = a.as_str().strip_prefix(a.host()).ok_or(invalid)?;
            let digits = port.strip_prefix(':').unwrap_or(port);
            if a.host().is_empty()
                || a.as_str().contains('@')
                || !(port.is_empty() || port.starts_with(':'))
                || !digits.bytes().all(|b| b.is_ascii_digit())
            {
                return Err(invalid);
            }
            a.host().to_owned()
        }
    };
    Ok(Some(host.trim_end_matches('.').to_ascii_lowercase()))
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
    let host = match request_host(&req) {
        Ok(Some(host)) => host,
        Ok(None) => return next.run(req).await,
        Err(why) => {
            return ApiError::new(StatusCode::BAD_REQUEST, "invalid_request", why).into_response();
        }
    };
    if ctx.public_host.as_deref() == Some(host.as_str()) {
        return next.run(req).await;
    }
    let Some(found) = ctx.core.custom_domain_route(&host).await else {
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
        Ok(uri) => {
            // Extractors that read the tenant from the path before nesting see it too.
            req.extensions_mut().insert(OriginalUri(uri.clone()));
            *req.uri_mut() = uri;
        }
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

    fn host_of(target: &str, hosts: &[&[u8]]) -> Result<Option<String>, &'static str> {
        let mut req = Request::builder().uri(target);
        for h in hosts {
            req = req.header(header::HOST, HeaderValue::from_bytes(h).unwrap());
        }
        request_host(&req.body(axum::body::Body::empty()).unwrap())
    }

    #[test]
    fn the_host_of_a_request() {
        let ok = |t: &str, h: &[&[u8]]| host_of(t, h).unwrap();
        assert_eq!(
            ok("/x", &[b"login.acme.example"]).unwrap(),
            "login.acme.example"
        );
        assert_eq!(
            ok("/x", &[b"Login.ACME.example:8443"]).unwrap(),
            "login.acme.example"
        );
        assert_eq!(
            ok("/x", &[b"login.acme.example."]).unwrap(),
            "login.acme.example"
        );
        assert_eq!(ok("/x", &[b"[::1]:80"]).unwrap(), "[::1]");
        assert_eq!(ok("/x", &[]), None);
        assert_eq!(ok("/x", &[b""]), None);
        // the absolute-form target wins over Host
        assert_eq!(
            ok("http://Login.acme.example/x", &[b"other.example"]).unwrap(),
            "login.acme.example"
        );
        for bad in [
            &[b"a.example".as_slice(), b"b.example"][..],
            &[b"a.example", b"a.example"],
            &[b"a b.example"],
            &[b"user@a.example"],
            &[b"a.example/x"],
            &[b":80"],
            &[b"a.example:port"],
            &[b"caf\xc3\xa9.example"],
        ] {
            assert!(host_of("/x", bad).is_err(), "{bad:?}");
        }
        // several Host headers are refused whatever the target
        assert!(host_of("http://a.example/x", &[b"a.example", b"b.example"]).is_err());
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

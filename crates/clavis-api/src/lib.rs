//! Clavis HTTP front-ends: the axum routers, extractors, middleware (request ids, access
//! logs, metrics, security headers) and the mapping of core errors to HTTP responses.
//!
//! Handlers are thin: extract, call one core service, map the result. This crate never
//! imports a storage adapter; it reaches data only through [`clavis_core::Core`].

mod bootstrap;
mod client_ip;
pub mod csrf;
pub mod custom_domain;
mod error;
mod html;
mod metrics;
mod mgmt;
pub mod pages;

pub use mgmt::openapi as management_openapi;
mod middleware;
mod oauth;
mod ops;
mod report_html;
mod tenant;

pub use client_ip::TrustedProxies;
pub use custom_domain::{Served, ServedAt};
pub use error::ApiError;
pub use metrics::Metrics;
pub use oauth::{
    Meta, SESSION_COOKIE, authorize_params, cookie, error_redirect, request_meta, safe_return_to,
    session_cookie,
};
pub use pages::{ApiPage, Frontend, HostedPages, PageFuture, Pages};
pub use report_html::render_report;

use axum::Router;
use clavis_core::Core;
use std::sync::Arc;

/// What every handler can reach. Cloned per request, so it is one shared allocation.
#[derive(Debug, Clone)]
pub struct ApiContext(Arc<Context>);

/// The fields behind [`ApiContext`].
#[derive(Debug)]
pub struct Context {
    pub core: Core,
    /// Public base URL without a trailing slash, e.g. `https://id.example.com`.
    pub public_url: String,
    /// The host of `public_url` (requests for it are never routed to a custom domain).
    pub public_host: Option<String>,
    pub metrics: Arc<Metrics>,
    /// Bounds the requests that walk a whole audit chain (verify, export, reports), so
    /// they cannot take every database connection of the node.
    pub heavy: tokio::sync::Semaphore,
    /// Reverse proxies whose `X-Forwarded-For` names the client (none by default: the
    /// socket peer is the client).
    pub trusted_proxies: TrustedProxies,
}

impl std::ops::Deref for ApiContext {
    type Target = Context;
    fn deref(&self) -> &Context {
        &self.0
    }
}

impl ApiContext {
    pub fn new(core: Core, public_url: String, metrics: Arc<Metrics>) -> Self {
        Self(Arc::new(Context {
            core,
            public_host: clavis_core::service::management::custom_domains::url_host(&public_url),
            public_url,
            metrics,
            heavy: tokio::sync::Semaphore::new(HEAVY_REQUESTS),
            trusted_proxies: TrustedProxies::default(),
        }))
    }

    /// The same context, believing `X-Forwarded-For` from these reverse proxies (see
    /// [`TrustedProxies`]). Call before the context is shared.
    #[must_use]
    pub fn with_trusted_proxies(self, trusted_proxies: TrustedProxies) -> Self {
        let c = &self.0;
        Self(Arc::new(Context {
            core: c.core.clone(),
            public_url: c.public_url.clone(),
            public_host: c.public_host.clone(),
            metrics: c.metrics.clone(),
            heavy: tokio::sync::Semaphore::new(HEAVY_REQUESTS),
            trusted_proxies,
        }))
    }
}

impl Context {
    /// Cookies carry `Secure` when Clavis is reached over https.
    pub fn secure_cookies(&self) -> bool {
        self.public_url.starts_with("https://")
    }
    /// The canonical issuer URL of a tenant, `{public_url}/t/{slug}` (the Management API's
    /// audience and emailed links use it whatever host a request came to).
    pub fn issuer(&self, tenant_slug: &str) -> String {
        format!("{}/t/{}", self.public_url, tenant_slug)
    }
    /// The issuer of a request for a tenant: `{scheme}://{domain}` when it came through one
    /// of the tenant's custom domains, the canonical issuer otherwise.
    pub fn request_issuer(&self, tenant_slug: &str, served: &Served) -> String {
        match &served.0 {
            Some(at) if at.tenant_slug == tenant_slug => self.core.custom_issuer(&at.domain),
            _ => self.issuer(tenant_slug),
        }
    }
}

/// Requests that walk a whole audit chain, at most this many at once per node.
pub const HEAVY_REQUESTS: usize = 2;

/// Largest request body any endpoint accepts.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// The whole HTTP surface without hosted pages: the pages of the protocol endpoints are
/// the plain ones (tests of this crate).
pub fn router(ctx: ApiContext) -> Router {
    router_with(
        ctx,
        Frontend {
            routes: Router::new(),
            pages: Arc::new(html::PlainPages),
        },
    )
}

/// The whole HTTP surface with a front-end's routes (the hosted login pages) and its
/// renderer of the protocol endpoints' pages; the middleware (request ids, access log,
/// metrics, security headers, body limit) covers both.
pub fn router_with(ctx: ApiContext, frontend: Frontend) -> Router {
    let api: Router = Router::new()
        .merge(ops::routes())
        .merge(tenant::routes())
        .merge(oauth::routes())
        .merge(bootstrap::routes())
        .merge(mgmt::routes())
        .layer(axum::Extension(Pages(frontend.pages)))
        .with_state(ctx.clone());
    let routed = api
        .merge(frontend.routes)
        .layer(axum::extract::DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(axum::middleware::from_fn_with_state(
            ctx.clone(),
            middleware::observe,
        ));
    // Custom domains are mapped onto `/t/{slug}/…` before routing: an outer router whose
    // only route is the whole surface, with the mapping as its layer.
    Router::new()
        .fallback_service(routed)
        .layer(axum::middleware::from_fn_with_state(
            ctx,
            custom_domain::route,
        ))
}

//! The seam between the protocol endpoints of this crate and the hosted pages: the
//! endpoints decide (validate, end a session, redirect), a [`HostedPages`] renders the few
//! pages they show (an unanswerable request, the logout confirmation). The server plugs in
//! the Universal Login templates (`clavis-web`) with [`crate::router_with`];
//! [`crate::router`] alone uses the plain pages of `html.rs`. Nothing here decides a flow.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use axum::Router;
use axum::http::{HeaderMap, Uri};
use axum::response::Response;
use clavis_core::model::Tenant;
use clavis_core::oauth::OAuthError;

/// What rendering a page returns.
pub type PageFuture<'a> = Pin<Box<dyn Future<Output = Response> + Send + 'a>>;

/// A page an endpoint of this crate shows. The status belongs to the kind: 400 for
/// [`ApiPage::RequestError`], 403 for [`ApiPage::FormExpired`], 200 otherwise.
#[derive(Debug, Clone)]
pub enum ApiPage {
    /// A request that cannot be answered safely and is not redirected (unknown client,
    /// unregistered redirect URI, …).
    RequestError(OAuthError),
    /// Ask the user to confirm a logout: post `csrf` and `fields` (hidden form fields,
    /// already validated names) back to `POST {issuer}/oidc/logout`.
    LogoutConfirm {
        csrf: String,
        fields: Vec<(&'static str, String)>,
    },
    /// The session has ended and no redirect was asked for.
    LoggedOut,
    /// The logout form's CSRF proof was missing or wrong.
    FormExpired,
}

impl ApiPage {
    /// The HTTP status of the page.
    pub fn status(&self) -> axum::http::StatusCode {
        use axum::http::StatusCode;
        match self {
            Self::RequestError(_) => StatusCode::BAD_REQUEST,
            Self::FormExpired => StatusCode::FORBIDDEN,
            Self::LogoutConfirm { .. } | Self::LoggedOut => StatusCode::OK,
        }
    }
}

/// Renders the pages of this crate's endpoints.
pub trait HostedPages: Send + Sync + std::fmt::Debug {
    /// Render `page` for `tenant` (`None` when the tenant is unknown); `headers` and `uri`
    /// are the request's (language, cookies, the address the language links repeat). The
    /// response carries its own security headers.
    fn render<'a>(
        &'a self,
        tenant: Option<&'a Tenant>,
        headers: &'a HeaderMap,
        uri: &'a Uri,
        page: ApiPage,
    ) -> PageFuture<'a>;
}

/// The renderer in the router (an axum extension over every route).
#[derive(Debug, Clone)]
pub struct Pages(pub Arc<dyn HostedPages>);

/// What a front-end crate adds to the HTTP surface: its routes (state already applied)
/// and the renderer of this crate's pages.
#[derive(Debug)]
pub struct Frontend {
    pub routes: Router,
    pub pages: Arc<dyn HostedPages>,
}

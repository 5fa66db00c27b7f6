//! Clavis server-rendered pages: Universal Login under each tenant's issuer
//! `{public_url}/t/{tenant}` — identifier-first login (with home-realm discovery), the
//! password step, the emailed-code step of passwordless (`email`) connections, signup, email verification, forgotten/reset/changed passwords, account
//! unlock, consent — plus the pages of the protocol endpoints (authorization errors, the
//! logout confirmation), the shared stylesheet and the tenants' and organizations'
//! branding (stylesheets, logos).
//!
//! Pages are minijinja templates embedded in the binary, rendered with HTML autoescape
//! from one [`minijinja::Environment`] held in the router state; texts come from the
//! `en`/`fr` message catalogues. No page carries inline style or script, every page sends
//! a strict Content-Security-Policy, and every form carries a CSRF token that its POST
//! checks.
//!
//! This crate must not decide a flow: handlers extract, call one core service (through
//! [`clavis_api::ApiContext`]), and render or redirect. It must not import a storage
//! adapter, hold global state, or place user-controlled text in HTML or headers unescaped.
//! The protocol endpoints themselves (authorize, token, logout, …) stay in `clavis-api`.

mod branding;
mod consent;
mod flow;
mod i18n;
mod login;
mod login_code;
mod password;
mod protocol;
mod signup;
mod unlock;
mod verify;
mod web;

use std::sync::Arc;

use axum::Router;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use clavis_api::{ApiContext, Frontend};

pub use i18n::{LOCALE_COOKIE, LOCALES};
use web::{CSS, CSS_PATH, Web, WebState};

/// The hosted pages for [`clavis_api::router_with`]: their routes and the renderer of the
/// protocol endpoints' pages, sharing one template environment.
pub fn frontend(ctx: ApiContext) -> Frontend {
    let state = WebState(Arc::new(Web::new(ctx)));
    Frontend {
        routes: routes(state.clone()),
        pages: Arc::new(state),
    }
}

/// `GET /assets/clavis.css`: the stylesheet of every page (its URL carries a content
/// version, so it is cached for a day).
async fn stylesheet() -> Response {
    let mut resp = CSS.into_response();
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/css; charset=utf-8"),
    );
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=86400"),
    );
    resp
}

fn routes(state: WebState) -> Router {
    let t = |p: &str| format!("/t/{{tenant}}{p}");
    Router::new()
        .route(CSS_PATH, get(stylesheet))
        .route(&t("/login"), get(login::show).post(login::submit))
        .route(
            &t("/login/password"),
            get(login::show_password).post(login::submit_password),
        )
        .route(
            &t("/login/code"),
            get(login_code::show).post(login_code::submit),
        )
        .route(
            &t("/login/code/resend"),
            axum::routing::post(login_code::resend),
        )
        .route(&t("/signup"), get(signup::show).post(signup::submit))
        .route(&t("/verify-email"), get(verify::show).post(verify::submit))
        .route(
            &t("/verify-email/resend"),
            axum::routing::post(verify::resend),
        )
        .route(&t("/verify-email/confirm"), get(verify::confirm))
        .route(
            &t("/password/forgot"),
            get(password::forgot).post(password::forgot_submit),
        )
        .route(
            &t("/password/reset"),
            get(password::reset).post(password::reset_submit),
        )
        .route(
            &t("/password/change"),
            get(password::change).post(password::change_submit),
        )
        .route(&t("/unlock"), get(unlock::unlock))
        .route(&t("/consent"), get(consent::show).post(consent::submit))
        .route(&t("/branding/style.css"), get(branding::tenant_style))
        .route(
            &t("/branding/orgs/{org_id}/style.css"),
            get(branding::org_style),
        )
        .route(&t("/branding/logo"), get(branding::tenant_logo))
        .route(&t("/branding/orgs/{org_id}/logo"), get(branding::org_logo))
        .with_state(state)
}

//! The code step of passwordless login (`email` connections): the identifier step sends
//! an address that home-realm discovery routes to an `email` connection here after
//! emailing it a code. `GET /login/code?email=…` shows "we sent a code to {address}",
//! `POST /login/code` logs in with the code, `POST /login/code/resend` sends a new one.
//! An address with no account gets the same pages (and nothing is sent). On success the
//! session cookie is set and the browser returns to the authorization request, as after
//! a password.

use axum::extract::{Form, Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use clavis_api::Meta;
use clavis_core::model::Tenant;
use clavis_core::service::RequestMeta;
use clavis_core::service::lifecycle::CodeLoginError;
use minijinja::context;
use serde::Deserialize;

use crate::flow::{Flow, clean_email, link, see_other, with_session};
use crate::web::{Chrome, Page, WebState};

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct CodeQuery {
    return_to: Option<String>,
    email: Option<String>,
    ui_locales: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct CodeForm {
    csrf: String,
    return_to: Option<String>,
    email: String,
    code: String,
}

/// The identifier step of this address (to start again).
fn login_url(chrome: &Chrome, flow: Option<&Flow>, email: &str) -> String {
    link(
        &format!("{}/login", chrome.base),
        &[
            ("return_to", flow.map(|f| f.return_to.as_str())),
            ("login_hint", Some(email).filter(|e| !e.is_empty())),
        ],
    )
}

/// Where the identifier step goes after sending a code.
pub(crate) fn code_url(base: &str, return_to: Option<&str>, email: &str) -> String {
    link(
        &format!("{base}/login/code"),
        &[("return_to", return_to), ("email", Some(email))],
    )
}

fn code_page(
    web: &WebState,
    chrome: &Chrome,
    flow: Option<&Flow>,
    email: &str,
    notice: Option<String>,
    error: Option<String>,
    status: StatusCode,
) -> Response {
    let page = Page::new(
        "login_code.html",
        chrome.text("login_code.title", &[]),
        context! {
            return_to => flow.map(|f| f.return_to.clone()),
            email => email,
            notice => notice,
            error => error,
            change_url => login_url(chrome, flow, email),
        },
    )
    .form()
    .status(status);
    web.render(chrome, page)
}

/// The tenant, flow and chrome of the code step (the address in its language links).
async fn setup(
    web: &WebState,
    slug: &str,
    headers: &HeaderMap,
    return_to: Option<&str>,
    query_locale: Option<&str>,
    email: &str,
) -> Result<(std::sync::Arc<Tenant>, Option<Flow>, Chrome), Response> {
    web.setup(
        slug,
        headers,
        return_to,
        query_locale,
        "/login/code",
        &[("email", email)],
    )
    .await
}

/// `GET /login/code?return_to=…&email=…`: the code form (sends nothing).
pub async fn show(
    State(web): State<WebState>,
    Path(slug): Path<String>,
    headers: HeaderMap,
    Query(q): Query<CodeQuery>,
) -> Response {
    let email = q.email.as_deref().map(clean_email).unwrap_or_default();
    let (tenant, flow, chrome) = match setup(
        &web,
        &slug,
        &headers,
        q.return_to.as_deref(),
        q.ui_locales.as_deref(),
        &email,
    )
    .await
    {
        Ok(x) => x,
        Err(r) => return r,
    };
    match web.ctx.core.email_route(&tenant, &email).await {
        Ok(Some(_)) => {}
        // Not (or no longer) a passwordless address: the identifier step decides.
        Ok(None) => return see_other(&login_url(&chrome, flow.as_ref(), &email)),
        Err(e) => return web.internal(Some(&tenant), &headers, &e).await,
    }
    code_page(
        &web,
        &chrome,
        flow.as_ref(),
        &email,
        None,
        None,
        StatusCode::OK,
    )
}

/// `POST /login/code`: log in with the code.
pub async fn submit(
    State(web): State<WebState>,
    Path(slug): Path<String>,
    Meta(meta): Meta,
    headers: HeaderMap,
    Form(f): Form<CodeForm>,
) -> Response {
    let email = clean_email(&f.email);
    let (tenant, flow, chrome) =
        match setup(&web, &slug, &headers, f.return_to.as_deref(), None, &email).await {
            Ok(x) => x,
            Err(r) => return r,
        };
    if let Some(r) = web.csrf_refused(&chrome, &headers, &f.csrf) {
        return r;
    }
    if let Err(r) = web.throttle(&chrome, &tenant, &headers, &meta).await {
        return r;
    }
    let code: String = f
        .code
        .chars()
        .filter(|c| !c.is_whitespace())
        .take(12)
        .collect();
    let fail = |key: &str, status| {
        let error = chrome.text(key, &[]);
        code_page(
            &web,
            &chrome,
            flow.as_ref(),
            &email,
            None,
            Some(error),
            status,
        )
    };
    match web
        .ctx
        .core
        .code_login(&tenant, &email, &code, chrome.locale(), &meta)
        .await
    {
        Ok((_session, value, user)) => with_session(
            web.continue_to(&chrome, flow.as_ref(), &user),
            &web,
            tenant.slug.as_str(),
            &value,
        ),
        Err(CodeLoginError::WrongOrExpired) => {
            fail("login_code.wrong_code", StatusCode::BAD_REQUEST)
        }
        Err(CodeLoginError::TooManyAttempts) => {
            fail("login_code.too_many", StatusCode::BAD_REQUEST)
        }
        Err(CodeLoginError::Blocked) => fail("login.blocked", StatusCode::FORBIDDEN),
        Err(e) => other_error(&web, &tenant, &headers, &chrome, flow.as_ref(), &email, e).await,
    }
}

/// `POST /login/code/resend`: another code (the same page, with a notice).
pub async fn resend(
    State(web): State<WebState>,
    Path(slug): Path<String>,
    Meta(meta): Meta,
    headers: HeaderMap,
    Form(f): Form<CodeForm>,
) -> Response {
    let email = clean_email(&f.email);
    let (tenant, flow, chrome) =
        match setup(&web, &slug, &headers, f.return_to.as_deref(), None, &email).await {
            Ok(x) => x,
            Err(r) => return r,
        };
    if let Some(r) = web.csrf_refused(&chrome, &headers, &f.csrf) {
        return r;
    }
    if let Err(r) = web.throttle(&chrome, &tenant, &headers, &meta).await {
        return r;
    }
    match send(&web, &tenant, &chrome, &email, &meta).await {
        Ok(()) => {
            let notice = chrome.text("login_code.resent", &[]);
            code_page(
                &web,
                &chrome,
                flow.as_ref(),
                &email,
                Some(notice),
                None,
                StatusCode::OK,
            )
        }
        Err(e) => other_error(&web, &tenant, &headers, &chrome, flow.as_ref(), &email, e).await,
    }
}

/// Email a code to a routed address (nothing for an address without an account).
pub(crate) async fn send(
    web: &WebState,
    tenant: &Tenant,
    chrome: &Chrome,
    email: &str,
    meta: &RequestMeta,
) -> Result<(), CodeLoginError> {
    web.ctx
        .core
        .send_login_code(tenant, email, chrome.locale(), meta)
        .await
}

/// The answers every code action shares.
pub(crate) async fn other_error(
    web: &WebState,
    tenant: &Tenant,
    headers: &HeaderMap,
    chrome: &Chrome,
    flow: Option<&Flow>,
    email: &str,
    e: CodeLoginError,
) -> Response {
    match e {
        CodeLoginError::Locked { retry_after_secs } => web.too_many(chrome, retry_after_secs, true),
        CodeLoginError::Throttled { retry_after_secs } => {
            web.too_many(chrome, retry_after_secs, false)
        }
        // Not (or no longer) a passwordless address: the identifier step decides.
        CodeLoginError::NotRouted => see_other(&login_url(chrome, flow, email)),
        CodeLoginError::Internal(e) => web.internal(Some(tenant), headers, &e).await,
        CodeLoginError::WrongOrExpired
        | CodeLoginError::TooManyAttempts
        | CodeLoginError::Blocked => code_page(
            web,
            chrome,
            flow,
            email,
            None,
            Some(chrome.text("login_code.wrong_code", &[])),
            StatusCode::BAD_REQUEST,
        ),
    }
}

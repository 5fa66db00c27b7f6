//! Identifier-first login: `GET/POST /login` asks for the email address (home-realm
//! discovery: an address whose domain belongs to an organization continues in that
//! organization's context; when that organization's connection is an `email` one, a code
//! is emailed and the code step (`login_code`) follows instead of the password step),
//! `GET/POST /login/password` for the password. A failed login
//! reads the same whether or not the account exists; lockouts and rate limits answer 429
//! with `Retry-After`. On success the session cookie is set and the browser returns to the
//! authorization request.

use axum::extract::{Form, Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use clavis_api::Meta;
use clavis_core::model::Tenant;
use clavis_core::oauth::LoginError;
use clavis_core::service::RequestMeta;
use clavis_types::{ConnectionStrategy, Email};
use minijinja::context;
use serde::Deserialize;

use crate::flow::{Flow, clean_email, link, see_other, with_session};
use crate::login_code;
use crate::web::{Chrome, Page, WebState};

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct LoginQuery {
    return_to: Option<String>,
    login_hint: Option<String>,
    email: Option<String>,
    ui_locales: Option<String>,
}

#[derive(Default, Deserialize)]
#[serde(default)]
pub struct LoginForm {
    csrf: String,
    return_to: Option<String>,
    email: String,
    /// Sent by the password step (and by clients that post both at once to `/login`).
    password: Option<String>,
}

impl std::fmt::Debug for LoginForm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoginForm")
            .field("email", &self.email)
            .field("password", &"**redacted**")
            .finish_non_exhaustive()
    }
}

fn query_of(flow: Option<&Flow>, extra: &[(&str, Option<&str>)]) -> Vec<(String, String)> {
    let mut q = Vec::new();
    if let Some(f) = flow {
        q.push(("return_to".to_owned(), f.return_to.clone()));
    }
    for (k, v) in extra {
        if let Some(v) = v {
            q.push(((*k).to_owned(), (*v).to_owned()));
        }
    }
    q
}

fn signup_url(tenant: &Tenant, chrome: &Chrome, flow: Option<&Flow>) -> Option<String> {
    tenant.settings.universal_login.signup_enabled.then(|| {
        link(
            &format!("{}/signup", chrome.base),
            &[("return_to", flow.map(|f| f.return_to.as_str()))],
        )
    })
}

fn identifier_page(
    web: &WebState,
    tenant: &Tenant,
    chrome: &Chrome,
    flow: Option<&Flow>,
    email: &str,
    error: Option<String>,
    status: StatusCode,
) -> Response {
    let page = Page::new(
        "login.html",
        chrome.text("login.title", &[("name", &chrome.brand.name)]),
        context! {
            return_to => flow.map(|f| f.return_to.clone()),
            email => email,
            error => error,
            signup_url => signup_url(tenant, chrome, flow),
        },
    )
    .form()
    .status(status);
    web.render(chrome, page)
}

fn password_page(
    web: &WebState,
    tenant: &Tenant,
    chrome: &Chrome,
    flow: Option<&Flow>,
    email: &str,
    error: Option<String>,
    status: StatusCode,
) -> Response {
    let return_to = flow.map(|f| f.return_to.as_str());
    let page = Page::new(
        "password.html",
        chrome.text("password_step.title", &[]),
        context! {
            return_to => return_to,
            email => email,
            error => error,
            change_url => link(
                &format!("{}/login", chrome.base),
                &[("return_to", return_to), ("login_hint", Some(email))],
            ),
            forgot_url => link(
                &format!("{}/password/forgot", chrome.base),
                &[("return_to", return_to), ("email", Some(email))],
            ),
            signup_url => signup_url(tenant, chrome, flow),
        },
    )
    .form()
    .status(status);
    web.render(chrome, page)
}

/// `GET /login?return_to=…[&login_hint=]`: the identifier step.
pub async fn show(
    State(web): State<WebState>,
    Path(slug): Path<String>,
    headers: HeaderMap,
    Query(q): Query<LoginQuery>,
) -> Response {
    let tenant = match web.tenant(&slug, &headers, q.ui_locales.as_deref()).await {
        Ok(t) => t,
        Err(r) => return r,
    };
    let flow = match web.flow(&tenant, &headers, q.return_to.as_deref()).await {
        Ok(f) => f,
        Err(r) => return r,
    };
    let hint = q
        .login_hint
        .as_deref()
        .or(flow
            .as_ref()
            .and_then(|f| f.valid.as_ref()?.login_hint.as_deref()))
        .map(clean_email)
        .unwrap_or_default();
    let chrome = web
        .page_chrome(
            &tenant,
            &headers,
            flow.as_ref(),
            q.ui_locales.as_deref(),
            "/login",
            query_of(flow.as_ref(), &[("login_hint", q.login_hint.as_deref())]),
        )
        .await;
    identifier_page(
        &web,
        &tenant,
        &chrome,
        flow.as_ref(),
        &hint,
        None,
        StatusCode::OK,
    )
}

/// `POST /login`: the email address → the password step (in the organization its domain
/// belongs to, if any). With a `password` field it is the password step itself.
pub async fn submit(
    State(web): State<WebState>,
    Path(slug): Path<String>,
    Meta(meta): Meta,
    headers: HeaderMap,
    Form(f): Form<LoginForm>,
) -> Response {
    let tenant = match web.tenant(&slug, &headers, None).await {
        Ok(t) => t,
        Err(r) => return r,
    };
    let flow = match web.flow(&tenant, &headers, f.return_to.as_deref()).await {
        Ok(f) => f,
        Err(r) => return r,
    };
    let email = clean_email(&f.email);
    if let Some(password) = f.password.as_deref() {
        return password_step(
            &web, &tenant, &headers, &meta, flow, &f.csrf, &email, password,
        )
        .await;
    }
    let chrome = web
        .page_chrome(
            &tenant,
            &headers,
            flow.as_ref(),
            None,
            "/login",
            query_of(flow.as_ref(), &[]),
        )
        .await;
    if let Some(r) = web.csrf_refused(&chrome, &headers, &f.csrf) {
        return r;
    }
    if email.is_empty() {
        let error = chrome.text("login.email_required", &[]);
        return identifier_page(
            &web,
            &tenant,
            &chrome,
            flow.as_ref(),
            &email,
            Some(error),
            StatusCode::BAD_REQUEST,
        );
    }
    let realm = match web.ctx.core.home_realm(&tenant, &email).await {
        Ok(r) => r,
        Err(e) => return web.internal(Some(&tenant), &headers, &e).await,
    };
    let return_to = match (flow.as_ref(), &realm) {
        (Some(flow), Some(realm)) => flow
            .with_organization(realm.org.id.as_str(), realm.assign_membership_on_login)
            .filter(|r| clavis_api::safe_return_to(tenant.slug.as_str(), r))
            .unwrap_or_else(|| flow.return_to.clone()),
        (Some(flow), None) => flow.return_to.clone(),
        (None, _) => String::new(),
    };
    let return_to = (!return_to.is_empty()).then_some(return_to.as_str());
    if realm.is_some_and(|r| r.connection.strategy == ConnectionStrategy::Email) {
        // Passwordless: email a code (nothing for an address without an account), then
        // the code step. The password step is never offered for this address.
        if let Err(r) = web.throttle(&chrome, &tenant, &headers, &meta).await {
            return r;
        }
        // The code step shows the address as the code is sent to it.
        let email = Email::parse(&email).map_or(email, |e| e.to_string());
        return match login_code::send(&web, &tenant, &chrome, &email, &meta).await {
            Ok(()) => see_other(&login_code::code_url(&chrome.base, return_to, &email)),
            Err(e) => {
                login_code::other_error(&web, &tenant, &headers, &chrome, flow.as_ref(), &email, e)
                    .await
            }
        };
    }
    see_other(&link(
        &format!("{}/login/password", chrome.base),
        &[("return_to", return_to), ("email", Some(&email))],
    ))
}

/// `GET /login/password?return_to=…&email=…`
pub async fn show_password(
    State(web): State<WebState>,
    Path(slug): Path<String>,
    headers: HeaderMap,
    Query(q): Query<LoginQuery>,
) -> Response {
    let tenant = match web.tenant(&slug, &headers, q.ui_locales.as_deref()).await {
        Ok(t) => t,
        Err(r) => return r,
    };
    let flow = match web.flow(&tenant, &headers, q.return_to.as_deref()).await {
        Ok(f) => f,
        Err(r) => return r,
    };
    let email = q.email.as_deref().map(clean_email).unwrap_or_default();
    if email.is_empty() {
        return see_other(&link(
            &format!("/t/{}/login", tenant.slug),
            &[("return_to", flow.as_ref().map(|f| f.return_to.as_str()))],
        ));
    }
    let chrome = web
        .page_chrome(
            &tenant,
            &headers,
            flow.as_ref(),
            q.ui_locales.as_deref(),
            "/login/password",
            query_of(flow.as_ref(), &[("email", Some(&email))]),
        )
        .await;
    match web.ctx.core.email_route(&tenant, &email).await {
        // A passwordless address has no password step: back to the identifier step.
        Ok(Some(_)) => {
            return see_other(&link(
                &format!("{}/login", chrome.base),
                &[
                    ("return_to", flow.as_ref().map(|f| f.return_to.as_str())),
                    ("login_hint", Some(&email)),
                ],
            ));
        }
        Ok(None) => {}
        Err(e) => return web.internal(Some(&tenant), &headers, &e).await,
    }
    password_page(
        &web,
        &tenant,
        &chrome,
        flow.as_ref(),
        &email,
        None,
        StatusCode::OK,
    )
}

/// `POST /login/password`
pub async fn submit_password(
    State(web): State<WebState>,
    Path(slug): Path<String>,
    Meta(meta): Meta,
    headers: HeaderMap,
    Form(f): Form<LoginForm>,
) -> Response {
    let tenant = match web.tenant(&slug, &headers, None).await {
        Ok(t) => t,
        Err(r) => return r,
    };
    let flow = match web.flow(&tenant, &headers, f.return_to.as_deref()).await {
        Ok(f) => f,
        Err(r) => return r,
    };
    let email = clean_email(&f.email);
    let password = f.password.as_deref().unwrap_or("");
    password_step(
        &web, &tenant, &headers, &meta, flow, &f.csrf, &email, password,
    )
    .await
}

#[allow(clippy::too_many_arguments)]
async fn password_step(
    web: &WebState,
    tenant: &Tenant,
    headers: &HeaderMap,
    meta: &RequestMeta,
    flow: Option<Flow>,
    csrf: &str,
    email: &str,
    password: &str,
) -> Response {
    let flow = flow.as_ref();
    let chrome = web
        .page_chrome(
            tenant,
            headers,
            flow,
            None,
            "/login/password",
            query_of(flow, &[("email", Some(email))]),
        )
        .await;
    if let Some(r) = web.csrf_refused(&chrome, headers, csrf) {
        return r;
    }
    if let Err(r) = web.throttle(&chrome, tenant, headers, meta).await {
        return r;
    }
    let fail = |key: &str, status| {
        let error = chrome.text(key, &[]);
        password_page(web, tenant, &chrome, flow, email, Some(error), status)
    };
    if password.is_empty() {
        return fail("password_step.required", StatusCode::BAD_REQUEST);
    }
    match web
        .ctx
        .core
        .password_login_in(tenant, email, password, chrome.locale(), meta)
        .await
    {
        Ok((_session, value, user)) => with_session(
            web.continue_to(&chrome, flow, &user),
            web,
            tenant.slug.as_str(),
            &value,
        ),
        Err(LoginError::WrongCredentials) => {
            fail("login.wrong_credentials", StatusCode::UNAUTHORIZED)
        }
        Err(LoginError::Blocked) => fail("login.blocked", StatusCode::FORBIDDEN),
        Err(LoginError::Locked { retry_after_secs }) => {
            web.too_many(&chrome, retry_after_secs, true)
        }
        Err(LoginError::Throttled { retry_after_secs }) => {
            web.too_many(&chrome, retry_after_secs, false)
        }
        Err(LoginError::Internal(e)) => web.internal(Some(tenant), headers, &e).await,
    }
}

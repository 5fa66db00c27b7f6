//! Passwords: `GET/POST /password/forgot` (always the same answer, whether or not the
//! address has an account), `GET/POST /password/reset?ticket=` (the emailed link; the
//! ticket is checked before the form is shown and consumed by the change), and
//! `GET/POST /password/change` for the logged-in user. New passwords meet the tenant's
//! policy; the refusals are listed next to the field.

use axum::extract::{Form, Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use clavis_api::Meta;
use clavis_core::model::Tenant;
use clavis_core::service::lifecycle::{ChangePasswordError, ResetError};
use minijinja::context;
use minijinja::value::Serde;
use serde::Deserialize;

use crate::flow::{Flow, clean_email, link};
use crate::signup::{password_errors, password_hint};
use crate::web::{Chrome, Link, Page, WebState};

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct PasswordQuery {
    return_to: Option<String>,
    email: Option<String>,
    ticket: Option<String>,
    ui_locales: Option<String>,
}

#[derive(Default, Deserialize)]
#[serde(default)]
pub struct PasswordForm {
    csrf: String,
    return_to: Option<String>,
    email: String,
    ticket: String,
    current_password: String,
    password: String,
    password_confirm: String,
}

impl std::fmt::Debug for PasswordForm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PasswordForm")
            .field("email", &self.email)
            .finish_non_exhaustive()
    }
}

fn login_link(chrome: &Chrome, flow: Option<&Flow>) -> Link {
    Link {
        id: "login-link",
        href: link(
            &format!("{}/login", chrome.base),
            &[("return_to", flow.map(|f| f.return_to.as_str()))],
        ),
        text: chrome.text("link.login", &[]),
    }
}

// ---- forgot ----

fn forgot_page(
    web: &WebState,
    chrome: &Chrome,
    flow: Option<&Flow>,
    email: &str,
    error: Option<String>,
    status: StatusCode,
) -> Response {
    let return_to = flow.map(|f| f.return_to.as_str());
    let page = Page::new(
        "forgot.html",
        chrome.text("forgot.title", &[]),
        context! {
            return_to => return_to,
            email => email,
            error => error,
            login_url => link(&format!("{}/login", chrome.base), &[("return_to", return_to)]),
        },
    )
    .form()
    .status(status);
    web.render(chrome, page)
}

/// `GET /password/forgot[?return_to=…&email=…]`
pub async fn forgot(
    State(web): State<WebState>,
    Path(slug): Path<String>,
    headers: HeaderMap,
    Query(q): Query<PasswordQuery>,
) -> Response {
    match web
        .setup(
            &slug,
            &headers,
            q.return_to.as_deref(),
            q.ui_locales.as_deref(),
            "/password/forgot",
            &[],
        )
        .await
    {
        Ok((_, flow, chrome)) => {
            let email = q.email.as_deref().map(clean_email).unwrap_or_default();
            forgot_page(&web, &chrome, flow.as_ref(), &email, None, StatusCode::OK)
        }
        Err(r) => r,
    }
}

/// `POST /password/forgot`
pub async fn forgot_submit(
    State(web): State<WebState>,
    Path(slug): Path<String>,
    Meta(meta): Meta,
    headers: HeaderMap,
    Form(f): Form<PasswordForm>,
) -> Response {
    let (tenant, flow, chrome) = match web
        .setup(
            &slug,
            &headers,
            f.return_to.as_deref(),
            None,
            "/password/forgot",
            &[],
        )
        .await
    {
        Ok(x) => x,
        Err(r) => return r,
    };
    if let Some(r) = web.csrf_refused(&chrome, &headers, &f.csrf) {
        return r;
    }
    if let Err(r) = web.throttle(&chrome, &tenant, &headers, &meta).await {
        return r;
    }
    let email = clean_email(&f.email);
    if email.is_empty() {
        let error = chrome.text("login.email_required", &[]);
        return forgot_page(
            &web,
            &chrome,
            flow.as_ref(),
            &email,
            Some(error),
            StatusCode::BAD_REQUEST,
        );
    }
    if let Err(e) = web
        .ctx
        .core
        .request_password_reset(&tenant, &email, chrome.locale(), &meta)
        .await
    {
        return web.internal(Some(&tenant), &headers, &e).await;
    }
    web.message(
        &chrome,
        "forgot.sent_title",
        vec![chrome.text("forgot.sent_body", &[("email", &email)])],
        vec![login_link(&chrome, flow.as_ref())],
    )
}

// ---- reset ----

#[derive(Debug, Default)]
struct Errors {
    current_password: Option<String>,
    password: Option<String>,
    password_confirm: Option<String>,
}

fn reset_page(
    web: &WebState,
    tenant: &Tenant,
    chrome: &Chrome,
    ticket: &str,
    email: &str,
    errors: Errors,
    status: StatusCode,
) -> Response {
    let page = Page::new(
        "reset.html",
        chrome.text("reset.title", &[]),
        context! {
            return_to => None::<&str>,
            ticket => ticket,
            email => email,
            password_hint => password_hint(chrome, tenant),
            errors => context! {
                password => errors.password,
                password_confirm => errors.password_confirm,
            },
        },
    )
    .form()
    .status(status);
    web.render(chrome, page)
}

fn reset_invalid(web: &WebState, chrome: &Chrome) -> Response {
    let page = Page::new(
        "error.html",
        chrome.text("link.invalid_title", &[]),
        context! {
            title => chrome.text("link.invalid_title", &[]),
            what => chrome.text("reset.invalid", &[]),
            advice => chrome.text("reset.invalid_advice", &[]),
            code => None::<&str>,
            links => Serde(vec![Link {
                id: "forgot-password",
                href: format!("{}/password/forgot", chrome.base),
                text: chrome.text("login.forgot", &[]),
            }]),
        },
    )
    .status(StatusCode::BAD_REQUEST);
    web.render(chrome, page)
}

/// Check the new password and its confirmation before calling core.
fn confirm_errors(chrome: &Chrome, f: &PasswordForm) -> Option<Errors> {
    if f.password.is_empty() {
        return Some(Errors {
            password: Some(chrome.text("password.required", &[])),
            ..Errors::default()
        });
    }
    (f.password != f.password_confirm).then(|| Errors {
        password_confirm: Some(chrome.text("password.mismatch", &[])),
        ..Errors::default()
    })
}

/// `GET /password/reset?ticket=…`
pub async fn reset(
    State(web): State<WebState>,
    Path(slug): Path<String>,
    headers: HeaderMap,
    Query(q): Query<PasswordQuery>,
) -> Response {
    let tenant = match web.tenant(&slug, &headers, q.ui_locales.as_deref()).await {
        Ok(t) => t,
        Err(r) => return r,
    };
    let ticket = q.ticket.unwrap_or_default();
    let chrome = web
        .page_chrome(
            &tenant,
            &headers,
            None,
            q.ui_locales.as_deref(),
            "/password/reset",
            vec![("ticket".to_owned(), ticket.clone())],
        )
        .await;
    match web.ctx.core.reset_ticket_user(&tenant, &ticket).await {
        Ok(Some(user)) => {
            let email = user.email.map(|e| e.to_string()).unwrap_or_default();
            reset_page(
                &web,
                &tenant,
                &chrome,
                &ticket,
                &email,
                Errors::default(),
                StatusCode::OK,
            )
        }
        Ok(None) => reset_invalid(&web, &chrome),
        Err(e) => web.internal(Some(&tenant), &headers, &e).await,
    }
}

/// `POST /password/reset`
pub async fn reset_submit(
    State(web): State<WebState>,
    Path(slug): Path<String>,
    Meta(meta): Meta,
    headers: HeaderMap,
    Form(f): Form<PasswordForm>,
) -> Response {
    let tenant = match web.tenant(&slug, &headers, None).await {
        Ok(t) => t,
        Err(r) => return r,
    };
    let chrome = web
        .page_chrome(
            &tenant,
            &headers,
            None,
            None,
            "/password/reset",
            vec![("ticket".to_owned(), f.ticket.clone())],
        )
        .await;
    if let Some(r) = web.csrf_refused(&chrome, &headers, &f.csrf) {
        return r;
    }
    if let Err(r) = web.throttle(&chrome, &tenant, &headers, &meta).await {
        return r;
    }
    let email = match web.ctx.core.reset_ticket_user(&tenant, &f.ticket).await {
        Ok(Some(user)) => user.email.map(|e| e.to_string()).unwrap_or_default(),
        Ok(None) => return reset_invalid(&web, &chrome),
        Err(e) => return web.internal(Some(&tenant), &headers, &e).await,
    };
    let again = |errors| {
        reset_page(
            &web,
            &tenant,
            &chrome,
            &f.ticket,
            &email,
            errors,
            StatusCode::BAD_REQUEST,
        )
    };
    if let Some(errors) = confirm_errors(&chrome, &f) {
        return again(errors);
    }
    match web
        .ctx
        .core
        .reset_password(&tenant, &f.ticket, &f.password, chrome.locale(), &meta)
        .await
    {
        Ok(_) => web.message(
            &chrome,
            "reset.done_title",
            vec![chrome.text("reset.done_body", &[])],
            vec![login_link(&chrome, None)],
        ),
        Err(ResetError::InvalidTicket) => reset_invalid(&web, &chrome),
        Err(ResetError::Password(problems)) => again(Errors {
            password: Some(password_errors(&chrome, &problems)),
            ..Errors::default()
        }),
        Err(ResetError::Internal(e)) => web.internal(Some(&tenant), &headers, &e).await,
    }
}

// ---- change ----

fn change_page(
    web: &WebState,
    tenant: &Tenant,
    chrome: &Chrome,
    email: &str,
    errors: Errors,
    status: StatusCode,
) -> Response {
    let page = Page::new(
        "change_password.html",
        chrome.text("change.title", &[]),
        context! {
            return_to => None::<&str>,
            email => email,
            password_hint => password_hint(chrome, tenant),
            errors => context! {
                current_password => errors.current_password,
                password => errors.password,
                password_confirm => errors.password_confirm,
            },
        },
    )
    .form()
    .status(status);
    web.render(chrome, page)
}

async fn change_setup(
    web: &WebState,
    slug: &str,
    headers: &HeaderMap,
    query_locale: Option<&str>,
) -> Result<
    (
        std::sync::Arc<Tenant>,
        Chrome,
        clavis_core::model::Session,
        clavis_core::model::User,
    ),
    Response,
> {
    let tenant = web.tenant(slug, headers, query_locale).await?;
    let chrome = web
        .page_chrome(
            &tenant,
            headers,
            None,
            query_locale,
            "/password/change",
            Vec::new(),
        )
        .await;
    match web.session(&tenant, headers).await? {
        Some((session, user)) => Ok((tenant, chrome, session, user)),
        None => Err(web.error(&chrome, StatusCode::UNAUTHORIZED, "session", None, None)),
    }
}

/// `GET /password/change` (logged in)
pub async fn change(
    State(web): State<WebState>,
    Path(slug): Path<String>,
    headers: HeaderMap,
    Query(q): Query<PasswordQuery>,
) -> Response {
    match change_setup(&web, &slug, &headers, q.ui_locales.as_deref()).await {
        Ok((tenant, chrome, _, user)) => {
            let email = user.email.map(|e| e.to_string()).unwrap_or_default();
            change_page(
                &web,
                &tenant,
                &chrome,
                &email,
                Errors::default(),
                StatusCode::OK,
            )
        }
        Err(r) => r,
    }
}

/// `POST /password/change`
pub async fn change_submit(
    State(web): State<WebState>,
    Path(slug): Path<String>,
    Meta(meta): Meta,
    headers: HeaderMap,
    Form(f): Form<PasswordForm>,
) -> Response {
    let (tenant, chrome, session, user) = match change_setup(&web, &slug, &headers, None).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    if let Some(r) = web.csrf_refused(&chrome, &headers, &f.csrf) {
        return r;
    }
    if let Err(r) = web.throttle(&chrome, &tenant, &headers, &meta).await {
        return r;
    }
    let email = user
        .email
        .as_ref()
        .map(|e| e.to_string())
        .unwrap_or_default();
    let again = |errors| {
        change_page(
            &web,
            &tenant,
            &chrome,
            &email,
            errors,
            StatusCode::BAD_REQUEST,
        )
    };
    if let Some(errors) = confirm_errors(&chrome, &f) {
        return again(errors);
    }
    match web
        .ctx
        .core
        .change_password(
            &tenant,
            &session,
            &user,
            &f.current_password,
            &f.password,
            chrome.locale(),
            &meta,
        )
        .await
    {
        Ok(()) => web.message(
            &chrome,
            "change.done_title",
            vec![chrome.text("change.done_body", &[])],
            Vec::new(),
        ),
        Err(ChangePasswordError::WrongCurrent) => again(Errors {
            current_password: Some(chrome.text("change.wrong_current", &[])),
            ..Errors::default()
        }),
        Err(ChangePasswordError::Password(problems)) => again(Errors {
            password: Some(password_errors(&chrome, &problems)),
            ..Errors::default()
        }),
        Err(ChangePasswordError::Locked { retry_after_secs }) => {
            web.too_many(&chrome, retry_after_secs, true)
        }
        Err(ChangePasswordError::Internal(e)) => web.internal(Some(&tenant), &headers, &e).await,
    }
}

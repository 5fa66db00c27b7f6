//! Email verification: `GET /verify-email` (the code form; opened by a logged-in user with
//! no open verification ticket — e.g. one created through the Management API — it sends
//! one), `POST /verify-email` (the 6-digit code, for the logged-in user),
//! `POST /verify-email/resend`, and `GET /verify-email/confirm?ticket=` (the link of the
//! email). After a verification the browser returns to the authorization request.
//!
//! Signup gives an address that already has an account a session cookie that opens
//! nothing, so the page after signup must not reveal whether a session is behind the
//! cookie: the page reads the same either way, and without a live session the code form
//! answers as for a wrong code and the resend form as for a sent email, with the same
//! limits ([`clavis_core::Core::code_without_session`],
//! [`clavis_core::Core::resend_without_session`]).

use axum::extract::{Form, Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use clavis_api::{Meta, SESSION_COOKIE, cookie};
use clavis_core::service::lifecycle::VerifyError;
use minijinja::context;
use minijinja::value::Serde;
use serde::Deserialize;

use crate::flow::{Flow, see_other};
use crate::web::{Chrome, Link, Page, WebState};

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct VerifyQuery {
    return_to: Option<String>,
    ticket: Option<String>,
    ui_locales: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct CodeForm {
    csrf: String,
    return_to: Option<String>,
    code: String,
}

fn code_page(
    web: &WebState,
    chrome: &Chrome,
    flow: Option<&Flow>,
    notice: Option<String>,
    error: Option<String>,
    status: StatusCode,
) -> Response {
    let page = Page::new(
        "verify_email.html",
        chrome.text("verify.title", &[]),
        context! {
            return_to => flow.map(|f| f.return_to.clone()),
            notice => notice,
            error => error,
        },
    )
    .form()
    .status(status);
    web.render(chrome, page)
}

/// `GET /verify-email?return_to=…`
pub async fn show(
    State(web): State<WebState>,
    Path(slug): Path<String>,
    Meta(meta): Meta,
    headers: HeaderMap,
    Query(q): Query<VerifyQuery>,
) -> Response {
    let (tenant, flow, chrome) = match web
        .setup(
            &slug,
            &headers,
            q.return_to.as_deref(),
            q.ui_locales.as_deref(),
            "/verify-email",
            &[],
        )
        .await
    {
        Ok(x) => x,
        Err(r) => return r,
    };
    if let Ok(Some((_, user))) = web.session(&tenant, &headers).await {
        if user.email_verified {
            if let Some(f) = &flow {
                return see_other(&f.return_to);
            }
        } else {
            // No open ticket (never sent, expired, burnt): send one, within the hourly
            // limit. Whatever the outcome, the page is the same.
            match web
                .ctx
                .core
                .ensure_verification_sent(&tenant, &user, chrome.locale(), &meta)
                .await
            {
                Ok(_)
                | Err(
                    VerifyError::Throttled { .. }
                    | VerifyError::WrongOrExpired
                    | VerifyError::TooManyAttempts,
                ) => {}
                Err(VerifyError::Internal(e)) => {
                    return web.internal(Some(&tenant), &headers, &e).await;
                }
            }
        }
    }
    code_page(&web, &chrome, flow.as_ref(), None, None, StatusCode::OK)
}

/// `POST /verify-email`: the code.
pub async fn submit(
    State(web): State<WebState>,
    Path(slug): Path<String>,
    Meta(meta): Meta,
    headers: HeaderMap,
    Form(f): Form<CodeForm>,
) -> Response {
    let (tenant, flow, chrome) = match web
        .setup(
            &slug,
            &headers,
            f.return_to.as_deref(),
            None,
            "/verify-email",
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
    let session = match web.session(&tenant, &headers).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let code: String = f
        .code
        .chars()
        .filter(|c| !c.is_whitespace())
        .take(12)
        .collect();
    let fail = |key: &str, status| {
        let error = chrome.text(key, &[]);
        code_page(&web, &chrome, flow.as_ref(), None, Some(error), status)
    };
    let core = &web.ctx.core;
    let verified = match &session {
        Some((_, user)) => core.verify_email_code(&tenant, user, &code, &meta).await,
        // No live session (none, expired, or the cookie signup gives an address that
        // already has an account): answered as a wrong code, counted the same way.
        None => Err(core
            .code_without_session(&tenant, cookie(&headers, SESSION_COOKIE).as_deref())
            .await),
    };
    match verified {
        Ok(_) => match &flow {
            Some(f) => see_other(&f.return_to),
            None => done(&web, &chrome),
        },
        Err(VerifyError::WrongOrExpired) => fail("verify.wrong_code", StatusCode::BAD_REQUEST),
        Err(VerifyError::TooManyAttempts) => fail("verify.too_many", StatusCode::BAD_REQUEST),
        Err(VerifyError::Throttled { retry_after_secs }) => {
            web.too_many(&chrome, retry_after_secs, false)
        }
        Err(VerifyError::Internal(e)) => web.internal(Some(&tenant), &headers, &e).await,
    }
}

/// `POST /verify-email/resend`
pub async fn resend(
    State(web): State<WebState>,
    Path(slug): Path<String>,
    Meta(meta): Meta,
    headers: HeaderMap,
    Form(f): Form<CodeForm>,
) -> Response {
    let (tenant, flow, chrome) = match web
        .setup(
            &slug,
            &headers,
            f.return_to.as_deref(),
            None,
            "/verify-email",
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
    let session = match web.session(&tenant, &headers).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let core = &web.ctx.core;
    let sent = match &session {
        Some((_, user)) => {
            core.send_verification(&tenant, user, chrome.locale(), &meta)
                .await
        }
        // Without a live session: the same "sent" page (nothing is sent), under the
        // same hourly limit.
        None => {
            core.resend_without_session(&tenant, cookie(&headers, SESSION_COOKIE).as_deref())
                .await
        }
    };
    match sent {
        Ok(()) => {
            let notice = chrome.text("verify.resent", &[]);
            code_page(
                &web,
                &chrome,
                flow.as_ref(),
                Some(notice),
                None,
                StatusCode::OK,
            )
        }
        Err(VerifyError::Throttled { retry_after_secs }) => {
            web.too_many(&chrome, retry_after_secs, false)
        }
        Err(VerifyError::WrongOrExpired | VerifyError::TooManyAttempts) => {
            code_page(&web, &chrome, flow.as_ref(), None, None, StatusCode::OK)
        }
        Err(VerifyError::Internal(e)) => web.internal(Some(&tenant), &headers, &e).await,
    }
}

fn done(web: &WebState, chrome: &Chrome) -> Response {
    web.message(
        chrome,
        "verify.done_title",
        vec![chrome.text("verify.done_body", &[])],
        Vec::new(),
    )
}

/// `GET /verify-email/confirm?ticket=…`: the link of the verification email.
pub async fn confirm(
    State(web): State<WebState>,
    Path(slug): Path<String>,
    Meta(meta): Meta,
    headers: HeaderMap,
    Query(q): Query<VerifyQuery>,
) -> Response {
    let tenant = match web.tenant(&slug, &headers, q.ui_locales.as_deref()).await {
        Ok(t) => t,
        Err(r) => return r,
    };
    // The ticket is single-use and stays out of the language links.
    let chrome = web
        .page_chrome(
            &tenant,
            &headers,
            None,
            q.ui_locales.as_deref(),
            "/verify-email/confirm",
            Vec::new(),
        )
        .await;
    let ticket = q.ticket.unwrap_or_default();
    match web
        .ctx
        .core
        .verify_email_link(&tenant, &ticket, &meta)
        .await
    {
        Ok(_) => done(&web, &chrome),
        Err(VerifyError::WrongOrExpired | VerifyError::TooManyAttempts) => {
            let page = Page::new(
                "error.html",
                chrome.text("link.invalid_title", &[]),
                context! {
                    title => chrome.text("link.invalid_title", &[]),
                    what => chrome.text("verify.link_invalid", &[]),
                    advice => chrome.text("verify.link_advice", &[]),
                    code => None::<&str>,
                    links => Serde(Vec::<Link>::new()),
                },
            )
            .status(StatusCode::BAD_REQUEST);
            web.render(&chrome, page)
        }
        Err(VerifyError::Throttled { retry_after_secs }) => {
            web.too_many(&chrome, retry_after_secs, false)
        }
        Err(VerifyError::Internal(e)) => web.internal(Some(&tenant), &headers, &e).await,
    }
}

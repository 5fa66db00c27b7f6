//! Email verification: `GET /verify-email` (the code form; it reads the same with or
//! without a session, so the page after signup does not reveal whether the address
//! already had an account), `POST /verify-email` (the 6-digit code, for the logged-in
//! user), `POST /verify-email/resend`, and `GET /verify-email/confirm?ticket=` (the link
//! of the email). After a verification the browser returns to the authorization request.

use axum::extract::{Form, Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use clavis_api::Meta;
use clavis_core::model::Tenant;
use clavis_core::service::lifecycle::VerifyError;
use minijinja::context;
use minijinja::value::Serde;
use serde::Deserialize;

use crate::flow::{Flow, link, see_other};
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

async fn setup(
    web: &WebState,
    slug: &str,
    headers: &HeaderMap,
    return_to: Option<&str>,
    query_locale: Option<&str>,
) -> Result<(std::sync::Arc<Tenant>, Option<Flow>, Chrome), Response> {
    let tenant = web.tenant(slug, headers, query_locale).await?;
    let flow = web.flow(&tenant, headers, return_to).await?;
    let query = flow
        .iter()
        .map(|f| ("return_to".to_owned(), f.return_to.clone()))
        .collect();
    let chrome = web
        .page_chrome(
            &tenant,
            headers,
            flow.as_ref(),
            query_locale,
            "/verify-email",
            query,
        )
        .await;
    Ok((tenant, flow, chrome))
}

/// Without a session the code cannot be checked: log in first (then the authorization
/// endpoint brings the user back here).
fn login_first(chrome: &Chrome, flow: Option<&Flow>) -> Response {
    see_other(&link(
        &format!("{}/login", chrome.base),
        &[("return_to", flow.map(|f| f.return_to.as_str()))],
    ))
}

/// `GET /verify-email?return_to=…`
pub async fn show(
    State(web): State<WebState>,
    Path(slug): Path<String>,
    headers: HeaderMap,
    Query(q): Query<VerifyQuery>,
) -> Response {
    let (tenant, flow, chrome) = match setup(
        &web,
        &slug,
        &headers,
        q.return_to.as_deref(),
        q.ui_locales.as_deref(),
    )
    .await
    {
        Ok(x) => x,
        Err(r) => return r,
    };
    if let Ok(Some((_, user))) = web.session(&tenant, &headers).await
        && user.email_verified
        && let Some(f) = &flow
    {
        return see_other(&f.return_to);
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
    let (tenant, flow, chrome) =
        match setup(&web, &slug, &headers, f.return_to.as_deref(), None).await {
            Ok(x) => x,
            Err(r) => return r,
        };
    if let Some(r) = web.csrf_refused(&chrome, &headers, &f.csrf) {
        return r;
    }
    if let Err(r) = web.throttle(&chrome, &tenant, &headers, &meta).await {
        return r;
    }
    let user = match web.session(&tenant, &headers).await {
        Ok(Some((_, user))) => user,
        Ok(None) => return login_first(&chrome, flow.as_ref()),
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
    match web
        .ctx
        .core
        .verify_email_code(&tenant, &user, &code, &meta)
        .await
    {
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
    let (tenant, flow, chrome) =
        match setup(&web, &slug, &headers, f.return_to.as_deref(), None).await {
            Ok(x) => x,
            Err(r) => return r,
        };
    if let Some(r) = web.csrf_refused(&chrome, &headers, &f.csrf) {
        return r;
    }
    if let Err(r) = web.throttle(&chrome, &tenant, &headers, &meta).await {
        return r;
    }
    let user = match web.session(&tenant, &headers).await {
        Ok(Some((_, user))) => user,
        Ok(None) => return login_first(&chrome, flow.as_ref()),
        Err(r) => return r,
    };
    match web
        .ctx
        .core
        .send_verification(&tenant, &user, chrome.locale(), &meta)
        .await
    {
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

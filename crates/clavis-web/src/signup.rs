//! Signup (`GET/POST /signup`): email, password under the tenant's policy, optional name.
//! When the tenant requires verified addresses, a new account and an address that already
//! has one get the same response — a 303 to the "check your email" page setting a session
//! cookie of the same shape (for the existing address one that opens nothing) — and the
//! verification page answers both alike afterwards, so signup does not reveal which
//! addresses have accounts. Without verification a new account is logged in at once and
//! the difference is visible.

use axum::extract::{Form, Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use clavis_api::Meta;
use clavis_core::model::Tenant;
use clavis_core::service::lifecycle::{PasswordProblem, SignupError, SignupOutcome};
use minijinja::context;
use serde::Deserialize;

use crate::flow::{Flow, clean_email, link, see_other, with_session};
use crate::web::{Chrome, Page, WebState};

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct SignupQuery {
    return_to: Option<String>,
    ui_locales: Option<String>,
}

#[derive(Default, Deserialize)]
#[serde(default)]
pub struct SignupForm {
    csrf: String,
    return_to: Option<String>,
    email: String,
    password: String,
    name: String,
}

impl std::fmt::Debug for SignupForm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SignupForm")
            .field("email", &self.email)
            .finish_non_exhaustive()
    }
}

/// Messages for refused passwords, one line each.
pub fn password_errors(chrome: &Chrome, problems: &[PasswordProblem]) -> String {
    problems
        .iter()
        .map(|p| {
            let key = p.message_key();
            let min = match p {
                PasswordProblem::TooShort { min } => min.to_string(),
                _ => String::new(),
            };
            if chrome.msgs.raw(key).is_some() {
                chrome.text(key, &[("min", &min)])
            } else {
                chrome.text("password.rejected", &[])
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// The hint under a new-password field.
pub fn password_hint(chrome: &Chrome, tenant: &Tenant) -> String {
    let min = tenant.settings.password_policy.min_length.to_string();
    chrome.text("signup.password_hint", &[("min", &min)])
}

#[derive(Debug, Default)]
struct Errors {
    email: Option<String>,
    password: Option<String>,
    form: Option<String>,
}

fn form_page(
    web: &WebState,
    tenant: &Tenant,
    chrome: &Chrome,
    flow: Option<&Flow>,
    f: &SignupForm,
    errors: Errors,
    status: StatusCode,
) -> Response {
    let return_to = flow.map(|f| f.return_to.as_str());
    let page = Page::new(
        "signup.html",
        chrome.text("signup.title", &[("name", &chrome.brand.name)]),
        context! {
            return_to => return_to,
            email => f.email.clone(),
            name => f.name.clone(),
            error => errors.form,
            errors => context! { email => errors.email, password => errors.password },
            password_hint => password_hint(chrome, tenant),
            login_url => link(&format!("{}/login", chrome.base), &[("return_to", return_to)]),
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
    let (tenant, flow, chrome) = web
        .setup(slug, headers, return_to, query_locale, "/signup", &[])
        .await?;
    if !tenant.settings.universal_login.signup_enabled {
        return Err(web.error(
            &chrome,
            StatusCode::NOT_FOUND,
            "signup_disabled",
            None,
            None,
        ));
    }
    Ok((tenant, flow, chrome))
}

/// `GET /signup?return_to=…`
pub async fn show(
    State(web): State<WebState>,
    Path(slug): Path<String>,
    headers: HeaderMap,
    Query(q): Query<SignupQuery>,
) -> Response {
    match setup(
        &web,
        &slug,
        &headers,
        q.return_to.as_deref(),
        q.ui_locales.as_deref(),
    )
    .await
    {
        Ok((tenant, flow, chrome)) => form_page(
            &web,
            &tenant,
            &chrome,
            flow.as_ref(),
            &SignupForm::default(),
            Errors::default(),
            StatusCode::OK,
        ),
        Err(r) => r,
    }
}

/// `POST /signup`
pub async fn submit(
    State(web): State<WebState>,
    Path(slug): Path<String>,
    Meta(meta): Meta,
    headers: HeaderMap,
    Form(mut f): Form<SignupForm>,
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
    f.email = clean_email(&f.email);
    f.name = f.name.trim().chars().take(200).collect();
    let name = (!f.name.is_empty()).then_some(f.name.as_str());
    let fail = |errors: Errors| {
        form_page(
            &web,
            &tenant,
            &chrome,
            flow.as_ref(),
            &f,
            errors,
            StatusCode::BAD_REQUEST,
        )
    };
    let outcome = web
        .ctx
        .core
        .signup(&tenant, &f.email, &f.password, name, chrome.locale(), &meta)
        .await;
    let return_to = flow.as_ref().map(|f| f.return_to.as_str());
    let verify = tenant.settings.universal_login.require_email_verification;
    let next = if verify {
        link(
            &format!("{}/verify-email", chrome.base),
            &[("return_to", return_to)],
        )
    } else {
        link(
            &format!("{}/login", chrome.base),
            &[("return_to", return_to)],
        )
    };
    match outcome {
        Ok(SignupOutcome::Created { cookie, user, .. }) => {
            let to = if verify {
                see_other(&next)
            } else {
                web.continue_to(&chrome, flow.as_ref(), &user)
            };
            with_session(to, &web, tenant.slug.as_str(), &cookie)
        }
        // The same 303 to the verification page as a new account's, with a session cookie
        // of the same shape and attributes that opens nothing: the two responses cannot
        // be told apart, and the verification page answers both alike (`verify.rs`).
        Ok(SignupOutcome::AlreadyRegistered) if verify => with_session(
            see_other(&next),
            &web,
            tenant.slug.as_str(),
            &web.ctx.core.unusable_session_cookie(),
        ),
        // Without verification a new account is logged in and continues, so signing up
        // reveals that an address had no account: that difference stays (the owner of an
        // existing account is emailed; the person is sent to log in).
        Ok(SignupOutcome::AlreadyRegistered) => see_other(&next),
        Err(SignupError::Disabled) => web.error(
            &chrome,
            StatusCode::NOT_FOUND,
            "signup_disabled",
            None,
            None,
        ),
        Err(SignupError::InvalidEmail) => fail(Errors {
            email: Some(chrome.text("signup.invalid_email", &[])),
            ..Errors::default()
        }),
        Err(SignupError::Password(problems)) => fail(Errors {
            password: Some(password_errors(&chrome, &problems)),
            ..Errors::default()
        }),
        Err(SignupError::Denied { reason }) => fail(Errors {
            form: Some(chrome.text("signup.denied", &[("reason", &reason)])),
            ..Errors::default()
        }),
        Err(SignupError::Throttled { retry_after_secs }) => {
            web.too_many(&chrome, retry_after_secs, false)
        }
        Err(SignupError::Internal(e)) => web.internal(Some(&tenant), &headers, &e).await,
    }
}

//! `GET /authorize`: validate, then either issue a code (live session), answer
//! `login_required` (`prompt=none`), or send the browser to the login page. With a live
//! session the user may first have to verify their email address (when the tenant requires
//! it) and agree to the requested scopes (hosted pages, or `interaction_required` /
//! `consent_required` with `prompt=none`); a `post_login` hook may refuse the login
//! (`access_denied`).

use std::collections::HashMap;

use axum::Extension;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, Uri, header};
use axum::response::{IntoResponse, Redirect, Response};
use clavis_core::model::{Tenant, User};
use clavis_core::oauth::{
    AuthorizeError, AuthorizeParams, ErrorCode, OAuthError, ValidAuthorize, redirect_with,
};
use clavis_core::service::lifecycle::PostLoginDecision;

use super::{Meta, SESSION_COOKIE, cookie};
use crate::ApiContext;
use crate::pages::{ApiPage, Pages};

/// The parameters of an authorization request from its (single-valued) query or form.
pub fn authorize_params(params: &HashMap<String, String>) -> AuthorizeParams {
    let get = |k: &str| params.get(k).cloned();
    AuthorizeParams {
        response_type: get("response_type"),
        client_id: get("client_id"),
        redirect_uri: get("redirect_uri"),
        scope: get("scope"),
        state: get("state"),
        nonce: get("nonce"),
        code_challenge: get("code_challenge"),
        code_challenge_method: get("code_challenge_method"),
        prompt: get("prompt"),
        max_age: get("max_age"),
        organization: get("organization"),
        audience: get("audience"),
        response_mode: get("response_mode"),
        login_hint: get("login_hint"),
        ui_locales: get("ui_locales"),
        request: get("request"),
        request_uri: get("request_uri"),
    }
}

/// An error sent to the client at its validated `redirect_uri` (RFC 6749 §4.1.2.1, with
/// `iss` per RFC 9207).
pub fn error_redirect(
    issuer: &str,
    redirect_uri: &str,
    state: Option<&str>,
    error: &OAuthError,
) -> Response {
    let mut params = vec![
        ("error", error.code.as_str()),
        ("error_description", error.description.as_str()),
    ];
    if let Some(s) = state {
        params.push(("state", s));
    }
    params.push(("iss", issuer));
    Redirect::to(&redirect_with(redirect_uri, &params)).into_response()
}

/// The error page for requests that cannot be redirected.
async fn error_page(
    pages: &Pages,
    tenant: Option<&Tenant>,
    req: (&HeaderMap, &Uri),
    e: OAuthError,
) -> Response {
    pages
        .0
        .render(tenant, req.0, req.1, ApiPage::RequestError(e))
        .await
}

async fn send_error(
    pages: &Pages,
    tenant: &Tenant,
    req: (&HeaderMap, &Uri),
    issuer: &str,
    e: AuthorizeError,
) -> Response {
    match e {
        AuthorizeError::Page(e) => error_page(pages, Some(tenant), req, e).await,
        AuthorizeError::Redirect {
            redirect_uri,
            state,
            error,
        } => error_redirect(issuer, &redirect_uri, state.as_deref(), &error),
    }
}

/// The request again as a query string for the hosted pages to return to, without
/// `prompt` and `max_age`: the user has just authenticated (checking `max_age` again
/// against a clock that has moved on since the login would loop back to the login page),
/// and `prompt=consent` has just been answered on the consent page.
fn after_login(pairs: &[(String, String)]) -> String {
    url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(
            pairs
                .iter()
                .filter(|(k, _)| k != "prompt" && k != "max_age"),
        )
        .finish()
}

/// `GET /authorize`: parameters in the query.
pub(super) async fn authorize(
    state: State<ApiContext>,
    pages: Extension<Pages>,
    tenant: Path<String>,
    meta: (Meta, crate::Served),
    headers: HeaderMap,
    uri: Uri,
    query: Result<Query<Vec<(String, String)>>, axum::extract::rejection::QueryRejection>,
) -> Response {
    match query {
        Ok(Query(pairs)) => run(state, pages, tenant, meta, (headers, uri), pairs).await,
        Err(_) => {
            let e = OAuthError::invalid_request("malformed query");
            error_page(&pages, None, (&headers, &uri), e).await
        }
    }
}

/// `POST /authorize` (OIDC Core §3.1.2.1): the same parameters, form-encoded.
pub(super) async fn authorize_post(
    state: State<ApiContext>,
    pages: Extension<Pages>,
    tenant: Path<String>,
    meta: (Meta, crate::Served),
    headers: HeaderMap,
    uri: Uri,
    form: Result<
        axum::extract::Form<Vec<(String, String)>>,
        axum::extract::rejection::FormRejection,
    >,
) -> Response {
    match form {
        Ok(axum::extract::Form(pairs)) => {
            run(state, pages, tenant, meta, (headers, uri), pairs).await
        }
        Err(_) => {
            let e =
                OAuthError::invalid_request("the body must be application/x-www-form-urlencoded");
            error_page(&pages, None, (&headers, &uri), e).await
        }
    }
}

/// A redirect to one of the hosted pages of the tenant, returning to `return_query`.
fn to_page(tenant: &Tenant, page: &str, return_query: &str, hint: Option<&str>) -> Response {
    let return_to = format!("/t/{}/authorize?{}", tenant.slug, return_query);
    let mut q = url::form_urlencoded::Serializer::new(String::new());
    q.append_pair("return_to", &return_to);
    if let Some(h) = hint {
        q.append_pair("login_hint", h);
    }
    let mut resp =
        Redirect::to(&format!("/t/{}/{page}?{}", tenant.slug, q.finish())).into_response();
    resp.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp
}

async fn run(
    State(ctx): State<ApiContext>,
    Extension(pages): Extension<Pages>,
    Path(tenant): Path<String>,
    (Meta(meta), served): (Meta, crate::Served),
    (headers, uri): (HeaderMap, Uri),
    pairs: Vec<(String, String)>,
) -> Response {
    let req = (&headers, &uri);
    let Ok(tenant) = ctx.core.tenant_by_slug(&tenant).await else {
        let e = OAuthError::invalid_request("unknown tenant");
        return error_page(&pages, None, req, e).await;
    };
    let issuer = ctx.request_issuer(tenant.slug.as_str(), &served);
    let return_query = after_login(&pairs);
    let params = match super::single_params(pairs) {
        Ok(p) => p,
        Err(e) => return error_page(&pages, Some(&tenant), req, e).await,
    };
    let v = match ctx
        .core
        .validate_authorize(&tenant, &authorize_params(&params))
        .await
    {
        Ok(v) => v,
        Err(e) => return send_error(&pages, &tenant, req, &issuer, e).await,
    };
    let session = match cookie(&headers, SESSION_COOKIE) {
        Some(c) => match ctx.core.session_from_cookie(&tenant, &c).await {
            Ok(s) => s,
            Err(e) => return error_page(&pages, Some(&tenant), req, e.into()).await,
        },
        None => None,
    };
    let usable = session.filter(|(s, _)| !v.prompt_login && ctx.core.session_fresh_enough(&v, s));
    let Some((session, user)) = usable else {
        if v.prompt_none {
            let e = OAuthError::new(ErrorCode::LoginRequired, "the user is not logged in");
            return redirect_error(&issuer, &v, &e);
        }
        return to_page(&tenant, "login", &return_query, v.login_hint.as_deref());
    };
    match interaction(&ctx, &tenant, &v, &user, &meta).await {
        Ok(Interaction::None) => {}
        Ok(Interaction::Page { page, code, why }) => {
            if v.prompt_none {
                return redirect_error(&issuer, &v, &OAuthError::new(code, why));
            }
            return to_page(&tenant, page, &return_query, None);
        }
        Ok(Interaction::Denied(reason)) => {
            return redirect_error(
                &issuer,
                &v,
                &OAuthError::new(ErrorCode::AccessDenied, reason),
            );
        }
        Err(e) => return error_page(&pages, Some(&tenant), req, e).await,
    }
    match ctx
        .core
        .issue_code(&tenant, &issuer, &v, &session, &user, &meta)
        .await
    {
        Ok(url) => Redirect::to(&url).into_response(),
        Err(e) => send_error(&pages, &tenant, req, &issuer, e).await,
    }
}

fn redirect_error(issuer: &str, v: &ValidAuthorize, e: &OAuthError) -> Response {
    error_redirect(issuer, &v.redirect_uri, v.state.as_deref(), e)
}

/// What stands between a logged-in user and the code.
enum Interaction {
    None,
    /// A hosted page must be shown first (or, with `prompt=none`, this error returned).
    Page {
        page: &'static str,
        code: ErrorCode,
        why: &'static str,
    },
    /// The `post_login` hook refused the login.
    Denied(String),
}

/// In order: a verified email address when the tenant requires one, consent to the
/// requested scopes, then the `post_login` hook.
async fn interaction(
    ctx: &ApiContext,
    tenant: &Tenant,
    v: &ValidAuthorize,
    user: &User,
    meta: &clavis_core::service::RequestMeta,
) -> Result<Interaction, OAuthError> {
    if tenant.settings.universal_login.require_email_verification
        && user.email.is_some()
        && !user.email_verified
    {
        return Ok(Interaction::Page {
            page: "verify-email",
            code: ErrorCode::InteractionRequired,
            why: "the user must verify their email address",
        });
    }
    if ctx.core.consent_needed(tenant, v, user).await?.is_some() {
        return Ok(Interaction::Page {
            page: "consent",
            code: ErrorCode::ConsentRequired,
            why: "the user has not agreed to the requested scopes",
        });
    }
    match ctx.core.run_post_login(tenant, v, user, meta).await? {
        PostLoginDecision::Allow => Ok(Interaction::None),
        PostLoginDecision::Deny { reason } => Ok(Interaction::Denied(reason)),
    }
}

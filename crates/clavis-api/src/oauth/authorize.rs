//! `GET /authorize`: validate, then either issue a code (live session), answer
//! `login_required` (`prompt=none`), or send the browser to the login page.

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use clavis_core::oauth::{AuthorizeError, AuthorizeParams, ErrorCode, OAuthError, redirect_with};

use super::{Meta, SESSION_COOKIE, cookie};
use crate::ApiContext;
use crate::html::{escape, page};

/// The error page for requests that cannot be redirected.
pub(super) fn error_page(e: &OAuthError) -> Response {
    page(
        StatusCode::BAD_REQUEST,
        "Sign-in request refused",
        &format!(
            "<h1>This sign-in request cannot be completed</h1>\
             <p>The application sent a request Clavis cannot safely answer: <strong>{}</strong>.</p>\
             <p>Go back to the application and try again; if it keeps happening, tell its developers \
             (error <code>{}</code>).</p>",
            escape(&e.description),
            escape(e.code.as_str())
        ),
    )
}

pub(super) fn send_error(issuer: &str, e: AuthorizeError) -> Response {
    match e {
        AuthorizeError::Page(e) => error_page(&e),
        AuthorizeError::Redirect {
            redirect_uri,
            state,
            error,
        } => {
            let mut params = vec![
                ("error", error.code.as_str()),
                ("error_description", error.description.as_str()),
            ];
            if let Some(s) = state.as_deref() {
                params.push(("state", s));
            }
            params.push(("iss", issuer));
            Redirect::to(&redirect_with(&redirect_uri, &params)).into_response()
        }
    }
}

/// The query to return to after a login, without `prompt` and `max_age`: the user has just
/// authenticated, and checking `max_age` again against a clock that has moved on since the
/// login would send them back to the login page in a loop.
/// The request again as a query string, without `prompt` and `max_age` (after a login the
/// user has just authenticated), for the login page to return to.
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
    tenant: Path<String>,
    meta: Meta,
    headers: HeaderMap,
    query: Result<Query<Vec<(String, String)>>, axum::extract::rejection::QueryRejection>,
) -> Response {
    match query {
        Ok(Query(pairs)) => run(state, tenant, meta, headers, pairs).await,
        Err(_) => error_page(&OAuthError::invalid_request("malformed query")),
    }
}

/// `POST /authorize` (OIDC Core §3.1.2.1): the same parameters, form-encoded.
pub(super) async fn authorize_post(
    state: State<ApiContext>,
    tenant: Path<String>,
    meta: Meta,
    headers: HeaderMap,
    form: Result<
        axum::extract::Form<Vec<(String, String)>>,
        axum::extract::rejection::FormRejection,
    >,
) -> Response {
    match form {
        Ok(axum::extract::Form(pairs)) => run(state, tenant, meta, headers, pairs).await,
        Err(_) => error_page(&OAuthError::invalid_request(
            "the body must be application/x-www-form-urlencoded",
        )),
    }
}

async fn run(
    State(ctx): State<ApiContext>,
    Path(tenant): Path<String>,
    Meta(meta): Meta,
    headers: HeaderMap,
    pairs: Vec<(String, String)>,
) -> Response {
    let Ok(tenant) = ctx.core.tenant_by_slug(&tenant).await else {
        return error_page(&OAuthError::invalid_request("unknown tenant"));
    };
    let issuer = ctx.issuer(tenant.slug.as_str());
    let return_query = after_login(&pairs);
    let params = match super::single_params(pairs) {
        Ok(p) => p,
        Err(e) => return error_page(&e),
    };
    let get = |k: &str| params.get(k).cloned();
    let p = AuthorizeParams {
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
        request: get("request"),
        request_uri: get("request_uri"),
    };
    let v = match ctx.core.validate_authorize(&tenant, &p).await {
        Ok(v) => v,
        Err(e) => return send_error(&issuer, e),
    };
    let session = match cookie(&headers, SESSION_COOKIE) {
        Some(c) => match ctx.core.session_from_cookie(&tenant, &c).await {
            Ok(s) => s,
            Err(e) => return error_page(&OAuthError::from(e)),
        },
        None => None,
    };
    let usable = session.filter(|(s, _)| !v.prompt_login && ctx.core.session_fresh_enough(&v, s));
    match usable {
        Some((session, user)) => match ctx
            .core
            .issue_code(&tenant, &issuer, &v, &session, &user, &meta)
            .await
        {
            Ok(url) => Redirect::to(&url).into_response(),
            Err(e) => send_error(&issuer, e),
        },
        None if v.prompt_none => send_error(
            &issuer,
            AuthorizeError::Redirect {
                redirect_uri: v.redirect_uri.clone(),
                state: v.state.clone(),
                error: OAuthError::new(ErrorCode::LoginRequired, "the user is not logged in"),
            },
        ),
        None => {
            let return_to = format!("/t/{}/authorize?{}", tenant.slug, return_query);
            let mut login = url::form_urlencoded::Serializer::new(String::new());
            login.append_pair("return_to", &return_to);
            if let Some(h) = &v.login_hint {
                login.append_pair("login_hint", h);
            }
            let mut resp = Redirect::to(&format!("/t/{}/login?{}", tenant.slug, login.finish()))
                .into_response();
            resp.headers_mut().insert(
                header::CACHE_CONTROL,
                axum::http::HeaderValue::from_static("no-store"),
            );
            resp
        }
    }
}

//! The login page: a plain, accessible form (email, password) with CSRF protection. On
//! success it sets the session cookie and returns to the authorization request.

use axum::extract::{Form, Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use clavis_core::oauth::{LoginError, SESSION_ABSOLUTE_SECS};
use serde::Deserialize;

use super::{Meta, SESSION_COOKIE};
use crate::html::{escape, page};
use crate::{ApiContext, csrf};

#[derive(Deserialize)]
pub(super) struct ShowQuery {
    return_to: Option<String>,
    login_hint: Option<String>,
}

#[derive(Deserialize)]
pub(super) struct LoginForm {
    csrf: String,
    email: String,
    password: String,
    return_to: String,
}

/// Only a path back into this tenant's authorization endpoint is accepted as `return_to`.
fn safe_return_to(tenant: &str, r: &str) -> bool {
    let prefix = format!("/t/{tenant}/authorize?");
    r.starts_with(&prefix)
        && !r.contains('\\')
        && !r.chars().any(|c| c.is_control())
        && r.len() <= 4096
}

fn form(
    ctx: &ApiContext,
    tenant: &str,
    return_to: &str,
    email: &str,
    error: Option<&str>,
    status: StatusCode,
) -> Response {
    let path = format!("/t/{tenant}/");
    let (token, cookie) = csrf::issue(&*ctx.core.rng, ctx.secure_cookies(), &path);
    let err = error
        .map(|e| {
            format!(
                "<p class=\"error\" role=\"alert\" id=\"login-error\">{}</p>",
                escape(e)
            )
        })
        .unwrap_or_default();
    let body = format!(
        "<h1>Log in</h1>{err}\
         <form method=\"post\" action=\"/t/{t}/login\">\
         <input type=\"hidden\" name=\"csrf\" value=\"{csrf}\">\
         <input type=\"hidden\" name=\"return_to\" value=\"{rt}\">\
         <label for=\"email\">Email</label>\
         <input id=\"email\" name=\"email\" type=\"email\" autocomplete=\"username\" required autofocus value=\"{email}\"{described}>\
         <label for=\"password\">Password</label>\
         <input id=\"password\" name=\"password\" type=\"password\" autocomplete=\"current-password\" required>\
         <button type=\"submit\">Continue</button></form>",
        t = escape(tenant),
        csrf = escape(&token),
        rt = escape(return_to),
        email = escape(email),
        described = if error.is_some() {
            " aria-describedby=\"login-error\""
        } else {
            ""
        },
    );
    let mut resp = page(status, "Log in", &body);
    if let Some(c) = cookie {
        resp.headers_mut().append(header::SET_COOKIE, c);
    }
    resp
}

pub(super) async fn show(
    State(ctx): State<ApiContext>,
    Path(tenant): Path<String>,
    Query(q): Query<ShowQuery>,
) -> Response {
    let Ok(tenant) = ctx.core.tenant_by_slug(&tenant).await else {
        return crate::ApiError::not_found("tenant").into_response();
    };
    let slug = tenant.slug.as_str();
    match q.return_to.as_deref().filter(|r| safe_return_to(slug, r)) {
        Some(r) => form(
            &ctx,
            slug,
            r,
            q.login_hint.as_deref().unwrap_or(""),
            None,
            StatusCode::OK,
        ),
        None => page(
            StatusCode::BAD_REQUEST,
            "Nothing to log in to",
            "<h1>Start from your application</h1><p>Open the application you want to use; it will bring you here to log in.</p>",
        ),
    }
}

pub(super) async fn submit(
    State(ctx): State<ApiContext>,
    Path(tenant): Path<String>,
    Meta(meta): Meta,
    headers: HeaderMap,
    Form(f): Form<LoginForm>,
) -> Response {
    let Ok(tenant) = ctx.core.tenant_by_slug(&tenant).await else {
        return crate::ApiError::not_found("tenant").into_response();
    };
    let slug = tenant.slug.to_string();
    if !safe_return_to(&slug, &f.return_to) {
        return page(
            StatusCode::BAD_REQUEST,
            "Nothing to log in to",
            "<h1>Start from your application</h1>",
        );
    }
    if !csrf::verify(&headers, &f.csrf) {
        return form(
            &ctx,
            &slug,
            &f.return_to,
            &f.email,
            Some("This form expired. Please try again."),
            StatusCode::FORBIDDEN,
        );
    }
    match ctx
        .core
        .password_login(&tenant, &f.email, &f.password, &meta)
        .await
    {
        Ok((_session, value, _user)) => {
            let cookie = format!(
                "{SESSION_COOKIE}={value}; Path=/t/{slug}/; HttpOnly; SameSite=Lax; Max-Age={SESSION_ABSOLUTE_SECS}{}",
                if ctx.secure_cookies() { "; Secure" } else { "" }
            );
            let mut resp = Redirect::to(&f.return_to).into_response();
            if let Ok(v) = HeaderValue::from_str(&cookie) {
                resp.headers_mut().append(header::SET_COOKIE, v);
            }
            resp
        }
        Err(LoginError::WrongCredentials) => form(
            &ctx,
            &slug,
            &f.return_to,
            &f.email,
            Some("Wrong email or password."),
            StatusCode::UNAUTHORIZED,
        ),
        Err(LoginError::Blocked) => form(
            &ctx,
            &slug,
            &f.return_to,
            &f.email,
            Some("This account is blocked. Contact your administrator."),
            StatusCode::FORBIDDEN,
        ),
        Err(LoginError::Internal(e)) => crate::ApiError::from(e).into_response(),
    }
}

//! The one-time page on which the first administrator creates their account.

use axum::Router;
use axum::extract::{Form, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use clavis_core::CoreError;
use clavis_core::service::BootstrapAdmin;
use clavis_types::Email;
use serde::Deserialize;

use crate::html::{escape, page};
use crate::{ApiContext, csrf};

pub(crate) fn routes() -> Router<ApiContext> {
    Router::new().route("/bootstrap", get(show).post(submit))
}

#[derive(Deserialize)]
struct TokenQuery {
    token: Option<String>,
}

#[derive(Deserialize)]
struct BootstrapForm {
    token: String,
    csrf: String,
    email: String,
    password: String,
}

fn invalid_link() -> Response {
    page(
        StatusCode::NOT_FOUND,
        "Link expired",
        "<h1>This link cannot be used</h1><p>The bootstrap link has already been used or has \
         expired. If no administrator exists yet, restart Clavis and it will print a new link.</p>",
    )
}

fn form(
    ctx: &ApiContext,
    token: &str,
    email: &str,
    error: Option<&str>,
    status: StatusCode,
) -> Response {
    let (csrf, cookie) = csrf::issue(&*ctx.core.rng, ctx.secure_cookies(), "/bootstrap");
    let err = error
        .map(|e| format!("<p class=\"error\" role=\"alert\">{}</p>", escape(e)))
        .unwrap_or_default();
    let body = format!(
        "<h1>Create the first administrator</h1>\
         <p>This account administers Clavis. The link works once.</p>{err}\
         <form method=\"post\" action=\"/bootstrap\">\
         <input type=\"hidden\" name=\"token\" value=\"{}\">\
         <input type=\"hidden\" name=\"csrf\" value=\"{}\">\
         <label for=\"email\">Email</label>\
         <input id=\"email\" name=\"email\" type=\"email\" autocomplete=\"username\" required value=\"{}\">\
         <label for=\"password\">Password (at least 12 characters)</label>\
         <input id=\"password\" name=\"password\" type=\"password\" autocomplete=\"new-password\" minlength=\"12\" required>\
         <button type=\"submit\">Create administrator</button></form>",
        escape(token),
        escape(&csrf),
        escape(email)
    );
    let mut resp = page(status, "Set up Clavis", &body);
    if let Some(c) = cookie {
        resp.headers_mut().append(header::SET_COOKIE, c);
    }
    resp
}

async fn show(State(ctx): State<ApiContext>, Query(q): Query<TokenQuery>) -> Response {
    let Some(token) = q.token.filter(|t| !t.is_empty() && t.len() <= 128) else {
        return invalid_link();
    };
    match ctx.core.bootstrap_token_valid(&token).await {
        Ok(true) => form(&ctx, &token, "", None, StatusCode::OK),
        Ok(false) => invalid_link(),
        Err(e) => crate::ApiError::from(e).into_response(),
    }
}

async fn submit(
    State(ctx): State<ApiContext>,
    headers: HeaderMap,
    Form(f): Form<BootstrapForm>,
) -> Response {
    if !csrf::verify(&headers, &f.csrf) {
        return page(
            StatusCode::FORBIDDEN,
            "Form expired",
            "<h1>This form has expired</h1><p>Open the bootstrap link again and resubmit.</p>",
        );
    }
    let email = match Email::parse(&f.email) {
        Ok(e) => e,
        Err(e) => {
            return form(
                &ctx,
                &f.token,
                &f.email,
                Some(&e.to_string()),
                StatusCode::BAD_REQUEST,
            );
        }
    };
    let admin = BootstrapAdmin {
        email,
        password: f.password,
    };
    match ctx.core.complete_bootstrap(&f.token, admin).await {
        Ok(user) => {
            tracing::info!(user_id = %user.id, "first administrator created");
            page(
                StatusCode::OK,
                "Administrator created",
                &format!(
                    "<h1>Administrator created</h1><p>{} is now an administrator of the \
                     <code>default</code> tenant. Issuer: <code>{}</code></p>",
                    escape(user.email.as_ref().map(Email::as_str).unwrap_or_default()),
                    escape(&ctx.issuer("default"))
                ),
            )
        }
        Err(CoreError::Invalid { field, reason }) if field == "token" => {
            tracing::warn!(%reason, "bootstrap token refused");
            invalid_link()
        }
        Err(CoreError::Invalid { reason, .. }) => form(
            &ctx,
            &f.token,
            &f.email,
            Some(&reason),
            StatusCode::BAD_REQUEST,
        ),
        Err(e) => crate::ApiError::from(e).into_response(),
    }
}

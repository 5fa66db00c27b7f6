//! RP-initiated logout (OIDC RP-Initiated Logout 1.0). `post_logout_redirect_uri` must
//! exactly match one of the client's registered logout URLs. With a valid `id_token_hint`
//! the session ends at once; otherwise the user confirms on a CSRF-protected page.

use axum::extract::{Form, Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use clavis_core::oauth::{OAuthError, redirect_with};
use clavis_types::{ClientId, SessionId};
use serde::Deserialize;

use super::authorize::error_page;
use super::{Meta, SESSION_COOKIE, cookie};
use crate::html::{escape, page};
use crate::{ApiContext, csrf};

#[derive(Deserialize, Default)]
pub(super) struct LogoutParams {
    id_token_hint: Option<String>,
    post_logout_redirect_uri: Option<String>,
    client_id: Option<String>,
    state: Option<String>,
    csrf: Option<String>,
}

fn clear_cookie(slug: &str) -> HeaderValue {
    HeaderValue::from_str(&format!(
        "{SESSION_COOKIE}=; Path=/t/{slug}/; HttpOnly; SameSite=Lax; Max-Age=0"
    ))
    .unwrap_or_else(|_| HeaderValue::from_static(""))
}

/// Validate the redirect target; `Ok(None)` when none was asked for.
async fn target(
    ctx: &ApiContext,
    tenant: &clavis_core::model::Tenant,
    client_id: Option<String>,
    p: &LogoutParams,
) -> Result<Option<String>, OAuthError> {
    let Some(uri) = p.post_logout_redirect_uri.clone() else {
        return Ok(None);
    };
    let client = client_id
        .and_then(|c| ClientId::parse(&c).ok())
        .ok_or_else(|| {
            OAuthError::invalid_request("post_logout_redirect_uri needs client_id or id_token_hint")
        })?;
    let mut tx = ctx.core.store.read().await.map_err(OAuthError::from)?;
    let app = tx
        .app_get(&tenant.id, &client)
        .await
        .map_err(OAuthError::from)?
        .ok_or_else(|| OAuthError::invalid_request("unknown client"))?;
    if !app.logout_urls.contains(&uri) {
        return Err(OAuthError::invalid_request(
            "post_logout_redirect_uri is not registered for this client",
        ));
    }
    let mut params = Vec::new();
    if let Some(s) = p.state.as_deref() {
        params.push(("state", s));
    }
    Ok(Some(redirect_with(&uri, &params)))
}

async fn finish(
    ctx: &ApiContext,
    tenant: &clavis_core::model::Tenant,
    headers: &HeaderMap,
    meta: &clavis_core::service::RequestMeta,
    to: Option<String>,
) -> Response {
    if let Some(c) = cookie(headers, SESSION_COOKIE)
        && let Ok(Some((s, u))) = ctx.core.session_from_cookie(tenant, &c).await
        && let Err(e) = ctx
            .core
            .end_session(&tenant.id, &s.id, u.id.as_str(), meta)
            .await
    {
        return crate::ApiError::from(e).into_response();
    }
    let mut resp = match to {
        Some(url) => Redirect::to(&url).into_response(),
        None => page(
            StatusCode::OK,
            "Logged out",
            "<h1>You are logged out</h1><p>You can close this window.</p>",
        ),
    };
    resp.headers_mut()
        .append(header::SET_COOKIE, clear_cookie(tenant.slug.as_str()));
    resp
}

pub(super) async fn start(
    state: State<ApiContext>,
    tenant: Path<String>,
    meta: Meta,
    headers: HeaderMap,
    Query(p): Query<LogoutParams>,
) -> Response {
    begin(state, tenant, meta, headers, p).await
}

/// A logout request (GET, or a POST from the relying party): end the session at once when
/// a valid `id_token_hint` names it, otherwise ask the user.
async fn begin(
    State(ctx): State<ApiContext>,
    Path(tenant): Path<String>,
    Meta(meta): Meta,
    headers: HeaderMap,
    p: LogoutParams,
) -> Response {
    let Ok(tenant) = ctx.core.tenant_by_slug(&tenant).await else {
        return error_page(&OAuthError::invalid_request("unknown tenant"));
    };
    let issuer = ctx.issuer(tenant.slug.as_str());
    let hint = match p.id_token_hint.as_deref() {
        Some(h) => match ctx.core.verify_id_token_hint(&tenant, &issuer, h).await {
            Ok(c) => Some(c),
            Err(e) => return error_page(&e),
        },
        None => None,
    };
    let hinted_client = hint
        .as_ref()
        .and_then(|c| c.get("aud"))
        .and_then(|a| a.as_str())
        .map(str::to_owned);
    if let (Some(h), Some(c)) = (&hinted_client, &p.client_id)
        && h != c
    {
        return error_page(&OAuthError::invalid_request(
            "client_id does not match id_token_hint",
        ));
    }
    let to = match target(&ctx, &tenant, hinted_client.or(p.client_id.clone()), &p).await {
        Ok(t) => t,
        Err(e) => return error_page(&e),
    };
    // The hint must name the session being ended; otherwise ask the user.
    let sid_matches = match (
        hint.as_ref()
            .and_then(|c| c.get("sid"))
            .and_then(|s| s.as_str()),
        cookie(&headers, SESSION_COOKIE),
    ) {
        (Some(sid), Some(c)) => c
            .split('.')
            .next()
            .and_then(|id| SessionId::parse(id).ok())
            .is_some_and(|id| id.as_str() == sid),
        _ => false,
    };
    if sid_matches {
        return finish(&ctx, &tenant, &headers, &meta, to).await;
    }
    let (token, csrf_cookie) = csrf::issue(
        &*ctx.core.rng,
        ctx.secure_cookies(),
        &format!("/t/{}/", tenant.slug),
    );
    let hidden = |name: &str, v: &Option<String>| {
        v.as_ref()
            .map(|v| {
                format!(
                    "<input type=\"hidden\" name=\"{name}\" value=\"{}\">",
                    escape(v)
                )
            })
            .unwrap_or_default()
    };
    let body = format!(
        "<h1>Log out?</h1><p>Do you want to log out of your account?</p>\
         <form method=\"post\" action=\"/t/{}/oidc/logout\"><input type=\"hidden\" name=\"csrf\" value=\"{}\">{}{}{}\
         <button type=\"submit\">Log out</button></form>",
        escape(tenant.slug.as_str()),
        escape(&token),
        hidden("post_logout_redirect_uri", &p.post_logout_redirect_uri),
        hidden(
            "client_id",
            &p.client_id.clone().or_else(|| hint
                .as_ref()
                .and_then(|c| c.get("aud"))
                .and_then(|a| a.as_str())
                .map(str::to_owned))
        ),
        hidden("state", &p.state),
    );
    let mut resp = page(StatusCode::OK, "Log out", &body);
    if let Some(c) = csrf_cookie {
        resp.headers_mut().append(header::SET_COOKIE, c);
    }
    resp
}

pub(super) async fn confirm(
    State(ctx): State<ApiContext>,
    Path(tenant): Path<String>,
    Meta(meta): Meta,
    headers: HeaderMap,
    Form(p): Form<LogoutParams>,
) -> Response {
    let Ok(tenant) = ctx.core.tenant_by_slug(&tenant).await else {
        return error_page(&OAuthError::invalid_request("unknown tenant"));
    };
    // A POST from the relying party (RP-Initiated Logout §2) carries no CSRF field of
    // ours: treat it like the GET form of the request.
    if p.csrf.is_none() {
        return begin(
            State(ctx),
            Path(tenant.slug.to_string()),
            Meta(meta),
            headers,
            p,
        )
        .await;
    }
    if !csrf::verify(&headers, p.csrf.as_deref().unwrap_or("")) {
        return page(
            StatusCode::FORBIDDEN,
            "Form expired",
            "<h1>This form has expired</h1><p>Go back to the application and log out again.</p>",
        );
    }
    let to = match target(&ctx, &tenant, p.client_id.clone(), &p).await {
        Ok(t) => t,
        Err(e) => return error_page(&e),
    };
    finish(&ctx, &tenant, &headers, &meta, to).await
}

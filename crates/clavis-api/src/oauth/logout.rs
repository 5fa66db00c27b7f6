//! RP-initiated logout (OIDC RP-Initiated Logout 1.0). `post_logout_redirect_uri` must
//! exactly match one of the client's registered logout URLs. With a valid `id_token_hint`
//! the session ends at once; otherwise the user confirms on a CSRF-protected page (rendered
//! by the hosted pages, [`crate::HostedPages`]).

use axum::Extension;
use axum::extract::{Form, Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, Uri, header};
use axum::response::{IntoResponse, Redirect, Response};
use clavis_core::model::Tenant;
use clavis_core::oauth::{OAuthError, redirect_with};
use clavis_types::{ClientId, SessionId};
use serde::Deserialize;

use super::{Meta, SESSION_COOKIE, cookie};
use crate::pages::{ApiPage, Pages};
use crate::{ApiContext, csrf};

/// The request as the pages see it.
type Req<'a> = (&'a HeaderMap, &'a Uri);

async fn show(pages: &Pages, tenant: Option<&Tenant>, req: Req<'_>, p: ApiPage) -> Response {
    pages.0.render(tenant, req.0, req.1, p).await
}

async fn error_page(
    pages: &Pages,
    tenant: Option<&Tenant>,
    req: Req<'_>,
    e: OAuthError,
) -> Response {
    show(pages, tenant, req, ApiPage::RequestError(e)).await
}

#[derive(Deserialize, Default)]
pub(super) struct LogoutParams {
    id_token_hint: Option<String>,
    post_logout_redirect_uri: Option<String>,
    client_id: Option<String>,
    state: Option<String>,
    csrf: Option<String>,
}

/// The `Set-Cookie` that removes the session cookie: exactly the attributes of
/// [`super::session_cookie`] (`Secure` included over https) with an empty value and
/// `Max-Age=0`.
fn clear_cookie(secure: bool, slug: &str) -> HeaderValue {
    let lifetime = format!("; Max-Age={};", clavis_core::oauth::SESSION_ABSOLUTE_SECS);
    super::session_cookie(secure, slug, "")
        .and_then(|c| c.to_str().ok().map(|c| format!("{c};")))
        .map(|c| c.replacen(&lifetime, "; Max-Age=0;", 1))
        .and_then(|c| HeaderValue::from_str(c.trim_end_matches(';')).ok())
        .unwrap_or_else(|| HeaderValue::from_static(""))
}

/// Validate the redirect target; `Ok(None)` when none was asked for.
async fn target(
    ctx: &ApiContext,
    tenant: &Tenant,
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
    pages: &Pages,
    tenant: &Tenant,
    req: Req<'_>,
    meta: &clavis_core::service::RequestMeta,
    to: Option<String>,
) -> Response {
    if let Some(c) = cookie(req.0, SESSION_COOKIE)
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
        None => show(pages, Some(tenant), req, ApiPage::LoggedOut).await,
    };
    resp.headers_mut().append(
        header::SET_COOKIE,
        clear_cookie(ctx.secure_cookies(), tenant.slug.as_str()),
    );
    resp
}

pub(super) async fn start(
    state: State<ApiContext>,
    pages: Extension<Pages>,
    tenant: Path<String>,
    meta: (Meta, crate::Served),
    headers: HeaderMap,
    uri: Uri,
    Query(p): Query<LogoutParams>,
) -> Response {
    begin(state, pages, tenant, meta, (headers, uri), p).await
}

/// A logout request (GET, or a POST from the relying party): end the session at once when
/// a valid `id_token_hint` names it, otherwise ask the user.
async fn begin(
    State(ctx): State<ApiContext>,
    Extension(pages): Extension<Pages>,
    Path(tenant): Path<String>,
    (Meta(meta), served): (Meta, crate::Served),
    (headers, uri): (HeaderMap, Uri),
    p: LogoutParams,
) -> Response {
    let req = (&headers, &uri);
    let Ok(tenant) = ctx.core.tenant_by_slug(&tenant).await else {
        let e = OAuthError::invalid_request("unknown tenant");
        return error_page(&pages, None, req, e).await;
    };
    let issuer = ctx.request_issuer(tenant.slug.as_str(), &served);
    let hint = match p.id_token_hint.as_deref() {
        Some(h) => match ctx.core.verify_id_token_hint(&tenant, &issuer, h).await {
            Ok(c) => Some(c),
            Err(e) => return error_page(&pages, Some(&tenant), req, e).await,
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
        let e = OAuthError::invalid_request("client_id does not match id_token_hint");
        return error_page(&pages, Some(&tenant), req, e).await;
    }
    let client = hinted_client.or(p.client_id.clone());
    let to = match target(&ctx, &tenant, client.clone(), &p).await {
        Ok(t) => t,
        Err(e) => return error_page(&pages, Some(&tenant), req, e).await,
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
        return finish(&ctx, &pages, &tenant, req, &meta, to).await;
    }
    let (token, csrf_cookie) = csrf::issue_or_reuse(
        &*ctx.core.rng,
        ctx.secure_cookies(),
        &format!("/t/{}/", tenant.slug),
        csrf::token_of(&headers).as_deref(),
    );
    let fields = [
        ("post_logout_redirect_uri", p.post_logout_redirect_uri),
        ("client_id", client),
        ("state", p.state),
    ]
    .into_iter()
    .filter_map(|(k, v)| v.map(|v| (k, v)))
    .collect();
    let page = ApiPage::LogoutConfirm {
        csrf: token,
        fields,
    };
    let mut resp = show(&pages, Some(&tenant), req, page).await;
    if let Some(c) = csrf_cookie {
        resp.headers_mut().append(header::SET_COOKIE, c);
    }
    resp
}

pub(super) async fn confirm(
    State(ctx): State<ApiContext>,
    Extension(pages): Extension<Pages>,
    Path(tenant): Path<String>,
    (Meta(meta), served): (Meta, crate::Served),
    headers: HeaderMap,
    uri: Uri,
    Form(p): Form<LogoutParams>,
) -> Response {
    let req = (&headers, &uri);
    let Ok(tenant) = ctx.core.tenant_by_slug(&tenant).await else {
        let e = OAuthError::invalid_request("unknown tenant");
        return error_page(&pages, None, req, e).await;
    };
    // A POST from the relying party (RP-Initiated Logout §2) carries no CSRF field of
    // ours: treat it like the GET form of the request.
    if p.csrf.is_none() {
        return begin(
            State(ctx),
            Extension(pages),
            Path(tenant.slug.to_string()),
            (Meta(meta), served),
            (headers, uri),
            p,
        )
        .await;
    }
    if !csrf::verify(&headers, p.csrf.as_deref().unwrap_or("")) {
        return show(&pages, Some(&tenant), req, ApiPage::FormExpired).await;
    }
    let to = match target(&ctx, &tenant, p.client_id.clone(), &p).await {
        Ok(t) => t,
        Err(e) => return error_page(&pages, Some(&tenant), req, e).await,
    };
    finish(&ctx, &pages, &tenant, req, &meta, to).await
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    /// The attributes of a `Set-Cookie` value, without the value and `Max-Age`.
    fn attributes(c: &HeaderValue) -> Vec<String> {
        c.to_str()
            .unwrap()
            .split("; ")
            .skip(1)
            .filter(|a| !a.starts_with("Max-Age="))
            .map(str::to_owned)
            .collect()
    }

    #[test]
    fn the_cleared_cookie_has_the_session_cookies_attributes() {
        for secure in [true, false] {
            let set = super::super::session_cookie(secure, "acme", "ses_x.y").unwrap();
            let clear = clear_cookie(secure, "acme");
            assert_eq!(attributes(&clear), attributes(&set));
            let clear = clear.to_str().unwrap();
            assert!(
                clear.starts_with(&format!("{SESSION_COOKIE}=; ")),
                "{clear}"
            );
            assert!(clear.contains("; Max-Age=0"), "{clear}");
            assert_eq!(clear.ends_with("; Secure"), secure, "{clear}");
        }
    }
}

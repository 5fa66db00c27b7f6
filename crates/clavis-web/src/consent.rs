//! Consent (`GET/POST /consent?return_to=…`): the application's name and the scopes it
//! asks for, in words; "Allow" records the agreement and returns to the authorization
//! request, "Deny" sends `access_denied` to the client's validated redirect URI.

use axum::extract::{Form, Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use clavis_api::Meta;
use clavis_core::Core;
use clavis_core::model::{Tenant, User};
use clavis_core::oauth::{ErrorCode, OAuthError, ValidAuthorize};
use clavis_core::service::lifecycle::ScopeWords;
use minijinja::context;
use serde::Deserialize;

use crate::flow::{Flow, link, see_other};
use crate::web::{Chrome, Page, WebState};

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct ConsentQuery {
    return_to: Option<String>,
    ui_locales: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct ConsentForm {
    csrf: String,
    return_to: Option<String>,
    decision: String,
}

/// A consent page needs a valid authorization request and a logged-in user.
struct Ready {
    tenant: std::sync::Arc<Tenant>,
    flow: Flow,
    v: ValidAuthorize,
    user: User,
    chrome: Chrome,
}

async fn setup(
    web: &WebState,
    slug: &str,
    headers: &HeaderMap,
    return_to: Option<&str>,
    query_locale: Option<&str>,
) -> Result<Ready, Response> {
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
            "/consent",
            query,
        )
        .await;
    let Some((flow, v)) = flow.and_then(|f| {
        let v = f.valid.clone()?;
        Some((f, v))
    }) else {
        return Err(web.error(&chrome, StatusCode::BAD_REQUEST, "no_app", None, None));
    };
    let Some((_, user)) = web.session(&tenant, headers).await? else {
        return Err(see_other(&link(
            &format!("{}/login", chrome.base),
            &[("return_to", Some(&flow.return_to))],
        )));
    };
    Ok(Ready {
        tenant,
        flow,
        v,
        user,
        chrome,
    })
}

fn words(chrome: &Chrome, v: &ValidAuthorize, scope: &str) -> String {
    match Core::describe_scope(v, scope) {
        ScopeWords::Key(k) => chrome.text(k, &[]),
        ScopeWords::Text(t) => t,
    }
}

/// `GET /consent?return_to=…`
pub async fn show(
    State(web): State<WebState>,
    Path(slug): Path<String>,
    headers: HeaderMap,
    Query(q): Query<ConsentQuery>,
) -> Response {
    let r = match setup(
        &web,
        &slug,
        &headers,
        q.return_to.as_deref(),
        q.ui_locales.as_deref(),
    )
    .await
    {
        Ok(r) => r,
        Err(resp) => return resp,
    };
    let asked = match web.ctx.core.consent_needed(&r.tenant, &r.v, &r.user).await {
        // Sent here by the authorization endpoint (or `prompt=consent`): show everything
        // the request asks for when nothing new is missing.
        Ok(Some(scopes)) if !scopes.is_empty() => scopes,
        Ok(_) => r.v.scopes.clone(),
        Err(e) => return web.internal(Some(&r.tenant), &headers, &e).await,
    };
    let scopes: Vec<String> = asked.iter().map(|s| words(&r.chrome, &r.v, s)).collect();
    let app = r.v.app.name.clone();
    let email = r
        .user
        .email
        .as_ref()
        .map(|e| e.to_string())
        .unwrap_or_default();
    let page = Page::new(
        "consent.html",
        r.chrome.text("consent.title", &[("app", &app)]),
        context! {
            return_to => r.flow.return_to.clone(),
            app => app,
            email => email,
            scopes => scopes,
        },
    )
    .form();
    web.render(&r.chrome, page)
}

/// `POST /consent`: `decision=accept` or `decision=deny`.
pub async fn submit(
    State(web): State<WebState>,
    Path(slug): Path<String>,
    Meta(meta): Meta,
    served: clavis_api::Served,
    headers: HeaderMap,
    Form(f): Form<ConsentForm>,
) -> Response {
    let r = match setup(&web, &slug, &headers, f.return_to.as_deref(), None).await {
        Ok(r) => r,
        Err(resp) => return resp,
    };
    if let Some(resp) = web.csrf_refused(&r.chrome, &headers, &f.csrf) {
        return resp;
    }
    match f.decision.as_str() {
        "accept" => match web
            .ctx
            .core
            .grant_consent(&r.tenant, &r.v, &r.user, &meta)
            .await
        {
            Ok(()) => see_other(&r.flow.return_to),
            Err(e) => web.internal(Some(&r.tenant), &headers, &e).await,
        },
        "deny" => {
            let issuer = web.ctx.request_issuer(r.tenant.slug.as_str(), &served);
            let e = OAuthError::new(ErrorCode::AccessDenied, "the user declined the request");
            let mut resp =
                clavis_api::error_redirect(&issuer, &r.v.redirect_uri, r.v.state.as_deref(), &e);
            resp.headers_mut().insert(
                axum::http::header::CACHE_CONTROL,
                axum::http::HeaderValue::from_static("no-store"),
            );
            resp
        }
        // No decision: ask again.
        _ => see_other(&link(
            &format!("{}/consent", r.chrome.base),
            &[("return_to", Some(&r.flow.return_to))],
        )),
    }
}

//! Discovery and userinfo.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};

use super::OAuthJson;
use crate::{ApiContext, ApiError};
use clavis_core::oauth::OAuthError;

pub(super) async fn discovery(
    State(ctx): State<ApiContext>,
    Path(tenant): Path<String>,
    served: crate::Served,
) -> Result<Response, ApiError> {
    let tenant = ctx.core.tenant_by_slug(&tenant).await?;
    let issuer = ctx.request_issuer(tenant.slug.as_str(), &served);
    let doc = ctx.core.discovery(&tenant, &issuer).await.map_err(|e| {
        ApiError::new(
            axum::http::StatusCode::SERVICE_UNAVAILABLE,
            "temporarily_unavailable",
            e.description,
        )
    })?;
    let mut resp = axum::Json(doc).into_response();
    resp.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=300"),
    );
    Ok(resp)
}

pub(super) async fn userinfo(
    State(ctx): State<ApiContext>,
    Path(tenant): Path<String>,
    served: crate::Served,
    headers: HeaderMap,
) -> Result<Response, OAuthJson> {
    let tenant = ctx
        .core
        .tenant_by_slug(&tenant)
        .await
        .map_err(|_| OAuthError::invalid_token("unknown tenant"))?;
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, t)| t.trim().to_owned())
        .ok_or_else(|| OAuthError::invalid_token("a bearer access token is required"))?;
    let issuer = ctx.request_issuer(tenant.slug.as_str(), &served);
    let claims = ctx.core.userinfo(&tenant, &issuer, &token).await?;
    let mut resp = axum::Json(claims).into_response();
    resp.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(resp)
}

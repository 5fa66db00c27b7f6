//! Per-tenant public documents under the issuer `{public_url}/t/{tenant}`.

use axum::extract::{Path, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};

use clavis_core::service::JWKS_MAX_AGE_SECS;

use crate::{ApiContext, ApiError};

pub(crate) fn routes() -> Router<ApiContext> {
    Router::new()
        .route("/t/{tenant}/.well-known/jwks.json", get(jwks))
        .route("/t/{tenant}/.well-known/audit-keys.json", get(audit_keys))
}

/// The tenant's JWKS: the next key (published before it signs), the active key, and
/// retired keys until tokens they signed have expired.
async fn jwks(
    State(ctx): State<ApiContext>,
    Path(tenant): Path<String>,
) -> Result<Response, ApiError> {
    let tenant = ctx.core.tenant_by_slug(&tenant).await?;
    let set = ctx.core.jwks(&tenant).await?;
    let cache = format!("public, max-age={JWKS_MAX_AGE_SECS}");
    Ok(([(header::CACHE_CONTROL, cache)], Json(set)).into_response())
}

/// Every public key the tenant ever signed with (retired ones included, revoked ones not),
/// so audit checkpoints and exports signed years ago still verify offline.
async fn audit_keys(
    State(ctx): State<ApiContext>,
    Path(tenant): Path<String>,
) -> Result<Response, ApiError> {
    let tenant = ctx.core.tenant_by_slug(&tenant).await?;
    let set = ctx.core.audit_keys(&tenant).await?;
    let cache = format!("public, max-age={JWKS_MAX_AGE_SECS}");
    Ok(([(header::CACHE_CONTROL, cache)], Json(set)).into_response())
}

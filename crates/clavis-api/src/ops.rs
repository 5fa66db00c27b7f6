//! Operations endpoints: liveness, readiness, Prometheus metrics.

use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::json;

use crate::ApiContext;

pub(crate) fn routes() -> Router<ApiContext> {
    Router::new()
        .route("/health", get(health))
        .route("/ready", get(ready))
        .route("/metrics", get(metrics))
}

/// Liveness: the process serves HTTP.
async fn health() -> Json<serde_json::Value> {
    Json(json!({ "status": "ok" }))
}

/// Readiness: the database answers and its schema is the one this binary expects.
async fn ready(State(ctx): State<ApiContext>) -> Response {
    match ctx.core.store.schema_status().await {
        Ok(s) if s.is_current() => Json(json!({
            "status": "ready",
            "database": ctx.core.store.backend(),
            "schema_version": s.applied,
        }))
        .into_response(),
        Ok(s) => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({
                "status": "not_ready",
                "reason": format!("schema version {} but this binary expects {}", s.applied, s.latest),
            })),
        )
            .into_response(),
        Err(e) => {
            tracing::warn!(error = %e, "readiness check failed");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(json!({ "status": "not_ready", "reason": "database unreachable" })),
            )
                .into_response()
        }
    }
}

async fn metrics(State(ctx): State<ApiContext>) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        ctx.metrics
            .render_with_rate_fallbacks(ctx.core.rate_fallbacks.count()),
    )
        .into_response()
}

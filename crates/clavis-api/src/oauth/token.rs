//! `POST /oauth/token`, `/oauth/introspect`, `/oauth/revoke`: form bodies, client
//! authentication from the `Authorization` header or the form.

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use clavis_core::oauth::{
    ClientAuth, Endpoint, ErrorCode, JWT_BEARER_ASSERTION, OAuthError, TokenRequest,
};
use std::collections::HashMap;

use super::{Meta, OAuthJson, single_params};
use crate::ApiContext;

type Params = Result<Bytes, BytesRejection>;

const NOT_A_FORM: &str = "the body must be application/x-www-form-urlencoded";

/// The form body (RFC 6749 §3.2: `application/x-www-form-urlencoded`), each parameter once.
fn form(headers: &HeaderMap, p: Params) -> Result<HashMap<String, String>, OAuthJson> {
    let is_form = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|essence| {
            essence
                .trim()
                .eq_ignore_ascii_case("application/x-www-form-urlencoded")
        });
    if !is_form {
        return Err(OAuthError::invalid_request(NOT_A_FORM).into());
    }
    let body = p.map_err(|r| {
        if r.status() == StatusCode::PAYLOAD_TOO_LARGE {
            OAuthJson::with_status(
                OAuthError::invalid_request(format!(
                    "the body is larger than {} bytes",
                    crate::MAX_BODY_BYTES
                )),
                StatusCode::PAYLOAD_TOO_LARGE,
            )
        } else {
            OAuthError::invalid_request(NOT_A_FORM).into()
        }
    })?;
    Ok(single_params(
        url::form_urlencoded::parse(&body).into_owned(),
    )?)
}

fn percent_decode(s: &str) -> Option<String> {
    url::form_urlencoded::parse(format!("x={s}").as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
}

/// Client credentials from `Authorization: Basic` (RFC 6749 §2.3.1: both parts
/// form-urlencoded) or from the form.
fn client_auth(
    headers: &HeaderMap,
    f: &mut HashMap<String, String>,
) -> Result<ClientAuth, OAuthError> {
    let basic = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            let (scheme, rest) = v.split_once(' ')?;
            scheme
                .eq_ignore_ascii_case("basic")
                .then(|| rest.trim().to_owned())
        });
    let methods = usize::from(basic.is_some())
        + usize::from(f.contains_key("client_secret"))
        + usize::from(f.contains_key("client_assertion"));
    if methods > 1 {
        return Err(OAuthError::invalid_request(
            "use exactly one client authentication method",
        ));
    }
    if let Some(b64) = basic {
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(b64)
            .ok()
            .and_then(|b| String::from_utf8(b).ok())
            .ok_or_else(|| OAuthError::invalid_client("malformed Basic credentials"))?;
        let (id, secret) = decoded
            .split_once(':')
            .ok_or_else(|| OAuthError::invalid_client("malformed Basic credentials"))?;
        let id = percent_decode(id)
            .ok_or_else(|| OAuthError::invalid_client("malformed Basic credentials"))?;
        let secret = percent_decode(secret)
            .ok_or_else(|| OAuthError::invalid_client("malformed Basic credentials"))?;
        if f.get("client_id").is_some_and(|c| *c != id) {
            return Err(OAuthError::invalid_request(
                "client_id differs from the authenticated client",
            ));
        }
        return Ok(ClientAuth::Basic {
            client_id: id,
            secret,
        });
    }
    if let Some(assertion) = f.remove("client_assertion") {
        if f.remove("client_assertion_type").as_deref() != Some(JWT_BEARER_ASSERTION) {
            return Err(OAuthError::invalid_request(format!(
                "client_assertion_type must be {JWT_BEARER_ASSERTION}"
            )));
        }
        return Ok(ClientAuth::Assertion {
            assertion,
            client_id: f.get("client_id").cloned(),
        });
    }
    let client_id = f
        .get("client_id")
        .cloned()
        .ok_or_else(|| OAuthError::invalid_client("client authentication is required"))?;
    match f.remove("client_secret") {
        Some(secret) => Ok(ClientAuth::Post { client_id, secret }),
        None => Ok(ClientAuth::None { client_id }),
    }
}

fn no_store(mut resp: Response) -> Response {
    let h = resp.headers_mut();
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    resp
}

/// What every client-authenticated endpoint starts with: the tenant, the form (each
/// parameter once), the client's credentials, and the endpoint's issuer and URL.
struct Prepared {
    tenant: std::sync::Arc<clavis_core::model::Tenant>,
    form: HashMap<String, String>,
    auth: ClientAuth,
    issuer: String,
    url: String,
}

impl Prepared {
    async fn new(
        ctx: &ApiContext,
        tenant: &str,
        path: &str,
        headers: &HeaderMap,
        params: Params,
        served: &crate::Served,
    ) -> Result<Self, OAuthJson> {
        let tenant = ctx
            .core
            .tenant_by_slug(tenant)
            .await
            .map_err(|_| OAuthError::invalid_request("unknown tenant"))?;
        let mut form = form(headers, params)?;
        let auth = client_auth(headers, &mut form).map_err(OAuthJson::from)?;
        let issuer = ctx.request_issuer(tenant.slug.as_str(), served);
        let url = format!("{issuer}{path}");
        Ok(Self {
            tenant,
            form,
            auth,
            issuer,
            url,
        })
    }

    fn at(&self) -> Endpoint<'_> {
        Endpoint {
            issuer: &self.issuer,
            url: &self.url,
        }
    }

    fn token_param(&mut self) -> Result<String, OAuthError> {
        self.form
            .remove("token")
            .ok_or_else(|| OAuthError::invalid_request("token is required"))
    }
}

pub(super) async fn token(
    State(ctx): State<ApiContext>,
    Path(tenant): Path<String>,
    Meta(meta): Meta,
    served: crate::Served,
    headers: HeaderMap,
    params: Params,
) -> Result<Response, OAuthJson> {
    let mut p = Prepared::new(&ctx, &tenant, "/oauth/token", &headers, params, &served).await?;
    let f = &mut p.form;
    let req = TokenRequest {
        grant_type: f
            .remove("grant_type")
            .ok_or_else(|| OAuthError::invalid_request("grant_type is required"))?,
        code: f.remove("code"),
        redirect_uri: f.remove("redirect_uri"),
        code_verifier: f.remove("code_verifier"),
        refresh_token: f.remove("refresh_token"),
        scope: f.remove("scope"),
        audience: f.remove("audience"),
        organization: f.remove("organization"),
    };
    match ctx
        .core
        .token(&p.tenant, p.at(), &p.auth, &req, &meta)
        .await
    {
        Ok(resp) => Ok(no_store(axum::Json(resp).into_response())),
        Err(e) => Ok(rate_limited(e)),
    }
}

/// An OAuth error as a response; a rate limit (`too_many_requests`, HTTP 429) carries
/// `Retry-After`.
fn rate_limited(e: OAuthError) -> Response {
    let retry_after =
        (e.code == ErrorCode::TooManyRequests).then(|| e.retry_after_secs.unwrap_or(1).max(1));
    let mut resp = OAuthJson::from(e).into_response();
    if let Some(secs) = retry_after {
        resp.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(secs));
    }
    resp
}

pub(super) async fn introspect(
    State(ctx): State<ApiContext>,
    Path(tenant): Path<String>,
    Meta(meta): Meta,
    served: crate::Served,
    headers: HeaderMap,
    params: Params,
) -> Result<Response, OAuthJson> {
    let mut p = Prepared::new(
        &ctx,
        &tenant,
        "/oauth/introspect",
        &headers,
        params,
        &served,
    )
    .await?;
    let token = p.token_param()?;
    let out = ctx
        .core
        .introspect(&p.tenant, p.at(), &p.auth, &token, &meta)
        .await?;
    Ok(no_store(axum::Json(out).into_response()))
}

pub(super) async fn revoke(
    State(ctx): State<ApiContext>,
    Path(tenant): Path<String>,
    Meta(meta): Meta,
    served: crate::Served,
    headers: HeaderMap,
    params: Params,
) -> Result<Response, OAuthJson> {
    let mut p = Prepared::new(&ctx, &tenant, "/oauth/revoke", &headers, params, &served).await?;
    let token = p.token_param()?;
    ctx.core
        .revoke(&p.tenant, p.at(), &p.auth, &token, &meta)
        .await?;
    Ok(no_store(StatusCode::OK.into_response()))
}

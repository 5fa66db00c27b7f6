//! What the page handlers share: the tenant of the path, the authorization request a
//! page continues (`return_to`, accepted only as a path back into this tenant's
//! `/authorize?`), the logged-in user, CSRF and rate-limit checks, and the responses
//! every handler may end with (redirects, error pages). Nothing user-controlled reaches a
//! header unencoded: redirect targets are built with URL encoders from checked parts.

use std::collections::HashMap;
use std::sync::Arc;

use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use clavis_api::{SESSION_COOKIE, authorize_params, cookie, safe_return_to};
use clavis_core::CoreError;
use clavis_core::model::{Session, Tenant, User};
use clavis_core::oauth::{AuthorizeError, ValidAuthorize};
use clavis_core::service::{RequestMeta, Throttle};

use crate::web::{Chrome, ChromeInput, Web};

/// Longest email address accepted by the forms (RFC 5321 path limit).
pub const MAX_EMAIL_CHARS: usize = 320;

/// The authorization request a page continues.
#[derive(Debug, Clone)]
pub struct Flow {
    /// `/t/{tenant}/authorize?…`, checked by [`safe_return_to`].
    pub return_to: String,
    /// The request, when it is (still) valid.
    pub valid: Option<ValidAuthorize>,
    /// Its validated redirect URI (also when the request is invalid in a way that is sent
    /// back to the client).
    pub redirect_uri: Option<String>,
    /// `ui_locales` of the request.
    pub ui_locales: Option<String>,
}

impl Flow {
    /// The `organization` parameter added (home-realm discovery), unless the request
    /// names one already or its application does not log in to organizations.
    /// The request again in the organization a home-realm discovery found, when that is
    /// safe to do: the request names no organization, and either the application requires
    /// one or the user becomes a member by logging in (`joins`) — otherwise a non-member
    /// at that domain would be refused by an application that does not need organizations.
    pub fn with_organization(&self, org_id: &str, joins: bool) -> Option<String> {
        use clavis_types::OrganizationUsage;
        let v = self.valid.as_ref()?;
        let wanted = match v.app.organization_usage {
            OrganizationUsage::Require => true,
            OrganizationUsage::Allow => joins,
            OrganizationUsage::Deny => false,
        };
        if v.org.is_some() || !wanted {
            return None;
        }
        let (path, query) = self.return_to.split_once('?')?;
        let mut pairs: Vec<(String, String)> = url::form_urlencoded::parse(query.as_bytes())
            .into_owned()
            .filter(|(k, _)| k != "organization")
            .collect();
        pairs.push(("organization".to_owned(), org_id.to_owned()));
        let q = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(&pairs)
            .finish();
        Some(format!("{path}?{q}"))
    }
}

/// A page handler's early exit.
pub type Exit = Response;

/// `url` with its query built from the present parameters.
pub fn link(path: &str, params: &[(&str, Option<&str>)]) -> String {
    let mut q = url::form_urlencoded::Serializer::new(String::new());
    let mut any = false;
    for (k, v) in params {
        if let Some(v) = v {
            q.append_pair(k, v);
            any = true;
        }
    }
    if any {
        format!("{path}?{}", q.finish())
    } else {
        path.to_owned()
    }
}

/// 303 See Other to a path of this server (built by [`link`] or checked by
/// [`safe_return_to`]), never cached.
pub fn see_other(to: &str) -> Response {
    let mut resp = Redirect::to(to).into_response();
    resp.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp
}

impl Web {
    /// The chrome of a page of `tenant` that may continue `flow`.
    pub async fn page_chrome(
        &self,
        tenant: &Tenant,
        headers: &HeaderMap,
        flow: Option<&Flow>,
        query_locale: Option<&str>,
        path: &str,
        query: Vec<(String, String)>,
    ) -> Chrome {
        self.chrome(ChromeInput {
            tenant: Some(tenant),
            headers: Some(headers),
            org: flow
                .and_then(|f| f.valid.as_ref())
                .and_then(|v| v.org.as_ref()),
            query_locale,
            authorize_locale: flow.and_then(|f| f.ui_locales.as_deref()),
            path: format!("/t/{}{path}", tenant.slug),
            query,
            redirect_uri: flow.and_then(|f| f.redirect_uri.as_deref()),
        })
        .await
    }

    /// What most page handlers start with: the tenant of the path, the authorization
    /// request `return_to` continues, and the chrome of the page at `path` (its language
    /// links keep `return_to`, then the `extra` query parameters, e.g. the code step's
    /// `email`).
    pub async fn setup(
        &self,
        slug: &str,
        headers: &HeaderMap,
        return_to: Option<&str>,
        query_locale: Option<&str>,
        path: &str,
        extra: &[(&str, &str)],
    ) -> Result<(Arc<Tenant>, Option<Flow>, Chrome), Exit> {
        let tenant = self.tenant(slug, headers, query_locale).await?;
        let flow = self.flow(&tenant, headers, return_to).await?;
        let query = flow
            .iter()
            .map(|f| ("return_to".to_owned(), f.return_to.clone()))
            .chain(
                extra
                    .iter()
                    .map(|(k, v)| ((*k).to_owned(), (*v).to_owned())),
            )
            .collect();
        let chrome = self
            .page_chrome(&tenant, headers, flow.as_ref(), query_locale, path, query)
            .await;
        Ok((tenant, flow, chrome))
    }

    /// The tenant of the path, or a 404 page (in the language of `ui_locales`, if asked).
    pub async fn tenant(
        &self,
        slug: &str,
        headers: &HeaderMap,
        query_locale: Option<&str>,
    ) -> Result<Arc<Tenant>, Exit> {
        match self.ctx.core.tenant_by_slug(slug).await {
            Ok(t) => Ok(t),
            Err(CoreError::NotFound(_)) => {
                let chrome = self
                    .chrome(ChromeInput {
                        headers: Some(headers),
                        query_locale,
                        path: String::new(),
                        ..ChromeInput::default()
                    })
                    .await;
                Err(self.error(&chrome, StatusCode::NOT_FOUND, "not_found", None, None))
            }
            Err(e) => Err(self.internal(None, headers, &e).await),
        }
    }

    /// An internal error, logged; the page says nothing about it.
    pub async fn internal(
        &self,
        tenant: Option<&Tenant>,
        headers: &HeaderMap,
        e: &(dyn std::fmt::Display + Sync),
    ) -> Response {
        tracing::error!(error = %e, "hosted page failed");
        let chrome = self
            .chrome(ChromeInput {
                tenant,
                headers: Some(headers),
                path: String::new(),
                ..ChromeInput::default()
            })
            .await;
        self.error(
            &chrome,
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            None,
            None,
        )
    }

    /// The authorization request behind `return_to`: `Ok(None)` when there is none, a
    /// 400 page (no cookie set) when it is not a path back into this tenant's
    /// authorization endpoint.
    pub async fn flow(
        &self,
        tenant: &Tenant,
        headers: &HeaderMap,
        return_to: Option<&str>,
    ) -> Result<Option<Flow>, Exit> {
        let Some(r) = return_to else {
            return Ok(None);
        };
        if !safe_return_to(tenant.slug.as_str(), r) {
            let chrome = self
                .page_chrome(tenant, headers, None, None, "/login", Vec::new())
                .await;
            return Err(self.error(&chrome, StatusCode::BAD_REQUEST, "no_app", None, None));
        }
        let query = r.split_once('?').map_or("", |(_, q)| q);
        let pairs: Vec<(String, String)> = url::form_urlencoded::parse(query.as_bytes())
            .into_owned()
            .collect();
        let ui_locales = pairs
            .iter()
            .find(|(k, _)| k == "ui_locales")
            .map(|(_, v)| v.clone());
        let mut params = HashMap::new();
        let mut repeated = false;
        for (k, v) in pairs {
            repeated |= params.insert(k, v).is_some();
        }
        let (valid, redirect_uri) = if repeated {
            (None, None)
        } else {
            match self
                .ctx
                .core
                .validate_authorize(tenant, &authorize_params(&params))
                .await
            {
                Ok(v) => {
                    let uri = v.redirect_uri.clone();
                    (Some(v), Some(uri))
                }
                Err(AuthorizeError::Redirect { redirect_uri, .. }) => (None, Some(redirect_uri)),
                Err(AuthorizeError::Page(_)) => (None, None),
            }
        };
        Ok(Some(Flow {
            return_to: r.to_owned(),
            valid,
            redirect_uri,
            ui_locales,
        }))
    }

    /// The live session and user of the request, if any.
    pub async fn session(
        &self,
        tenant: &Tenant,
        headers: &HeaderMap,
    ) -> Result<Option<(Session, User)>, Exit> {
        let Some(c) = cookie(headers, SESSION_COOKIE) else {
            return Ok(None);
        };
        match self.ctx.core.session_from_cookie(tenant, &c).await {
            Ok(s) => Ok(s),
            Err(e) => Err(self.internal(Some(tenant), headers, &e).await),
        }
    }

    /// A 403 page when the form's CSRF field does not match its cookie.
    pub fn csrf_refused(&self, chrome: &Chrome, headers: &HeaderMap, field: &str) -> Option<Exit> {
        (!clavis_api::csrf::verify(headers, field))
            .then(|| self.error(chrome, StatusCode::FORBIDDEN, "csrf", None, None))
    }

    /// Count a credential-checking or email-sending request of this client address; a
    /// 429 page (with `Retry-After`) over the tenant's limit.
    pub async fn throttle(
        &self,
        chrome: &Chrome,
        tenant: &Tenant,
        headers: &HeaderMap,
        meta: &RequestMeta,
    ) -> Result<(), Exit> {
        match self
            .ctx
            .core
            .throttle_auth_ip(tenant, meta.ip_address.as_deref())
            .await
        {
            Ok(Throttle::Allowed) => Ok(()),
            Ok(Throttle::Limited { retry_after_secs }) => {
                Err(self.too_many(chrome, retry_after_secs, false))
            }
            Err(e) => Err(self.internal(Some(tenant), headers, &e).await),
        }
    }

    /// Where a finished step goes: back to the authorization request, or a page saying
    /// the user is logged in.
    pub fn continue_to(&self, chrome: &Chrome, flow: Option<&Flow>, user: &User) -> Response {
        match flow {
            Some(f) => see_other(&f.return_to),
            None => {
                let email = user
                    .email
                    .as_ref()
                    .map(|e| e.to_string())
                    .unwrap_or_default();
                self.message(
                    chrome,
                    "loggedin.title",
                    vec![chrome.text("loggedin.body", &[("email", &email)])],
                    vec![crate::web::Link {
                        id: "change-password",
                        href: format!("{}/password/change", chrome.base),
                        text: chrome.text("link.change_password", &[]),
                    }],
                )
            }
        }
    }
}

/// Append a `Set-Cookie` carrying a new session.
pub fn with_session(mut resp: Response, web: &Web, slug: &str, value: &str) -> Response {
    if let Some(c) = clavis_api::session_cookie(web.ctx.secure_cookies(), slug, value) {
        resp.headers_mut().append(header::SET_COOKIE, c);
    }
    resp
}

/// A form email field: trimmed, bounded.
pub fn clean_email(s: &str) -> String {
    s.trim().chars().take(MAX_EMAIL_CHARS).collect()
}

//! The pieces every Management API operation shares in its OpenAPI description and its
//! responses: the error body and the errors each operation documents, pagination
//! (`page`, `per_page`, `include_totals`, shaped after Auth0's), and the spec itself.
//!
//! Operations are described with `#[utoipa::path]` on their handlers and registered with
//! `utoipa_axum::routes!`, so the served spec and the routes come from the same code.
//! Paths in the spec are relative to the server `{issuer}/api/v2`.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use clavis_core::model::Page;
use serde::Serialize;
use utoipa::openapi::response::{ResponseBuilder, ResponsesBuilder};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{ContentBuilder, OpenApi, OpenApiBuilder, RefOr, Response as DocResponse};
use utoipa::{IntoParams, IntoResponses, ToSchema};

use super::Params;
use crate::ApiError;

/// The body of every error response (RFC 6749 shape).
#[derive(Serialize, ToSchema)]
pub(crate) struct ErrorBody {
    /// A machine-readable code: `invalid_request`, `invalid_token`, `insufficient_scope`,
    /// `access_denied`, `not_found`, `conflict`, `temporarily_unavailable`.
    pub error: String,
    /// What went wrong and what to do, for a person.
    pub error_description: String,
}

fn error_response(description: &str) -> RefOr<DocResponse> {
    ResponseBuilder::new()
        .description(description)
        .content(
            "application/json",
            ContentBuilder::new()
                .schema(Some(RefOr::Ref(utoipa::openapi::Ref::from_schema_name(
                    "ErrorBody",
                ))))
                .build(),
        )
        .build()
        .into()
}

/// The errors every operation may answer with. List it in each operation's `responses`.
pub(crate) struct Errors;

impl IntoResponses for Errors {
    fn responses() -> std::collections::BTreeMap<String, RefOr<DocResponse>> {
        ResponsesBuilder::new()
            .response(
                "400",
                error_response("Invalid request: a parameter or field named in the description is wrong, unknown or repeated"),
            )
            .response(
                "401",
                error_response("Missing, invalid, expired or revoked access token or API key"),
            )
            .response(
                "403",
                error_response("The caller lacks the scope named in the description, or acts for one organization and the target is outside it"),
            )
            .response("404", error_response("The tenant or the resource does not exist"))
            .response(
                "409",
                error_response("The change conflicts with existing state (a duplicate name, a role cycle, …)"),
            )
            .response(
                "413",
                error_response("The request body is larger than allowed"),
            )
            .response(
                "503",
                error_response("The database is unavailable or the node is busy; retry after `Retry-After` seconds"),
            )
            .build()
            .into()
    }
}

/// `page`, `per_page` and `include_totals` of every list operation.
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
pub(crate) struct PageQuery {
    /// Page index, from 0.
    #[param(minimum = 0, maximum = 100000)]
    page: Option<u32>,
    /// Items per page, 1 to 100 (default 50).
    #[param(minimum = 1, maximum = 100)]
    per_page: Option<u32>,
    /// Return `{start, limit, length, total, <items>}` instead of a bare array.
    include_totals: Option<bool>,
}

/// The query parameter names of [`PageQuery`], to pass to [`Params::parse`] with the
/// operation's own.
pub(crate) const PAGE_PARAMS: &[&str] = &["page", "per_page", "include_totals"];

/// Default page size, as in Auth0's Management API.
pub(crate) const DEFAULT_PER_PAGE: u32 = 50;

/// Pagination of one list request.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Paging {
    pub page: u32,
    pub per_page: u32,
    pub include_totals: bool,
}

impl Paging {
    /// Read `page`, `per_page` (1..=100) and `include_totals` from parsed parameters.
    pub fn from_params(p: &Params) -> Result<Self, ApiError> {
        let page = p.int("page", 0, 100_000)?.unwrap_or(0);
        let per_page = p
            .int("per_page", 1, i64::from(Page::MAX_PER_PAGE))?
            .unwrap_or(i64::from(DEFAULT_PER_PAGE));
        let include_totals = match p.text("include_totals") {
            None | Some("false") => false,
            Some("true") => true,
            Some(_) => {
                return Err(ApiError::new(
                    StatusCode::BAD_REQUEST,
                    "invalid_request",
                    "query parameter `include_totals`: expected `true` or `false`",
                ));
            }
        };
        Ok(Self {
            page: u32::try_from(page).unwrap_or(0),
            per_page: u32::try_from(per_page).unwrap_or(DEFAULT_PER_PAGE),
            include_totals,
        })
    }

    /// The store's window for this request.
    pub fn page(self) -> Page {
        Page::new(self.page, self.per_page)
    }

    /// A bare array, or with `include_totals` `{start, limit, length, total, <key>: [...]}`.
    /// `total` is only consulted with `include_totals`.
    pub fn respond<T: Serialize>(self, key: &str, items: Vec<T>, total: i64) -> Response {
        if self.include_totals {
            let mut body = serde_json::Map::new();
            body.insert("start".into(), self.page().offset().into());
            body.insert("limit".into(), self.per_page.into());
            body.insert("length".into(), items.len().into());
            body.insert("total".into(), total.into());
            body.insert(
                key.into(),
                serde_json::to_value(items).unwrap_or(serde_json::Value::Null),
            );
            Json(serde_json::Value::Object(body)).into_response()
        } else {
            Json(items).into_response()
        }
    }
}

/// Declare the schema of a paginated list: `list_schema!(UserList, "users", UserView)`
/// defines `UserList`, a `oneOf` of a bare array of `UserView` and the `include_totals`
/// object whose items are under `users`. Use it as the 200 body of the list operation.
macro_rules! list_schema {
    ($name:ident, $key:tt, $item:ty) => {
        #[allow(dead_code)]
        #[derive(utoipa::ToSchema)]
        #[serde(untagged)]
        #[derive(serde::Serialize)]
        pub(crate) enum $name {
            Items(Vec<$item>),
            Totals {
                start: u32,
                limit: u32,
                length: u32,
                total: i64,
                #[serde(rename = $key)]
                items: Vec<$item>,
            },
        }
    };
}
pub(crate) use list_schema;

/// The spec of the whole Management API, with the server `{issuer}/api/v2` when given.
pub(crate) fn finish(mut doc: OpenApi, server: Option<&str>) -> OpenApi {
    let base = OpenApiBuilder::new()
        .info(
            utoipa::openapi::InfoBuilder::new()
                .title("Clavis Management API")
                .version("2")
                .description(Some(
                    "Manage one tenant of Clavis: users, organizations, teams, roles, Apis, \
                     applications, connections, signing keys, API keys, authorization \
                     decisions, the audit log, login page branding, email templates and \
                     the email outbox. Shaped after Auth0's Management API v2. \
                     Authenticate with a client-credentials access token for the audience \
                     `{issuer}/api/v2/` or an API key, as a bearer token.",
                ))
                .build(),
        )
        .build();
    doc.info = base.info;
    doc.openapi = utoipa::openapi::OpenApiVersion::Version31;
    let mut components = doc.components.take().unwrap_or_default();
    components.schemas.insert(
        "ErrorBody".into(),
        <ErrorBody as utoipa::PartialSchema>::schema(),
    );
    components.security_schemes.insert(
        "bearer".into(),
        RefOr::T(SecurityScheme::Http(
            HttpBuilder::new()
                .scheme(HttpAuthScheme::Bearer)
                .description(Some(
                    "A client-credentials access token (JWT) or an API key (`clv_…`)",
                ))
                .build(),
        )),
    );
    doc.components = Some(components);
    doc.security = Some(vec![utoipa::openapi::security::SecurityRequirement::new::<
        &str,
        [&str; 0],
        &str,
    >("bearer", [])]);
    let url = server.unwrap_or("/t/{tenant}/api/v2");
    let mut srv = utoipa::openapi::server::Server::new(url);
    if server.is_none() {
        srv.variables = Some(
            [(
                "tenant".to_owned(),
                utoipa::openapi::server::ServerVariableBuilder::new()
                    .default_value("default")
                    .description(Some("the tenant's slug"))
                    .build(),
            )]
            .into_iter()
            .collect(),
        );
    }
    doc.servers = Some(vec![srv]);
    doc
}

/// The query parameters each operation declares in the spec, by (path template, method).
#[derive(Debug, Default)]
pub(crate) struct QueryRules {
    by_operation: std::collections::HashMap<(String, axum::http::Method), Vec<String>>,
}

impl QueryRules {
    /// Read the declared query parameters of every operation of `spec`.
    pub fn from_spec(spec: &OpenApi) -> Self {
        use axum::http::Method;
        use utoipa::openapi::path::{Operation, ParameterIn};
        let mut by_operation = std::collections::HashMap::new();
        for (path, item) in &spec.paths.paths {
            let ops: [(Method, &Option<Operation>); 5] = [
                (Method::GET, &item.get),
                (Method::POST, &item.post),
                (Method::PUT, &item.put),
                (Method::PATCH, &item.patch),
                (Method::DELETE, &item.delete),
            ];
            for (method, op) in ops {
                let Some(op) = op else { continue };
                let names = item
                    .parameters
                    .iter()
                    .chain(op.parameters.iter())
                    .flatten()
                    .filter_map(|p| match p {
                        RefOr::T(p) if matches!(p.parameter_in, ParameterIn::Query) => {
                            Some(p.name.clone())
                        }
                        _ => None,
                    })
                    .collect();
                by_operation.insert((path.clone(), method), names);
            }
        }
        Self { by_operation }
    }

    /// `Err` naming the first query parameter the operation does not declare.
    fn check(&self, path: &str, method: &axum::http::Method, query: &str) -> Result<(), ApiError> {
        let Some(known) = self.by_operation.get(&(path.to_owned(), method.clone())) else {
            return Ok(());
        };
        for (name, _) in url::form_urlencoded::parse(query.as_bytes()) {
            if !known.iter().any(|k| *k == name) {
                let expected = if known.is_empty() {
                    "this operation takes no query parameters".to_owned()
                } else {
                    format!("expected one of: {}", known.join(", "))
                };
                let shown: String = name.chars().filter(|c| !c.is_control()).take(64).collect();
                return Err(ApiError::new(
                    StatusCode::BAD_REQUEST,
                    "invalid_request",
                    format!("query parameter `{shown}`: unknown parameter; {expected}"),
                ));
            }
        }
        Ok(())
    }
}

/// Refuse query parameters an operation does not declare in the spec (400 naming the
/// parameter), so no operation silently ignores what a caller meant.
pub(crate) async fn strict_query(
    axum::extract::State(rules): axum::extract::State<std::sync::Arc<QueryRules>>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    if let (Some(query), Some(matched)) = (
        req.uri().query(),
        req.extensions().get::<axum::extract::MatchedPath>(),
    ) {
        let path = matched.as_str();
        let path = path.strip_prefix(super::PREFIX).unwrap_or(path);
        if let Err(e) = rules.check(path, req.method(), query) {
            return e.into_response();
        }
    }
    next.run(req).await
}

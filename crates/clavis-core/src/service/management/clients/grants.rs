//! Client grants through the Management API, shaped after Auth0's `client-grants`: which
//! permissions of one Api a machine-to-machine application may obtain with
//! `client_credentials`.
//!
//! Rules: only `m2m` applications have grants; a client has at most one grant per Api
//! (a second is a conflict: change the first); every scope is a permission the Api
//! defines (an error names the entry). Changes are audited (`client_grant.created`,
//! `client_grant.updated`, `client_grant.deleted`) in their transaction and take effect
//! at once on this node (its grant cache is cleared after the commit), within
//! [`CONFIG_CACHE_SECS`](crate::service::CONFIG_CACHE_SECS) on the others. Because the
//! Management API cuts every token's scopes down to the current grant on each call, a
//! narrowed grant also narrows what that client's existing tokens may do there.

use clavis_types::{ApiId, AppType, ClientGrantId, ClientId};
use serde::{Deserialize, Serialize};
use serde_json::json;
use std::collections::{HashMap, HashSet};

use crate::model::{Api, AuditActor, ClientGrant, JsonMap, Page, Tenant};
use crate::ports::Tx;
use crate::service::RequestMeta;
use crate::{Core, CoreError, StoreError};

/// Most scopes one grant may list.
const MAX_SCOPES: usize = 500;

/// A new client grant.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ClientGrantInput {
    /// The `m2m` application.
    pub client_id: String,
    /// The Api's identifier.
    pub audience: String,
    /// Permissions of that Api.
    pub scope: Vec<String>,
}

/// A change to a client grant.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ClientGrantPatch {
    /// The grant's complete new scope.
    pub scope: Option<Vec<String>>,
}

/// A client grant as the API shows it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ClientGrantView {
    pub id: String,
    pub client_id: String,
    /// The Api's identifier.
    pub audience: String,
    pub scope: Vec<String>,
    pub created_at: String,
    pub updated_at: String,
}

impl ClientGrantView {
    fn new(g: &ClientGrant, api: &Api) -> Self {
        Self {
            id: g.id.to_string(),
            client_id: g.client_id.to_string(),
            audience: api.identifier.clone(),
            scope: g.scope.clone(),
            created_at: g.created_at.to_rfc3339(),
            updated_at: g.updated_at.to_rfc3339(),
        }
    }
}

/// Each entry a permission of `api`, none twice; sorted.
fn check_scope(api: &Api, scope: Vec<String>) -> Result<Vec<String>, CoreError> {
    if scope.len() > MAX_SCOPES {
        return Err(CoreError::invalid(
            "scope",
            format!("at most {MAX_SCOPES} entries"),
        ));
    }
    let mut seen = HashSet::new();
    for (i, s) in scope.iter().enumerate() {
        if !api.permissions.iter().any(|p| &p.value == s) {
            return Err(CoreError::invalid(
                format!("scope[{i}]"),
                format!(
                    "`{}` is not a permission of Api `{}`",
                    s.chars().take(280).collect::<String>(),
                    api.identifier
                ),
            ));
        }
        if !seen.insert(s.as_str()) {
            return Err(CoreError::invalid(
                format!("scope[{i}]"),
                format!("`{s}` is listed twice"),
            ));
        }
    }
    let mut scope = scope;
    scope.sort();
    Ok(scope)
}

fn grant_context(g: &ClientGrant, api: &Api) -> JsonMap {
    JsonMap::from_iter([
        ("client_grant_id".to_owned(), json!(g.id.as_str())),
        ("client_id".to_owned(), json!(g.client_id.as_str())),
        ("audience".to_owned(), json!(api.identifier)),
    ])
}

async fn load(
    tx: &mut dyn Tx,
    tenant: &Tenant,
    id: &ClientGrantId,
) -> Result<ClientGrant, CoreError> {
    tx.client_grant_get_by_id(&tenant.id, id)
        .await?
        .ok_or(CoreError::NotFound("client grant"))
}

async fn api_of(tx: &mut dyn Tx, tenant: &Tenant, g: &ClientGrant) -> Result<Api, CoreError> {
    tx.api_get(&tenant.id, &g.api_id)
        .await?
        .ok_or(CoreError::NotFound("resource server"))
}

impl Core {
    /// Grant an `m2m` application permissions of an Api.
    pub async fn client_grant_create(
        &self,
        tenant: &Tenant,
        input: ClientGrantInput,
        meta: &RequestMeta,
    ) -> Result<ClientGrantView, CoreError> {
        let client_id = ClientId::parse(input.client_id.trim())
            .map_err(|e| CoreError::invalid("client_id", e.reason))?;
        let audience = input.audience.trim();
        if audience.is_empty() || audience.len() > 600 {
            return Err(CoreError::invalid(
                "audience",
                "expected the identifier of an Api (1 to 600 characters)",
            ));
        }
        let mut tx = self.store.begin().await?;
        let app = tx
            .app_get(&tenant.id, &client_id)
            .await?
            .ok_or(CoreError::NotFound("client"))?;
        if app.app_type != AppType::M2m {
            return Err(CoreError::invalid(
                "client_id",
                format!(
                    "only `m2m` applications have client grants; `{}` is a `{}` application",
                    app.name, app.app_type
                ),
            ));
        }
        let api = tx
            .api_get_by_identifier(&tenant.id, audience)
            .await?
            .ok_or(CoreError::NotFound("resource server"))?;
        let scope = check_scope(&api, input.scope)?;
        let conflict = || {
            CoreError::Conflict(format!(
                "client `{client_id}` already has a grant on `{}`; change its scope instead",
                api.identifier
            ))
        };
        if tx
            .client_grant_get(&tenant.id, &client_id, &api.id)
            .await?
            .is_some()
        {
            return Err(conflict());
        }
        let now = self.now();
        let grant = ClientGrant {
            tenant_id: tenant.id.clone(),
            id: ClientGrantId::generate(now, &*self.rng),
            client_id: client_id.clone(),
            api_id: api.id.clone(),
            scope,
            created_at: now,
            updated_at: now,
        };
        tx.client_grant_insert(&grant).await.map_err(|e| match e {
            StoreError::Conflict(_) => conflict(),
            other => other.into(),
        })?;
        let mut context = grant_context(&grant, &api);
        context.insert("scope".to_owned(), json!(grant.scope));
        let event = self.grant_event(tenant, "client_grant.created", context, meta);
        self.audit_in(&mut *tx, event).await?;
        tx.commit().await?;
        self.forget_grant(tenant, &grant.client_id, &grant.api_id);
        Ok(ClientGrantView::new(&grant, &api))
    }

    /// One client grant.
    pub async fn client_grant_get(
        &self,
        tenant: &Tenant,
        id: &ClientGrantId,
    ) -> Result<ClientGrantView, CoreError> {
        let mut tx = self.store.read().await?;
        let g = load(&mut *tx, tenant, id).await?;
        let api = api_of(&mut *tx, tenant, &g).await?;
        Ok(ClientGrantView::new(&g, &api))
    }

    /// A page of the tenant's client grants, optionally of one client and/or one Api
    /// (by identifier; an unknown one matches nothing), and their total number.
    pub async fn client_grant_list(
        &self,
        tenant: &Tenant,
        client: Option<&ClientId>,
        audience: Option<&str>,
        page: Page,
        with_total: bool,
    ) -> Result<(Vec<ClientGrantView>, i64), CoreError> {
        let mut tx = self.store.read().await?;
        let api = match audience {
            Some(a) => match tx.api_get_by_identifier(&tenant.id, a).await? {
                Some(api) => Some(api),
                None => return Ok((Vec::new(), 0)),
            },
            None => None,
        };
        let api_id = api.as_ref().map(|a| &a.id);
        let grants = tx
            .client_grant_search(&tenant.id, client, api_id, page)
            .await?;
        let total = if with_total {
            tx.client_grant_count(&tenant.id, client, api_id).await?
        } else {
            0
        };
        let mut apis: HashMap<ApiId, Api> = api.into_iter().map(|a| (a.id.clone(), a)).collect();
        let mut out = Vec::with_capacity(grants.len());
        for g in &grants {
            if !apis.contains_key(&g.api_id) {
                let a = api_of(&mut *tx, tenant, g).await?;
                apis.insert(a.id.clone(), a);
            }
            if let Some(a) = apis.get(&g.api_id) {
                out.push(ClientGrantView::new(g, a));
            }
        }
        Ok((out, total))
    }

    /// Replace a grant's scope.
    pub async fn client_grant_update(
        &self,
        tenant: &Tenant,
        id: &ClientGrantId,
        patch: ClientGrantPatch,
        meta: &RequestMeta,
    ) -> Result<ClientGrantView, CoreError> {
        let mut tx = self.store.begin().await?;
        let mut g = load(&mut *tx, tenant, id).await?;
        let api = api_of(&mut *tx, tenant, &g).await?;
        let Some(scope) = patch.scope else {
            return Ok(ClientGrantView::new(&g, &api));
        };
        let scope = check_scope(&api, scope)?;
        let mut before = g.scope.clone();
        before.sort();
        if before == scope {
            return Ok(ClientGrantView::new(&g, &api));
        }
        g.scope = scope;
        g.updated_at = self.now();
        if !tx.client_grant_update(&g).await? {
            return Err(CoreError::NotFound("client grant"));
        }
        let mut context = grant_context(&g, &api);
        context.insert(
            "changes".to_owned(),
            json!({ "scope": { "from": before, "to": g.scope } }),
        );
        let event = self.grant_event(tenant, "client_grant.updated", context, meta);
        self.audit_in(&mut *tx, event).await?;
        tx.commit().await?;
        self.forget_grant(tenant, &g.client_id, &g.api_id);
        Ok(ClientGrantView::new(&g, &api))
    }

    /// Remove a grant: the client can no longer obtain tokens for the Api, and its
    /// existing Management API tokens stop working at once.
    pub async fn client_grant_delete(
        &self,
        tenant: &Tenant,
        id: &ClientGrantId,
        meta: &RequestMeta,
    ) -> Result<(), CoreError> {
        let mut tx = self.store.begin().await?;
        let g = load(&mut *tx, tenant, id).await?;
        let api = api_of(&mut *tx, tenant, &g).await?;
        if !tx.client_grant_delete(&tenant.id, id).await? {
            return Err(CoreError::NotFound("client grant"));
        }
        let mut context = grant_context(&g, &api);
        context.insert("scope".to_owned(), json!(g.scope));
        let event = self.grant_event(tenant, "client_grant.deleted", context, meta);
        self.audit_in(&mut *tx, event).await?;
        tx.commit().await?;
        self.forget_grant(tenant, &g.client_id, &g.api_id);
        Ok(())
    }

    /// The scope `client` is granted on the Api `audience`, read from the store (whatever
    /// the application's type): `None` without such an Api or grant. For checks that a
    /// caller does not hand out, or take over, more than it holds.
    pub async fn client_grant_scope(
        &self,
        tenant: &Tenant,
        client: &ClientId,
        audience: &str,
    ) -> Result<Option<Vec<String>>, CoreError> {
        let mut tx = self.store.read().await?;
        let Some(api) = tx.api_get_by_identifier(&tenant.id, audience).await? else {
            return Ok(None);
        };
        Ok(tx
            .client_grant_get(&tenant.id, client, &api.id)
            .await?
            .map(|g| g.scope))
    }

    fn forget_grant(&self, tenant: &Tenant, client: &ClientId, api: &ApiId) {
        self.caches
            .grants
            .remove(&(tenant.id.clone(), client.clone(), api.clone()));
    }

    fn grant_event(
        &self,
        tenant: &Tenant,
        event_type: &str,
        context: JsonMap,
        meta: &RequestMeta,
    ) -> crate::model::AuditEvent {
        self.audit_event(
            &tenant.id,
            event_type,
            AuditActor::default(),
            None,
            context,
            meta,
        )
    }
}

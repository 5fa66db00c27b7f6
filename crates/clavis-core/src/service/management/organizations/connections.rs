//! Connections enabled for an organization (Auth0's `enabled_connections`): which
//! identity sources its members log in with, whether logging in through one makes the
//! user a member (`assign_membership_on_login`) and whether the login page shows it as a
//! button (`show_as_button`).

use serde::{Deserialize, Serialize};
use serde_json::json;

use clavis_types::{ConnectionId, OrgId};

use super::{Listed, audit_org, load_org};
use crate::CoreError;
use crate::model::{AuditActor, Connection, JsonMap, OrgConnection, Organization, Page, Tenant};
use crate::ports::Tx;
use crate::service::{Core, RequestMeta};

/// What an administrator submits to enable a connection for an organization.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OrgConnectionInput {
    pub connection_id: String,
    /// Users logging in through this connection become members (default false).
    #[serde(default)]
    pub assign_membership_on_login: bool,
    /// Show the connection as a button on the organization's login page (default true).
    #[serde(default = "default_true")]
    pub show_as_button: bool,
}

fn default_true() -> bool {
    true
}

/// A change to an enabled connection: absent fields stay as they are.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OrgConnectionPatch {
    pub assign_membership_on_login: Option<bool>,
    pub show_as_button: Option<bool>,
}

/// The connection an enabled connection names.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct OrgConnectionRef {
    pub name: String,
    pub strategy: String,
}

/// An enabled connection as the API shows it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct OrgConnectionView {
    pub connection_id: String,
    pub assign_membership_on_login: bool,
    pub show_as_button: bool,
    pub connection: OrgConnectionRef,
}

impl OrgConnectionView {
    fn new(oc: &OrgConnection, c: &Connection) -> Self {
        Self {
            connection_id: oc.connection_id.to_string(),
            assign_membership_on_login: oc.assign_membership_on_login,
            show_as_button: oc.show_as_button,
            connection: OrgConnectionRef {
                name: c.name.clone(),
                strategy: c.strategy.as_str().to_owned(),
            },
        }
    }
}

fn context(org: &Organization, oc: &OrgConnection) -> JsonMap {
    let mut c = JsonMap::new();
    c.insert("org_id".into(), json!(org.id.to_string()));
    c.insert("connection_id".into(), json!(oc.connection_id.to_string()));
    c.insert(
        "assign_membership_on_login".into(),
        json!(oc.assign_membership_on_login),
    );
    c.insert("show_as_button".into(), json!(oc.show_as_button));
    c
}

async fn view(
    tx: &mut dyn Tx,
    tenant: &Tenant,
    oc: &OrgConnection,
) -> Result<OrgConnectionView, CoreError> {
    let c = tx
        .connection_get(&tenant.id, &oc.connection_id)
        .await?
        .ok_or(CoreError::NotFound("connection"))?;
    Ok(OrgConnectionView::new(oc, &c))
}

async fn load(
    tx: &mut dyn Tx,
    tenant: &Tenant,
    org: &OrgId,
    connection: &ConnectionId,
) -> Result<OrgConnection, CoreError> {
    tx.org_connection_get(&tenant.id, org, connection)
        .await?
        .ok_or(CoreError::NotFound("enabled connection"))
}

impl Core {
    /// Enable a connection for an organization; 409 if it already is.
    pub async fn org_connection_enable(
        &self,
        tenant: &Tenant,
        org: &OrgId,
        input: OrgConnectionInput,
        meta: &RequestMeta,
    ) -> Result<OrgConnectionView, CoreError> {
        let connection_id = ConnectionId::parse(input.connection_id.trim())
            .map_err(|e| CoreError::invalid("connection_id", e.reason))?;
        let mut tx = self.store.begin().await?;
        let org = load_org(&mut *tx, tenant, org).await?;
        let connection = tx
            .connection_get(&tenant.id, &connection_id)
            .await?
            .ok_or_else(|| CoreError::invalid("connection_id", "no such connection"))?;
        let already =
            format!("connection `{connection_id}` is already enabled for this organization");
        let oc = OrgConnection {
            tenant_id: tenant.id.clone(),
            org_id: org.id.clone(),
            connection_id,
            assign_membership_on_login: input.assign_membership_on_login,
            show_as_button: input.show_as_button,
            created_at: self.now(),
        };
        // One statement decides, so two concurrent enables cannot both succeed.
        if !tx.org_connection_insert(&oc).await? {
            return Err(CoreError::Conflict(already));
        }
        let event = self.audit_event(
            &tenant.id,
            "organization.connection.enabled",
            AuditActor::default(),
            Some(audit_org(&org)),
            context(&org, &oc),
            meta,
        );
        self.audit_in(&mut *tx, event).await?;
        tx.commit().await?;
        Ok(OrgConnectionView::new(&oc, &connection))
    }

    /// One page of an organization's enabled connections, by connection id.
    pub async fn org_connection_list(
        &self,
        tenant: &Tenant,
        org: &OrgId,
        page: Page,
    ) -> Result<Listed<OrgConnectionView>, CoreError> {
        let mut tx = self.store.read().await?;
        let org = load_org(&mut *tx, tenant, org).await?;
        let list = tx.org_connection_list(&tenant.id, &org.id, page).await?;
        let total = tx.org_connection_count(&tenant.id, &org.id).await?;
        let mut items = Vec::with_capacity(list.len());
        for oc in &list {
            items.push(view(&mut *tx, tenant, oc).await?);
        }
        Ok(Listed { items, total })
    }

    /// One enabled connection of an organization.
    pub async fn org_connection_get(
        &self,
        tenant: &Tenant,
        org: &OrgId,
        connection: &ConnectionId,
    ) -> Result<OrgConnectionView, CoreError> {
        let mut tx = self.store.read().await?;
        let org = load_org(&mut *tx, tenant, org).await?;
        let oc = load(&mut *tx, tenant, &org.id, connection).await?;
        view(&mut *tx, tenant, &oc).await
    }

    /// Change how a connection is enabled for an organization.
    pub async fn org_connection_update(
        &self,
        tenant: &Tenant,
        org: &OrgId,
        connection: &ConnectionId,
        patch: OrgConnectionPatch,
        meta: &RequestMeta,
    ) -> Result<OrgConnectionView, CoreError> {
        let mut tx = self.store.begin().await?;
        let org = load_org(&mut *tx, tenant, org).await?;
        let mut oc = load(&mut *tx, tenant, &org.id, connection).await?;
        let mut changed = Vec::new();
        if let Some(v) = patch.assign_membership_on_login
            && v != oc.assign_membership_on_login
        {
            oc.assign_membership_on_login = v;
            changed.push("assign_membership_on_login");
        }
        if let Some(v) = patch.show_as_button
            && v != oc.show_as_button
        {
            oc.show_as_button = v;
            changed.push("show_as_button");
        }
        if !changed.is_empty() {
            tx.org_connection_upsert(&oc).await?;
            let mut c = context(&org, &oc);
            c.insert("changed".into(), json!(changed));
            let event = self.audit_event(
                &tenant.id,
                "organization.connection.updated",
                AuditActor::default(),
                Some(audit_org(&org)),
                c,
                meta,
            );
            self.audit_in(&mut *tx, event).await?;
        }
        let v = view(&mut *tx, tenant, &oc).await?;
        tx.commit().await?;
        Ok(v)
    }

    /// Disable a connection for an organization.
    pub async fn org_connection_disable(
        &self,
        tenant: &Tenant,
        org: &OrgId,
        connection: &ConnectionId,
        meta: &RequestMeta,
    ) -> Result<(), CoreError> {
        let mut tx = self.store.begin().await?;
        let org = load_org(&mut *tx, tenant, org).await?;
        let oc = load(&mut *tx, tenant, &org.id, connection).await?;
        if !tx
            .org_connection_delete(&tenant.id, &org.id, connection)
            .await?
        {
            return Err(CoreError::NotFound("enabled connection"));
        }
        let event = self.audit_event(
            &tenant.id,
            "organization.connection.disabled",
            AuditActor::default(),
            Some(audit_org(&org)),
            context(&org, &oc),
            meta,
        );
        self.audit_in(&mut *tx, event).await?;
        tx.commit().await?;
        Ok(())
    }
}

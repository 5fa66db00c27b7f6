//! Ports of the Management API's own resources: organization connections, invitations
//! and API keys.

use async_trait::async_trait;
use clavis_types::{
    ApiKeyId, ConnectionId, CustomDomainId, InvitationId, OrgId, TenantId, Timestamp,
};

use super::StoreResult;
use crate::model::{ApiKey, CustomDomain, DomainRoute, Invitation, OrgConnection, Page};

/// Connections enabled per organization.
#[async_trait]
pub trait OrgConnectionRepo {
    /// Enable a connection for an organization, or change how it is enabled.
    async fn org_connection_upsert(&mut self, c: &OrgConnection) -> StoreResult<()>;
    /// Enable a connection for an organization; `false` when it already is (also when a
    /// concurrent transaction enabled it first).
    async fn org_connection_insert(&mut self, c: &OrgConnection) -> StoreResult<bool>;
    async fn org_connection_get(
        &mut self,
        t: &TenantId,
        org: &OrgId,
        connection: &ConnectionId,
    ) -> StoreResult<Option<OrgConnection>>;
    async fn org_connection_list(
        &mut self,
        t: &TenantId,
        org: &OrgId,
        page: Page,
    ) -> StoreResult<Vec<OrgConnection>>;
    async fn org_connection_count(&mut self, t: &TenantId, org: &OrgId) -> StoreResult<i64>;
    async fn org_connection_delete(
        &mut self,
        t: &TenantId,
        org: &OrgId,
        connection: &ConnectionId,
    ) -> StoreResult<bool>;
}

/// Invitations to organizations.
#[async_trait]
pub trait InvitationRepo {
    async fn invitation_insert(&mut self, i: &Invitation) -> StoreResult<()>;
    async fn invitation_get(
        &mut self,
        t: &TenantId,
        org: &OrgId,
        id: &InvitationId,
    ) -> StoreResult<Option<Invitation>>;
    /// The invitation whose ticket has this digest (expired ones included).
    async fn invitation_by_ticket(
        &mut self,
        t: &TenantId,
        digest: &[u8],
    ) -> StoreResult<Option<Invitation>>;
    /// Newest first.
    async fn invitation_list(
        &mut self,
        t: &TenantId,
        org: &OrgId,
        page: Page,
    ) -> StoreResult<Vec<Invitation>>;
    async fn invitation_count(&mut self, t: &TenantId, org: &OrgId) -> StoreResult<i64>;
    async fn invitation_delete(
        &mut self,
        t: &TenantId,
        org: &OrgId,
        id: &InvitationId,
    ) -> StoreResult<bool>;
}

/// API keys of the Management API.
#[async_trait]
pub trait ApiKeyRepo {
    async fn api_key_insert(&mut self, k: &ApiKey) -> StoreResult<()>;
    async fn api_key_get(&mut self, t: &TenantId, id: &ApiKeyId) -> StoreResult<Option<ApiKey>>;
    /// The key of this tenant with this digest, revoked and expired ones included.
    async fn api_key_by_digest(
        &mut self,
        t: &TenantId,
        digest: &[u8],
    ) -> StoreResult<Option<ApiKey>>;
    /// Newest first; with `org`, only that organization's keys; revoked ones only with
    /// `include_revoked`.
    async fn api_key_list(
        &mut self,
        t: &TenantId,
        org: Option<&OrgId>,
        include_revoked: bool,
        page: Page,
    ) -> StoreResult<Vec<ApiKey>>;
    /// How many keys [`api_key_list`](Self::api_key_list) would list over all pages.
    async fn api_key_count(
        &mut self,
        t: &TenantId,
        org: Option<&OrgId>,
        include_revoked: bool,
    ) -> StoreResult<i64>;
    /// Replace name, scopes, expiry, hint and digest (rotation) of an unrevoked key.
    async fn api_key_update(&mut self, k: &ApiKey) -> StoreResult<bool>;
    /// Record a use; written at most about once a minute per key by the caller.
    async fn api_key_touch(
        &mut self,
        t: &TenantId,
        id: &ApiKeyId,
        at: Timestamp,
    ) -> StoreResult<()>;
    /// Revoke; `false` when it does not exist or is already revoked.
    async fn api_key_revoke(
        &mut self,
        t: &TenantId,
        id: &ApiKeyId,
        at: Timestamp,
    ) -> StoreResult<bool>;
}

/// How [`CustomDomainRepo::custom_domain_mark_ready`] went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MarkReady {
    /// The pending domain is now `ready`.
    Ready,
    /// The domain is not (any longer) pending.
    NotPending,
    /// Another tenant's row of the same domain is `ready`: nothing changed.
    TakenElsewhere,
}

/// Custom domains of tenants. Every method but [`CustomDomainRepo::custom_domain_routes`]
/// is tenant-scoped; that one is install-wide by nature (a request's `Host` names the
/// tenant), and its caller must route a host only to the tenant of its row.
#[async_trait]
pub trait CustomDomainRepo {
    /// Add a pending domain; `false` when this tenant already has it. Other tenants' rows
    /// of the same domain do not matter here (only one may become `ready`).
    async fn custom_domain_insert(&mut self, d: &CustomDomain) -> StoreResult<bool>;
    async fn custom_domain_get(
        &mut self,
        t: &TenantId,
        id: &CustomDomainId,
    ) -> StoreResult<Option<CustomDomain>>;
    /// The tenant's domains, in name order.
    async fn custom_domain_list(&mut self, t: &TenantId) -> StoreResult<Vec<CustomDomain>>;
    /// Mark a pending domain `ready`, unless another tenant's row of the same domain is
    /// `ready` (checked in this transaction; the partial unique index settles a race).
    async fn custom_domain_mark_ready(
        &mut self,
        t: &TenantId,
        id: &CustomDomainId,
        at: Timestamp,
    ) -> StoreResult<MarkReady>;
    async fn custom_domain_delete(
        &mut self,
        t: &TenantId,
        id: &CustomDomainId,
    ) -> StoreResult<bool>;
    /// Every `ready` domain of the installation with its tenant (the routing snapshot).
    async fn custom_domain_routes(&mut self) -> StoreResult<Vec<DomainRoute>>;
}

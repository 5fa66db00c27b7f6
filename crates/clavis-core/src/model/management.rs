//! Management API resources without a place elsewhere: connections enabled per
//! organization, organization invitations, and API keys. Secrets (invitation tickets, API
//! keys) are kept only as keyed digests.

use clavis_types::{
    ApiKeyId, ClientId, ConnectionId, Email, InvitationId, OrgId, RoleId, TenantId, Timestamp,
};

use super::JsonMap;

/// A connection enabled for an organization's members to log in with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrgConnection {
    pub tenant_id: TenantId,
    pub org_id: OrgId,
    pub connection_id: ConnectionId,
    /// Users logging in through this connection become members automatically.
    pub assign_membership_on_login: bool,
    /// Offer the connection as a button on the organization's login page.
    pub show_as_button: bool,
    pub created_at: Timestamp,
}

/// An invitation to join an organization (Auth0's organization invitations).
#[derive(Debug, Clone, PartialEq)]
pub struct Invitation {
    pub tenant_id: TenantId,
    pub id: InvitationId,
    pub org_id: OrgId,
    pub invitee_email: Email,
    /// Shown to the invitee: who invited them.
    pub inviter_name: String,
    /// The application the invitation link opens.
    pub client_id: ClientId,
    pub connection_id: Option<ConnectionId>,
    /// Organization roles granted on acceptance.
    pub roles: Vec<RoleId>,
    pub app_metadata: JsonMap,
    pub user_metadata: JsonMap,
    /// Keyed digest of the ticket in the invitation link.
    pub ticket_digest: Vec<u8>,
    pub created_at: Timestamp,
    pub expires_at: Timestamp,
}

/// A long-lived credential for the Management API, for service-to-service use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiKey {
    pub tenant_id: TenantId,
    pub id: ApiKeyId,
    /// Set for an organization administrator's key: it reaches only that organization.
    pub org_id: Option<OrgId>,
    pub name: String,
    /// The first characters after the key's prefix, to tell keys apart.
    pub hint: String,
    /// Keyed SHA-256 digest of the whole key.
    pub digest: Vec<u8>,
    /// Management API scopes (`read:users`, …).
    pub scopes: Vec<String>,
    /// Who created it (a client id, user id or API key id).
    pub created_by: Option<String>,
    pub created_at: Timestamp,
    pub expires_at: Option<Timestamp>,
    pub last_used_at: Option<Timestamp>,
    pub revoked_at: Option<Timestamp>,
}

/// A custom domain mapped to a tenant: served as the tenant's issuer `{scheme}://{domain}`
/// once its DNS TXT record proved ownership (`status` = `ready`). `ready` for at most one
/// tenant of the installation; several tenants may hold it pending.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CustomDomain {
    pub tenant_id: TenantId,
    pub id: clavis_types::CustomDomainId,
    /// Lower-case host name, e.g. `login.acme.example`.
    pub domain: String,
    pub status: clavis_types::CustomDomainStatus,
    /// The random value published as `clavis-domain-verification={token}`.
    pub verification_token: String,
    pub created_at: Timestamp,
    pub verified_at: Option<Timestamp>,
}

/// Where a request's host is routed: a `ready` custom domain of a tenant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DomainRoute {
    pub domain: String,
    pub tenant_id: TenantId,
    pub tenant_slug: String,
}

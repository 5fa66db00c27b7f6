//! What may be asked for: applications (OAuth clients), Apis with their permissions, roles.

use clavis_types::{
    ApiId, AppType, ClientId, OrganizationUsage, RoleId, SigningAlg, TenantId, Timestamp,
};
use serde::{Deserialize, Serialize};

/// Refresh-token policy of an application (defaults from seed 004).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RefreshPolicy {
    pub rotation: bool,
    /// Seconds a refresh token may go unused.
    pub idle_lifetime: i64,
    /// Seconds from the first login after which the token family ends.
    pub absolute_lifetime: i64,
}

impl Default for RefreshPolicy {
    fn default() -> Self {
        Self {
            rotation: true,
            idle_lifetime: 30 * 86_400,
            absolute_lifetime: 90 * 86_400,
        }
    }
}

/// An OAuth client.
#[derive(Debug, Clone, PartialEq)]
pub struct Application {
    pub tenant_id: TenantId,
    pub client_id: ClientId,
    pub name: String,
    pub app_type: AppType,
    /// Keyed SHA-256 digest of the client secret; the secret itself is never stored.
    pub client_secret_digest: Option<Vec<u8>>,
    pub token_endpoint_auth_method: String,
    pub callbacks: Vec<String>,
    pub logout_urls: Vec<String>,
    pub web_origins: Vec<String>,
    pub grant_types: Vec<String>,
    pub id_token_lifetime: i64,
    pub refresh: RefreshPolicy,
    pub organization_usage: OrganizationUsage,
    /// Require PKCE (S256) on the authorization-code grant; always on for public clients.
    pub pkce_required: bool,
    /// First-party applications (the tenant's own) skip the consent page; third-party ones
    /// ask each user once for the scopes they request.
    pub is_first_party: bool,
    /// The client's public keys (a JWKS document) for `private_key_jwt` authentication.
    pub client_jwks: Option<clavis_crypto::JwkSet>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

/// A permission (scope) an Api defines.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Permission {
    pub value: String,
    #[serde(default)]
    pub description: String,
}

/// A resource server.
#[derive(Debug, Clone, PartialEq)]
pub struct Api {
    pub tenant_id: TenantId,
    pub id: ApiId,
    /// The audience (`aud`) of its access tokens.
    pub identifier: String,
    pub name: String,
    pub signing_alg: SigningAlg,
    /// Access-token lifetime in seconds (default 3600, seed 004).
    pub token_lifetime: i64,
    pub rbac_enabled: bool,
    pub permissions_in_token: bool,
    pub allow_offline_access: bool,
    pub skip_consent: bool,
    pub permissions: Vec<Permission>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

/// One permission of one Api, as held by a role.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RolePermission {
    pub api_id: ApiId,
    pub permission: String,
}

/// A named set of permissions, possibly inheriting other roles.
#[derive(Debug, Clone, PartialEq)]
pub struct Role {
    pub tenant_id: TenantId,
    pub id: RoleId,
    pub name: String,
    pub description: String,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

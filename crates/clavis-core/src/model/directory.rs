//! Who: tenants, organizations, teams, users and their identities, connections.

use clavis_types::{
    ConnectionId, ConnectionStrategy, Email, OrgId, SigningAlg, Slug, TeamId, TenantId, Timestamp,
    UserId,
};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

use super::JsonMap;

/// An isolated issuer.
#[derive(Debug, Clone, PartialEq)]
pub struct Tenant {
    pub id: TenantId,
    pub slug: Slug,
    pub display_name: String,
    pub settings: TenantSettings,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

/// Tenant-wide settings, stored as one JSON document.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TenantSettings {
    /// Algorithm of newly generated signing keys.
    pub signing_alg: SigningAlg,
    /// Longest lifetime of any token signed by this tenant, in seconds; a retired key is
    /// kept in the JWKS at least this long after it stops signing.
    pub max_token_lifetime: i64,
    /// How long audit events are kept before retention purge, in days (7 years).
    pub audit_retention_days: i64,
    /// Audiences (Api identifiers) whose resources hold protected health information;
    /// access to them is listed in the HIPAA report.
    pub phi_audiences: Vec<String>,
    /// Names of the roles an organization's administrator may assign to its members and
    /// teams (and grant through invitations). Empty: only tenant-wide callers assign roles
    /// inside organizations, since an organization role applies to every Api.
    pub org_assignable_roles: Vec<String>,
    /// Rules every new password must meet (signup, reset, change).
    pub password_policy: super::PasswordPolicy,
    /// Rate limits and lockout on the authentication endpoints.
    pub attack_protection: super::AttackProtection,
    /// Signup, email verification and the default language of the hosted pages.
    pub universal_login: super::UniversalLogin,
}

impl Default for TenantSettings {
    fn default() -> Self {
        Self {
            signing_alg: SigningAlg::Rs256,
            max_token_lifetime: 86_400,
            audit_retention_days: 2557,
            phi_audiences: Vec::new(),
            org_assignable_roles: Vec::new(),
            password_policy: super::PasswordPolicy::default(),
            attack_protection: super::AttackProtection::default(),
            universal_login: super::UniversalLogin::default(),
        }
    }
}

/// Well-known organization metadata (seed 000), plus free-form string pairs.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct OrgMetadata {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subscription_tier: Option<String>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub feature_flags: BTreeMap<String, bool>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub compliance_requirements: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data_residency: Option<String>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub extra: BTreeMap<String, String>,
}

/// A B2B customer inside a tenant.
#[derive(Debug, Clone, PartialEq)]
pub struct Organization {
    pub tenant_id: TenantId,
    pub id: OrgId,
    /// The `name` of Auth0 organizations: what `organization=` on `/authorize` names.
    pub slug: Slug,
    pub display_name: String,
    pub metadata: OrgMetadata,
    /// Maximum number of members; `None` means unlimited.
    pub user_limit: Option<i64>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

/// A group of members inside one organization.
#[derive(Debug, Clone, PartialEq)]
pub struct Team {
    pub tenant_id: TenantId,
    pub org_id: OrgId,
    pub id: TeamId,
    pub slug: Slug,
    pub display_name: String,
    pub description: String,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

/// Profile fields of a user (OIDC standard claims Clavis keeps).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct UserProfile {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub given_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub family_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub nickname: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub picture: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub locale: Option<String>,
}

/// A root identity inside a tenant.
#[derive(Debug, Clone, PartialEq)]
pub struct User {
    pub tenant_id: TenantId,
    pub id: UserId,
    pub email: Option<Email>,
    pub email_verified: bool,
    pub profile: UserProfile,
    /// Editable by the user.
    pub user_metadata: JsonMap,
    /// Controlled by applications and administrators.
    pub app_metadata: JsonMap,
    pub blocked: bool,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    pub last_login_at: Option<Timestamp>,
    /// Set by soft deletion; the record is purged after the tenant's retention period.
    pub deleted_at: Option<Timestamp>,
}

/// A user's account at one connection.
#[derive(Debug, Clone, PartialEq)]
pub struct Identity {
    pub tenant_id: TenantId,
    pub user_id: UserId,
    pub connection_id: ConnectionId,
    /// The subject at the connection (for `database` connections, the user id).
    pub subject: String,
    pub profile_data: JsonMap,
    pub created_at: Timestamp,
}

/// Where identities come from.
#[derive(Debug, Clone, PartialEq)]
pub struct Connection {
    pub tenant_id: TenantId,
    pub id: ConnectionId,
    pub name: String,
    pub strategy: ConnectionStrategy,
    pub options: JsonMap,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

//! The serde model of a configuration file. Every struct refuses unknown fields; every
//! field except a resource's key is optional, because only fields present in the file are
//! managed. Values that have a domain type (slugs, emails, enums, client ids) are parsed
//! into it while reading, so a malformed one is reported at its line.

use clavis_types::{
    AppType, ClientId, ConnectionStrategy, Email, OrganizationUsage, SigningAlg, Slug,
};
use serde::{Deserialize, Serialize};

use super::source::Source;
use crate::model::{JsonMap, OrgMetadata};

/// A whole configuration file.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Document {
    #[serde(default)]
    pub tenants: Vec<TenantDoc>,
    /// Where each node came from in the YAML source (empty for documents built in code);
    /// not part of the document's value: two documents differing only here are equal.
    #[serde(skip)]
    pub(crate) source: Source,
}

impl Document {
    pub fn new(tenants: Vec<TenantDoc>) -> Self {
        Self {
            tenants,
            source: Source::default(),
        }
    }
}

/// A string that must not be printed by accident: an initial password, a password hash
/// or an issued client secret. `Debug` is redacted and the memory is zeroed on drop.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn new(s: impl Into<String>) -> Self {
        Self(s.into())
    }
    /// The secret itself, for the one place that must use or show it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(**redacted**)")
    }
}

impl Drop for Secret {
    fn drop(&mut self) {
        zeroize::Zeroize::zeroize(&mut self.0);
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TenantDoc {
    pub slug: Slug,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    /// Algorithm of the tenant's newly generated signing keys.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signing_alg: Option<SigningAlg>,
    /// Longest lifetime, in seconds, of any token the tenant signs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_token_lifetime: Option<i64>,
    /// Days audit events are kept before retention purge (default 2557, seven years).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub audit_retention_days: Option<i64>,
    /// Api identifiers whose resources hold protected health information (HIPAA report).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phi_audiences: Option<Vec<String>>,
    /// Roles an organization's administrator may assign inside its organization.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub org_assignable_roles: Option<Vec<String>>,
    /// Rules every new password must meet (only the fields present are managed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password_policy: Option<PasswordPolicyDoc>,
    /// Rate limits and lockout of the authentication endpoints.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attack_protection: Option<AttackProtectionDoc>,
    /// Signup, email verification and the default language of the hosted pages.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub universal_login: Option<UniversalLoginDoc>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub connections: Vec<ConnectionDoc>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub apis: Vec<ApiDoc>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub roles: Vec<RoleDoc>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub applications: Vec<ApplicationDoc>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub users: Vec<UserDoc>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub organizations: Vec<OrganizationDoc>,
}

impl TenantDoc {
    /// A tenant entry with only its key.
    pub fn new(slug: Slug) -> Self {
        Self {
            slug,
            display_name: None,
            signing_alg: None,
            max_token_lifetime: None,
            audit_retention_days: None,
            phi_audiences: None,
            org_assignable_roles: None,
            password_policy: None,
            attack_protection: None,
            universal_login: None,
            connections: Vec::new(),
            apis: Vec::new(),
            roles: Vec::new(),
            applications: Vec::new(),
            users: Vec::new(),
            organizations: Vec::new(),
        }
    }
}

/// The tenant's password policy; see [`crate::model::PasswordPolicy`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PasswordPolicyDoc {
    /// 8 to 128 characters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_length: Option<u32>,
    /// Minimum estimated strength, 0 (none) to 4 (very strong).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_strength: Option<u8>,
    /// Previous passwords that may not be reused, 0 (off) to 24.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub history: Option<u32>,
    /// Refuse the bundled list of common breached passwords.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dictionary: Option<bool>,
    /// Refuse passwords containing the user's email address or name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub no_personal_info: Option<bool>,
}

/// The tenant's attack-protection limits; see [`crate::model::AttackProtection`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AttackProtectionDoc {
    /// Authentication requests per client address per minute (1 to 10000).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth_per_ip_per_minute: Option<u32>,
    /// Failed logins per address per hour before it is locked (1 to 1000).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failed_logins_per_hour: Option<u32>,
    /// First lock, in seconds (60 to 86400); each further lock lasts twice as long…
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lockout_secs: Option<i64>,
    /// …up to this (at least `lockout_secs`, at most 30 days).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lockout_max_secs: Option<i64>,
    /// Refresh-token grants per user per hour (1 to 100000).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refresh_per_user_per_hour: Option<u32>,
    /// Failed logins per client address per day across accounts (1 to 1000000).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub suspicious_ip_failures_per_day: Option<u32>,
}

/// Behaviour of the tenant's hosted login pages; see [`crate::model::UniversalLogin`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UniversalLoginDoc {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signup_enabled: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub require_email_verification: Option<bool>,
    /// `en` or `fr`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_locale: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConnectionDoc {
    pub name: String,
    /// Defaults to `database` on create.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub strategy: Option<ConnectionStrategy>,
    /// Strategy-specific options, replaced as a whole when present.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub options: Option<JsonMap>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApiDoc {
    /// The audience of the Api's access tokens; the key.
    pub identifier: String,
    /// Defaults to the identifier on create.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Defaults to the tenant's `signing_alg` on create.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signing_alg: Option<SigningAlg>,
    /// Seconds; defaults to [`DEFAULT_API_TOKEN_LIFETIME`](super::DEFAULT_API_TOKEN_LIFETIME).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_lifetime: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rbac: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub permissions_in_token: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allow_offline_access: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub skip_consent: Option<bool>,
    /// Added (or their description updated); permissions not listed are kept.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub permissions: Vec<PermissionDoc>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PermissionDoc {
    pub value: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RoleDoc {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Names of the roles this role inherits; the complete list when present.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inherits: Option<Vec<String>>,
    /// The role's complete list of permissions when present.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub permissions: Option<Vec<RolePermissionDoc>>,
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RolePermissionDoc {
    /// The Api's identifier.
    pub api: String,
    pub permission: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApplicationDoc {
    pub name: String,
    /// When given, the key (instead of `name`) and the id of a created application.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_id: Option<ClientId>,
    #[serde(rename = "type")]
    pub app_type: AppType,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub callbacks: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub logout_urls: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub web_origins: Option<Vec<String>>,
    /// Defaults by type: `authorization_code` + `refresh_token`, or `client_credentials`
    /// for `m2m`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grant_types: Option<Vec<String>>,
    /// Defaults to `deny`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub organization_usage: Option<OrganizationUsage>,
    /// Seconds; defaults to [`DEFAULT_ID_TOKEN_LIFETIME`](super::DEFAULT_ID_TOKEN_LIFETIME).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id_token_lifetime: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<RefreshTokenDoc>,
    /// Defaults to `none` for `spa`/`native`, `client_secret_basic` otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_endpoint_auth_method: Option<String>,
    /// Require PKCE (S256) on the authorization-code grant; defaults to `true`. Public
    /// clients (`spa`, `native`) always require PKCE whatever this says: `false` only
    /// relaxes it for confidential ones (`web`, `m2m`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pkce_required: Option<bool>,
    /// First-party applications (the default) skip the consent page; third-party ones ask
    /// each user once for the scopes they request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_first_party: Option<bool>,
    /// Client grants of an `m2m` application: the permissions of each Api it may obtain
    /// with `client_credentials`. A listed grant's scope becomes exactly the listed one;
    /// grants not listed are kept.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub grants: Vec<ClientGrantDoc>,
}

/// A client grant: which permissions of one Api a machine-to-machine application may
/// obtain. Keyed by `api` within its application.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClientGrantDoc {
    /// The Api's identifier (defined in the file or already stored).
    pub api: String,
    /// Permissions of that Api; the grant's complete scope.
    pub scope: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RefreshTokenDoc {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rotation: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idle_lifetime: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub absolute_lifetime: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserDoc {
    pub email: Email,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email_verified: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub given_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub family_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nickname: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub picture: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub locale: Option<String>,
    /// Initial password, hashed (argon2id) when the user is created; never exported.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password: Option<Secret>,
    /// Initial password as an argon2 PHC or bcrypt hash (imports); never exported.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password_hash: Option<Secret>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub blocked: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_metadata: Option<JsonMap>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub app_metadata: Option<JsonMap>,
    /// Tenant-wide role assignments, added to the user's existing ones.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub roles: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OrganizationDoc {
    pub slug: Slug,
    /// Defaults to the slug on create.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    /// Replaced as a whole when present.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<OrgMetadata>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_limit: Option<i64>,
    /// Added to the organization's existing members.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub members: Vec<MemberDoc>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub teams: Vec<TeamDoc>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MemberDoc {
    pub email: Email,
    /// Roles inside this organization, added to the member's existing ones.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub roles: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TeamDoc {
    pub slug: Slug,
    /// Defaults to the slug on create.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Emails of organization members, added to the team's existing members.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub members: Vec<Email>,
    /// Added to the team's existing roles.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub roles: Vec<String>,
}

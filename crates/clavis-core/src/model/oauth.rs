//! OpenID Provider state: client grants, sessions, authorization codes, token families and
//! refresh tokens. Secrets (session cookies, codes, refresh tokens) are stored only as
//! SHA-256 digests.

use clavis_types::{
    ApiId, ClientGrantId, ClientId, FamilyId, OrgId, SessionId, TenantId, Timestamp, UserId,
};

/// Which permissions of an Api a machine-to-machine client may obtain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientGrant {
    pub tenant_id: TenantId,
    pub id: ClientGrantId,
    pub client_id: ClientId,
    pub api_id: ApiId,
    pub scope: Vec<String>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

/// A user's login session at the tenant (cookie `id.secret`; only the digest is stored).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    pub tenant_id: TenantId,
    pub id: SessionId,
    pub secret_digest: Vec<u8>,
    pub user_id: UserId,
    pub auth_time: Timestamp,
    pub amr: Vec<String>,
    pub created_at: Timestamp,
    pub last_seen_at: Timestamp,
    pub idle_expires_at: Timestamp,
    pub absolute_expires_at: Timestamp,
    pub ip_address: Option<String>,
    pub user_agent: Option<String>,
    pub revoked_at: Option<Timestamp>,
}

impl Session {
    pub fn is_live(&self, now: Timestamp) -> bool {
        self.revoked_at.is_none() && now < self.idle_expires_at && now < self.absolute_expires_at
    }
}

/// An issued authorization code (single use, short-lived).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthorizationCode {
    pub tenant_id: TenantId,
    pub code_digest: Vec<u8>,
    pub client_id: ClientId,
    pub user_id: UserId,
    pub session_id: SessionId,
    pub org_id: Option<OrgId>,
    pub redirect_uri: String,
    /// Space-separated granted scope.
    pub scope: String,
    pub audience: Option<String>,
    pub nonce: Option<String>,
    /// S256 challenge (base64url SHA-256 of the verifier).
    pub code_challenge: Option<String>,
    pub auth_time: Timestamp,
    pub amr: Vec<String>,
    /// The family the tokens issued from this code will belong to.
    pub family_id: FamilyId,
    pub created_at: Timestamp,
    pub expires_at: Timestamp,
    pub consumed_at: Option<Timestamp>,
}

/// All tokens issued from one user grant; revoking the family revokes them all.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenFamily {
    pub tenant_id: TenantId,
    pub id: FamilyId,
    pub client_id: ClientId,
    pub user_id: UserId,
    pub org_id: Option<OrgId>,
    pub session_id: Option<SessionId>,
    pub scope: String,
    pub audience: Option<String>,
    pub auth_time: Timestamp,
    pub amr: Vec<String>,
    pub created_at: Timestamp,
    pub absolute_expires_at: Timestamp,
    pub revoked_at: Option<Timestamp>,
    pub revoked_reason: Option<String>,
}

/// One refresh token of a family; rotation marks it used and issues the next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefreshToken {
    pub tenant_id: TenantId,
    pub token_digest: Vec<u8>,
    pub family_id: FamilyId,
    pub created_at: Timestamp,
    pub idle_expires_at: Timestamp,
    pub used_at: Option<Timestamp>,
}

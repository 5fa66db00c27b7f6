//! Repositories of OpenID Provider state.

use async_trait::async_trait;
use clavis_types::{
    ApiId, ClientGrantId, ClientId, FamilyId, SessionId, TenantId, Timestamp, UserId,
};

use super::StoreResult;
use crate::model::{AuthorizationCode, ClientGrant, Page, RefreshToken, Session, TokenFamily};

#[async_trait]
pub trait GrantRepo: Send {
    /// Insert, or replace the scope of the grant for (client, api).
    async fn client_grant_upsert(&mut self, g: &ClientGrant) -> StoreResult<()>;
    async fn client_grant_get(
        &mut self,
        t: &TenantId,
        client: &ClientId,
        api: &ApiId,
    ) -> StoreResult<Option<ClientGrant>>;
    async fn client_grant_list(
        &mut self,
        t: &TenantId,
        client: &ClientId,
    ) -> StoreResult<Vec<ClientGrant>>;
    async fn client_grant_delete(&mut self, t: &TenantId, id: &ClientGrantId) -> StoreResult<bool>;
    /// Insert a new grant; a conflict if the client already has one on the Api.
    async fn client_grant_insert(&mut self, g: &ClientGrant) -> StoreResult<()>;
    async fn client_grant_get_by_id(
        &mut self,
        t: &TenantId,
        id: &ClientGrantId,
    ) -> StoreResult<Option<ClientGrant>>;
    /// Set the scope (and `updated_at`) of the grant with `g.id`; false if it is gone.
    async fn client_grant_update(&mut self, g: &ClientGrant) -> StoreResult<bool>;
    /// The tenant's grants, optionally only those of one client and/or one Api, by id.
    async fn client_grant_search(
        &mut self,
        t: &TenantId,
        client: Option<&ClientId>,
        api: Option<&ApiId>,
        page: Page,
    ) -> StoreResult<Vec<ClientGrant>>;
    /// How many grants [`client_grant_search`](Self::client_grant_search) would find.
    async fn client_grant_count(
        &mut self,
        t: &TenantId,
        client: Option<&ClientId>,
        api: Option<&ApiId>,
    ) -> StoreResult<i64>;
}

#[async_trait]
pub trait SessionRepo: Send {
    async fn session_insert(&mut self, s: &Session) -> StoreResult<()>;
    async fn session_get(&mut self, t: &TenantId, id: &SessionId) -> StoreResult<Option<Session>>;
    /// Slide the idle expiry (never past the absolute expiry).
    async fn session_touch(
        &mut self,
        t: &TenantId,
        id: &SessionId,
        seen: Timestamp,
        idle_expires_at: Timestamp,
    ) -> StoreResult<bool>;
    async fn session_revoke(
        &mut self,
        t: &TenantId,
        id: &SessionId,
        at: Timestamp,
    ) -> StoreResult<bool>;
}

/// `revoked_reason` of the families [`TokenRepo::family_revoke_all_for_user`] revokes.
pub const USER_FAMILIES_REVOKED: &str = "every token of the user revoked";

#[async_trait]
pub trait TokenRepo: Send {
    async fn code_insert(&mut self, c: &AuthorizationCode) -> StoreResult<()>;
    /// Mark the code consumed. Returns the code and whether *this* call consumed it
    /// (false: it had been consumed before — a replay).
    async fn code_consume(
        &mut self,
        t: &TenantId,
        digest: &[u8],
        at: Timestamp,
    ) -> StoreResult<Option<(AuthorizationCode, bool)>>;
    async fn family_insert(&mut self, f: &TokenFamily) -> StoreResult<()>;
    async fn family_get(&mut self, t: &TenantId, id: &FamilyId)
    -> StoreResult<Option<TokenFamily>>;
    /// Revoke a family (and so every token in it); false if already revoked.
    async fn family_revoke(
        &mut self,
        t: &TenantId,
        id: &FamilyId,
        at: Timestamp,
        reason: &str,
    ) -> StoreResult<bool>;
    /// Revoke every family of the user not revoked yet (and so every refresh token in
    /// them, and the access tokens recorded in them), with the reason
    /// [`USER_FAMILIES_REVOKED`]; returns how many were revoked.
    async fn family_revoke_all_for_user(
        &mut self,
        t: &TenantId,
        user: &UserId,
        at: Timestamp,
    ) -> StoreResult<u64>;
    async fn refresh_insert(&mut self, r: &RefreshToken) -> StoreResult<()>;
    async fn refresh_get(
        &mut self,
        t: &TenantId,
        digest: &[u8],
    ) -> StoreResult<Option<RefreshToken>>;
    /// Mark used; false if it had been used already (reuse).
    async fn refresh_mark_used(
        &mut self,
        t: &TenantId,
        digest: &[u8],
        at: Timestamp,
    ) -> StoreResult<bool>;
    /// Remember an access token issued within a family, so revoking the family revokes it.
    async fn access_token_record(
        &mut self,
        t: &TenantId,
        jti: &str,
        family: &FamilyId,
        expires_at: Timestamp,
    ) -> StoreResult<()>;
    async fn access_token_family(
        &mut self,
        t: &TenantId,
        jti: &str,
    ) -> StoreResult<Option<FamilyId>>;
    /// Record a client assertion's `jti`; false when it was seen before (a replay).
    /// Expired entries of the client are dropped first.
    async fn assertion_jti_use(
        &mut self,
        t: &TenantId,
        client: &ClientId,
        jti: &str,
        expires_at: Timestamp,
        now: Timestamp,
    ) -> StoreResult<bool>;
}

//! Repositories of signing keys and of the install-wide administrator bootstrap.

use async_trait::async_trait;
use clavis_types::{KeyState, Kid, TenantId, Timestamp, UserId};

use super::StoreResult;
use crate::model::SigningKey;

#[async_trait]
pub trait KeyRepo: Send {
    async fn key_insert(&mut self, key: &SigningKey) -> StoreResult<()>;
    /// All keys of the tenant, oldest first.
    async fn key_list(&mut self, t: &TenantId) -> StoreResult<Vec<SigningKey>>;
    /// Update state and timestamps, only if the stored state is still `expected`
    /// (so two concurrent rotations cannot both promote a key); false otherwise.
    async fn key_update(&mut self, key: &SigningKey, expected: KeyState) -> StoreResult<bool>;
    async fn key_delete(&mut self, t: &TenantId, kid: &Kid) -> StoreResult<bool>;
}

/// Install-wide administration state: the bootstrap tokens, and which users administer
/// Clavis. `admin_exists` is deliberately install-wide (it asks whether any administrator
/// exists at all); the rows themselves carry their tenant.
#[async_trait]
pub trait AdminRepo: Send {
    /// Store a new bootstrap token (as a digest) and drop expired ones. Tokens printed by
    /// other nodes stay valid.
    async fn bootstrap_token_insert(
        &mut self,
        digest: &[u8],
        created_at: Timestamp,
        expires_at: Timestamp,
    ) -> StoreResult<()>;
    /// Consume the token if it exists, is unused and unexpired; true when consumed.
    async fn bootstrap_token_consume(&mut self, digest: &[u8], now: Timestamp)
    -> StoreResult<bool>;
    /// True when the token exists, is unused and unexpired (does not consume it).
    async fn bootstrap_token_valid(&mut self, digest: &[u8], now: Timestamp) -> StoreResult<bool>;
    async fn admin_add(&mut self, t: &TenantId, user: &UserId, at: Timestamp) -> StoreResult<()>;
    async fn admin_exists(&mut self) -> StoreResult<bool>;
    async fn admin_is(&mut self, t: &TenantId, user: &UserId) -> StoreResult<bool>;
}

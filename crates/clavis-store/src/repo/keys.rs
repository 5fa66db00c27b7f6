//! Signing keys and install-wide administration state.

use async_trait::async_trait;
use clavis_core::model::SigningKey;
use clavis_core::ports::{AdminRepo, KeyRepo, StoreResult};
use clavis_types::{KeyState, Kid, SigningAlg, TenantId, Timestamp, UserId};

use crate::SqlTx;
use crate::sql::{Row, json, q};

fn key(r: &Row) -> StoreResult<SigningKey> {
    Ok(SigningKey {
        tenant_id: r.parse("tenant_id", TenantId::parse)?,
        kid: r.parse("kid", Kid::parse)?,
        alg: r.parse("alg", SigningAlg::parse)?,
        state: r.parse("state", KeyState::parse)?,
        public_jwk: r.json("public_jwk")?,
        private_key_sealed: r.bytes("private_key_sealed")?,
        created_at: r.ts("created_at")?,
        activated_at: r.opt_ts("activated_at")?,
        retired_at: r.opt_ts("retired_at")?,
        expires_at: r.opt_ts("expires_at")?,
    })
}

#[async_trait]
impl KeyRepo for SqlTx {
    async fn key_insert(&mut self, k: &SigningKey) -> StoreResult<()> {
        self.conn
            .exec(q!(
                "INSERT INTO signing_keys (tenant_id, kid, alg, state, public_jwk, private_key_sealed,
                    created_at, activated_at, retired_at, expires_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
                &k.tenant_id, &k.kid, k.alg.as_str(), k.state.as_str(), json(&k.public_jwk),
                &k.private_key_sealed, k.created_at, k.activated_at, k.retired_at, k.expires_at
            ))
            .await
            .map(drop)
    }
    async fn key_list(&mut self, t: &TenantId) -> StoreResult<Vec<SigningKey>> {
        self.conn
            .fetch(q!(
                "SELECT * FROM signing_keys WHERE tenant_id = $1 ORDER BY created_at, kid",
                t
            ))
            .await?
            .iter()
            .map(key)
            .collect()
    }
    async fn key_update(&mut self, k: &SigningKey, expected: KeyState) -> StoreResult<bool> {
        let n = self
            .conn
            .exec(q!(
                "UPDATE signing_keys SET state = $3, activated_at = $4, retired_at = $5, expires_at = $6
                 WHERE tenant_id = $1 AND kid = $2 AND state = $7",
                &k.tenant_id, &k.kid, k.state.as_str(), k.activated_at, k.retired_at, k.expires_at,
                expected.as_str()
            ))
            .await?;
        Ok(n == 1)
    }
    async fn key_delete(&mut self, t: &TenantId, kid: &Kid) -> StoreResult<bool> {
        let n = self
            .conn
            .exec(q!(
                "DELETE FROM signing_keys WHERE tenant_id = $1 AND kid = $2",
                t,
                kid
            ))
            .await?;
        Ok(n == 1)
    }
}

#[async_trait]
impl AdminRepo for SqlTx {
    async fn bootstrap_token_insert(
        &mut self,
        digest: &[u8],
        created_at: Timestamp,
        expires_at: Timestamp,
    ) -> StoreResult<()> {
        self.conn
            .exec(q!(
                "DELETE FROM bootstrap_tokens WHERE used_at IS NULL AND expires_at <= $1",
                created_at
            ))
            .await?;
        self.conn
            .exec(q!(
                "INSERT INTO bootstrap_tokens (digest, created_at, expires_at) VALUES ($1, $2, $3)",
                digest,
                created_at,
                expires_at
            ))
            .await
            .map(drop)
    }
    async fn bootstrap_token_consume(
        &mut self,
        digest: &[u8],
        now: Timestamp,
    ) -> StoreResult<bool> {
        let n = self
            .conn
            .exec(q!(
                "UPDATE bootstrap_tokens SET used_at = $2 WHERE digest = $1 AND used_at IS NULL AND expires_at > $2",
                digest, now
            ))
            .await?;
        Ok(n == 1)
    }
    async fn bootstrap_token_valid(&mut self, digest: &[u8], now: Timestamp) -> StoreResult<bool> {
        Ok(self
            .conn
            .fetch_opt(q!(
                "SELECT 1 AS ok FROM bootstrap_tokens WHERE digest = $1 AND used_at IS NULL AND expires_at > $2",
                digest, now
            ))
            .await?
            .is_some())
    }
    async fn admin_add(&mut self, t: &TenantId, u: &UserId, at: Timestamp) -> StoreResult<()> {
        self.conn
            .exec(q!(
                "INSERT INTO admins (tenant_id, user_id, created_at) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
                t, u, at
            ))
            .await
            .map(drop)
    }
    async fn admin_exists(&mut self) -> StoreResult<bool> {
        Ok(self
            .conn
            .fetch_opt(q!("SELECT 1 AS ok FROM admins LIMIT 1"))
            .await?
            .is_some())
    }
    async fn admin_is(&mut self, t: &TenantId, u: &UserId) -> StoreResult<bool> {
        Ok(self
            .conn
            .fetch_opt(q!(
                "SELECT 1 AS ok FROM admins WHERE tenant_id = $1 AND user_id = $2",
                t,
                u
            ))
            .await?
            .is_some())
    }
}

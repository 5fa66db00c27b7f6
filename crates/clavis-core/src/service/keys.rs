//! Signing-key life cycle per tenant: `next` (published, not yet signing) → `active`
//! (signing) → `retired` (published until every token it signed has expired) → removed.
//! A key is always in the JWKS before it signs, so relying parties that cache the JWKS
//! never meet an unknown `kid` after a rotation.

use clavis_crypto::{JwkSet, Signer, generate_signing_key};
use clavis_types::{KeyState, Kid, SigningAlg};

use super::Core;
use crate::CoreError;
use crate::model::{SigningKey, Tenant};
use crate::ports::Tx;

fn seal_aad(key: &SigningKey) -> Vec<u8> {
    format!("clavis/signing-key/{}/{}", key.tenant_id, key.kid).into_bytes()
}

impl Core {
    async fn new_signing_key(
        &self,
        tx: &mut dyn Tx,
        tenant: &Tenant,
        alg: SigningAlg,
        state: KeyState,
    ) -> Result<SigningKey, CoreError> {
        let now = self.now();
        let kid = Kid::generate(now, &*self.rng);
        let generated = generate_signing_key(alg, kid.as_str())?;
        let dk = self.keyring.data_key(tx, &tenant.id).await?;
        let mut key = SigningKey {
            tenant_id: tenant.id.clone(),
            kid,
            alg,
            state,
            public_jwk: generated.public_jwk,
            private_key_sealed: Vec::new(),
            created_at: now,
            activated_at: (state == KeyState::Active).then_some(now),
            retired_at: None,
            expires_at: None,
        };
        key.private_key_sealed = dk.seal(&generated.pkcs8_der, &seal_aad(&key), &*self.rng);
        tx.key_insert(&key).await?;
        Ok(key)
    }

    /// A new tenant's first keys: one active, one published as next.
    pub(crate) async fn init_signing_keys(
        &self,
        tx: &mut dyn Tx,
        tenant: &Tenant,
    ) -> Result<(), CoreError> {
        let alg = tenant.settings.signing_alg;
        self.new_signing_key(tx, tenant, alg, KeyState::Active)
            .await?;
        self.new_signing_key(tx, tenant, alg, KeyState::Next)
            .await?;
        Ok(())
    }

    /// Rotate: the published next key starts signing, the active key retires (kept in the
    /// JWKS until tokens it signed have expired), a new next key is published, and retired
    /// keys past their expiry are removed. Returns the new active key.
    pub async fn rotate_signing_keys(
        &self,
        tx: &mut dyn Tx,
        tenant: &Tenant,
    ) -> Result<SigningKey, CoreError> {
        let now = self.now();
        let keys = tx.key_list(&tenant.id).await?;
        for k in &keys {
            if k.state == KeyState::Retired && k.expires_at.is_some_and(|e| e <= now) {
                tx.key_delete(&tenant.id, &k.kid).await?;
            }
        }
        for k in keys.iter().filter(|k| k.state == KeyState::Active) {
            let mut k = k.clone();
            k.state = KeyState::Retired;
            k.retired_at = Some(now);
            k.expires_at = Some(now.plus_secs(tenant.settings.max_token_lifetime));
            tx.key_update(&k).await?;
        }
        let active = match keys.iter().find(|k| k.state == KeyState::Next) {
            Some(next) => {
                let mut k = next.clone();
                k.state = KeyState::Active;
                k.activated_at = Some(now);
                tx.key_update(&k).await?;
                k
            }
            // Only reachable when the next key was revoked: sign with a fresh key at once.
            None => {
                self.new_signing_key(tx, tenant, tenant.settings.signing_alg, KeyState::Active)
                    .await?
            }
        };
        self.new_signing_key(tx, tenant, tenant.settings.signing_alg, KeyState::Next)
            .await?;
        Ok(active)
    }

    /// The tenant's public keys: next, active, and retired keys still within their expiry.
    pub async fn jwks(&self, tenant: &Tenant) -> Result<JwkSet, CoreError> {
        let now = self.now();
        let mut tx = self.store.read().await?;
        let keys = tx.key_list(&tenant.id).await?;
        Ok(JwkSet {
            keys: keys
                .into_iter()
                .filter(|k| match k.state {
                    KeyState::Next | KeyState::Active => true,
                    KeyState::Retired => k.expires_at.is_some_and(|e| e > now),
                    KeyState::Revoked => false,
                })
                .map(|k| k.public_jwk)
                .collect(),
        })
    }

    /// The signer for the tenant's active key.
    pub async fn active_signer(
        &self,
        tx: &mut dyn Tx,
        tenant: &Tenant,
    ) -> Result<Signer, CoreError> {
        let key = tx
            .key_list(&tenant.id)
            .await?
            .into_iter()
            .find(|k| k.state == KeyState::Active)
            .ok_or(CoreError::NotFound("active signing key"))?;
        let dk = self.keyring.data_key(tx, &tenant.id).await?;
        let der = dk.open(&key.private_key_sealed, &seal_aad(&key))?;
        Ok(Signer::from_pkcs8(key.alg, key.kid.as_str(), &der)?)
    }
}

//! Signing-key life cycle per tenant: `next` (published, not yet signing) → `active`
//! (signing) → `retired` (published until every token it signed has expired, then kept
//! unpublished). A key is always in the JWKS before it signs, so relying parties that
//! cache the JWKS never meet an unknown `kid` after a rotation.
//!
//! Keys are never deleted: the audit log's checkpoints and purge anchors are signed with
//! them and must stay verifiable for as long as the log is kept ([`Core::audit_keys`]
//! serves every public key the tenant ever had for that).

use clavis_crypto::{JwkSet, Signer, generate_signing_key};
use clavis_types::{KeyState, Kid, SigningAlg};

use super::Core;

/// How long relying parties may cache a tenant's JWKS (its `Cache-Control: max-age`); a
/// newly published key does not sign before it has been visible this long.
pub const JWKS_MAX_AGE_SECS: i64 = 300;

/// What a rotation did.
#[derive(Debug, Clone, PartialEq)]
pub enum Rotation {
    /// The previously published next key now signs.
    Rotated(Box<SigningKey>),
    /// There was no next key: one has been published and can sign from `usable_at`.
    NextPublished { usable_at: clavis_types::Timestamp },
}
use super::RequestMeta;
use crate::CoreError;
use crate::model::{AuditActor, JsonMap, SigningKey, Tenant};
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
    /// JWKS until tokens it signed have expired, and in [`Core::audit_keys`] for good), and
    /// a new next key is published.
    ///
    /// The next key must have been in the JWKS for at least [`JWKS_MAX_AGE_SECS`] (the
    /// longest a relying party may cache it), otherwise rotation is refused with the time
    /// it becomes possible. If no next key exists, one is published and rotation can
    /// follow once it has been visible that long. Concurrent rotations (several nodes) are
    /// refused rather than leaving two active keys. The change is audited in `tx`:
    /// `key.rotated` (new active `kid`, `retired_kids`, `next_kid`) or `key.published`.
    pub async fn rotate_signing_keys(
        &self,
        tx: &mut dyn Tx,
        tenant: &Tenant,
    ) -> Result<Rotation, CoreError> {
        self.rotate_signing_keys_as(tx, tenant, &RequestMeta::default())
            .await
    }

    /// [`Core::rotate_signing_keys`] on behalf of a caller (`meta.caller` becomes the
    /// actor of the audit event).
    pub async fn rotate_signing_keys_as(
        &self,
        tx: &mut dyn Tx,
        tenant: &Tenant,
        meta: &RequestMeta,
    ) -> Result<Rotation, CoreError> {
        let now = self.now();
        let keys = tx.key_list(&tenant.id).await?;
        let Some(next) = keys.iter().find(|k| k.state == KeyState::Next) else {
            let next = self
                .new_signing_key(tx, tenant, tenant.settings.signing_alg, KeyState::Next)
                .await?;
            let mut ctx = JsonMap::new();
            ctx.insert("kid".into(), next.kid.as_str().into());
            ctx.insert("alg".into(), next.alg.as_str().into());
            self.key_event(tx, tenant, "key.published", ctx, meta)
                .await?;
            return Ok(Rotation::NextPublished {
                usable_at: next.created_at.plus_secs(JWKS_MAX_AGE_SECS),
            });
        };
        let usable_at = next.created_at.plus_secs(JWKS_MAX_AGE_SECS);
        if usable_at > now {
            return Err(CoreError::Conflict(format!(
                "the next key {} was published at {}; relying parties may cache the JWKS for \
                 {JWKS_MAX_AGE_SECS} s, so it can start signing at {}",
                next.kid,
                next.created_at.to_rfc3339(),
                usable_at.to_rfc3339()
            )));
        }
        let concurrent = || {
            CoreError::Conflict(
                "the signing keys changed during rotation (another rotation?); retry".to_owned(),
            )
        };
        let mut retired_kids = Vec::new();
        for k in keys.iter().filter(|k| k.state == KeyState::Active) {
            retired_kids.push(serde_json::Value::from(k.kid.as_str()));
            let mut k = k.clone();
            k.state = KeyState::Retired;
            k.retired_at = Some(now);
            k.expires_at = Some(now.plus_secs(tenant.settings.max_token_lifetime));
            if !tx.key_update(&k, KeyState::Active).await? {
                return Err(concurrent());
            }
        }
        let mut active = next.clone();
        active.state = KeyState::Active;
        active.activated_at = Some(now);
        if !tx.key_update(&active, KeyState::Next).await? {
            return Err(concurrent());
        }
        let new_next = self
            .new_signing_key(tx, tenant, tenant.settings.signing_alg, KeyState::Next)
            .await?;
        let mut ctx = JsonMap::new();
        ctx.insert("kid".into(), active.kid.as_str().into());
        ctx.insert("alg".into(), active.alg.as_str().into());
        ctx.insert("retired_kids".into(), retired_kids.into());
        ctx.insert("next_kid".into(), new_next.kid.as_str().into());
        // Last, after the key rows: a concurrent rotation has already been refused above.
        self.key_event(tx, tenant, "key.rotated", ctx, meta).await?;
        Ok(Rotation::Rotated(Box::new(active)))
    }

    /// A signing-key life-cycle event, in the transaction that made the change.
    async fn key_event(
        &self,
        tx: &mut dyn Tx,
        tenant: &Tenant,
        event_type: &str,
        context: JsonMap,
        meta: &RequestMeta,
    ) -> Result<(), CoreError> {
        let event = self.audit_event(
            &tenant.id,
            event_type,
            AuditActor::default(),
            None,
            context,
            meta,
        );
        self.audit_in(tx, event).await
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

    /// The public key of every signing key the tenant ever had — next, active and retired,
    /// expired ones included (keys are never deleted) — except revoked ones, whose
    /// signatures prove nothing. For verifying audit checkpoints, purge anchors and exports
    /// of any age offline ([`crate::chain_verify`]); not for validating tokens (use
    /// [`Core::jwks`], which leaves out keys whose tokens have all expired).
    pub async fn audit_keys(&self, tenant: &Tenant) -> Result<JwkSet, CoreError> {
        let mut tx = self.store.read().await?;
        let keys = tx.key_list(&tenant.id).await?;
        Ok(JwkSet {
            keys: keys
                .into_iter()
                .filter(|k| k.state != KeyState::Revoked)
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

//! Signing keys through the Management API, shaped after Auth0's `keys/signing`: list
//! them, read one, rotate, revoke. Built on the signing-key life cycle of
//! [`Core::rotate_signing_keys`]; only public keys are ever shown.
//!
//! States map to Auth0's words: `active` is `current`, `next` is `next`, `retired` is
//! `previous`, `revoked` is `revoked`.
//!
//! - Rotation is [`Core::rotate_signing_keys_as`]: the next key must have been published
//!   for [`JWKS_MAX_AGE_SECS`] before it may sign (409 with the time otherwise); it
//!   records `key.rotated` (or `key.published` when there was no next key).
//! - Revocation takes a `next` or `previous` key out of the JWKS at once, so tokens it
//!   signed stop verifying (and audit checkpoints it signed count as unverifiable: a
//!   revoked key proves nothing). The `current` key is refused (rotate first, then revoke
//!   it as `previous`), so the tenant always has a key to sign with. It records
//!   `key.revoked`. Revoking a revoked key changes nothing.
//! - After either change this node forgets its cached signer and verifiers at once;
//!   other nodes re-read keys within [`KEY_CACHE_SECS`](crate::oauth::KEY_CACHE_SECS).

use clavis_crypto::Jwk;
use clavis_types::{KeyState, Kid};
use serde::Serialize;
use serde_json::json;

use crate::model::{AuditActor, JsonMap, Page, SigningKey, Tenant};
use crate::service::RequestMeta;
use crate::service::{JWKS_MAX_AGE_SECS, Rotation};
use crate::{Core, CoreError};

/// A signing key as the API shows it: never private material.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct SigningKeyView {
    pub kid: String,
    /// `RS256`, `ES256` or `EdDSA`.
    pub alg: String,
    /// `current` (signs), `next` (published, signs after the next rotation), `previous`
    /// (retired; published until tokens it signed have expired) or `revoked`.
    pub state: String,
    pub current: bool,
    pub next: bool,
    pub previous: bool,
    pub revoked: bool,
    /// The public key.
    #[schema(value_type = Object)]
    pub jwk: Jwk,
    pub created_at: String,
    /// When it started signing.
    pub current_since: Option<String>,
    /// When it stopped signing.
    pub current_until: Option<String>,
    /// When it was revoked.
    pub revoked_at: Option<String>,
    /// When a previous key leaves the JWKS.
    pub published_until: Option<String>,
}

impl From<&SigningKey> for SigningKeyView {
    fn from(k: &SigningKey) -> Self {
        let revoked = k.state == KeyState::Revoked;
        Self {
            kid: k.kid.to_string(),
            alg: k.alg.as_str().to_owned(),
            state: state_name(k.state).to_owned(),
            current: k.state == KeyState::Active,
            next: k.state == KeyState::Next,
            previous: k.state == KeyState::Retired,
            revoked,
            jwk: k.public_jwk.clone(),
            created_at: k.created_at.to_rfc3339(),
            current_since: k.activated_at.map(|t| t.to_rfc3339()),
            current_until: k.retired_at.map(|t| t.to_rfc3339()),
            revoked_at: k.expires_at.filter(|_| revoked).map(|t| t.to_rfc3339()),
            published_until: k.expires_at.filter(|_| !revoked).map(|t| t.to_rfc3339()),
        }
    }
}

/// Auth0's word for a key state.
pub fn state_name(s: KeyState) -> &'static str {
    match s {
        KeyState::Active => "current",
        KeyState::Next => "next",
        KeyState::Retired => "previous",
        KeyState::Revoked => "revoked",
    }
}

/// What a rotation did.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct SigningKeyRotation {
    /// `true`: the next key now signs. `false`: there was no next key; one has been
    /// published and can be rotated in from `next_usable_at`.
    pub rotated: bool,
    /// The key that signs now.
    pub current: SigningKeyView,
    /// The newly published next key.
    pub next: SigningKeyView,
    /// When `next` may be rotated in (relying parties may cache the JWKS for
    /// `JWKS_MAX_AGE_SECS`).
    pub next_usable_at: String,
}

impl Core {
    /// A page of the tenant's signing keys, oldest first, and their total number.
    pub async fn signing_key_list(
        &self,
        tenant: &Tenant,
        page: Page,
    ) -> Result<(Vec<SigningKeyView>, i64), CoreError> {
        let mut tx = self.store.read().await?;
        let (keys, total) = page.window(tx.key_list(&tenant.id).await?);
        Ok((keys.iter().map(SigningKeyView::from).collect(), total))
    }

    /// One signing key.
    pub async fn signing_key_get(
        &self,
        tenant: &Tenant,
        kid: &Kid,
    ) -> Result<SigningKeyView, CoreError> {
        let mut tx = self.store.read().await?;
        tx.key_list(&tenant.id)
            .await?
            .iter()
            .find(|k| &k.kid == kid)
            .map(SigningKeyView::from)
            .ok_or(CoreError::NotFound("signing key"))
    }

    /// Rotate the tenant's signing keys on behalf of the caller.
    pub async fn signing_key_rotate(
        &self,
        tenant: &Tenant,
        meta: &RequestMeta,
    ) -> Result<SigningKeyRotation, CoreError> {
        let mut tx = self.store.begin().await?;
        let rotation = self.rotate_signing_keys_as(&mut *tx, tenant, meta).await?;
        let keys = tx.key_list(&tenant.id).await?;
        tx.commit().await?;
        self.keys.invalidate(&tenant.id);
        let find = |state: KeyState| {
            keys.iter()
                .rev()
                .find(|k| k.state == state)
                .map(SigningKeyView::from)
                .ok_or(CoreError::NotFound("signing key"))
        };
        let next = keys.iter().rev().find(|k| k.state == KeyState::Next);
        let next_usable_at = next
            .map(|k| k.created_at.plus_secs(JWKS_MAX_AGE_SECS))
            .unwrap_or_else(|| self.now());
        Ok(SigningKeyRotation {
            rotated: matches!(rotation, Rotation::Rotated(_)),
            current: find(KeyState::Active)?,
            next: find(KeyState::Next)?,
            next_usable_at: next_usable_at.to_rfc3339(),
        })
    }

    /// Revoke a `next` or `previous` key: it leaves the JWKS and tokens it signed stop
    /// verifying (at once on this node, within [`KEY_CACHE_SECS`](crate::oauth::KEY_CACHE_SECS) on the others). The
    /// current key is refused: rotate first.
    pub async fn signing_key_revoke(
        &self,
        tenant: &Tenant,
        kid: &Kid,
        meta: &RequestMeta,
    ) -> Result<SigningKeyView, CoreError> {
        let mut tx = self.store.begin().await?;
        let mut key = tx
            .key_list(&tenant.id)
            .await?
            .into_iter()
            .find(|k| &k.kid == kid)
            .ok_or(CoreError::NotFound("signing key"))?;
        let was = key.state;
        match was {
            KeyState::Revoked => return Ok(SigningKeyView::from(&key)),
            KeyState::Active => {
                return Err(CoreError::Conflict(format!(
                    "{kid} is the current signing key: rotate first \
                     (POST /keys/signing/rotate), then revoke it as a previous key"
                )));
            }
            KeyState::Next | KeyState::Retired => {}
        }
        let now = self.now();
        key.state = KeyState::Revoked;
        key.expires_at = Some(now);
        if !tx.key_update(&key, was).await? {
            return Err(CoreError::Conflict(
                "the signing keys changed meanwhile (a rotation?); retry".to_owned(),
            ));
        }
        let context = JsonMap::from_iter([
            ("kid".to_owned(), json!(key.kid.as_str())),
            ("alg".to_owned(), json!(key.alg.as_str())),
            ("previous_state".to_owned(), json!(state_name(was))),
        ]);
        let event = self.audit_event(
            &tenant.id,
            "key.revoked",
            AuditActor::default(),
            None,
            context,
            meta,
        );
        self.audit_in(&mut *tx, event).await?;
        tx.commit().await?;
        self.keys.invalidate(&tenant.id);
        Ok(SigningKeyView::from(&key))
    }
}

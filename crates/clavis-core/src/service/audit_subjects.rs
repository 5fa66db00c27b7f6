//! Personal data inside audit events, sealed under the **subject user's key**
//! (crypto-shredding).
//!
//! The subject of an event is `actor.user_id`, else a string `context.user_id`. An event
//! that names no user but carries `actor.email` (a failed login for an unknown address) has
//! a **pseudo-subject** instead: `eml_{base32(HMAC-SHA256(k, "audit-email-subject:" ||
//! lowercase(email)))}`, `k` the digest subkey of the tenant's data key
//! ([`email_subject_id`]). The id never contains the address, is the same for every
//! spelling case of it, and differs per tenant. Erasing a user also erases the
//! pseudo-subject of the user's current address ([`Core::audit_erase_subject`]).
//!
//! Before an event with a subject is appended, its personal fields
//! ([`PERSONAL_ACTOR_FIELDS`] and the context keys in [`PERSONAL_CONTEXT_KEYS`]) become
//! `sealed:v1:{subject_id}:{base64url(DataKey::seal(json(value), aad))}` with
//! `aad = "{tenant_id}/{subject_id}/{event_id}"`, so a sealed value copied to another
//! event, subject or tenant does not open. The plaintext is the value's JSON text, so a
//! context value keeps its type when unsealed. Events with neither a user nor an email (an
//! m2m client's token request) keep those fields in the clear and cost nothing extra: no
//! lookup, no allocation.
//!
//! Each user's key is a random [`DataKey`], stored in `audit_subject_keys` wrapped under the
//! tenant's data key (aad `"audit-subject:{tenant_id}:{user_id}"`). Erasure destroys it
//! (the record stays, with no key): every hash still verifies, the fields read as
//! [`ERASED`], and events appended afterwards carry [`ERASED`] instead of the data.
//!
//! Unsealed keys are cached for [`AUDIT_SUBJECT_CACHE_SECS`] so a login burst does not
//! read the database per event. A key is cached only once it is known to be committed: a
//! key created or read inside a caller's transaction that could still roll back is not
//! cached until its record is [`SETTLED_MS`] old. Another node may keep sealing under a
//! destroyed key for up to the cache lifetime; such fields read as erased as well.

use clavis_crypto::{DataKey, b64url};
use clavis_types::{Rng, TenantId, Timestamp};
use serde_json::Value;
use std::sync::Arc;

use super::Core;
use super::audit::RequestMeta;
use crate::CoreError;
use crate::chain::{ERASED, SEALED_PREFIX};
use crate::model::{AuditActor, AuditEvent, JsonMap, SubjectKey, Tenant};
use crate::ports::Tx;

/// How long an unsealed subject key (or "erased") is reused, in seconds.
pub const AUDIT_SUBJECT_CACHE_SECS: i64 = 5;

/// A key record read inside a caller's transaction is cached only when it is at least
/// this old, so a key inserted by a transaction that then rolls back is never reused.
pub const SETTLED_MS: i64 = 60_000;

/// Names of the actor fields that hold personal data.
pub const PERSONAL_ACTOR_FIELDS: [&str; 3] = ["email", "ip_address", "user_agent"];

/// Context keys whose values are personal data.
pub const PERSONAL_CONTEXT_KEYS: [&str; 9] = [
    "email",
    "name",
    "given_name",
    "family_name",
    "nickname",
    "username",
    "phone_number",
    "ip_address",
    "user_agent",
];

/// What a subject's personal data is sealed with, as cached per (tenant, user).
#[derive(Debug, Clone)]
pub enum SubjectState {
    /// The user's unsealed key.
    Key(Arc<DataKey>),
    /// The user was erased: personal data is replaced by [`ERASED`].
    Erased,
}

/// Prefix of a pseudo-subject id derived from an email address ([`email_subject_id`]).
pub const EMAIL_SUBJECT_PREFIX: &str = "eml_";

/// Whose key seals the personal data of an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Subject<'a> {
    /// A user id: `actor.user_id`, else a string `context.user_id`.
    User(&'a str),
    /// No user, but `actor.email`: the pseudo-subject of that address.
    Email(&'a str),
}

/// The subject whose personal data `e` carries, if any (no allocation).
pub(crate) fn subject_of(e: &AuditEvent) -> Option<Subject<'_>> {
    let user = e
        .actor
        .user_id
        .as_deref()
        .or_else(|| e.context.get("user_id").and_then(Value::as_str))
        .filter(|u| !u.is_empty());
    match user {
        Some(u) => Some(Subject::User(u)),
        None => e
            .actor
            .email
            .as_deref()
            .filter(|m| !m.trim().is_empty())
            .map(Subject::Email),
    }
}

/// The pseudo-subject id of `email` in the tenant whose data key is `tenant_key`:
/// `eml_` and the lowercase base32 of HMAC-SHA256 (the data key's digest subkey) over
/// `"audit-email-subject:"` and the trimmed, lower-cased address. Never the address.
pub fn email_subject_id(tenant_key: &DataKey, email: &str) -> String {
    let mut msg = b"audit-email-subject:".to_vec();
    msg.extend_from_slice(email.trim().to_lowercase().as_bytes());
    let digest = tenant_key.secret_digest(&msg);
    format!("{EMAIL_SUBJECT_PREFIX}{}", base32(&digest))
}

/// Lowercase Crockford base32 (the alphabet of Clavis ids), no padding.
fn base32(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 32] = b"0123456789abcdefghjkmnpqrstvwxyz";
    let mut out = String::with_capacity(bytes.len() * 8 / 5 + 1);
    let (mut acc, mut bits) = (0u32, 0u32);
    for b in bytes {
        acc = ((acc << 8) | u32::from(*b)) & 0xfff;
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            out.push(char::from(ALPHABET[((acc >> bits) & 0x1f) as usize]));
        }
    }
    if bits > 0 {
        out.push(char::from(ALPHABET[((acc << (5 - bits)) & 0x1f) as usize]));
    }
    out
}

/// AAD of a sealed field: binds it to its tenant, user and event.
pub(crate) fn field_aad(tenant: &TenantId, user: &str, event_id: &str) -> String {
    format!("{tenant}/{user}/{event_id}")
}

/// AAD of a subject key wrapped under the tenant's data key.
fn key_aad(tenant: &TenantId, user: &str) -> String {
    format!("audit-subject:{tenant}:{user}")
}

fn seal_json(key: &DataKey, user: &str, aad: &[u8], plain: &[u8], rng: &dyn Rng) -> String {
    format!(
        "{SEALED_PREFIX}{user}:{}",
        b64url(&key.seal(plain, aad, rng))
    )
}

/// Seal (or, for an erased subject, replace) the personal fields of `e` in place.
pub(crate) fn seal_event(e: &mut AuditEvent, user: &str, state: &SubjectState, rng: &dyn Rng) {
    let aad = field_aad(&e.tenant_id, user, &e.event_id);
    let seal_str = |s: &mut String| {
        *s = match state {
            SubjectState::Key(k) => {
                let plain = serde_json::to_vec(s.as_str()).unwrap_or_default();
                seal_json(k, user, aad.as_bytes(), &plain, rng)
            }
            SubjectState::Erased => ERASED.to_owned(),
        };
    };
    let a = &mut e.actor;
    for field in [&mut a.email, &mut a.ip_address, &mut a.user_agent]
        .into_iter()
        .flatten()
    {
        seal_str(field);
    }
    for k in PERSONAL_CONTEXT_KEYS {
        if let Some(v) = e.context.get_mut(k).filter(|v| !v.is_null()) {
            *v = Value::String(match state {
                SubjectState::Key(key) => {
                    let plain = serde_json::to_vec(&*v).unwrap_or_default();
                    seal_json(key, user, aad.as_bytes(), &plain, rng)
                }
                SubjectState::Erased => ERASED.to_owned(),
            });
        }
    }
}

/// Whether no open transaction can still have written `rec` (its last change is at least
/// [`SETTLED_MS`] old), so it may be cached.
fn settled(rec: &SubjectKey, now: Timestamp) -> bool {
    let changed = rec.erased_at.unwrap_or(rec.created_at);
    now.as_millis() - changed.as_millis() >= SETTLED_MS
}

/// The user a sealed value belongs to and its ciphertext (base64url), if `v` is sealed.
pub(crate) fn sealed_parts(v: &str) -> Option<(&str, &str)> {
    v.strip_prefix(SEALED_PREFIX)?.rsplit_once(':')
}

/// Open one sealed value with its user's key (`None`: no key, or destroyed).
pub(crate) fn open_sealed(
    key: Option<&DataKey>,
    tenant: &TenantId,
    user: &str,
    ciphertext: &str,
    event_id: &str,
) -> Value {
    let Some(key) = key else {
        return Value::String(ERASED.to_owned());
    };
    let aad = field_aad(tenant, user, event_id);
    clavis_crypto::b64url_decode(ciphertext)
        .ok()
        .and_then(|c| key.open(&c, aad.as_bytes()).ok())
        .and_then(|plain| serde_json::from_slice(&plain).ok())
        .unwrap_or_else(|| Value::String(UNREADABLE.to_owned()))
}

/// What a sealed value reads as when its user's key exists but does not open it (a value
/// copied from another event, user or tenant, or a tampered one).
pub const UNREADABLE: &str = "[unreadable]";

/// The user of every sealed personal value of `actor` and `context`.
pub(crate) fn sealed_users<'a>(
    actor: &'a AuditActor,
    context: &'a JsonMap,
) -> impl Iterator<Item = &'a str> + 'a {
    [&actor.email, &actor.ip_address, &actor.user_agent]
        .into_iter()
        .filter_map(|v| v.as_deref())
        .chain(
            PERSONAL_CONTEXT_KEYS
                .iter()
                .filter_map(|k| context.get(*k).and_then(Value::as_str)),
        )
        .filter_map(|v| sealed_parts(v).map(|(user, _)| user))
}

impl Core {
    /// Seal the personal fields of `event` inside the caller's transaction (creating the
    /// subject's key there if it has none).
    pub(crate) async fn audit_seal_in(
        &self,
        tx: &mut dyn Tx,
        event: &mut AuditEvent,
    ) -> Result<(), CoreError> {
        let user = match subject_of(event) {
            None => return Ok(()),
            Some(Subject::User(u)) => u.to_owned(),
            Some(Subject::Email(m)) => {
                let tenant_key = self.keyring.data_key(tx, &event.tenant_id).await?;
                email_subject_id(&tenant_key, m)
            }
        };
        let ck = (event.tenant_id.clone(), user);
        let state = match self.caches.audit_subjects.get(&ck, &*self.clock) {
            Some(s) => s,
            None => {
                let (state, settled) = self.subject_load_or_create(tx, &ck.0, &ck.1).await?;
                if settled {
                    self.caches
                        .audit_subjects
                        .put(ck.clone(), state.clone(), &*self.clock);
                }
                state
            }
        };
        seal_event(event, &ck.1, &state, &*self.rng);
        Ok(())
    }

    /// Seal the personal fields of `event` outside any caller's transaction: the key is read
    /// in a read transaction, or created in its own short one.
    pub(crate) async fn audit_seal_detached(
        &self,
        event: &mut AuditEvent,
    ) -> Result<(), CoreError> {
        let user = match subject_of(event) {
            None => return Ok(()),
            Some(Subject::User(u)) => u.to_owned(),
            Some(Subject::Email(m)) => {
                let tenant_key = match self.keyring.cached(&event.tenant_id) {
                    Some(k) => k,
                    None => {
                        let mut tx = self.store.read().await?;
                        self.keyring.data_key(&mut *tx, &event.tenant_id).await?
                    }
                };
                email_subject_id(&tenant_key, m)
            }
        };
        let ck = (event.tenant_id.clone(), user);
        let state = match self.caches.audit_subjects.get(&ck, &*self.clock) {
            Some(s) => s,
            None => {
                let read = {
                    let mut tx = self.store.read().await?;
                    match tx.audit_subject_key(&ck.0, &ck.1).await? {
                        Some(rec) => Some(self.subject_open(&mut *tx, &rec).await?),
                        None => None,
                    }
                };
                let state = match read {
                    Some(s) => s,
                    None => {
                        let mut tx = self.store.begin().await?;
                        let (state, _) =
                            self.subject_load_or_create(&mut *tx, &ck.0, &ck.1).await?;
                        tx.commit().await?;
                        state
                    }
                };
                // Read from committed state, or committed just now.
                self.caches
                    .audit_subjects
                    .put(ck.clone(), state.clone(), &*self.clock);
                state
            }
        };
        seal_event(event, &ck.1, &state, &*self.rng);
        Ok(())
    }

    /// The subject's key (created when missing) and whether it may be cached: true only
    /// when the record is old enough that no open transaction can have written it.
    async fn subject_load_or_create(
        &self,
        tx: &mut dyn Tx,
        tenant: &TenantId,
        user: &str,
    ) -> Result<(SubjectState, bool), CoreError> {
        let now = self.now();
        // A concurrent insert makes ours return false; the second read then finds it.
        for _ in 0..2 {
            if let Some(rec) = tx.audit_subject_key(tenant, user).await? {
                let settled = settled(&rec, now);
                return Ok((self.subject_open(tx, &rec).await?, settled));
            }
            let tenant_key = self.keyring.data_key(tx, tenant).await?;
            let key = DataKey::generate(&*self.rng);
            let rec = SubjectKey {
                tenant_id: tenant.clone(),
                user_id: user.to_owned(),
                sealed_key: Some(tenant_key.wrap_key(
                    &key,
                    key_aad(tenant, user).as_bytes(),
                    &*self.rng,
                )),
                created_at: now,
                erased_at: None,
            };
            if tx.audit_subject_key_insert(&rec).await? {
                return Ok((SubjectState::Key(Arc::new(key)), false));
            }
        }
        Err(CoreError::Conflict(format!(
            "the audit key of user {user} was reported to exist but cannot be read"
        )))
    }

    /// Unseal a key record (an erased one has no key).
    async fn subject_open(
        &self,
        tx: &mut dyn Tx,
        rec: &SubjectKey,
    ) -> Result<SubjectState, CoreError> {
        let Some(sealed) = &rec.sealed_key else {
            return Ok(SubjectState::Erased);
        };
        let tenant_key = self.keyring.data_key(tx, &rec.tenant_id).await?;
        let key =
            tenant_key.unwrap_key(sealed, key_aad(&rec.tenant_id, &rec.user_id).as_bytes())?;
        Ok(SubjectState::Key(Arc::new(key)))
    }

    /// The keys of `users` (each looked up once) for reading events of `tenant`: `None`
    /// for a user without a key (never had one in this tenant, or erased).
    pub(crate) async fn subject_keys_for_read(
        &self,
        tx: &mut dyn Tx,
        tenant: &TenantId,
        users: impl IntoIterator<Item = String>,
        known: &mut std::collections::HashMap<String, Option<Arc<DataKey>>>,
    ) -> Result<(), CoreError> {
        for user in users {
            if known.contains_key(&user) {
                continue;
            }
            let key = match tx.audit_subject_key(tenant, &user).await? {
                Some(rec) => match self.subject_open(tx, &rec).await? {
                    SubjectState::Key(k) => Some(k),
                    SubjectState::Erased => None,
                },
                None => None,
            };
            known.insert(user, key);
        }
        Ok(())
    }

    /// Erase a user's personal data from the tenant's audit log by destroying their key
    /// (crypto-shredding), and the key of the pseudo-subject of the user's current email
    /// address (failed logins for that address made while no account had it), when the
    /// user exists and has one. A subject that never had a key gets an erased record, so
    /// events appended later are erased too. Appends `audit.subject_erased` (the user id in
    /// `context.subject_user_id`, whether the address's pseudo-subject was erased in
    /// `context.email_subject_erased`, no personal data) in the same transaction. Returns
    /// false when both were already erased (nothing is changed or recorded then).
    pub async fn audit_erase_subject(
        &self,
        tenant: &Tenant,
        user_id: &str,
        meta: &RequestMeta,
    ) -> Result<bool, CoreError> {
        let user_id = clavis_types::UserId::parse(user_id)?;
        let user = user_id.as_str();
        let now = self.now();
        let mut tx = self.store.begin().await?;
        let user_erased = erase_key(&mut *tx, &tenant.id, user, now).await?;
        let email_subject = match tx
            .user_get(&tenant.id, &user_id)
            .await?
            .and_then(|u| u.email)
        {
            Some(email) => {
                let tenant_key = self.keyring.data_key(&mut *tx, &tenant.id).await?;
                Some(email_subject_id(&tenant_key, email.as_str()))
            }
            None => None,
        };
        let email_erased = match &email_subject {
            Some(id) => erase_key(&mut *tx, &tenant.id, id, now).await?,
            None => false,
        };
        let erased = user_erased || email_erased;
        if erased {
            let event = self.audit_event(
                &tenant.id,
                "audit.subject_erased",
                AuditActor::default(),
                None,
                JsonMap::from_iter([
                    ("subject_user_id".to_owned(), Value::from(user)),
                    ("email_subject_erased".to_owned(), Value::from(email_erased)),
                ]),
                meta,
            );
            self.audit_in(&mut *tx, event).await?;
        }
        tx.commit().await?;
        for id in std::iter::once(user.to_owned()).chain(email_subject) {
            self.caches.audit_subjects.remove(&(tenant.id.clone(), id));
        }
        Ok(erased)
    }
}

/// Destroy the key of `subject` (or record it erased when it had none); false when it
/// was already erased.
async fn erase_key(
    tx: &mut dyn Tx,
    tenant: &TenantId,
    subject: &str,
    now: Timestamp,
) -> Result<bool, CoreError> {
    Ok(match tx.audit_subject_key(tenant, subject).await? {
        Some(rec) if rec.sealed_key.is_none() => false,
        Some(_) => tx.audit_subject_erase(tenant, subject, now).await?,
        None => {
            let rec = SubjectKey {
                tenant_id: tenant.clone(),
                user_id: subject.to_owned(),
                sealed_key: None,
                created_at: now,
                erased_at: Some(now),
            };
            tx.audit_subject_key_insert(&rec).await?
                || tx.audit_subject_erase(tenant, subject, now).await?
        }
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use clavis_crypto::SystemRng;
    use serde_json::json;

    fn event(actor_user: Option<&str>, ctx_user: Option<&str>) -> AuditEvent {
        let rng = SystemRng::new();
        let mut context = JsonMap::new();
        context.insert("email".into(), json!("ann@example.com"));
        context.insert("name".into(), json!({"given": "Ann"}));
        context.insert("nickname".into(), Value::Null);
        context.insert("connection".into(), json!("db"));
        if let Some(u) = ctx_user {
            context.insert("user_id".into(), json!(u));
        }
        AuditEvent {
            tenant_id: TenantId::generate(Timestamp::from_millis(1), &rng),
            seq: 0,
            event_id: "evt_1".into(),
            timestamp: Timestamp::from_millis(1),
            event_type: "user.login.success".into(),
            actor: AuditActor {
                user_id: actor_user.map(str::to_owned),
                email: Some("ann@example.com".into()),
                client_id: Some("cl_1".into()),
                ip_address: Some("192.0.2.7".into()),
                user_agent: Some("Mozilla/5.0".into()),
            },
            organization: None,
            context,
        }
    }

    #[test]
    fn subject_is_the_actor_else_the_context_user_else_the_email() {
        use Subject::{Email, User};
        assert_eq!(
            subject_of(&event(Some("usr_a"), Some("usr_b"))),
            Some(User("usr_a"))
        );
        assert_eq!(subject_of(&event(None, Some("usr_b"))), Some(User("usr_b")));
        assert_eq!(
            subject_of(&event(None, None)),
            Some(Email("ann@example.com"))
        );
        assert_eq!(
            subject_of(&event(Some(""), None)),
            Some(Email("ann@example.com"))
        );
        let mut no_email = event(None, None);
        no_email.actor.email = None;
        assert_eq!(subject_of(&no_email), None, "an m2m client's event");
        no_email.actor.email = Some(" ".into());
        assert_eq!(subject_of(&no_email), None);
    }

    #[test]
    fn email_subject_ids_are_keyed_case_blind_and_never_the_address() {
        let rng = SystemRng::new();
        let (k1, k2) = (DataKey::generate(&rng), DataKey::generate(&rng));
        let id = email_subject_id(&k1, "Ann@Example.com");
        assert!(id.starts_with(EMAIL_SUBJECT_PREFIX), "{id}");
        assert_eq!(id.len(), 4 + 52, "256 bits in base32: {id}");
        assert!(!id.contains("ann") && !id.contains("example"), "{id}");
        assert!(
            id[4..]
                .bytes()
                .all(|b| b"0123456789abcdefghjkmnpqrstvwxyz".contains(&b)),
            "{id}"
        );
        assert_eq!(id, email_subject_id(&k1, " ann@example.COM"));
        assert_ne!(id, email_subject_id(&k1, "bob@example.com"));
        assert_ne!(id, email_subject_id(&k2, "ann@example.com"), "per tenant");
        // Not the digest of the bare address (domain separation from client secrets).
        assert_ne!(id[4..], base32(&k1.secret_digest(b"ann@example.com")));
        assert_eq!(base32(&[0xff, 0x00]), "zw00");
        assert_eq!(base32(&[]), "");
    }

    #[test]
    fn sealing_hides_personal_fields_and_opens_with_the_right_aad() {
        let rng = SystemRng::new();
        let key = Arc::new(DataKey::generate(&rng));
        let mut e = event(Some("usr_a"), None);
        seal_event(&mut e, "usr_a", &SubjectState::Key(key.clone()), &rng);
        let text = serde_json::to_string(&(&e.actor, &e.context)).unwrap();
        assert!(!text.contains("ann@example.com"), "{text}");
        assert!(
            !text.contains("192.0.2.7") && !text.contains("Mozilla"),
            "{text}"
        );
        assert!(!text.contains("Ann"), "{text}");
        // Not personal, or null: untouched.
        assert_eq!(e.actor.client_id.as_deref(), Some("cl_1"));
        assert_eq!(e.context["connection"], json!("db"));
        assert_eq!(e.context["nickname"], Value::Null);

        let email = e.actor.email.clone().unwrap();
        let (user, ct) = sealed_parts(&email).unwrap();
        assert_eq!(user, "usr_a");
        let opened = open_sealed(Some(&key), &e.tenant_id, user, ct, "evt_1");
        assert_eq!(opened, json!("ann@example.com"));
        let name = e.context["name"].as_str().unwrap().to_owned();
        let (_, ct_name) = sealed_parts(&name).unwrap();
        assert_eq!(
            open_sealed(Some(&key), &e.tenant_id, user, ct_name, "evt_1"),
            json!({"given": "Ann"}),
            "a context value keeps its type"
        );
        // Another event id, user or key: unreadable; no key: erased.
        assert_eq!(
            open_sealed(Some(&key), &e.tenant_id, user, ct, "evt_2"),
            json!(UNREADABLE)
        );
        assert_eq!(
            open_sealed(Some(&key), &e.tenant_id, "usr_b", ct, "evt_1"),
            json!(UNREADABLE)
        );
        let other = DataKey::generate(&rng);
        assert_eq!(
            open_sealed(Some(&other), &e.tenant_id, user, ct, "evt_1"),
            json!(UNREADABLE)
        );
        assert_eq!(
            open_sealed(None, &e.tenant_id, user, ct, "evt_1"),
            json!(ERASED)
        );
        let users: Vec<&str> = sealed_users(&e.actor, &e.context).collect();
        assert_eq!(users.len(), 5, "{users:?}");
        assert!(users.iter().all(|u| *u == "usr_a"));
    }

    #[test]
    fn an_erased_subject_gets_placeholders() {
        let rng = SystemRng::new();
        let mut e = event(None, Some("usr_b"));
        seal_event(&mut e, "usr_b", &SubjectState::Erased, &rng);
        assert_eq!(e.actor.email.as_deref(), Some(ERASED));
        assert_eq!(e.actor.ip_address.as_deref(), Some(ERASED));
        assert_eq!(e.context["name"], json!(ERASED));
        assert_eq!(e.context["user_id"], json!("usr_b"));
        assert_eq!(sealed_users(&e.actor, &e.context).count(), 0);
    }

    #[test]
    fn only_records_older_than_any_open_transaction_are_cached() {
        let rng = SystemRng::new();
        let now = Timestamp::from_millis(1_000_000);
        let at = |ms: i64| Timestamp::from_millis(ms);
        let mut rec = SubjectKey {
            tenant_id: TenantId::generate(now, &rng),
            user_id: "usr_a".into(),
            sealed_key: Some(vec![1]),
            created_at: now,
            erased_at: None,
        };
        assert!(!settled(&rec, now));
        rec.created_at = at(1_000_000 - SETTLED_MS + 1);
        assert!(!settled(&rec, now));
        rec.created_at = at(1_000_000 - SETTLED_MS);
        assert!(settled(&rec, now));
        // A recent erasure of an old key counts from the erasure.
        rec.sealed_key = None;
        rec.erased_at = Some(at(999_000));
        assert!(!settled(&rec, now));
    }
}

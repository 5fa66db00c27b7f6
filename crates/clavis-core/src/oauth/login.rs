//! Password login and sessions. Password hashing runs on the blocking pool behind a
//! semaphore, so logins never stall other requests. A failed login says the same thing
//! and takes the same time whether or not the account exists. Imported bcrypt (and weaker
//! argon2) hashes are replaced by argon2id after a successful login.

use clavis_crypto::{constant_time_eq, hash_password, sha256, verify_password};
use clavis_types::{Email, SessionId, TenantId, Timestamp};
use serde_json::{Map, json};

use crate::model::{AuditActor, Session, Tenant, User};
use crate::service::{RequestMeta, Throttle};
use crate::{Core, CoreError};

/// A session ends after this long without use…
pub const SESSION_IDLE_SECS: i64 = 3 * 86_400;
/// …and in any case this long after login.
pub const SESSION_ABSOLUTE_SECS: i64 = 30 * 86_400;
/// The idle expiry is slid at most once per this many seconds (not on every request).
const TOUCH_EVERY_SECS: i64 = 60;

/// Why a login failed. The message shown is the same for a wrong email and a wrong password.
#[derive(Debug)]
pub enum LoginError {
    WrongCredentials,
    Blocked,
    /// Too many failed logins for this address: locked for this long (an unlock link was
    /// emailed if the account exists). Shown the same whether or not the account exists.
    Locked {
        retry_after_secs: i64,
    },
    /// This client address is over a rate limit (per-minute requests, or failed logins
    /// across accounts): try again after this long.
    Throttled {
        retry_after_secs: i64,
    },
    Internal(CoreError),
}

impl From<CoreError> for LoginError {
    fn from(e: CoreError) -> Self {
        Self::Internal(e)
    }
}

impl From<crate::StoreError> for LoginError {
    fn from(e: crate::StoreError) -> Self {
        Self::Internal(e.into())
    }
}

impl From<clavis_crypto::CryptoError> for LoginError {
    fn from(e: clavis_crypto::CryptoError) -> Self {
        Self::Internal(e.into())
    }
}

impl Core {
    /// Run a password hash computation on the bounded blocking pool.
    pub async fn on_hash_pool<T: Send + 'static>(
        &self,
        f: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, CoreError> {
        let _permit = self
            .hash_permits
            .acquire()
            .await
            .map_err(|_| CoreError::Conflict("the server is shutting down".into()))?;
        tokio::task::spawn_blocking(f)
            .await
            .map_err(|e| CoreError::Conflict(format!("password hashing failed: {e}")))
    }

    /// Check email and password in the tenant's default language; see
    /// [`Core::password_login_in`].
    pub async fn password_login(
        &self,
        tenant: &Tenant,
        email: &str,
        password: &str,
        meta: &RequestMeta,
    ) -> Result<(Session, String, User), LoginError> {
        let locale = tenant.settings.universal_login.default_locale.clone();
        self.password_login_in(tenant, email, password, &locale, meta)
            .await
    }

    /// Check email and password; on success open a session. Returns the session, the
    /// cookie value (`{session id}.{secret}`, shown only here) and the user. Emails sent
    /// on the way (account locked, new device) are in `locale`.
    ///
    /// Attack protection: a locked address is refused before its password is checked
    /// (`Locked`, whether or not an account has the address), and so is a client address
    /// with too many failed logins today across accounts (`Throttled`). Every other
    /// attempt is counted against the address before its password is checked: one over
    /// the tenant's `failed_logins_per_hour` is refused (`Locked`) unchecked and locks the
    /// address, so concurrent attempts get at most that many checks; a wrong password
    /// that reaches the limit locks it too. A failure also counts against the client
    /// address. A success forgets the address's attempts. An address that home-realm
    /// discovery routes to an `email` connection is refused (`WrongCredentials`) unchecked.
    pub async fn password_login_in(
        &self,
        tenant: &Tenant,
        email: &str,
        password: &str,
        locale: &str,
        meta: &RequestMeta,
    ) -> Result<(Session, String, User), LoginError> {
        let parsed = Email::parse(email).ok();
        let mut tx = self.store.read().await?;
        let mut guard = self.login_guard(&mut *tx, tenant, email, meta).await?;
        let found = match &parsed {
            Some(e) => tx.user_get_by_email(&tenant.id, e).await?,
            None => None,
        };
        let hash = match &found {
            Some(u) => tx.password_get(&tenant.id, &u.id).await?,
            None => None,
        };
        drop(tx);
        let email_raw = email;
        let email = parsed;
        let fail = |this: &Self, user: Option<&User>, reason: &str| {
            this.audit_event(
                &tenant.id,
                "user.login.failure",
                AuditActor {
                    user_id: user.map(|u| u.id.to_string()),
                    email: email.as_ref().map(|e| e.to_string()),
                    ..AuditActor::default()
                },
                None,
                Map::from_iter([
                    (
                        "connection".to_owned(),
                        json!(crate::service::DEFAULT_CONNECTION),
                    ),
                    ("reason".to_owned(), json!(reason)),
                ]),
                meta,
            )
        };
        // An address routed to an `email` (passwordless) connection never logs in with a
        // password: refused unchecked (the route is public: the identifier step shows it).
        if self.email_route(tenant, email_raw).await?.is_some() {
            let event = fail(
                self,
                found.as_ref(),
                "the connection logs in by emailed code",
            );
            self.audit_now(event).await?;
            return Err(LoginError::WrongCredentials);
        }
        // Refused before any password work: the same (and as fast) for every address.
        if let Some(secs) = guard.locked_for {
            self.audit_now(fail(self, found.as_ref(), "account locked"))
                .await?;
            return Err(LoginError::Locked {
                retry_after_secs: secs,
            });
        }
        if let Some(secs) = guard.ip_throttled_for {
            let event = fail(
                self,
                found.as_ref(),
                "too many failed logins from this address",
            );
            self.audit_now(event).await?;
            return Err(LoginError::Throttled {
                retry_after_secs: secs,
            });
        }
        // Counted before the password is checked: concurrent attempts cannot all be
        // checked before the first failure is counted. The same for every address.
        let counted = self
            .count_password_attempt(tenant, &mut guard, found.as_ref(), locale, meta)
            .await?;
        if let Throttle::Limited { retry_after_secs } = counted {
            self.audit_now(fail(self, found.as_ref(), "account locked"))
                .await?;
            return Err(LoginError::Locked { retry_after_secs });
        }
        let pw = password.to_owned();
        let check = match hash.clone() {
            Some(h) => {
                self.on_hash_pool(move || verify_password(&pw, &h).ok())
                    .await?
            }
            None => {
                // Same work as a real verification, so timing does not reveal the account.
                self.on_hash_pool(move || clavis_crypto::dummy_verify(&pw))
                    .await?;
                None
            }
        };
        let (Some(user), Some(check)) = (found.as_ref(), check.filter(|c| c.ok)) else {
            // Counted (and possibly locked) the same way whether or not the account exists.
            self.record_login_failure(tenant, &guard, found.as_ref(), locale, meta)
                .await?;
            // The answer is the same either way; the log tells the two apart (and names
            // the targeted account, whose key then seals the attempt's personal data).
            let event = match &found {
                Some(u) => fail(self, Some(u), "wrong password"),
                None => fail(self, None, "unknown email"),
            };
            self.audit_now(event).await?;
            return Err(LoginError::WrongCredentials);
        };
        let new_hash = if check.needs_rehash {
            let pw = password.to_owned();
            let rng = self.rng.clone();
            Some(
                self.on_hash_pool(move || hash_password(&pw, &*rng))
                    .await??,
            )
        } else {
            None
        };
        let now = self.now();
        let (session, cookie) = self.new_session(tenant, user, meta, "pwd");
        let mut tx = self.store.begin().await?;
        if let Some(h) = &new_hash {
            tx.password_set(&tenant.id, &user.id, h, now).await?;
        }
        if !tx.user_record_login(&tenant.id, &user.id, now).await? {
            // Blocked or deleted while the password was being checked.
            return Err(LoginError::Blocked);
        }
        let mut updated = user.clone();
        updated.last_login_at = Some(now);
        self.clear_login_failures(&mut *tx, tenant, &guard).await?;
        // Before the new session exists: it would have "seen" this user agent.
        self.notify_new_device(&mut *tx, tenant, user, locale, meta)
            .await?;
        tx.session_insert(&session).await?;
        let event = self.audit_event(
            &tenant.id,
            "user.login.success",
            AuditActor {
                user_id: Some(user.id.to_string()),
                email: user.email.as_ref().map(|e| e.to_string()),
                ..AuditActor::default()
            },
            None,
            Map::from_iter([
                (
                    "connection".to_owned(),
                    json!(crate::service::DEFAULT_CONNECTION),
                ),
                ("mfa_used".to_owned(), json!(false)),
                ("session_id".to_owned(), json!(session.id.as_str())),
                ("password_rehashed".to_owned(), json!(new_hash.is_some())),
            ]),
            meta,
        );
        self.audit_in(&mut *tx, event).await?;
        tx.commit().await?;
        Ok((session, cookie, updated))
    }

    /// The live session and user behind a session cookie value; slides the idle expiry.
    pub async fn session_from_cookie(
        &self,
        tenant: &Tenant,
        cookie: &str,
    ) -> Result<Option<(Session, User)>, CoreError> {
        let Some((id, secret)) = cookie.split_once('.') else {
            return Ok(None);
        };
        let Ok(id) = SessionId::parse(id) else {
            return Ok(None);
        };
        let now = self.now();
        let mut tx = self.store.read().await?;
        let Some(session) = tx.session_get(&tenant.id, &id).await? else {
            return Ok(None);
        };
        if !constant_time_eq(&sha256(secret.as_bytes()), &session.secret_digest)
            || !session.is_live(now)
        {
            return Ok(None);
        }
        let user = match tx.user_get(&tenant.id, &session.user_id).await? {
            Some(u) if u.deleted_at.is_none() && !u.blocked => u,
            _ => return Ok(None),
        };
        drop(tx);
        if now.as_secs() - session.last_seen_at.as_secs() >= TOUCH_EVERY_SECS {
            let mut tx = self.store.begin().await?;
            tx.session_touch(
                &tenant.id,
                &session.id,
                now,
                now.plus_secs(SESSION_IDLE_SECS),
            )
            .await?;
            tx.commit().await?;
        }
        Ok(Some((session, user)))
    }

    /// End a session (logout).
    pub async fn end_session(
        &self,
        tenant: &TenantId,
        id: &SessionId,
        user: &str,
        meta: &RequestMeta,
    ) -> Result<bool, CoreError> {
        let mut tx = self.store.begin().await?;
        let ended = tx.session_revoke(tenant, id, self.now()).await?;
        if ended {
            let event = self.audit_event(
                tenant,
                "user.logout",
                AuditActor {
                    user_id: Some(user.to_owned()),
                    ..AuditActor::default()
                },
                None,
                Map::from_iter([("session_id".to_owned(), json!(id.as_str()))]),
                meta,
            );
            self.audit_in(&mut *tx, event).await?;
        }
        tx.commit().await?;
        Ok(ended)
    }
}

/// Seconds until `t`, for cookie `Max-Age`.
pub fn secs_until(now: Timestamp, t: Timestamp) -> i64 {
    (t.as_secs() - now.as_secs()).max(0)
}

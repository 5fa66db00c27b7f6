//! Passwordless login through an `email` connection (Auth0's passwordless email): the
//! identifier step's home-realm discovery routes an address to an organization whose
//! connection has the `email` strategy, and instead of a password the user types a
//! 6-digit code emailed to the address.
//!
//! Rules enforced here:
//! - only an address that home-realm discovery routes to an `email` connection may ask
//!   for or use a code ([`CodeLoginError::NotRouted`] otherwise), and such an address never
//!   logs in with a password (`Core::password_login_in` refuses it unchecked);
//! - a code is a `login_code` ticket (see `tickets`): stored as a keyed digest bound to its
//!   ticket, valid [`LOGIN_CODE_SECS`], single use; only the user's newest code works (a
//!   new one consumes the older ones, whichever client address asked for them: a known
//!   limit, see below); each try is counted by one atomic update before the code is
//!   compared and [`MAX_CODE_ATTEMPTS`] wrong tries burn it;
//! - every code try is also counted on the address like a password attempt
//!   (`Core::count_password_attempt`, the `fail:{subject}` bucket), before anything is
//!   compared and whether or not an account has the address: the tenant's
//!   `failed_logins_per_hour` wrong codes within an hour, across any number of codes sent,
//!   lock the address (the account's owner is emailed an unlock link); a right code
//!   forgets the count;
//! - sends are counted in fixed clock-hour windows keyed by the address's lock subject,
//!   the same for every address: at most [`LOGIN_CODES_PER_CLIENT_PER_HOUR`] per client
//!   address and address, and [`LOGIN_CODES_PER_HOUR`] per address from all client
//!   addresses (a send refused by the first limit does not count against the second), so
//!   one client address cannot use up the address's whole allowance. Known limit: a code
//!   sent at another's request still replaces the owner's newest code; an attacker with
//!   several client addresses can keep doing so up to the per-address ceiling;
//! - an address without a live, unblocked account is answered exactly as a real one
//!   (the same "code sent" outcome, the same limits, `TooManyAttempts` at the same try of
//!   a pretended code that "expires" [`LOGIN_CODE_SECS`] after its send, as a real one
//!   does), but nothing is sent and no account is created: this step never signs up;
//! - a locked address or a client address over its daily failures is refused before
//!   anything is sent or compared, as for passwords; wrong codes count as failed logins
//!   of the client address;
//! - the right code opens a session with `amr: ["otp"]` (emailing `new_device` as a
//!   password login does), marks the address verified, records the user's identity at
//!   the connection (which organization auto-membership requires), and audits
//!   `user.login.success`.

use clavis_types::{ConnectionStrategy, Email};
use serde_json::{Map, json};

use super::tickets::CodeTry;
use super::verify::ticket_owner;
use super::{EmailKind, MAX_CODE_ATTEMPTS, email_locale};
use crate::model::{AuditActor, Identity, JsonMap, Session, Tenant, TicketKind, User};
use crate::ports::Tx;
use crate::service::management::domains::HomeRealm;
use crate::service::protection::LoginGuard;
use crate::service::{Core, RequestMeta, Throttle};
use crate::{CoreError, StoreError};

/// Lifetime of a login code (10 minutes).
pub const LOGIN_CODE_SECS: i64 = 600;
/// Login codes per address (with or without an account) per clock hour, from all client
/// addresses.
pub const LOGIN_CODES_PER_HOUR: i64 = 10;
/// Login codes per address per clock hour asked from one client address.
pub const LOGIN_CODES_PER_CLIENT_PER_HOUR: i64 = 5;

/// Why a code could not be sent or did not log in.
#[derive(Debug)]
pub enum CodeLoginError {
    /// The address does not route to an `email` connection: it logs in another way.
    NotRouted,
    /// Wrong, used or expired code (attempts may remain).
    WrongOrExpired,
    /// Too many wrong tries: this code no longer works; ask for a new one.
    TooManyAttempts,
    /// The right code, but the account is blocked.
    Blocked,
    /// The address is locked after failed logins.
    Locked {
        retry_after_secs: i64,
    },
    /// Too many codes this hour, or too many failures from this client address today.
    Throttled {
        retry_after_secs: i64,
    },
    Internal(CoreError),
}

impl From<CoreError> for CodeLoginError {
    fn from(e: CoreError) -> Self {
        Self::Internal(e)
    }
}

impl From<StoreError> for CodeLoginError {
    fn from(e: StoreError) -> Self {
        Self::Internal(e.into())
    }
}

/// The start of the clock hour holding `secs`, and the seconds left in it (≥ 1).
fn hour_of(secs: i64) -> (i64, i64) {
    let start = secs - secs.rem_euclid(3_600);
    (start, (start + 3_600 - secs).max(1))
}

/// Sends of codes to an address (`subject`), all client addresses together.
fn sent_bucket(subject: &str) -> String {
    format!("otp-sent:{subject}")
}

/// Sends of codes to an address asked from one client address.
fn sent_by_client_bucket(ip: &str, subject: &str) -> String {
    format!("otp-sent-by:{ip}:{subject}")
}

/// Pretended codes of an address without an account: one window per send, starting at
/// the send's second (so the newest send and its age are known).
fn decoy_code_bucket(subject: &str) -> String {
    format!("otp-decoy-code:{subject}")
}

impl Core {
    /// The `email` connection (and its organization) an address routes to, if any.
    pub async fn email_route(
        &self,
        tenant: &Tenant,
        email: &str,
    ) -> Result<Option<HomeRealm>, CoreError> {
        Ok(self
            .home_realm(tenant, email)
            .await?
            .filter(|r| r.connection.strategy == ConnectionStrategy::Email))
    }

    /// The routed address and its lock state, or why the request stops here.
    async fn code_guard(
        &self,
        tenant: &Tenant,
        email: &str,
        meta: &RequestMeta,
    ) -> Result<(Email, HomeRealm, LoginGuard), CodeLoginError> {
        let parsed = Email::parse(email).map_err(|_| CodeLoginError::NotRouted)?;
        let realm = self
            .email_route(tenant, parsed.as_str())
            .await?
            .ok_or(CodeLoginError::NotRouted)?;
        let mut tx = self.store.read().await?;
        let guard = self
            .login_guard(&mut *tx, tenant, parsed.as_str(), meta)
            .await?;
        drop(tx);
        if let Some(secs) = guard.locked_for {
            return Err(CodeLoginError::Locked {
                retry_after_secs: secs,
            });
        }
        if let Some(secs) = guard.ip_throttled_for {
            return Err(CodeLoginError::Throttled {
                retry_after_secs: secs,
            });
        }
        Ok((parsed, realm, guard))
    }

    /// Email a login code to a routed address (audit `user.login_code.sent`). An address
    /// without a live, unblocked account gets the same answer and nothing is sent.
    pub async fn send_login_code(
        &self,
        tenant: &Tenant,
        email: &str,
        locale: &str,
        meta: &RequestMeta,
    ) -> Result<(), CodeLoginError> {
        let (email, realm, guard) = self.code_guard(tenant, email, meta).await?;
        self.count_code_send(tenant, &guard).await?;
        let now = self.now();
        let mut tx = self.store.begin().await?;
        let user = tx
            .user_get_by_email(&tenant.id, &email)
            .await?
            .filter(|u| u.deleted_at.is_none() && !u.blocked);
        let Some(user) = user else {
            // A pretended code: its tries are counted apart (see `code_login`).
            tx.rate_hit(
                &tenant.id,
                &decoy_code_bucket(&guard.subject),
                now.as_secs(),
            )
            .await?;
            tx.commit().await?;
            return Ok(());
        };
        // Only the newest code works.
        tx.ticket_consume_all(&tenant.id, &user.id, TicketKind::LoginCode, now)
            .await?;
        let ticket = self
            .create_ticket(
                &mut *tx,
                tenant,
                &user,
                email.as_str(),
                TicketKind::LoginCode,
                LOGIN_CODE_SECS,
                true,
            )
            .await?;
        let locale = email_locale(locale);
        let vars = json!({
            "code": ticket.code,
            "expires_minutes": LOGIN_CODE_SECS / 60,
        });
        self.queue_email(
            &mut *tx,
            tenant,
            EmailKind::LoginCode,
            email.as_str(),
            locale,
            vars,
        )
        .await?;
        let event = self.audit_event(
            &tenant.id,
            "user.login_code.sent",
            AuditActor {
                user_id: Some(user.id.to_string()),
                email: Some(email.to_string()),
                ..AuditActor::default()
            },
            None,
            Map::from_iter([
                ("user_id".to_owned(), json!(user.id.as_str())),
                ("connection".to_owned(), json!(realm.connection.name)),
                ("locale".to_owned(), json!(locale)),
            ]),
            meta,
        );
        self.audit_in(&mut *tx, event).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Log in with the code emailed to a routed address: the session, its cookie value
    /// and the user (see the module's rules).
    pub async fn code_login(
        &self,
        tenant: &Tenant,
        email: &str,
        code: &str,
        locale: &str,
        meta: &RequestMeta,
    ) -> Result<(Session, String, User), CodeLoginError> {
        let (email, realm, mut guard) = self.code_guard(tenant, email, meta).await?;
        let found = {
            let mut tx = self.store.read().await?;
            tx.user_get_by_email(&tenant.id, &email)
                .await?
                .filter(|u| u.deleted_at.is_none())
        };
        // Counted on the address before anything is compared, as a password attempt is,
        // whether or not an account has the address.
        let counted = self
            .count_password_attempt(tenant, &mut guard, found.as_ref(), locale, meta)
            .await?;
        if let Throttle::Limited { retry_after_secs } = counted {
            self.audit_code_failure(tenant, &email, found.as_ref(), "account locked", meta)
                .await?;
            return Err(CodeLoginError::Locked { retry_after_secs });
        }
        let now = self.now();
        let mut tx = self.store.begin().await?;
        let ticket = match &found {
            Some(u) => {
                tx.ticket_latest_open(&tenant.id, &u.id, TicketKind::LoginCode, now)
                    .await?
            }
            None => None,
        };
        let (Some(user), Some(ticket)) = (found, ticket) else {
            // No code to compare. For an address without an account, count the tries of
            // the newest pretended code while it would live, so the answer changes at the
            // same try as a real code's would.
            let tries = self.count_decoy_try(&mut *tx, tenant, &guard).await?;
            tx.commit().await?;
            self.code_failure(tenant, &guard, &email, None, "no open code", locale, meta)
                .await?;
            return Err(if tries == MAX_CODE_ATTEMPTS {
                CodeLoginError::TooManyAttempts
            } else {
                CodeLoginError::WrongOrExpired
            });
        };
        let outcome = self.try_code(&mut *tx, tenant, &ticket, code).await?;
        if outcome != CodeTry::Right {
            // Gone: nothing changed (dropped without commit).
            if outcome != CodeTry::Gone {
                tx.commit().await?;
            }
            self.code_failure(
                tenant,
                &guard,
                &email,
                Some(&user),
                "wrong code",
                locale,
                meta,
            )
            .await?;
            return Err(if outcome == CodeTry::Burnt {
                CodeLoginError::TooManyAttempts
            } else {
                CodeLoginError::WrongOrExpired
            });
        }
        // The address changed since the code was sent: the code proves nothing now.
        let Some(owner) = ticket_owner(&mut *tx, tenant, &ticket).await? else {
            return Err(CodeLoginError::WrongOrExpired);
        };
        if !tx.ticket_consume(&tenant.id, &ticket.digest, now).await? {
            return Err(CodeLoginError::WrongOrExpired);
        }
        if owner.blocked || !tx.user_record_login(&tenant.id, &owner.id, now).await? {
            // The code is used up either way.
            tx.commit().await?;
            self.code_failure(
                tenant,
                &guard,
                &email,
                Some(&owner),
                "user blocked",
                locale,
                meta,
            )
            .await?;
            return Err(CodeLoginError::Blocked);
        }
        let before = owner.clone();
        let mut user = owner;
        user.last_login_at = Some(now);
        if !user.email_verified {
            // The code proves the address.
            user = self
                .mark_verified(&mut *tx, tenant, user, "login_code", meta)
                .await?;
        }
        let identities = tx.identity_list(&tenant.id, &user.id).await?;
        if !identities
            .iter()
            .any(|i| i.connection_id == realm.connection.id)
        {
            tx.identity_insert(&Identity {
                tenant_id: tenant.id.clone(),
                user_id: user.id.clone(),
                connection_id: realm.connection.id.clone(),
                subject: user.id.to_string(),
                profile_data: JsonMap::new(),
                created_at: now,
            })
            .await?;
        }
        self.clear_login_failures(&mut *tx, tenant, &guard).await?;
        // Before the new session exists: it would have "seen" this user agent. The user as
        // before this login (`last_login_at` says whether there was one).
        self.notify_new_device(&mut *tx, tenant, &before, locale, meta)
            .await?;
        let (session, cookie) = self.new_session(tenant, &user, meta, "otp");
        tx.session_insert(&session).await?;
        let event = self.audit_event(
            &tenant.id,
            "user.login.success",
            AuditActor {
                user_id: Some(user.id.to_string()),
                email: Some(email.to_string()),
                ..AuditActor::default()
            },
            None,
            Map::from_iter([
                ("connection".to_owned(), json!(realm.connection.name)),
                ("mfa_used".to_owned(), json!(false)),
                ("session_id".to_owned(), json!(session.id.as_str())),
                ("method".to_owned(), json!("login_code")),
            ]),
            meta,
        );
        self.audit_in(&mut *tx, event).await?;
        tx.commit().await?;
        Ok((session, cookie, user))
    }

    /// A refused code: counted against the client address (and the lock of the address,
    /// see `Core::record_login_failure`), audited.
    #[allow(clippy::too_many_arguments)]
    async fn code_failure(
        &self,
        tenant: &Tenant,
        guard: &LoginGuard,
        email: &Email,
        user: Option<&User>,
        reason: &str,
        locale: &str,
        meta: &RequestMeta,
    ) -> Result<(), CoreError> {
        self.record_login_failure(tenant, guard, user, locale, meta)
            .await?;
        self.audit_code_failure(tenant, email, user, reason, meta)
            .await
    }

    /// Audit `user.login.failure` of a code login.
    async fn audit_code_failure(
        &self,
        tenant: &Tenant,
        email: &Email,
        user: Option<&User>,
        reason: &str,
        meta: &RequestMeta,
    ) -> Result<(), CoreError> {
        let event = self.audit_event(
            &tenant.id,
            "user.login.failure",
            AuditActor {
                user_id: user.map(|u| u.id.to_string()),
                email: Some(email.to_string()),
                ..AuditActor::default()
            },
            None,
            Map::from_iter([
                ("method".to_owned(), json!("login_code")),
                ("reason".to_owned(), json!(reason)),
            ]),
            meta,
        );
        self.audit_now(event).await
    }

    /// Count a send of a code to the address (committed at once), the same for every
    /// address: `Throttled` over [`LOGIN_CODES_PER_CLIENT_PER_HOUR`] from this client
    /// address (then the send is not counted against the address's overall allowance) or
    /// over [`LOGIN_CODES_PER_HOUR`] from all of them.
    async fn count_code_send(
        &self,
        tenant: &Tenant,
        guard: &LoginGuard,
    ) -> Result<(), CodeLoginError> {
        let (hour, left) = hour_of(self.now().as_secs());
        let throttled = Err(CodeLoginError::Throttled {
            retry_after_secs: left,
        });
        let mut tx = self.store.begin().await?;
        if let Some(ip) = &guard.ip {
            let by_client = tx
                .rate_hit(&tenant.id, &sent_by_client_bucket(ip, &guard.subject), hour)
                .await?;
            if by_client > LOGIN_CODES_PER_CLIENT_PER_HOUR {
                tx.commit().await?;
                return throttled;
            }
        }
        let sent = tx
            .rate_hit(&tenant.id, &sent_bucket(&guard.subject), hour)
            .await?;
        tx.commit().await?;
        if sent > LOGIN_CODES_PER_HOUR {
            return throttled;
        }
        Ok(())
    }

    /// Count a try of the newest pretended code of the address, if one was "sent" less
    /// than [`LOGIN_CODE_SECS`] ago (a real code is open that long); 0 when none.
    async fn count_decoy_try(
        &self,
        tx: &mut dyn Tx,
        tenant: &Tenant,
        guard: &LoginGuard,
    ) -> Result<i64, CoreError> {
        let now = self.now().as_secs();
        let bucket = decoy_code_bucket(&guard.subject);
        let Some(sent_at) = tx
            .rate_latest_window(&tenant.id, &bucket, now - LOGIN_CODE_SECS + 1)
            .await?
        else {
            return Ok(0);
        };
        // Several sends within one second: the newest is the last of them.
        let nth = tx.rate_get(&tenant.id, &bucket, sent_at).await?;
        let tries = tx
            .rate_hit(
                &tenant.id,
                &format!("otp-decoy-try:{}:{nth}", guard.subject),
                sent_at,
            )
            .await?;
        Ok(tries)
    }
}

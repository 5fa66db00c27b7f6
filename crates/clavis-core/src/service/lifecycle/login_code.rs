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
//!   new one consumes the older ones); each try is counted by one atomic update before the
//!   code is compared and [`MAX_CODE_ATTEMPTS`] wrong tries burn it;
//! - at most [`LOGIN_CODES_PER_HOUR`] codes per user per hour (`Throttled` after);
//! - an address without a live, unblocked account is answered exactly as a real one
//!   (the same "code sent" outcome, the same hourly limit, `TooManyAttempts` at the same
//!   try), but nothing is sent and no account is created: this step never signs up;
//! - a locked address or a client address over its daily failures is refused before
//!   anything is sent or compared, as for passwords; wrong codes count as failed logins
//!   of the client address;
//! - the right code opens a session with `amr: ["otp"]`, marks the address verified,
//!   records the user's identity at the connection, and audits `user.login.success`.

use clavis_types::{ConnectionStrategy, Email};
use serde_json::{Map, json};

use super::tickets::normalise_code;
use super::verify::ticket_owner;
use super::{EmailKind, MAX_CODE_ATTEMPTS, email_locale};
use crate::model::{AuditActor, Identity, JsonMap, Session, Tenant, TicketKind, User};
use crate::service::management::domains::HomeRealm;
use crate::service::protection::LoginGuard;
use crate::service::{Core, RequestMeta};
use crate::{CoreError, StoreError};

/// Lifetime of a login code (10 minutes).
pub const LOGIN_CODE_SECS: i64 = 600;
/// Login codes per user (or unknown address) per hour.
pub const LOGIN_CODES_PER_HOUR: i64 = 5;

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

/// The start of the hour holding `secs`.
fn hour_of(secs: i64) -> i64 {
    secs - secs.rem_euclid(3_600)
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
        let now = self.now();
        let mut tx = self.store.begin().await?;
        let user = tx
            .user_get_by_email(&tenant.id, &email)
            .await?
            .filter(|u| u.deleted_at.is_none() && !u.blocked);
        let Some(user) = user else {
            // Counted like a real address's codes; the tries of each pretended code are
            // counted apart (see `code_login`).
            let sent = tx
                .rate_hit(
                    &tenant.id,
                    &format!("otp-decoy-sent:{}", guard.subject),
                    hour_of(now.as_secs()),
                )
                .await?;
            tx.commit().await?;
            if sent > LOGIN_CODES_PER_HOUR {
                return Err(CodeLoginError::Throttled {
                    retry_after_secs: 3_600,
                });
            }
            return Ok(());
        };
        let sent = tx
            .ticket_count_since(
                &tenant.id,
                &user.id,
                TicketKind::LoginCode,
                now.plus_secs(-3_600),
            )
            .await?;
        if sent >= LOGIN_CODES_PER_HOUR {
            return Err(CodeLoginError::Throttled {
                retry_after_secs: 3_600,
            });
        }
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
        let (email, realm, guard) = self.code_guard(tenant, email, meta).await?;
        let now = self.now();
        let mut tx = self.store.begin().await?;
        let found = tx
            .user_get_by_email(&tenant.id, &email)
            .await?
            .filter(|u| u.deleted_at.is_none());
        let ticket = match &found {
            Some(u) => {
                tx.ticket_latest_open(&tenant.id, &u.id, TicketKind::LoginCode, now)
                    .await?
            }
            None => None,
        };
        let (Some(user), Some(ticket)) = (found, ticket) else {
            // No code to compare. For an address without an account, count the tries of
            // the newest pretended code, so the answer changes at the same try as a real
            // code's would.
            let hour = hour_of(now.as_secs());
            let sends = tx
                .rate_get(
                    &tenant.id,
                    &format!("otp-decoy-sent:{}", guard.subject),
                    hour,
                )
                .await?;
            let tries = if sends > 0 {
                tx.rate_hit(
                    &tenant.id,
                    &format!("otp-decoy-try:{}:{sends}", guard.subject),
                    hour,
                )
                .await?
            } else {
                0
            };
            tx.commit().await?;
            self.code_failure(tenant, &guard, &email, None, "no open code", locale, meta)
                .await?;
            return Err(if tries == MAX_CODE_ATTEMPTS {
                CodeLoginError::TooManyAttempts
            } else {
                CodeLoginError::WrongOrExpired
            });
        };
        // Counted before comparing (the update holds the ticket's row until this try
        // commits): concurrent tries never compare more than MAX_CODE_ATTEMPTS codes.
        let attempt = tx.ticket_add_attempt(&tenant.id, &ticket.digest).await?;
        if attempt == 0 {
            return Err(CodeLoginError::WrongOrExpired);
        }
        if attempt > MAX_CODE_ATTEMPTS {
            tx.ticket_consume(&tenant.id, &ticket.digest, now).await?;
            tx.commit().await?;
            return Err(CodeLoginError::TooManyAttempts);
        }
        let right = match normalise_code(code) {
            Some(c) => self.code_matches(&mut *tx, tenant, &ticket, &c).await?,
            None => false,
        };
        if !right {
            let burnt = attempt >= MAX_CODE_ATTEMPTS;
            if burnt {
                tx.ticket_consume(&tenant.id, &ticket.digest, now).await?;
            }
            tx.commit().await?;
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
            return Err(if burnt {
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

    /// A refused code: counted against the client address, audited.
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
}

//! Email verification: (re)sending the email (at most five an hour per user, each send
//! audited as `user.verification_email.sent`), and proving the address by the link's
//! token (single use) or by the 6-digit code typed while logged in (the newest open ticket
//! only; [`MAX_CODE_ATTEMPTS`] wrong codes burn it). A ticket proves only the address it
//! was sent to: if the user's address changed since, it fails.
//!
//! A code try is counted before the code is compared, by one atomic statement that also
//! holds the ticket's row until the try commits: however many tries arrive at once, only
//! the first [`MAX_CODE_ATTEMPTS`] are compared.
//!
//! Signup answers an address that already has an account with a session cookie that opens
//! nothing ([`Core::unusable_session_cookie`]). The verification page's code and resend
//! forms, posted with such a cookie (or with none), answer as they would for a freshly
//! signed-up user who typed a wrong code or asked for another email, with the same limits
//! (see [`Core::code_without_session`], [`Core::resend_without_session`]).

use clavis_types::SessionId;
use serde_json::{Map, json};

use super::tickets::{CodeTry, is_open, token_digest};
use super::{MAX_CODE_ATTEMPTS, email_locale};
use crate::model::{AuditActor, Tenant, TicketKind, User, UserTicket};
use crate::ports::Tx;
use crate::service::{Core, RequestMeta};
use crate::{CoreError, StoreError};

/// Verification emails per user per hour.
pub const VERIFY_EMAILS_PER_HOUR: i64 = 5;

/// Why a verification failed.
#[derive(Debug)]
pub enum VerifyError {
    /// Unknown, used or expired ticket, or a wrong code (attempts remain).
    WrongOrExpired,
    /// Too many wrong codes: the code no longer works; send a new email.
    TooManyAttempts,
    Throttled {
        retry_after_secs: i64,
    },
    Internal(CoreError),
}

impl From<CoreError> for VerifyError {
    fn from(e: CoreError) -> Self {
        Self::Internal(e)
    }
}

impl From<StoreError> for VerifyError {
    fn from(e: StoreError) -> Self {
        Self::Internal(e.into())
    }
}

/// The live user a ticket belongs to, if its address is still the one the ticket was
/// sent to.
pub(super) async fn ticket_owner(
    tx: &mut dyn Tx,
    tenant: &Tenant,
    ticket: &UserTicket,
) -> Result<Option<User>, CoreError> {
    let user = tx.user_get(&tenant.id, &ticket.user_id).await?;
    Ok(user.filter(|u| {
        u.deleted_at.is_none()
            && u.email
                .as_ref()
                .is_some_and(|e| e.as_str().eq_ignore_ascii_case(&ticket.email))
    }))
}

/// Why a verification email is sent outside signup (the audit event says it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SendTrigger {
    /// The user asked for another email.
    Resend,
    /// The user opened the verification page and had no open ticket.
    Page,
}

impl SendTrigger {
    fn as_str(self) -> &'static str {
        match self {
            Self::Resend => "resend",
            Self::Page => "verification_page",
        }
    }
}

/// The start of the fixed window of `len` seconds holding `secs`.
fn window_start(secs: i64, len: i64) -> i64 {
    secs - secs.rem_euclid(len)
}

/// The session id of a session cookie value, if it has the shape of one.
fn cookie_session_id(cookie: Option<&str>) -> Option<SessionId> {
    let (id, _) = cookie?.split_once('.')?;
    SessionId::parse(id).ok()
}

impl Core {
    /// Send (again) a verification email to the user; at most 5 per hour per user (else
    /// Throttled). Nothing is sent for a user without an address or already verified.
    /// Audit `user.verification_email.sent`.
    pub async fn send_verification(
        &self,
        tenant: &Tenant,
        user: &User,
        locale: &str,
        meta: &RequestMeta,
    ) -> Result<(), VerifyError> {
        self.send_verification_if(tenant, user, locale, meta, SendTrigger::Resend)
            .await
            .map(drop)
    }

    /// Send a verification email only if the user has no open verification ticket (e.g.
    /// a user created through the Management API opening the verification page), under
    /// the same limit as [`Core::send_verification`]. `Ok(true)` when one was sent.
    pub async fn ensure_verification_sent(
        &self,
        tenant: &Tenant,
        user: &User,
        locale: &str,
        meta: &RequestMeta,
    ) -> Result<bool, VerifyError> {
        self.send_verification_if(tenant, user, locale, meta, SendTrigger::Page)
            .await
    }

    /// [`Core::send_verification`]; with [`SendTrigger::Page`] only when no ticket is open.
    async fn send_verification_if(
        &self,
        tenant: &Tenant,
        user: &User,
        locale: &str,
        meta: &RequestMeta,
        trigger: SendTrigger,
    ) -> Result<bool, VerifyError> {
        let mut tx = self.store.begin().await?;
        // Read again: the caller's copy may be stale.
        let Some(user) = tx
            .user_get(&tenant.id, &user.id)
            .await?
            .filter(|u| u.deleted_at.is_none())
        else {
            return Err(VerifyError::WrongOrExpired);
        };
        let Some(to) = user.email.clone().filter(|_| !user.email_verified) else {
            return Ok(false);
        };
        let now = self.now();
        if trigger == SendTrigger::Page
            && tx
                .ticket_latest_open(&tenant.id, &user.id, TicketKind::VerifyEmail, now)
                .await?
                .is_some()
        {
            return Ok(false);
        }
        let since = now.plus_secs(-3_600);
        let sent = tx
            .ticket_count_since(&tenant.id, &user.id, TicketKind::VerifyEmail, since)
            .await?;
        if sent >= VERIFY_EMAILS_PER_HOUR {
            return Err(VerifyError::Throttled {
                retry_after_secs: 3_600,
            });
        }
        let locale = email_locale(locale);
        self.send_verification_in(&mut *tx, tenant, &user, to.as_str(), locale)
            .await?;
        let event = self.audit_event(
            &tenant.id,
            "user.verification_email.sent",
            AuditActor {
                user_id: Some(user.id.to_string()),
                email: Some(to.to_string()),
                ..AuditActor::default()
            },
            None,
            Map::from_iter([
                ("user_id".to_owned(), json!(user.id.as_str())),
                ("trigger".to_owned(), json!(trigger.as_str())),
                ("locale".to_owned(), json!(locale)),
            ]),
            meta,
        );
        self.audit_in(&mut *tx, event).await?;
        tx.commit().await?;
        Ok(true)
    }

    /// The answer to a verification code posted without a live session (e.g. with the
    /// cookie signup gives an address that already has an account): what a wrong code of
    /// a freshly signed-up user gets — [`VerifyError::TooManyAttempts`] at the
    /// [`MAX_CODE_ATTEMPTS`]th try since the last (pretended) email, else
    /// [`VerifyError::WrongOrExpired`]. Tries are counted per well-formed cookie; nothing
    /// is compared.
    pub async fn code_without_session(&self, tenant: &Tenant, cookie: Option<&str>) -> VerifyError {
        let Some(sid) = cookie_session_id(cookie) else {
            return VerifyError::WrongOrExpired;
        };
        match self.count_decoy_code(tenant, &sid).await {
            Ok(n) if n == MAX_CODE_ATTEMPTS => VerifyError::TooManyAttempts,
            Ok(_) => VerifyError::WrongOrExpired,
            Err(e) => VerifyError::Internal(e),
        }
    }

    async fn count_decoy_code(&self, tenant: &Tenant, sid: &SessionId) -> Result<i64, CoreError> {
        let day = window_start(self.now().as_secs(), 86_400);
        let mut tx = self.store.begin().await?;
        let sends = tx
            .rate_get(&tenant.id, &format!("decoy-sent:{sid}"), day)
            .await?;
        let n = tx
            .rate_hit(&tenant.id, &format!("decoy-code:{sid}:{sends}"), day)
            .await?;
        tx.commit().await?;
        Ok(n)
    }

    /// The answer to "send another email" without a live session: what a freshly
    /// signed-up user gets — `Ok` (the "sent" page), or [`VerifyError::Throttled`] once
    /// the hour's emails are used up (signup's email counts as one). Counted per
    /// well-formed cookie; nothing is sent.
    pub async fn resend_without_session(
        &self,
        tenant: &Tenant,
        cookie: Option<&str>,
    ) -> Result<(), VerifyError> {
        let Some(sid) = cookie_session_id(cookie) else {
            return Ok(());
        };
        let secs = self.now().as_secs();
        let mut tx = self.store.begin().await?;
        let asked = tx
            .rate_hit(
                &tenant.id,
                &format!("decoy-resend:{sid}"),
                window_start(secs, 3_600),
            )
            .await?;
        if asked >= VERIFY_EMAILS_PER_HOUR {
            tx.commit().await?;
            return Err(VerifyError::Throttled {
                retry_after_secs: 3_600,
            });
        }
        // A new (pretended) email starts a new count of code tries.
        tx.rate_hit(
            &tenant.id,
            &format!("decoy-sent:{sid}"),
            window_start(secs, 86_400),
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Verify by the link's token (`GET …/verify-email/confirm?ticket=`): single use.
    pub async fn verify_email_link(
        &self,
        tenant: &Tenant,
        ticket: &str,
        meta: &RequestMeta,
    ) -> Result<User, VerifyError> {
        let digest = token_digest(ticket).ok_or(VerifyError::WrongOrExpired)?;
        let now = self.now();
        let mut tx = self.store.begin().await?;
        let Some(t) = tx
            .ticket_get(&tenant.id, &digest)
            .await?
            .filter(|t| t.kind == TicketKind::VerifyEmail && is_open(t, now))
        else {
            return Err(VerifyError::WrongOrExpired);
        };
        let Some(user) = ticket_owner(&mut *tx, tenant, &t).await? else {
            return Err(VerifyError::WrongOrExpired);
        };
        if !tx.ticket_consume(&tenant.id, &digest, now).await? {
            return Err(VerifyError::WrongOrExpired);
        }
        let user = self
            .mark_verified(&mut *tx, tenant, user, "link", meta)
            .await?;
        tx.commit().await?;
        Ok(user)
    }

    /// Verify by the 6-digit code, for the logged-in user (latest open ticket; 5 wrong codes
    /// burn the ticket). Audit `user.email_verified`.
    pub async fn verify_email_code(
        &self,
        tenant: &Tenant,
        user: &User,
        code: &str,
        meta: &RequestMeta,
    ) -> Result<User, VerifyError> {
        let now = self.now();
        let mut tx = self.store.begin().await?;
        let Some(t) = tx
            .ticket_latest_open(&tenant.id, &user.id, TicketKind::VerifyEmail, now)
            .await?
        else {
            return Err(VerifyError::WrongOrExpired);
        };
        match self.try_code(&mut *tx, tenant, &t, code).await? {
            CodeTry::Right => {}
            CodeTry::Gone => return Err(VerifyError::WrongOrExpired),
            CodeTry::Wrong => {
                tx.commit().await?;
                return Err(VerifyError::WrongOrExpired);
            }
            CodeTry::Burnt => {
                tx.commit().await?;
                return Err(VerifyError::TooManyAttempts);
            }
        }
        let Some(owner) = ticket_owner(&mut *tx, tenant, &t).await? else {
            return Err(VerifyError::WrongOrExpired);
        };
        if !tx.ticket_consume(&tenant.id, &t.digest, now).await? {
            return Err(VerifyError::WrongOrExpired);
        }
        let owner = self
            .mark_verified(&mut *tx, tenant, owner, "code", meta)
            .await?;
        tx.commit().await?;
        Ok(owner)
    }

    /// Set `email_verified`, consume the user's other verification tickets, audit
    /// `user.email_verified` — all inside `tx`.
    pub(super) async fn mark_verified(
        &self,
        tx: &mut dyn Tx,
        tenant: &Tenant,
        mut user: User,
        method: &str,
        meta: &RequestMeta,
    ) -> Result<User, CoreError> {
        let now = self.now();
        tx.ticket_consume_all(&tenant.id, &user.id, TicketKind::VerifyEmail, now)
            .await?;
        let was_verified = user.email_verified;
        if !was_verified {
            user.email_verified = true;
            user.updated_at = now;
            if !tx.user_update(&user).await? {
                return Err(CoreError::NotFound("user"));
            }
        }
        let event = self.audit_event(
            &tenant.id,
            "user.email_verified",
            AuditActor {
                user_id: Some(user.id.to_string()),
                email: user.email.as_ref().map(ToString::to_string),
                ..AuditActor::default()
            },
            None,
            Map::from_iter([
                ("user_id".to_owned(), json!(user.id.as_str())),
                ("method".to_owned(), json!(method)),
                ("already_verified".to_owned(), json!(was_verified)),
            ]),
            meta,
        );
        self.audit_in(tx, event).await?;
        Ok(user)
    }
}

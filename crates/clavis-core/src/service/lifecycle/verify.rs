//! Email verification: (re)sending the email (at most five an hour per user), and proving
//! the address by the link's token (single use) or by the 6-digit code typed while logged
//! in (the newest open ticket only; [`MAX_CODE_ATTEMPTS`] wrong codes burn it). A ticket
//! proves only the address it was sent to: if the user's address changed since, it fails.

use serde_json::{Map, json};

use super::tickets::{is_open, normalise_code, token_digest};
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

impl Core {
    /// Send (again) a verification email to the user; at most 5 per hour per user (else
    /// Throttled). Nothing is sent for a user without an address or already verified.
    pub async fn send_verification(
        &self,
        tenant: &Tenant,
        user: &User,
        locale: &str,
        _meta: &RequestMeta,
    ) -> Result<(), VerifyError> {
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
            return Ok(());
        };
        let now = self.now();
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
        if t.attempts >= MAX_CODE_ATTEMPTS {
            return Err(VerifyError::TooManyAttempts);
        }
        let right = match normalise_code(code) {
            Some(c) => self.code_matches(&mut *tx, tenant, &t, &c).await?,
            None => false,
        };
        if !right {
            let attempts = tx.ticket_add_attempt(&tenant.id, &t.digest).await?;
            let burnt = attempts >= MAX_CODE_ATTEMPTS;
            if burnt {
                tx.ticket_consume(&tenant.id, &t.digest, now).await?;
            }
            tx.commit().await?;
            return Err(if burnt {
                VerifyError::TooManyAttempts
            } else {
                VerifyError::WrongOrExpired
            });
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
    async fn mark_verified(
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

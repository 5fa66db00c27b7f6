//! Password reset by emailed link and password change while logged in. Both check the
//! tenant's policy (before any hashing) and the user's previous passwords, set an argon2id
//! hash, record it in the history, revoke sessions and every refresh-token family of
//! the user, email `password_changed` and audit, the change and its event in
//! one transaction.
//!
//! Asking for a reset never says whether the address has an account; at most three reset
//! emails an hour go to one account, and a new one consumes the older open links. A change
//! checks the current password under the login's lockout: each try counts against the
//! address's failed logins before the check, and a locked address is refused unchecked.

use clavis_types::Email;
use serde_json::{Map, json};

use super::password_policy::{MAX_PASSWORD_CHARS, check_password_policy};
use super::tickets::{is_open, token_digest};
use super::verify::ticket_owner;
use super::{EmailKind, PasswordProblem, RESET_TICKET_SECS, email_locale};
use crate::model::{AuditActor, Session, Tenant, TicketKind, User};
use crate::ports::Tx;
use crate::service::{Core, RequestMeta, Throttle};
use crate::{CoreError, StoreError};

/// Reset emails per account per hour.
pub const RESET_EMAILS_PER_HOUR: i64 = 3;

/// Why a reset failed.
#[derive(Debug)]
pub enum ResetError {
    /// Unknown, used or expired link.
    InvalidTicket,
    Password(Vec<PasswordProblem>),
    Internal(CoreError),
}

impl From<CoreError> for ResetError {
    fn from(e: CoreError) -> Self {
        Self::Internal(e)
    }
}

impl From<StoreError> for ResetError {
    fn from(e: StoreError) -> Self {
        Self::Internal(e.into())
    }
}

/// Why a password change failed.
#[derive(Debug)]
pub enum ChangePasswordError {
    WrongCurrent,
    Password(Vec<PasswordProblem>),
    /// The address is locked after too many wrong passwords (at login or here): try
    /// again after this long. The current password was not checked.
    Locked {
        retry_after_secs: i64,
    },
    Internal(CoreError),
}

impl From<CoreError> for ChangePasswordError {
    fn from(e: CoreError) -> Self {
        Self::Internal(e)
    }
}

impl From<StoreError> for ChangePasswordError {
    fn from(e: StoreError) -> Self {
        Self::Internal(e.into())
    }
}

impl Core {
    /// Always Ok whatever the address (no enumeration); emails a reset link if the account
    /// exists (at most 3 per hour per user; older open reset tickets are consumed).
    pub async fn request_password_reset(
        &self,
        tenant: &Tenant,
        email: &str,
        locale: &str,
        meta: &RequestMeta,
    ) -> Result<(), CoreError> {
        let Some(email) = Email::parse(email)
            .ok()
            .filter(|_| !email.chars().any(char::is_control))
        else {
            return Ok(());
        };
        let now = self.now();
        let mut tx = self.store.begin().await?;
        let Some(user) = tx
            .user_get_by_email(&tenant.id, &email)
            .await?
            .filter(|u| u.deleted_at.is_none())
        else {
            return Ok(());
        };
        let Some(to) = user.email.clone() else {
            return Ok(());
        };
        let recent = tx
            .ticket_count_since(
                &tenant.id,
                &user.id,
                TicketKind::ResetPassword,
                now.plus_secs(-3_600),
            )
            .await?;
        if recent >= RESET_EMAILS_PER_HOUR {
            return Ok(());
        }
        tx.ticket_consume_all(&tenant.id, &user.id, TicketKind::ResetPassword, now)
            .await?;
        let ticket = self
            .create_ticket(
                &mut *tx,
                tenant,
                &user,
                to.as_str(),
                TicketKind::ResetPassword,
                RESET_TICKET_SECS,
                false,
            )
            .await?;
        let vars = json!({
            "link": self.tenant_link(tenant, &format!("/password/reset?ticket={}", ticket.token)),
            "expires_minutes": RESET_TICKET_SECS / 60,
            "ip_address": meta.ip_address,
        });
        self.queue_email(
            &mut *tx,
            tenant,
            EmailKind::ResetEmail,
            to.as_str(),
            email_locale(locale),
            vars,
        )
        .await?;
        let event = self.audit_event(
            &tenant.id,
            "user.password_reset.requested",
            AuditActor {
                user_id: Some(user.id.to_string()),
                email: Some(to.to_string()),
                ..AuditActor::default()
            },
            None,
            Map::from_iter([("user_id".to_owned(), json!(user.id.as_str()))]),
            meta,
        );
        self.audit_in(&mut *tx, event).await?;
        tx.commit().await?;
        Ok(())
    }

    /// The user a reset ticket belongs to, if it is open (to show the form).
    pub async fn reset_ticket_user(
        &self,
        tenant: &Tenant,
        ticket: &str,
    ) -> Result<Option<User>, CoreError> {
        let Some(digest) = token_digest(ticket) else {
            return Ok(None);
        };
        let now = self.now();
        let mut tx = self.store.read().await?;
        let Some(t) = tx
            .ticket_get(&tenant.id, &digest)
            .await?
            .filter(|t| t.kind == TicketKind::ResetPassword && is_open(t, now))
        else {
            return Ok(None);
        };
        ticket_owner(&mut *tx, tenant, &t).await
    }

    /// Consume the ticket, check policy and history, set the password (argon2id), revoke
    /// every session and every refresh-token family of the user, mark the email verified
    /// (the link proved it), clear the user's lockout, email `password_changed`, audit
    /// `user.password_reset`.
    pub async fn reset_password(
        &self,
        tenant: &Tenant,
        ticket: &str,
        new_password: &str,
        locale: &str,
        meta: &RequestMeta,
    ) -> Result<User, ResetError> {
        let digest = token_digest(ticket).ok_or(ResetError::InvalidTicket)?;
        let user = self
            .reset_ticket_user(tenant, ticket)
            .await?
            .ok_or(ResetError::InvalidTicket)?;
        let policy = &tenant.settings.password_policy;
        let email = user.email.as_ref().map_or("", Email::as_str);
        let problems =
            check_password_policy(policy, new_password, email, user.profile.name.as_deref());
        if !problems.is_empty() {
            return Err(ResetError::Password(problems));
        }
        let mut tx = self.store.read().await?;
        let previous = self
            .previous_hashes(&mut *tx, &tenant.id, &user.id, policy.history)
            .await?;
        drop(tx);
        if self.matches_any_hash(new_password, previous).await? {
            return Err(ResetError::Password(vec![PasswordProblem::Reused]));
        }
        let hash = self.hash_password_on_pool(new_password).await?;
        let now = self.now();
        let mut tx = self.store.begin().await?;
        // Consumed in the transaction that uses it: of two concurrent resets, one wins.
        if !tx.ticket_consume(&tenant.id, &digest, now).await? {
            return Err(ResetError::InvalidTicket);
        }
        let Some(mut user) = tx
            .user_get(&tenant.id, &user.id)
            .await?
            .filter(|u| u.deleted_at.is_none())
        else {
            return Err(ResetError::InvalidTicket);
        };
        tx.password_set(&tenant.id, &user.id, &hash, now).await?;
        self.remember_password(&mut *tx, &tenant.id, &user.id, &hash, policy.history, now)
            .await?;
        tx.ticket_consume_all(&tenant.id, &user.id, TicketKind::ResetPassword, now)
            .await?;
        let revoked = tx
            .session_revoke_all(&tenant.id, &user.id, None, now)
            .await?;
        // A reset is how an owner takes an account back: whoever held the old password
        // loses its refresh tokens too (and the access tokens recorded with them).
        let families_revoked = tx
            .family_revoke_all_for_user(&tenant.id, &user.id, now)
            .await?;
        let verified_now = !user.email_verified;
        if verified_now {
            user.email_verified = true;
            user.updated_at = now;
            tx.user_update(&user).await?;
        }
        let unlocked = match user.email.as_ref() {
            Some(e) => self.clear_lockout(&mut *tx, tenant, e.as_str()).await?,
            None => false,
        };
        self.notify_password_changed(&mut *tx, tenant, &user, locale, meta)
            .await?;
        let event = self.audit_event(
            &tenant.id,
            "user.password_reset",
            AuditActor {
                user_id: Some(user.id.to_string()),
                email: user.email.as_ref().map(ToString::to_string),
                ..AuditActor::default()
            },
            None,
            Map::from_iter([
                ("user_id".to_owned(), json!(user.id.as_str())),
                ("sessions_revoked".to_owned(), json!(revoked)),
                ("token_families_revoked".to_owned(), json!(families_revoked)),
                ("email_verified_now".to_owned(), json!(verified_now)),
                ("unlocked".to_owned(), json!(unlocked)),
            ]),
            meta,
        );
        self.audit_in(&mut *tx, event).await?;
        tx.commit().await?;
        Ok(user)
    }

    /// Change password while logged in: checks the current one; revokes the user's other
    /// sessions. The check is guarded like a login's: refused (`Locked`) while the user's
    /// address is locked, counted against it before the check, and a wrong current
    /// password may lock it; a change forgets the address's failed attempts.
    #[allow(clippy::too_many_arguments)]
    pub async fn change_password(
        &self,
        tenant: &Tenant,
        session: &Session,
        user: &User,
        current: &str,
        new_password: &str,
        locale: &str,
        meta: &RequestMeta,
    ) -> Result<(), ChangePasswordError> {
        let policy = &tenant.settings.password_policy;
        let email = user.email.as_ref().map_or("", Email::as_str);
        let problems =
            check_password_policy(policy, new_password, email, user.profile.name.as_deref());
        if !problems.is_empty() {
            return Err(ChangePasswordError::Password(problems));
        }
        // The lock subject of the address the user logs in with (an account without one
        // is counted under its id).
        let address = user
            .email
            .as_ref()
            .map_or_else(|| format!("user:{}", user.id), ToString::to_string);
        let mut tx = self.store.read().await?;
        let mut guard = self.login_guard(&mut *tx, tenant, &address, meta).await?;
        let stored = tx.password_get(&tenant.id, &user.id).await?;
        let previous = self
            .previous_hashes(&mut *tx, &tenant.id, &user.id, policy.history)
            .await?;
        drop(tx);
        if let Some(retry_after_secs) = guard.locked_for {
            return Err(ChangePasswordError::Locked { retry_after_secs });
        }
        if let Throttle::Limited { retry_after_secs } = self
            .count_password_attempt(tenant, &mut guard, Some(user), locale, meta)
            .await?
        {
            return Err(ChangePasswordError::Locked { retry_after_secs });
        }
        let right = match stored {
            Some(stored) if current.chars().count() <= MAX_PASSWORD_CHARS => {
                self.matches_any_hash(current, vec![stored]).await?
            }
            _ => false,
        };
        if !right {
            self.record_login_failure(tenant, &guard, Some(user), locale, meta)
                .await?;
            return Err(ChangePasswordError::WrongCurrent);
        }
        if self.matches_any_hash(new_password, previous).await? {
            return Err(ChangePasswordError::Password(vec![PasswordProblem::Reused]));
        }
        let hash = self.hash_password_on_pool(new_password).await?;
        let now = self.now();
        let mut tx = self.store.begin().await?;
        tx.password_set(&tenant.id, &user.id, &hash, now).await?;
        self.remember_password(&mut *tx, &tenant.id, &user.id, &hash, policy.history, now)
            .await?;
        self.clear_login_failures(&mut *tx, tenant, &guard).await?;
        let revoked = tx
            .session_revoke_all(&tenant.id, &user.id, Some(&session.id), now)
            .await?;
        let families_revoked = tx
            .family_revoke_all_for_user(&tenant.id, &user.id, now)
            .await?;
        // A reset link asked for before the change must not undo it.
        tx.ticket_consume_all(&tenant.id, &user.id, TicketKind::ResetPassword, now)
            .await?;
        self.notify_password_changed(&mut *tx, tenant, user, locale, meta)
            .await?;
        let event = self.audit_event(
            &tenant.id,
            "user.password_changed",
            AuditActor {
                user_id: Some(user.id.to_string()),
                email: user.email.as_ref().map(ToString::to_string),
                ..AuditActor::default()
            },
            None,
            Map::from_iter([
                ("user_id".to_owned(), json!(user.id.as_str())),
                ("session_id".to_owned(), json!(session.id.as_str())),
                ("other_sessions_revoked".to_owned(), json!(revoked)),
                ("token_families_revoked".to_owned(), json!(families_revoked)),
            ]),
            meta,
        );
        self.audit_in(&mut *tx, event).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Queue `password_changed` to the user, inside `tx`.
    async fn notify_password_changed(
        &self,
        tx: &mut dyn Tx,
        tenant: &Tenant,
        user: &User,
        locale: &str,
        meta: &RequestMeta,
    ) -> Result<(), CoreError> {
        let Some(to) = user.email.as_ref() else {
            return Ok(());
        };
        let vars = json!({
            "ip_address": meta.ip_address,
            "forgot_link": self.tenant_link(tenant, "/password/forgot"),
        });
        self.queue_email(
            tx,
            tenant,
            EmailKind::PasswordChanged,
            to.as_str(),
            locale,
            vars,
        )
        .await
    }
}

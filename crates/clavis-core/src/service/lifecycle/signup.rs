//! Signup on the tenant's default database connection: the password policy (before any
//! hashing), the `pre-user-registration` hook, argon2id on the hashing pool, the password
//! history, a verification email (link and 6-digit code) and a logged-in session.
//!
//! Signing up with an address that already has an account is indistinguishable from a
//! new signup to whoever submits the form: the same checks run in the same order, the
//! password is hashed all the same, and the answer ([`SignupOutcome::AlreadyRegistered`])
//! is rendered as the same "check your email" page. Only the address's owner learns of the
//! attempt, by email (`already_registered`), at most a few times an hour.

use clavis_types::{ConnectionStrategy, Email, UserId};
use serde_json::{Map, json};

use super::password_policy::check_password_policy;
use super::{
    EmailKind, PasswordProblem, RegistrationAttempt, RegistrationDecision, VERIFY_TICKET_SECS,
    email_locale,
};
use crate::model::{AuditActor, Identity, JsonMap, Session, Tenant, TicketKind, User, UserProfile};
use crate::ports::Tx;
use crate::service::{Core, DEFAULT_CONNECTION, RequestMeta};
use crate::{CoreError, StoreError};

/// Longest name kept from the signup form (longer ones are cut).
const MAX_NAME_CHARS: usize = 300;
/// `already_registered` emails sent to one account per hour at most.
const ALREADY_REGISTERED_PER_HOUR: i64 = 3;
/// Why a hook failure refuses a signup (the hook's error itself is logged, not shown).
const HOOK_FAILED: &str = "Signup is not possible right now. Please try again later.";

/// What a signup produced.
#[derive(Debug)]
#[allow(clippy::large_enum_variant)] // one per signup; boxing would only complicate callers
pub enum SignupOutcome {
    /// New user, logged in: the session, cookie value and user.
    Created {
        session: Session,
        cookie: String,
        user: User,
    },
    /// The address already has an account: nothing created; that account's owner was
    /// emailed (`already_registered`). The page must look exactly like `Created`'s
    /// "check your email" page, so signup does not reveal which addresses have accounts.
    AlreadyRegistered,
}

/// Why a signup was refused.
#[derive(Debug)]
pub enum SignupError {
    /// The tenant does not offer signup.
    Disabled,
    InvalidEmail,
    Password(Vec<PasswordProblem>),
    /// The `pre-user-registration` hook refused; the reason is shown to the person.
    Denied {
        reason: String,
    },
    Throttled {
        retry_after_secs: i64,
    },
    Internal(CoreError),
}

impl From<CoreError> for SignupError {
    fn from(e: CoreError) -> Self {
        Self::Internal(e)
    }
}

impl From<StoreError> for SignupError {
    fn from(e: StoreError) -> Self {
        Self::Internal(e.into())
    }
}

/// The address from the form, parsed (`None`: not an address).
fn signup_email(email: &str) -> Option<Email> {
    if email.chars().any(char::is_control) {
        return None;
    }
    Email::parse(email).ok()
}

/// The name from the form: trimmed, control characters dropped, at most 300 characters;
/// `None` when empty.
fn signup_name(name: Option<&str>) -> Option<String> {
    let cleaned: String = name?
        .chars()
        .filter(|c| !c.is_control())
        .take(MAX_NAME_CHARS)
        .collect();
    let cleaned = cleaned.trim();
    (!cleaned.is_empty()).then(|| cleaned.to_owned())
}

impl Core {
    /// Signup with the database connection: policy, `pre_user_registration` hook, argon2id
    /// on the hash pool, password history, a verification email (link + 6-digit code) when
    /// the tenant requires verification, audit `user.signup` (+ `user.created`).
    pub async fn signup(
        &self,
        tenant: &Tenant,
        email: &str,
        password: &str,
        name: Option<&str>,
        locale: &str,
        meta: &RequestMeta,
    ) -> Result<SignupOutcome, SignupError> {
        let settings = &tenant.settings;
        if !settings.universal_login.signup_enabled {
            return Err(SignupError::Disabled);
        }
        let email = signup_email(email).ok_or(SignupError::InvalidEmail)?;
        let name = signup_name(name);
        let locale = email_locale(locale);
        let problems = check_password_policy(
            &settings.password_policy,
            password,
            email.as_str(),
            name.as_deref(),
        );
        if !problems.is_empty() {
            return Err(SignupError::Password(problems));
        }
        let attempt = RegistrationAttempt {
            tenant,
            email: email.as_str(),
            name: name.as_deref(),
            ip_address: meta.ip_address.as_deref(),
            locale,
        };
        let (user_metadata, app_metadata) = match self.hooks.pre_user_registration(&attempt).await {
            Ok(RegistrationDecision::Allow) => (JsonMap::new(), JsonMap::new()),
            Ok(RegistrationDecision::AllowWith {
                user_metadata,
                app_metadata,
            }) => (user_metadata, app_metadata),
            Ok(RegistrationDecision::Deny { reason }) => {
                return Err(SignupError::Denied { reason });
            }
            Err(e) => {
                tracing::warn!(tenant = %tenant.id, error = %e, "pre-user-registration hook failed; signup refused");
                return Err(SignupError::Denied {
                    reason: HOOK_FAILED.to_owned(),
                });
            }
        };
        // Hashed whether or not the address has an account, so both take the same time.
        let hash = self.hash_password_on_pool(password).await?;
        let now = self.now();
        let mut tx = self.store.begin().await?;
        if let Some(existing) = tx.user_get_by_email(&tenant.id, &email).await? {
            self.notify_already_registered(&mut *tx, tenant, &existing, locale)
                .await?;
            tx.commit().await?;
            return Ok(SignupOutcome::AlreadyRegistered);
        }
        let connection = tx
            .connection_get_by_name(&tenant.id, DEFAULT_CONNECTION)
            .await?
            .filter(|c| c.strategy == ConnectionStrategy::Database)
            .ok_or(SignupError::Disabled)?;
        let user = User {
            tenant_id: tenant.id.clone(),
            id: UserId::generate(now, &*self.rng),
            email: Some(email.clone()),
            email_verified: false,
            profile: UserProfile {
                name: name.clone(),
                locale: Some(locale.to_owned()),
                ..UserProfile::default()
            },
            user_metadata,
            app_metadata,
            blocked: false,
            created_at: now,
            updated_at: now,
            last_login_at: Some(now),
            deleted_at: None,
        };
        match tx.user_insert(&user).await {
            Ok(()) => {}
            // Another signup with this address committed meanwhile: the same answer as
            // for an existing account (its owner is not emailed twice).
            Err(StoreError::Conflict(_)) => return Ok(SignupOutcome::AlreadyRegistered),
            Err(e) => return Err(e.into()),
        }
        tx.password_set(&tenant.id, &user.id, &hash, now).await?;
        self.remember_password(
            &mut *tx,
            &tenant.id,
            &user.id,
            &hash,
            settings.password_policy.history,
            now,
        )
        .await?;
        tx.identity_insert(&Identity {
            tenant_id: tenant.id.clone(),
            user_id: user.id.clone(),
            connection_id: connection.id.clone(),
            subject: user.id.to_string(),
            profile_data: JsonMap::new(),
            created_at: now,
        })
        .await?;
        let (session, cookie) = self.new_password_session(tenant, &user, meta);
        tx.session_insert(&session).await?;
        let verification = settings.universal_login.require_email_verification;
        if verification {
            self.send_verification_in(&mut *tx, tenant, &user, email.as_str(), locale)
                .await?;
        }
        let created = self.audit_event(
            &tenant.id,
            "user.created",
            AuditActor {
                user_id: Some(user.id.to_string()),
                email: Some(email.to_string()),
                ..AuditActor::default()
            },
            None,
            Map::from_iter([
                ("user_id".to_owned(), json!(user.id.as_str())),
                ("email".to_owned(), json!(email.as_str())),
                ("connection".to_owned(), json!(connection.name)),
                ("email_verified".to_owned(), json!(false)),
                ("blocked".to_owned(), json!(false)),
                ("has_password".to_owned(), json!(true)),
            ]),
            meta,
        );
        self.audit_in(&mut *tx, created).await?;
        let signup = self.audit_event(
            &tenant.id,
            "user.signup",
            AuditActor {
                user_id: Some(user.id.to_string()),
                email: Some(email.to_string()),
                ..AuditActor::default()
            },
            None,
            Map::from_iter([
                ("user_id".to_owned(), json!(user.id.as_str())),
                ("connection".to_owned(), json!(connection.name)),
                ("session_id".to_owned(), json!(session.id.as_str())),
                ("verification_sent".to_owned(), json!(verification)),
                ("locale".to_owned(), json!(locale)),
            ]),
            meta,
        );
        self.audit_in(&mut *tx, signup).await?;
        tx.commit().await?;
        Ok(SignupOutcome::Created {
            session,
            cookie,
            user,
        })
    }

    /// Email the owner of `existing` that someone tried to sign up with their address, at
    /// most [`ALREADY_REGISTERED_PER_HOUR`] times an hour.
    async fn notify_already_registered(
        &self,
        tx: &mut dyn Tx,
        tenant: &Tenant,
        existing: &User,
        locale: &str,
    ) -> Result<(), CoreError> {
        let Some(to) = existing.email.as_ref() else {
            return Ok(());
        };
        let now = self.now().as_secs();
        let hour = now - now.rem_euclid(3_600);
        let bucket = format!("signup-existing:{}", existing.id);
        if tx.rate_hit(&tenant.id, &bucket, hour).await? > ALREADY_REGISTERED_PER_HOUR {
            return Ok(());
        }
        let vars = json!({
            "login_link": self.tenant_link(tenant, "/login"),
            "forgot_link": self.tenant_link(tenant, "/password/forgot"),
        });
        let locale = existing.profile.locale.as_deref().unwrap_or(locale);
        self.queue_email(
            tx,
            tenant,
            EmailKind::AlreadyRegistered,
            to.as_str(),
            locale,
            vars,
        )
        .await
    }

    /// Create a verification ticket (link + code) and queue the email, inside `tx`. Older
    /// open verification tickets of the user are consumed: only the newest link and code work.
    pub(super) async fn send_verification_in(
        &self,
        tx: &mut dyn Tx,
        tenant: &Tenant,
        user: &User,
        to: &str,
        locale: &str,
    ) -> Result<(), CoreError> {
        tx.ticket_consume_all(&tenant.id, &user.id, TicketKind::VerifyEmail, self.now())
            .await?;
        let ticket = self
            .create_ticket(
                tx,
                tenant,
                user,
                to,
                TicketKind::VerifyEmail,
                VERIFY_TICKET_SECS,
                true,
            )
            .await?;
        let link = self.tenant_link(
            tenant,
            &format!("/verify-email/confirm?ticket={}", ticket.token),
        );
        let vars = json!({
            "link": link,
            "code": ticket.code,
            "expires_minutes": VERIFY_TICKET_SECS / 60,
        });
        self.queue_email(tx, tenant, EmailKind::VerifyEmail, to, locale, vars)
            .await
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;

    #[test]
    fn names_are_cleaned_not_refused() {
        assert_eq!(signup_name(None), None);
        assert_eq!(signup_name(Some("   ")), None);
        assert_eq!(
            signup_name(Some(" Ada\u{0}\n Lovelace ")),
            Some("Ada Lovelace".into())
        );
        assert_eq!(
            signup_name(Some(&"x".repeat(400))).map(|n| n.len()),
            Some(300)
        );
    }

    #[test]
    fn emails_are_parsed() {
        assert!(signup_email("ada@example.com").is_some());
        assert!(signup_email("ada@example.com\r\nBcc: x@y.z").is_none());
        assert!(signup_email("not an address").is_none());
    }
}

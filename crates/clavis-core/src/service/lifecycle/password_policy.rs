//! The tenant's password policy for new passwords (signup, reset, change): length, the
//! estimated strength (`strength`), the bundled list of common breached passwords, the
//! user's own email address and name, and the user's previous passwords (verified
//! against the stored argon2id hashes on the hashing pool).
//!
//! A password longer than [`MAX_PASSWORD_CHARS`] is refused before anything else looks at
//! it, so no request can make the server hash or analyse an arbitrarily long input.

use clavis_crypto::{hash_password, verify_password};
use clavis_types::{TenantId, Timestamp, UserId};

use super::strength::{COMMON_RANKS, password_strength};
use crate::CoreError;
use crate::model::PasswordPolicy;
use crate::ports::Tx;
use crate::service::Core;

/// Longest password accepted (bounds the work of one request).
pub const MAX_PASSWORD_CHARS: usize = 256;
/// Shortest part of the email address or name that a password may not contain.
const MIN_PERSONAL_TOKEN_CHARS: usize = 3;

/// Why a new password was refused (each maps to a message key for the page).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PasswordProblem {
    TooShort { min: u32 },
    TooWeak,
    Common,
    ContainsPersonalInfo,
    Reused,
    TooLong,
}

impl PasswordProblem {
    /// The message catalogue key of the problem.
    pub fn message_key(&self) -> &'static str {
        match self {
            Self::TooShort { .. } => "password.too_short",
            Self::TooWeak => "password.too_weak",
            Self::Common => "password.common",
            Self::ContainsPersonalInfo => "password.personal_info",
            Self::Reused => "password.reused",
            Self::TooLong => "password.too_long",
        }
    }
}

/// Whether the password (compared case-insensitively) is on the bundled list.
pub fn is_common_password(password: &str) -> bool {
    COMMON_RANKS.contains_key(password.to_lowercase().as_str())
}

/// Everything the policy refuses in `password`, except reuse (checked against the stored
/// hashes by the services). Empty: acceptable.
pub fn check_password_policy(
    policy: &PasswordPolicy,
    password: &str,
    email: &str,
    name: Option<&str>,
) -> Vec<PasswordProblem> {
    let chars = password.chars().count();
    if chars > MAX_PASSWORD_CHARS {
        return vec![PasswordProblem::TooLong];
    }
    let mut problems = Vec::new();
    let min = policy.min_length.max(1);
    if chars < usize::try_from(min).unwrap_or(usize::MAX) {
        problems.push(PasswordProblem::TooShort { min });
    }
    if policy.dictionary && is_common_password(password) {
        problems.push(PasswordProblem::Common);
    }
    if policy.no_personal_info && contains_personal_info(password, email, name) {
        problems.push(PasswordProblem::ContainsPersonalInfo);
    }
    if password_strength(password) < policy.min_strength {
        problems.push(PasswordProblem::TooWeak);
    }
    problems
}

/// The parts of the email address and name a password may not contain: the address, its
/// local part, the local part's pieces (split at `.`, `_`, `-`, `+`) and the name's words,
/// each at least three characters, lower case.
fn personal_tokens(email: &str, name: Option<&str>) -> Vec<String> {
    let email = email.trim().to_lowercase();
    let mut tokens = vec![email.clone()];
    if let Some((local, _)) = email.rsplit_once('@') {
        tokens.push(local.to_owned());
        tokens.extend(local.split(['.', '_', '-', '+']).map(str::to_owned));
    }
    if let Some(name) = name {
        tokens.extend(
            name.to_lowercase()
                .split(|c: char| !c.is_alphanumeric())
                .map(str::to_owned),
        );
    }
    tokens.retain(|t| t.chars().count() >= MIN_PERSONAL_TOKEN_CHARS);
    tokens.sort();
    tokens.dedup();
    tokens
}

fn contains_personal_info(password: &str, email: &str, name: Option<&str>) -> bool {
    let pw = password.to_lowercase();
    personal_tokens(email, name)
        .iter()
        .any(|t| pw.contains(t.as_str()))
}

impl Core {
    /// The user's current password hash and their last `history` ones (`history` = 0:
    /// none; the reuse check is off).
    pub(super) async fn previous_hashes(
        &self,
        tx: &mut dyn Tx,
        tenant: &TenantId,
        user: &UserId,
        history: u32,
    ) -> Result<Vec<String>, CoreError> {
        if history == 0 {
            return Ok(Vec::new());
        }
        let mut hashes = tx
            .password_history_recent(tenant, user, i64::from(history))
            .await?;
        if let Some(current) = tx.password_get(tenant, user).await?
            && !hashes.contains(&current)
        {
            hashes.push(current);
        }
        Ok(hashes)
    }

    /// Whether `password` matches any of `hashes` (verified on the hashing pool; call with
    /// no transaction open).
    pub(super) async fn matches_any_hash(
        &self,
        password: &str,
        hashes: Vec<String>,
    ) -> Result<bool, CoreError> {
        if hashes.is_empty() {
            return Ok(false);
        }
        let pw = zeroize::Zeroizing::new(password.to_owned());
        self.on_hash_pool(move || {
            hashes
                .iter()
                .any(|h| verify_password(&pw, h).is_ok_and(|c| c.ok))
        })
        .await
    }

    /// Hash a new password (argon2id) on the hashing pool.
    pub(super) async fn hash_password_on_pool(&self, password: &str) -> Result<String, CoreError> {
        let pw = zeroize::Zeroizing::new(password.to_owned());
        let rng = self.rng.clone();
        Ok(self
            .on_hash_pool(move || hash_password(&pw, &*rng))
            .await??)
    }

    /// Record a newly set password hash in the user's history, keeping the last `history`.
    pub(super) async fn remember_password(
        &self,
        tx: &mut dyn Tx,
        tenant: &TenantId,
        user: &UserId,
        hash: &str,
        history: u32,
        now: Timestamp,
    ) -> Result<(), CoreError> {
        if history == 0 {
            return Ok(());
        }
        tx.password_history_add(tenant, user, hash, now).await?;
        tx.password_history_trim(tenant, user, i64::from(history))
            .await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;

    fn policy() -> PasswordPolicy {
        PasswordPolicy::default()
    }

    #[test]
    fn a_good_password_passes() {
        assert!(
            check_password_policy(
                &policy(),
                "vL7#pQ2x-Kd9",
                "ada@example.com",
                Some("Ada Lovelace")
            )
            .is_empty()
        );
    }

    #[test]
    fn too_long_is_refused_alone_and_first() {
        let pw = "x".repeat(MAX_PASSWORD_CHARS + 1);
        assert_eq!(
            check_password_policy(&policy(), &pw, "a@b.example", None),
            vec![PasswordProblem::TooLong]
        );
        // 256 characters are fine (and counted in characters, not bytes).
        let pw: String = "é9Kq".repeat(64);
        assert!(
            !check_password_policy(&policy(), &pw, "a@b.example", None)
                .contains(&PasswordProblem::TooLong)
        );
    }

    #[test]
    fn too_short() {
        assert!(
            check_password_policy(&policy(), "Zq7!mK", "a@b.example", None)
                .contains(&PasswordProblem::TooShort { min: 8 })
        );
    }

    #[test]
    fn common_passwords_whatever_the_case() {
        for pw in [
            "password1",
            "PASSWORD1",
            "Iloveyou",
            "qwerty123",
            "trustno1",
            "Baseball",
        ] {
            assert!(
                check_password_policy(&policy(), pw, "a@b.example", None)
                    .contains(&PasswordProblem::Common),
                "{pw}"
            );
        }
        let off = PasswordPolicy {
            dictionary: false,
            min_strength: 0,
            ..policy()
        };
        assert!(check_password_policy(&off, "password1", "a@b.example", None).is_empty());
    }

    #[test]
    fn personal_information() {
        let refused = |pw: &str| {
            check_password_policy(
                &policy(),
                pw,
                "jean.dupont+work@example.fr",
                Some("Marie-Claire Okafor"),
            )
            .contains(&PasswordProblem::ContainsPersonalInfo)
        };
        assert!(refused("Xx-jean.dupont+work@example.fr-9"));
        assert!(refused("zz9DUPONTzz!Q"));
        assert!(refused("9!okafor-rules-Q"));
        assert!(refused("Claire#2024xyzQ"));
        assert!(!refused("vL7#pQ2x-Kd9"));
        // Two-character pieces ("jo") are too short to count.
        assert!(
            !check_password_policy(&policy(), "jo!Vq8#Lm2zR", "jo@example.com", Some("Al Li"))
                .contains(&PasswordProblem::ContainsPersonalInfo)
        );
        let off = PasswordPolicy {
            no_personal_info: false,
            ..policy()
        };
        assert!(
            !check_password_policy(&off, "zz9DUPONTzz!Q", "jean.dupont@example.fr", None)
                .contains(&PasswordProblem::ContainsPersonalInfo)
        );
    }

    #[test]
    fn weak_passwords() {
        let p = check_password_policy(&policy(), "Summer2024!", "a@b.example", None);
        assert!(p.contains(&PasswordProblem::TooWeak), "{p:?}");
        let lax = PasswordPolicy {
            min_strength: 0,
            ..policy()
        };
        assert!(check_password_policy(&lax, "Summer2024!", "a@b.example", None).is_empty());
    }

    #[test]
    fn message_keys() {
        assert_eq!(
            PasswordProblem::TooShort { min: 8 }.message_key(),
            "password.too_short"
        );
        assert_eq!(PasswordProblem::Reused.message_key(), "password.reused");
        assert_eq!(PasswordProblem::TooLong.message_key(), "password.too_long");
        assert_eq!(PasswordProblem::Common.message_key(), "password.common");
        assert_eq!(
            PasswordProblem::ContainsPersonalInfo.message_key(),
            "password.personal_info"
        );
        assert_eq!(PasswordProblem::TooWeak.message_key(), "password.too_weak");
    }
}

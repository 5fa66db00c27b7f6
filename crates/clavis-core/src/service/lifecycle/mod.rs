//! The account lifecycle behind Universal Login: signup under the tenant's password
//! policy, email verification (link and code), password reset and change, passwordless
//! login by emailed code (`email` connections), consent, the
//! `pre-user-registration` / `post-login` extension points, and the emails they send
//! (through the outbox; see `email`).
//!
//! Secrets never leave these modules in clear except in the email that carries them:
//! tickets are stored as SHA-256 digests, codes as keyed digests, passwords as argon2id
//! hashes; no ticket, code, password or hash is written to an audit event, a log line or
//! an error.

mod consent;
mod email;
mod hooks;
mod login_code;
mod password_policy;
mod reset;
mod signup;
mod strength;
pub(crate) mod tickets;
mod verify;

pub use consent::ScopeWords;
pub use email::{
    EmailKind, RenderedEmail, TEMPLATE_FUEL, TEMPLATE_MAX_OUTPUT, TEMPLATE_MAX_SOURCE,
    email_locale, render_builtin, render_custom,
};
pub use hooks::{
    LoginContext, LoginHooks, NoHooks, PostLoginDecision, RegistrationAttempt, RegistrationDecision,
};
pub use login_code::{CodeLoginError, LOGIN_CODE_SECS, LOGIN_CODES_PER_HOUR};
pub use password_policy::{
    MAX_PASSWORD_CHARS, PasswordProblem, check_password_policy, is_common_password,
};
pub use reset::{ChangePasswordError, RESET_EMAILS_PER_HOUR, ResetError};
pub use signup::{SignupError, SignupOutcome};
pub use strength::password_strength;
pub use verify::{VERIFY_EMAILS_PER_HOUR, VerifyError};

/// Lifetime of a verification link and its code.
pub const VERIFY_TICKET_SECS: i64 = 86_400;
/// Lifetime of a password reset link (15 minutes).
pub const RESET_TICKET_SECS: i64 = 900;
/// Wrong codes after which a verification code stops working.
pub const MAX_CODE_ATTEMPTS: i64 = 5;

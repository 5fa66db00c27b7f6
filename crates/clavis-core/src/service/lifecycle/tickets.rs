//! One-time tickets of the lifecycle (email verification, password reset, login codes): a 32-byte
//! random token for the emailed link, stored only as its SHA-256, and for verification a
//! 6-digit code, stored only as a keyed digest (HMAC under the tenant's data key, bound to
//! its ticket) and compared in constant time. Also the absolute URLs emails link to, and
//! session cookie credentials (a real session's, and a well-formed one that opens nothing).

use clavis_crypto::{b64url, sha256};
use clavis_types::{SessionId, Timestamp};

use super::MAX_CODE_ATTEMPTS;
use crate::CoreError;
use crate::model::{Session, Tenant, TicketKind, User, UserTicket};
use crate::oauth::{SESSION_ABSOLUTE_SECS, SESSION_IDLE_SECS};
use crate::ports::Tx;
use crate::service::{Core, RequestMeta};

/// Longest token accepted from a link (a real one is 43 characters).
const MAX_TOKEN_CHARS: usize = 128;

/// A ticket just created: what goes in the email (never stored in clear).
pub(crate) struct NewTicket {
    pub token: String,
    pub code: Option<String>,
}

/// The SHA-256 a link token is stored under, or `None` for input that cannot be a token
/// (every kind of ticket: verification, reset, unlock).
pub(crate) fn token_digest(token: &str) -> Option<Vec<u8>> {
    let token = token.trim();
    (!token.is_empty()
        && token.len() <= MAX_TOKEN_CHARS
        && token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'))
    .then(|| sha256(token.as_bytes()).to_vec())
}

/// The outcome of [`Core::try_code`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum CodeTry {
    /// The right code (the ticket is not consumed yet: the caller does it).
    Right,
    /// A wrong code; tries remain.
    Wrong,
    /// A wrong code at (or past) the last try: the ticket is consumed.
    Burnt,
    /// The ticket was consumed meanwhile: nothing was compared.
    Gone,
}

/// Whether the ticket can still be used at `now`.
pub(super) fn is_open(t: &UserTicket, now: Timestamp) -> bool {
    t.consumed_at.is_none() && t.expires_at > now
}

/// A code as typed: digits only once spaces and dashes are dropped, or `None`.
pub(super) fn normalise_code(code: &str) -> Option<String> {
    let digits: String = code.chars().filter(|c| !matches!(c, ' ' | '-')).collect();
    (digits.len() == 6 && digits.bytes().all(|b| b.is_ascii_digit())).then_some(digits)
}

fn code_message(ticket_digest: &[u8], code: &str) -> Vec<u8> {
    let mut msg = b"clavis/verify-code:".to_vec();
    msg.extend_from_slice(ticket_digest);
    msg.push(b':');
    msg.extend_from_slice(code.as_bytes());
    msg
}

impl Core {
    /// Six random digits, uniformly (rejection sampling).
    fn six_digits(&self) -> String {
        loop {
            let mut b = [0u8; 4];
            self.rng.fill(&mut b);
            let n = u32::from_be_bytes(b);
            // 4_294_000_000 is the largest multiple of 10⁶ below 2³².
            if n < 4_294_000_000 {
                return format!("{:06}", n % 1_000_000);
            }
        }
    }

    /// Create a ticket of `kind` for `user`, sent to `email`, valid `lifetime_secs`; with a
    /// 6-digit code when `with_code`. (Every kind of ticket is made here: verification,
    /// reset, and the unlock links of attack protection.)
    #[allow(clippy::too_many_arguments)]
    pub(crate) async fn create_ticket(
        &self,
        tx: &mut dyn Tx,
        tenant: &Tenant,
        user: &User,
        email: &str,
        kind: TicketKind,
        lifetime_secs: i64,
        with_code: bool,
    ) -> Result<NewTicket, CoreError> {
        let now = self.now();
        let mut raw = [0u8; 32];
        self.rng.fill(&mut raw);
        let token = b64url(&raw);
        let digest = sha256(token.as_bytes()).to_vec();
        let (code, code_digest) = if with_code {
            let code = self.six_digits();
            let dk = self.keyring.data_key(tx, &tenant.id).await?;
            let d = dk.secret_digest(&code_message(&digest, &code)).to_vec();
            (Some(code), Some(d))
        } else {
            (None, None)
        };
        tx.ticket_insert(&UserTicket {
            tenant_id: tenant.id.clone(),
            digest,
            kind,
            user_id: user.id.clone(),
            email: email.to_owned(),
            code_digest,
            attempts: 0,
            created_at: now,
            expires_at: now.plus_secs(lifetime_secs),
            consumed_at: None,
        })
        .await?;
        Ok(NewTicket { token, code })
    }

    /// Whether `code` is the ticket's code (constant-time comparison of keyed digests).
    pub(super) async fn code_matches(
        &self,
        tx: &mut dyn Tx,
        tenant: &Tenant,
        ticket: &UserTicket,
        code: &str,
    ) -> Result<bool, CoreError> {
        let Some(stored) = &ticket.code_digest else {
            return Ok(false);
        };
        let dk = self.keyring.data_key(tx, &tenant.id).await?;
        Ok(dk.verify_secret(&code_message(&ticket.digest, code), stored))
    }

    /// One try of a typed code against a ticket (email verification and login codes
    /// share it): counted first, by one atomic update that holds the ticket's row until
    /// the caller commits (so of any number of concurrent tries only the first
    /// [`MAX_CODE_ATTEMPTS`] are compared), then compared; the
    /// [`MAX_CODE_ATTEMPTS`]th wrong try (or any later one) consumes the ticket. The caller
    /// commits `tx` for every outcome but [`CodeTry::Gone`].
    pub(super) async fn try_code(
        &self,
        tx: &mut dyn Tx,
        tenant: &Tenant,
        ticket: &UserTicket,
        code: &str,
    ) -> Result<CodeTry, CoreError> {
        let now = self.now();
        let attempt = tx.ticket_add_attempt(&tenant.id, &ticket.digest).await?;
        if attempt == 0 {
            return Ok(CodeTry::Gone);
        }
        if attempt > MAX_CODE_ATTEMPTS {
            tx.ticket_consume(&tenant.id, &ticket.digest, now).await?;
            return Ok(CodeTry::Burnt);
        }
        let right = match normalise_code(code) {
            Some(c) => self.code_matches(tx, tenant, ticket, &c).await?,
            None => false,
        };
        if right {
            return Ok(CodeTry::Right);
        }
        if attempt >= MAX_CODE_ATTEMPTS {
            tx.ticket_consume(&tenant.id, &ticket.digest, now).await?;
            return Ok(CodeTry::Burnt);
        }
        Ok(CodeTry::Wrong)
    }

    /// `{public_url}/t/{tenant}{path}` (relative when the public URL is not known).
    pub(crate) fn tenant_link(&self, tenant: &Tenant, path: &str) -> String {
        let base = self.public_url.get().map_or("", String::as_str);
        format!("{base}/t/{}{path}", tenant.slug)
    }

    /// A session id and secret as a session cookie carries them: the id, the cookie
    /// value `{session id}.{secret}` and the secret's digest.
    fn session_credentials(&self) -> (SessionId, String, Vec<u8>) {
        let mut secret = [0u8; 32];
        self.rng.fill(&mut secret);
        let secret = b64url(&secret);
        let id = SessionId::generate(self.now(), &*self.rng);
        let cookie = format!("{id}.{secret}");
        (id, cookie, sha256(secret.as_bytes()).to_vec())
    }

    /// A session cookie value that opens nothing: the same shape as a real one (a fresh
    /// random session id and secret, made the same way) but no session is stored under
    /// it, so looking it up finds none. Signup hands it out for an address that already
    /// has an account, so that answer cannot be told from a new account's.
    pub fn unusable_session_cookie(&self) -> String {
        self.session_credentials().1
    }

    /// A new password session for `user` (as a password login opens one): the session
    /// and the cookie value `{session id}.{secret}`. The caller inserts it.
    pub(super) fn new_password_session(
        &self,
        tenant: &Tenant,
        user: &User,
        meta: &RequestMeta,
    ) -> (Session, String) {
        self.new_session(tenant, user, meta, "pwd")
    }

    /// A new session for `user` authenticated by `amr` (`pwd`, `otp`): the session and
    /// the cookie value `{session id}.{secret}`. The caller inserts it.
    pub(crate) fn new_session(
        &self,
        tenant: &Tenant,
        user: &User,
        meta: &RequestMeta,
        amr: &str,
    ) -> (Session, String) {
        let now = self.now();
        let (id, cookie, secret_digest) = self.session_credentials();
        let session = Session {
            tenant_id: tenant.id.clone(),
            id,
            secret_digest,
            user_id: user.id.clone(),
            auth_time: now,
            amr: vec![amr.to_owned()],
            created_at: now,
            last_seen_at: now,
            idle_expires_at: now.plus_secs(SESSION_IDLE_SECS),
            absolute_expires_at: now.plus_secs(SESSION_ABSOLUTE_SECS),
            ip_address: meta.ip_address.clone(),
            user_agent: meta.user_agent.clone(),
            revoked_at: None,
        };
        (session, cookie)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;

    #[test]
    fn tokens_are_checked_before_hashing() {
        assert!(token_digest("").is_none());
        assert!(token_digest("a b").is_none());
        assert!(token_digest(&"a".repeat(129)).is_none());
        assert!(token_digest("abc<script>").is_none());
        assert_eq!(token_digest(" AbC-_9 "), Some(sha256(b"AbC-_9").to_vec()));
    }

    #[test]
    fn codes_are_six_digits() {
        assert_eq!(normalise_code("123 456"), Some("123456".into()));
        assert_eq!(normalise_code("123-456"), Some("123456".into()));
        assert_eq!(normalise_code("12345"), None);
        assert_eq!(normalise_code("1234567"), None);
        assert_eq!(normalise_code("12345a"), None);
        assert_eq!(normalise_code("١٢٣٤٥٦"), None);
    }

    #[test]
    fn the_code_is_bound_to_its_ticket() {
        assert_ne!(code_message(b"t1", "123456"), code_message(b"t2", "123456"));
    }
}

//! Attack protection: rate limits and account lockout, counted where every node sharing
//! the database (or the Redis of `Core::with_rate_counters`) sees the same counts.
//!
//! Counters are fixed windows (a minute, an hour or a day, aligned on the epoch). Buckets
//! are namespaced: `auth-ip:{ip}` (authentication requests per minute), `fail:{subject}`
//! (password attempts and login-code tries on one address per hour, forgotten on
//! success), `ipfail:{ip}` (failed logins of one client address per day, across accounts) and
//! `refresh:{user}:{client}` (refresh-token grants of one user at one application per
//! hour). IPv6 clients are counted per /64, the block one subscriber usually holds.
//!
//! `auth-ip`, `ipfail` and `refresh` go through the [`RateCounters`](crate::ports::RateCounters)
//! port (`Core::counter_hit`/`counter_get`): the database by default, each hit one atomic
//! statement in its own short write transaction committed before the work it guards (so a
//! request that fails afterwards still counts), or Redis, with the database as fallback.
//! `fail:{subject}` and the lockouts always stay in the database (`account_lockouts`):
//! the attempt is counted in the transaction that reads the lock (and rolled back when a
//! lock is found), and forgotten in the transaction that writes a lock or a login.
//!
//! A password attempt is counted on its address *before* the password is checked
//! (`Core::count_password_attempt`): of any number of concurrent attempts at most
//! `failed_logins_per_hour` get a password check; the others are refused as `Locked`
//! without one.
//!
//! The subject of per-address counters and locks is the hex keyed digest (the tenant data
//! key's HMAC) of the normalised address, computed the same way whether or not an account
//! has that address: a lock says nothing about which accounts exist. This module must not
//! decide what a page shows; it answers [`Throttle`] or the login errors.

use clavis_types::{ClientId, Timestamp, UserId};
use serde_json::{Map, json};
use std::net::IpAddr;

use crate::model::{AuditActor, Lockout, Tenant, TicketKind, User};
use crate::ports::Tx;
use crate::service::RequestMeta;
use crate::service::lifecycle::EmailKind;
use crate::{Core, CoreError};

/// Lengths of the counting windows.
const MINUTE: i64 = 60;
const HOUR: i64 = 3_600;
const DAY: i64 = 86_400;
/// Windows older than this are deleted by [`Core::purge_rate_counters`] (the longest
/// window is a day).
const RATE_KEEP_SECS: i64 = 2 * DAY;
/// A lock that ended longer ago than this is forgotten: the next one starts again at
/// `lockout_secs` instead of doubling the last.
pub const LOCK_MEMORY_SECS: i64 = DAY;
/// How long the unlock link of a `blocked_account` email works.
pub const UNLOCK_TICKET_SECS: i64 = DAY;
/// A login from a user agent none of the user's sessions had in this long is a new device.
pub const NEW_DEVICE_SECS: i64 = 90 * DAY;

/// The answer of a rate limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Throttle {
    Allowed,
    /// Over the limit: retry after this many seconds (the end of the counting window, ≥ 1).
    Limited {
        retry_after_secs: i64,
    },
}

/// What the login flow learns before it checks a password.
pub(crate) struct LoginGuard {
    /// Keyed digest (hex) of the normalised address.
    pub subject: String,
    /// The normalised address (trimmed, lower case), as typed.
    pub address: String,
    /// The client address's bucket key, if the request has one.
    pub ip: Option<String>,
    /// Refuse before checking the password: the address is locked…
    pub locked_for: Option<i64>,
    /// …or the client address failed too often today.
    pub ip_throttled_for: Option<i64>,
    /// This attempt's number among the address's attempts of the hour, once counted by
    /// [`Core::count_password_attempt`] (0 before).
    pub attempts: i64,
}

/// Start of the fixed window of length `len` holding `now`, and the seconds left in it.
fn window(now: Timestamp, len: i64) -> (i64, i64) {
    let t = now.as_secs();
    let start = t - t.rem_euclid(len);
    (start, (start + len - t).max(1))
}

/// The bucket key of a client address: IPv4 (and IPv4-mapped IPv6) as is, IPv6 by its /64.
fn ip_key(ip: &str) -> String {
    match ip.trim().parse::<IpAddr>() {
        Ok(IpAddr::V4(v4)) => v4.to_string(),
        Ok(IpAddr::V6(v6)) => match v6.to_ipv4_mapped() {
            Some(v4) => v4.to_string(),
            None => {
                let [a, b, c, d, ..] = v6.segments();
                format!("{a:x}:{b:x}:{c:x}:{d:x}::/64")
            }
        },
        Err(_) => ip.chars().take(64).collect(),
    }
}

/// The address as counted and locked: trimmed, lower case.
fn normalise(email: &str) -> String {
    email.trim().to_lowercase()
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes.iter().fold(String::with_capacity(64), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

/// Seconds a lock still runs at `now` (at least 1), or `None` once it has ended.
fn running_for(l: &Lockout, now: Timestamp) -> Option<i64> {
    (l.locked_until > now).then(|| (l.locked_until.as_secs() - now.as_secs()).max(1))
}

fn fail_bucket(subject: &str) -> String {
    format!("fail:{subject}")
}

fn ipfail_bucket(ip: &str) -> String {
    format!("ipfail:{ip}")
}

/// `lockout_secs * 2^(lock_count-1)`, at most `max_secs` (and never below `base_secs`).
pub fn lock_duration(base_secs: i64, max_secs: i64, lock_count: i64) -> i64 {
    let doublings = u32::try_from((lock_count - 1).clamp(0, 62)).unwrap_or(62);
    let factor = 1i64.checked_shl(doublings).unwrap_or(i64::MAX);
    base_secs
        .max(1)
        .saturating_mul(factor)
        .min(max_secs.max(base_secs))
}

impl Core {
    /// Count one hit in the current window of `bucket` (committed before the guarded work);
    /// `Limited` when the window now holds more than `limit` hits.
    async fn rate_count(
        &self,
        tenant: &Tenant,
        bucket: &str,
        len: i64,
        limit: u32,
    ) -> Result<Throttle, CoreError> {
        let (start, left) = window(self.now(), len);
        let hits = self.counter_hit(&tenant.id, bucket, start, len).await?;
        Ok(if hits > i64::from(limit) {
            Throttle::Limited {
                retry_after_secs: left,
            }
        } else {
            Throttle::Allowed
        })
    }

    /// Count one request of this client address against `auth_per_ip_per_minute` (login,
    /// signup, forgot/reset password, verification code POSTs). No address: Allowed.
    pub async fn throttle_auth_ip(
        &self,
        tenant: &Tenant,
        ip: Option<&str>,
    ) -> Result<Throttle, CoreError> {
        let Some(ip) = ip.filter(|i| !i.trim().is_empty()) else {
            return Ok(Throttle::Allowed);
        };
        let limit = tenant.settings.attack_protection.auth_per_ip_per_minute;
        let bucket = format!("auth-ip:{}", ip_key(ip));
        self.rate_count(tenant, &bucket, MINUTE, limit).await
    }

    /// Refresh-token grants of one user at one application per hour
    /// (`refresh_per_user_per_hour`): one application cannot use up another's allowance.
    pub async fn throttle_refresh(
        &self,
        tenant: &Tenant,
        user: &UserId,
        client: &ClientId,
    ) -> Result<Throttle, CoreError> {
        let limit = tenant.settings.attack_protection.refresh_per_user_per_hour;
        let bucket = format!("refresh:{user}:{client}");
        self.rate_count(tenant, &bucket, HOUR, limit).await
    }

    /// Delete counting windows of every tenant older than two days; returns how many.
    /// Run periodically (the server's upkeep task does, hourly).
    pub async fn purge_rate_counters(&self) -> Result<u64, CoreError> {
        let before = self.now().as_secs() - RATE_KEEP_SECS;
        let mut tx = self.store.begin().await?;
        let n = tx.rate_purge(before).await?;
        tx.commit().await?;
        Ok(n)
    }

    /// The lock subject of an address in a tenant: hex keyed digest of the normalised
    /// address (the same for addresses with and without an account).
    pub(crate) async fn lock_subject(
        &self,
        tx: &mut dyn Tx,
        tenant: &Tenant,
        address: &str,
    ) -> Result<String, CoreError> {
        let dk = self.keyring.data_key(tx, &tenant.id).await?;
        let mut msg = b"clavis/lockout-subject:".to_vec();
        msg.extend_from_slice(address.as_bytes());
        Ok(hex(&dk.secret_digest(&msg)))
    }

    /// Clear the lock and the failed-login count of an address (an unlock link or a
    /// password reset proves its owner). Whether a lock was in force.
    pub(crate) async fn clear_lockout(
        &self,
        tx: &mut dyn Tx,
        tenant: &Tenant,
        address: &str,
    ) -> Result<bool, CoreError> {
        let now = self.now();
        let subject = self.lock_subject(tx, tenant, &normalise(address)).await?;
        let was_locked = tx
            .lockout_get(&tenant.id, &subject)
            .await?
            .is_some_and(|l| l.locked_until > now);
        tx.lockout_clear(&tenant.id, &subject).await?;
        tx.rate_clear(&tenant.id, &fail_bucket(&subject)).await?;
        Ok(was_locked)
    }

    /// Read, inside the login's read transaction, whether the address is locked and the
    /// client address over its daily failure limit.
    pub(crate) async fn login_guard(
        &self,
        tx: &mut dyn Tx,
        tenant: &Tenant,
        email: &str,
        meta: &RequestMeta,
    ) -> Result<LoginGuard, CoreError> {
        let now = self.now();
        let address = normalise(email);
        let subject = self.lock_subject(tx, tenant, &address).await?;
        let locked_for = tx
            .lockout_get(&tenant.id, &subject)
            .await?
            .and_then(|l| running_for(&l, now));
        let ip = meta
            .ip_address
            .as_deref()
            .filter(|i| !i.trim().is_empty())
            .map(ip_key);
        let ip_throttled_for = match &ip {
            Some(ip) => {
                let (start, left) = window(now, DAY);
                let limit = tenant
                    .settings
                    .attack_protection
                    .suspicious_ip_failures_per_day;
                let failures = self
                    .counter_get(tx, &tenant.id, &ipfail_bucket(ip), start)
                    .await?;
                (failures >= i64::from(limit)).then_some(left)
            }
            None => None,
        };
        Ok(LoginGuard {
            subject,
            address,
            ip,
            locked_for,
            ip_throttled_for,
            attempts: 0,
        })
    }

    /// Count a password attempt on the address, in its own committed transaction, before
    /// the password is checked (so concurrent attempts cannot all be checked before the
    /// first failure is counted). An attempt over `failed_logins_per_hour` is refused
    /// without a check, and locks the address if no lock is running yet. A lock written
    /// since `guard` was read refuses the attempt too, and then the attempt is not
    /// counted (the lock forgot the address's attempts; they start again after it).
    /// `Limited` means locked: refuse without checking the password; `Allowed` sets
    /// `guard.attempts`. `user` is the account with this address, if any: a lock emails it
    /// an unlock link.
    pub(crate) async fn count_password_attempt(
        &self,
        tenant: &Tenant,
        guard: &mut LoginGuard,
        user: Option<&User>,
        locale: &str,
        meta: &RequestMeta,
    ) -> Result<Throttle, CoreError> {
        let now = self.now();
        let (hour, _) = window(now, HOUR);
        let mut tx = self.store.begin().await?;
        let attempts = tx
            .rate_hit(&tenant.id, &fail_bucket(&guard.subject), hour)
            .await?;
        // Read after the hit: a lock committed before this hit is seen here.
        if let Some(secs) = tx
            .lockout_get(&tenant.id, &guard.subject)
            .await?
            .and_then(|l| running_for(&l, now))
        {
            // Dropped without commit: the hit is rolled back.
            drop(tx);
            return Ok(Throttle::Limited {
                retry_after_secs: secs,
            });
        }
        tx.commit().await?;
        let limit = tenant.settings.attack_protection.failed_logins_per_hour;
        if attempts > i64::from(limit) {
            let secs = self.lock_address(tenant, guard, user, locale, meta).await?;
            return Ok(Throttle::Limited {
                retry_after_secs: secs,
            });
        }
        guard.attempts = attempts;
        Ok(Throttle::Allowed)
    }

    /// A checked password was wrong: count the failure against the client address
    /// (committed at once); when the attempt was the address's `failed_logins_per_hour`th
    /// (`guard.attempts`, counted by [`Core::count_password_attempt`]) the address is
    /// locked. `user` is the account with this address, if any: it is emailed an unlock link.
    pub(crate) async fn record_login_failure(
        &self,
        tenant: &Tenant,
        guard: &LoginGuard,
        user: Option<&User>,
        locale: &str,
        meta: &RequestMeta,
    ) -> Result<(), CoreError> {
        if let Some(ip) = &guard.ip {
            let (day, _) = window(self.now(), DAY);
            self.counter_hit(&tenant.id, &ipfail_bucket(ip), day, DAY)
                .await?;
        }
        let limit = tenant.settings.attack_protection.failed_logins_per_hour;
        if guard.attempts >= i64::from(limit) {
            self.lock_address(tenant, guard, user, locale, meta).await?;
        }
        Ok(())
    }

    /// Lock the address (unless a lock is already running — another node may have just
    /// written it), forget its failures, email the account's owner, audit `user.locked`.
    /// Returns the seconds the address stays locked.
    async fn lock_address(
        &self,
        tenant: &Tenant,
        guard: &LoginGuard,
        user: Option<&User>,
        locale: &str,
        meta: &RequestMeta,
    ) -> Result<i64, CoreError> {
        let now = self.now();
        let ap = &tenant.settings.attack_protection;
        let mut tx = self.store.begin().await?;
        let previous = tx.lockout_get(&tenant.id, &guard.subject).await?;
        if let Some(secs) = previous.as_ref().and_then(|l| running_for(l, now)) {
            return Ok(secs);
        }
        let lock_count = match &previous {
            Some(l) if l.locked_until.as_secs() + LOCK_MEMORY_SECS >= now.as_secs() => {
                l.lock_count.saturating_add(1)
            }
            _ => 1,
        };
        let secs = lock_duration(ap.lockout_secs, ap.lockout_max_secs, lock_count);
        tx.lockout_put(&Lockout {
            tenant_id: tenant.id.clone(),
            subject: guard.subject.clone(),
            locked_until: now.plus_secs(secs),
            lock_count,
            updated_at: now,
        })
        .await?;
        tx.rate_clear(&tenant.id, &fail_bucket(&guard.subject))
            .await?;
        let owner = user.filter(|u| u.deleted_at.is_none()).and_then(|u| {
            u.email
                .as_ref()
                .filter(|e| e.as_str() == guard.address)
                .map(|e| (u, e.to_string()))
        });
        if let Some((u, to)) = &owner {
            let ticket = self
                .create_ticket(
                    &mut *tx,
                    tenant,
                    u,
                    to,
                    TicketKind::Unlock,
                    UNLOCK_TICKET_SECS,
                    false,
                )
                .await?
                .token;
            let link = self.tenant_link(tenant, &format!("/unlock?ticket={ticket}"));
            let vars = json!({
                "unlock_link": link,
                "link": link,
                "locked_minutes": (secs + 59) / 60,
                "expires_minutes": UNLOCK_TICKET_SECS / 60,
                "ip_address": meta.ip_address,
                "user_agent": meta.user_agent,
            });
            self.queue_email(
                &mut *tx,
                tenant,
                EmailKind::BlockedAccount,
                to,
                locale,
                vars,
            )
            .await?;
        }
        let event = self.audit_event(
            &tenant.id,
            "user.locked",
            AuditActor {
                user_id: owner.as_ref().map(|(u, _)| u.id.to_string()),
                email: Some(guard.address.clone()),
                ..AuditActor::default()
            },
            None,
            Map::from_iter([
                ("lock_count".to_owned(), json!(lock_count)),
                ("locked_secs".to_owned(), json!(secs)),
                (
                    "locked_until".to_owned(),
                    json!(now.plus_secs(secs).as_secs()),
                ),
            ]),
            meta,
        );
        self.audit_in(&mut *tx, event).await?;
        tx.commit().await?;
        Ok(secs)
    }

    /// A successful login forgets the address's failures (inside the login's transaction).
    pub(crate) async fn clear_login_failures(
        &self,
        tx: &mut dyn Tx,
        tenant: &Tenant,
        guard: &LoginGuard,
    ) -> Result<(), CoreError> {
        tx.rate_clear(&tenant.id, &fail_bucket(&guard.subject))
            .await?;
        Ok(())
    }

    /// Email `new_device` when the user has logged in before but no session of theirs had
    /// this user agent in [`NEW_DEVICE_SECS`]. Call before the new session is inserted.
    pub(crate) async fn notify_new_device(
        &self,
        tx: &mut dyn Tx,
        tenant: &Tenant,
        user: &User,
        locale: &str,
        meta: &RequestMeta,
    ) -> Result<(), CoreError> {
        let (Some(to), Some(agent), Some(_)) = (
            user.email.as_ref(),
            meta.user_agent.as_deref().filter(|a| !a.is_empty()),
            user.last_login_at,
        ) else {
            return Ok(());
        };
        let since = self.now().plus_secs(-NEW_DEVICE_SECS);
        if tx
            .session_seen_agent(&tenant.id, &user.id, agent, since)
            .await?
        {
            return Ok(());
        }
        let vars = json!({
            "ip_address": meta.ip_address,
            "user_agent": agent,
            "time": self.now().to_rfc3339(),
        });
        self.queue_email(tx, tenant, EmailKind::NewDevice, to.as_str(), locale, vars)
            .await
    }

    /// Consume an unlock ticket: clears the lock and the failure count of the address it
    /// was sent to. Audit `user.unlocked`. `false` for an unknown, used or expired ticket
    /// (or one of another kind).
    pub async fn unlock_account(
        &self,
        tenant: &Tenant,
        ticket: &str,
        meta: &RequestMeta,
    ) -> Result<bool, CoreError> {
        let Some(digest) = crate::service::lifecycle::tickets::token_digest(ticket) else {
            return Ok(false);
        };
        let now = self.now();
        let mut tx = self.store.begin().await?;
        let Some(t) = tx.ticket_get(&tenant.id, &digest).await? else {
            return Ok(false);
        };
        if t.kind != TicketKind::Unlock || !tx.ticket_consume(&tenant.id, &digest, now).await? {
            return Ok(false);
        }
        let was_locked = self.clear_lockout(&mut *tx, tenant, &t.email).await?;
        let event = self.audit_event(
            &tenant.id,
            "user.unlocked",
            AuditActor {
                user_id: Some(t.user_id.to_string()),
                ..AuditActor::default()
            },
            None,
            Map::from_iter([
                ("method".to_owned(), json!("email_link")),
                ("was_locked".to_owned(), json!(was_locked)),
            ]),
            meta,
        );
        self.audit_in(&mut *tx, event).await?;
        tx.commit().await?;
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn windows_are_aligned_and_retry_after_is_at_least_one() {
        assert_eq!(
            window(Timestamp::from_millis((3_600 * 5 + 17) * 1000), HOUR),
            (18_000, 3_583)
        );
        assert_eq!(window(Timestamp::from_millis(119_000), MINUTE), (60, 1));
        assert_eq!(window(Timestamp::from_millis(120_000), MINUTE), (120, 60));
    }

    #[test]
    fn lock_durations_double_up_to_the_cap() {
        assert_eq!(lock_duration(900, 86_400, 1), 900);
        assert_eq!(lock_duration(900, 86_400, 2), 1_800);
        assert_eq!(lock_duration(900, 86_400, 3), 3_600);
        assert_eq!(lock_duration(900, 86_400, 8), 86_400);
        assert_eq!(lock_duration(900, 86_400, i64::MAX), 86_400);
        assert_eq!(lock_duration(900, 600, 1), 900);
        assert_eq!(lock_duration(900, 86_400, 0), 900);
    }

    #[test]
    fn ipv6_clients_are_counted_per_64() {
        assert_eq!(ip_key("203.0.113.7"), "203.0.113.7");
        assert_eq!(ip_key("::ffff:203.0.113.7"), "203.0.113.7");
        assert_eq!(
            ip_key("2001:db8:1:2:aaaa::1"),
            ip_key("2001:db8:1:2:bbbb:cccc:dddd:eeee")
        );
        assert_eq!(ip_key("2001:db8:1:2::9"), "2001:db8:1:2::/64");
        assert_ne!(ip_key("2001:db8:1:2::1"), ip_key("2001:db8:1:3::1"));
    }

    #[test]
    fn addresses_are_normalised() {
        assert_eq!(normalise("  Zoe@Example.COM "), "zoe@example.com");
        assert_eq!(hex(&[0, 15, 255]), "000fff");
    }
}

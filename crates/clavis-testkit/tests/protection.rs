//! Attack protection against a real server, on SQLite and PostgreSQL: the per-address
//! request limit with `Retry-After`, failed-login lockout (exponential, identical for
//! unknown addresses), unlock by the emailed link, suspicious client addresses across
//! accounts, new-device notifications, the refresh-token limit over HTTP (429 +
//! `Retry-After`, per user and application), concurrent attempts counted before the
//! password check, password changes under the lockout, the client address behind trusted
//! reverse proxies, and every limit holding across two servers sharing one database.
//! Time moves with the server's `ManualClock`; nothing sleeps.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod protection {
    pub mod attempts;
    pub mod lockout;
    pub mod nodes;
    pub mod proxy;
    pub mod redis;
    pub mod refresh;
}

use clavis_core::Core;
use clavis_core::model::{AuditQuery, OutboxEmail, Page, Session, Tenant, User};
use clavis_core::oauth::LoginError;
use clavis_core::service::{RequestMeta, Throttle};
use clavis_testkit::{Backend, TestServer};
use clavis_types::{Clock, ManualClock};
use serde_json::Value;

use protection::attempts::{
    changing_a_password_is_under_the_lockout, parallel_attempts_get_at_most_the_limit_of_checks,
    unknown_addresses_are_counted_before_the_check_too,
};
use protection::lockout::{
    failures_lock_and_the_right_password_is_refused, locks_double_and_are_forgotten,
    new_devices_are_notified, suspicious_addresses_are_throttled_across_accounts,
    unknown_addresses_lock_identically, unlock_link_works_once,
};
use protection::nodes::limits_hold_across_two_servers;
use protection::proxy::forwarded_for_is_believed_only_from_trusted_proxies;
use protection::redis::{
    limits_are_counted_in_redis, limits_hold_through_the_database_when_redis_does_not_answer,
};
use protection::refresh::{
    refresh_limit_answers_429_with_retry_after, refresh_limit_is_per_application,
};

clavis_testkit::on_both!(
    per_ip_limit_answers_limited_with_retry_after,
    failures_lock_and_the_right_password_is_refused,
    locks_double_and_are_forgotten,
    unknown_addresses_lock_identically,
    unlock_link_works_once,
    suspicious_addresses_are_throttled_across_accounts,
    new_devices_are_notified,
    refresh_limit_answers_429_with_retry_after,
    limits_hold_across_two_servers,
    parallel_attempts_get_at_most_the_limit_of_checks,
    unknown_addresses_are_counted_before_the_check_too,
    changing_a_password_is_under_the_lockout,
    refresh_limit_is_per_application,
    forwarded_for_is_believed_only_from_trusted_proxies,
    limits_are_counted_in_redis,
    limits_hold_through_the_database_when_redis_does_not_answer,
);

pub(crate) const EMAIL: &str = "alice@example.com";
pub(crate) const PASSWORD: &str = "correct horse battery";
pub(crate) const IP: &str = "203.0.113.7";

pub(crate) fn meta(ip: Option<&str>, agent: Option<&str>) -> RequestMeta {
    RequestMeta {
        ip_address: ip.map(str::to_owned),
        user_agent: agent.map(str::to_owned),
        caller: None,
    }
}

/// Move `clocks` (kept equal) to `offset` seconds into the next window of length `len`.
pub(crate) fn align(clocks: &[&ManualClock], len: i64, offset: i64) {
    let now = clocks[0].now().as_secs();
    let by = len - now.rem_euclid(len) + offset;
    for c in clocks {
        c.advance_secs(by);
    }
}

/// Seconds left in the current window of length `len`.
pub(crate) fn left_in_window(core: &Core, len: i64) -> i64 {
    len - core.now().as_secs().rem_euclid(len)
}

pub(crate) async fn login(
    core: &Core,
    t: &Tenant,
    email: &str,
    password: &str,
    m: &RequestMeta,
) -> Result<(Session, String, User), LoginError> {
    core.password_login(t, email, password, m).await
}

/// `n` failed logins of `email` (each must be refused as wrong credentials).
pub(crate) async fn fail_times(core: &Core, t: &Tenant, email: &str, n: usize, m: &RequestMeta) {
    for i in 0..n {
        let r = login(core, t, email, "not the password", m).await;
        assert!(
            matches!(r, Err(LoginError::WrongCredentials)),
            "failure {i} of {email}: {r:?}"
        );
    }
}

/// The retry delay of a `Locked` answer (panics on anything else).
pub(crate) fn locked_for(r: Result<(Session, String, User), LoginError>) -> i64 {
    match r {
        Err(LoginError::Locked { retry_after_secs }) => retry_after_secs,
        other => panic!("expected Locked, got {other:?}"),
    }
}

/// Messages of the development outbox to `to`, newest first.
pub(crate) async fn outbox(core: &Core, t: &Tenant, to: &str) -> Vec<OutboxEmail> {
    let mut tx = core.store.read().await.unwrap();
    tx.outbox_list(&t.id, Some(to), Page::first())
        .await
        .unwrap()
}

/// The `ticket` parameter of the first link in `text`.
pub(crate) fn ticket_in(text: &str) -> String {
    let at = text
        .find("ticket=")
        .unwrap_or_else(|| panic!("no ticket in {text}"));
    text[at + "ticket=".len()..]
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
        .collect()
}

/// Audit events of the tenant of these types, newest first, as JSON.
pub(crate) async fn events(core: &Core, t: &Tenant, types: &[&str]) -> Vec<Value> {
    let q = AuditQuery {
        event_types: types.iter().map(|x| (*x).to_owned()).collect(),
        newest_first: true,
        ..AuditQuery::default()
    };
    let page = core
        .audit_search(t, &q, None, None, None, 100)
        .await
        .unwrap();
    page.events
        .iter()
        .map(|e| serde_json::to_value(e).unwrap())
        .collect()
}

async fn per_ip_limit_answers_limited_with_retry_after(b: Backend) {
    let s = TestServer::start(b).await;
    let t = s.fixtures("default").tenant().await;
    let other_tenant = s.fixtures("other").tenant().await;
    assert_eq!(t.settings.attack_protection.auth_per_ip_per_minute, 10);
    align(&[&s.clock], 60, 15);
    let hit = async |t: &Tenant, ip: Option<&str>| s.core.throttle_auth_ip(t, ip).await.unwrap();
    for _ in 0..10 {
        assert_eq!(hit(&t, Some(IP)).await, Throttle::Allowed);
    }
    // The 11th request of the minute: limited until the minute ends (45 s from now).
    assert_eq!(
        hit(&t, Some(IP)).await,
        Throttle::Limited {
            retry_after_secs: 45
        }
    );
    // Refused requests still count; other addresses and other tenants are not affected;
    // a request without an address is never limited.
    s.clock.advance_secs(30);
    assert_eq!(
        hit(&t, Some(IP)).await,
        Throttle::Limited {
            retry_after_secs: 15
        }
    );
    assert_eq!(hit(&t, Some("203.0.113.8")).await, Throttle::Allowed);
    assert_eq!(hit(&other_tenant, Some(IP)).await, Throttle::Allowed);
    for _ in 0..20 {
        assert_eq!(hit(&t, None).await, Throttle::Allowed);
    }
    // IPv6 clients are counted per /64: rotating the interface id does not escape.
    for i in 0..10 {
        let ip = format!("2001:db8:1:2::{:x}", i + 1);
        assert_eq!(hit(&t, Some(&ip)).await, Throttle::Allowed);
    }
    assert!(matches!(
        hit(&t, Some("2001:db8:1:2:ffff:ffff:ffff:ffff")).await,
        Throttle::Limited { .. }
    ));
    assert_eq!(hit(&t, Some("2001:db8:1:3::1")).await, Throttle::Allowed);
    // The next minute starts afresh.
    s.clock.advance_secs(15);
    assert_eq!(hit(&t, Some(IP)).await, Throttle::Allowed);

    // Old windows are purged; current ones are kept.
    s.clock.advance_secs(3 * 86_400);
    assert_eq!(hit(&t, Some(IP)).await, Throttle::Allowed);
    assert!(s.core.purge_rate_counters().await.unwrap() >= 4);
    assert_eq!(s.core.purge_rate_counters().await.unwrap(), 0);
    for _ in 0..9 {
        assert_eq!(hit(&t, Some(IP)).await, Throttle::Allowed);
    }
    assert!(matches!(hit(&t, Some(IP)).await, Throttle::Limited { .. }));
}

//! Failed-login lockout, unlock by email, suspicious client addresses and new-device
//! notifications, through `Core::password_login` on a running server.

use clavis_core::model::{TicketKind, UserTicket};
use clavis_core::oauth::LoginError;
use clavis_core::service::{LOCK_MEMORY_SECS, NEW_DEVICE_SECS};
use clavis_crypto::sha256;
use clavis_testkit::{Backend, TestServer};

use crate::{
    EMAIL, IP, PASSWORD, events, fail_times, left_in_window, locked_for, login, meta, outbox,
    ticket_in,
};

pub(crate) async fn failures_lock_and_the_right_password_is_refused(b: Backend) {
    let s = TestServer::start(b).await;
    let fx = s.fixtures("default");
    let user = fx.user(EMAIL, PASSWORD).await;
    let t = fx.tenant().await;
    let m = meta(Some(IP), Some("test-agent"));
    // Four failures, then a success: the count starts again.
    fail_times(&s.core, &t, EMAIL, 4, &m).await;
    login(&s.core, &t, EMAIL, PASSWORD, &m).await.unwrap();
    fail_times(&s.core, &t, EMAIL, 4, &m).await;
    assert!(outbox(&s.core, &t, EMAIL).await.is_empty());
    // The fifth failure in the hour locks the address: the right password is refused,
    // whichever way the address is written, for `lockout_secs`.
    fail_times(&s.core, &t, EMAIL, 1, &m).await;
    assert_eq!(
        locked_for(login(&s.core, &t, EMAIL, PASSWORD, &m).await),
        900
    );
    let shouted = " ALICE@Example.COM ";
    assert_eq!(
        locked_for(login(&s.core, &t, shouted, PASSWORD, &m).await),
        900
    );
    let other_ip = meta(Some("198.51.100.1"), None);
    assert_eq!(
        locked_for(login(&s.core, &t, EMAIL, PASSWORD, &other_ip).await),
        900
    );
    // The owner got one email with an unlock link; the lock is in the audit log.
    let mails = outbox(&s.core, &t, EMAIL).await;
    assert_eq!(mails.len(), 1, "{mails:?}");
    assert_eq!(mails[0].template, "blocked_account");
    assert!(
        mails[0].text_body.contains("/t/default/unlock?ticket="),
        "{}",
        mails[0].text_body
    );
    let locked = events(&s.core, &t, &["user.locked"]).await;
    assert_eq!(locked.len(), 1, "{locked:?}");
    assert_eq!(locked[0]["actor"]["user_id"], user.id.as_str());
    assert_eq!(locked[0]["context"]["lock_count"], 1);
    assert_eq!(locked[0]["context"]["locked_secs"], 900);
    // Refusals while locked are logged as failures, and send nothing more.
    let refused = events(&s.core, &t, &["user.login.failure"]).await;
    assert_eq!(refused[0]["context"]["reason"], "account locked");
    assert_eq!(outbox(&s.core, &t, EMAIL).await.len(), 1);

    // Another address is not affected.
    fx.user("bob@example.com", PASSWORD).await;
    login(&s.core, &t, "bob@example.com", PASSWORD, &m)
        .await
        .unwrap();

    // The lock runs out.
    s.clock.advance_secs(899);
    assert_eq!(locked_for(login(&s.core, &t, EMAIL, PASSWORD, &m).await), 1);
    s.clock.advance_secs(1);
    login(&s.core, &t, EMAIL, PASSWORD, &m).await.unwrap();
}

pub(crate) async fn locks_double_and_are_forgotten(b: Backend) {
    let s = TestServer::start(b).await;
    let fx = s.fixtures("default");
    fx.user(EMAIL, PASSWORD).await;
    let t = fx.tenant().await;
    let m = meta(None, None);
    // Each lock after the first lasts twice as long as the one before…
    for (n, secs) in [(1, 900), (2, 1_800), (3, 3_600)] {
        fail_times(&s.core, &t, EMAIL, 5, &m).await;
        let r = login(&s.core, &t, EMAIL, PASSWORD, &m).await;
        assert_eq!(locked_for(r), secs, "lock {n}");
        s.clock.advance_secs(secs);
    }
    // …up to `lockout_max_secs`.
    let mut capped = t.clone();
    capped.settings.attack_protection.lockout_max_secs = 5_000;
    fail_times(&s.core, &capped, EMAIL, 5, &m).await;
    assert_eq!(
        locked_for(login(&s.core, &capped, EMAIL, PASSWORD, &m).await),
        5_000
    );
    s.clock.advance_secs(5_000);
    // A lock that ended long ago is forgotten: the next one is short again.
    s.clock.advance_secs(LOCK_MEMORY_SECS + 1);
    fail_times(&s.core, &t, EMAIL, 5, &m).await;
    assert_eq!(
        locked_for(login(&s.core, &t, EMAIL, PASSWORD, &m).await),
        900
    );
    let counts: Vec<i64> = events(&s.core, &t, &["user.locked"])
        .await
        .iter()
        .map(|e| e["context"]["lock_count"].as_i64().unwrap())
        .collect();
    assert_eq!(counts, [1, 4, 3, 2, 1]);

    // Failures spread over two hourly windows do not add up.
    s.clock.advance_secs(900);
    let hour = left_in_window(&s.core, 3_600);
    s.clock.advance_secs(hour - 1);
    fail_times(&s.core, &t, EMAIL, 4, &m).await;
    s.clock.advance_secs(1);
    fail_times(&s.core, &t, EMAIL, 4, &m).await;
    login(&s.core, &t, EMAIL, PASSWORD, &m).await.unwrap();
}

pub(crate) async fn unknown_addresses_lock_identically(b: Backend) {
    let s = TestServer::start(b).await;
    let fx = s.fixtures("default");
    fx.user(EMAIL, PASSWORD).await;
    let t = fx.tenant().await;
    let m = meta(Some(IP), None);
    // The same answers, in the same order, for an account and for an address without one.
    for address in [EMAIL, "nobody@example.com"] {
        fail_times(&s.core, &t, address, 5, &m).await;
        let r = login(&s.core, &t, address, PASSWORD, &m).await;
        assert_eq!(locked_for(r), 900, "{address}");
        let r = login(&s.core, &t, address, "not the password", &m).await;
        assert_eq!(locked_for(r), 900, "{address}");
    }
    // Not even a malformed address escapes counting.
    fail_times(&s.core, &t, "not an address", 5, &m).await;
    let r = login(&s.core, &t, "not an address", PASSWORD, &m).await;
    assert_eq!(locked_for(r), 900);
    // Only the real account's owner is emailed; the log names the account only when one
    // exists.
    assert!(outbox(&s.core, &t, "nobody@example.com").await.is_empty());
    let mut tx = s.core.store.read().await.unwrap();
    assert_eq!(tx.outbox_count(&t.id, None).await.unwrap(), 1);
    drop(tx);
    let locked = events(&s.core, &t, &["user.locked"]).await;
    assert_eq!(locked.len(), 3, "{locked:?}");
    assert!(locked[0]["actor"]["user_id"].is_null(), "{}", locked[0]);
    assert!(locked[1]["actor"]["user_id"].is_null(), "{}", locked[1]);
    assert!(locked[2]["actor"]["user_id"].is_string(), "{}", locked[2]);
}

pub(crate) async fn unlock_link_works_once(b: Backend) {
    let s = TestServer::start(b).await;
    let fx = s.fixtures("default");
    let alice = fx.user(EMAIL, PASSWORD).await;
    fx.user("bob@example.com", PASSWORD).await;
    let t = fx.tenant().await;
    let m = meta(Some(IP), None);
    for address in [EMAIL, "bob@example.com"] {
        fail_times(&s.core, &t, address, 5, &m).await;
        locked_for(login(&s.core, &t, address, PASSWORD, &m).await);
    }
    let mail = outbox(&s.core, &t, EMAIL).await.remove(0);
    let ticket = ticket_in(&mail.text_body);
    assert!(ticket.len() >= 43, "{ticket}");
    assert!(
        mail.html_body.contains(&ticket),
        "the HTML body has the link too"
    );

    // Tickets of another kind, made-up and truncated ones unlock nothing.
    let reset = "a-reset-ticket-that-is-long-enough-to-look-real";
    let mut tx = s.core.store.begin().await.unwrap();
    tx.ticket_insert(&UserTicket {
        tenant_id: t.id.clone(),
        digest: sha256(reset.as_bytes()).to_vec(),
        kind: TicketKind::ResetPassword,
        user_id: alice.id.clone(),
        email: EMAIL.to_owned(),
        code_digest: None,
        attempts: 0,
        created_at: s.core.now(),
        expires_at: s.core.now().plus_secs(900),
        consumed_at: None,
    })
    .await
    .unwrap();
    tx.commit().await.unwrap();
    for bad in [reset, "", "garbage", &ticket[..ticket.len() - 1]] {
        assert!(!s.core.unlock_account(&t, bad, &m).await.unwrap(), "{bad}");
    }
    let mut tx = s.core.store.read().await.unwrap();
    let kept = tx
        .ticket_get(&t.id, &sha256(reset.as_bytes()))
        .await
        .unwrap()
        .unwrap();
    assert!(
        kept.consumed_at.is_none(),
        "the reset ticket is not consumed"
    );
    drop(tx);
    assert!(matches!(
        login(&s.core, &t, EMAIL, PASSWORD, &m).await,
        Err(LoginError::Locked { .. })
    ));
    // Another tenant does not know the ticket.
    let other = s.fixtures("other").tenant().await;
    assert!(!s.core.unlock_account(&other, &ticket, &m).await.unwrap());

    // The link unlocks alice (and only alice), once.
    assert!(s.core.unlock_account(&t, &ticket, &m).await.unwrap());
    login(&s.core, &t, EMAIL, PASSWORD, &m).await.unwrap();
    locked_for(login(&s.core, &t, "bob@example.com", PASSWORD, &m).await);
    assert!(!s.core.unlock_account(&t, &ticket, &m).await.unwrap());
    let unlocked = events(&s.core, &t, &["user.unlocked"]).await;
    assert_eq!(unlocked.len(), 1);
    assert_eq!(unlocked[0]["actor"]["user_id"], alice.id.as_str());
    // Unlocking forgets the backoff: the next lock is a first lock again.
    fail_times(&s.core, &t, EMAIL, 5, &m).await;
    assert_eq!(
        locked_for(login(&s.core, &t, EMAIL, PASSWORD, &m).await),
        900
    );
    // An unlock link expires.
    let tickets: Vec<String> = outbox(&s.core, &t, EMAIL)
        .await
        .iter()
        .map(|e| ticket_in(&e.text_body))
        .collect();
    assert_eq!(tickets.len(), 2, "{tickets:?}");
    let second = tickets.into_iter().find(|x| *x != ticket).unwrap();
    s.clock
        .advance_secs(clavis_core::service::UNLOCK_TICKET_SECS + 1);
    assert!(!s.core.unlock_account(&t, &second, &m).await.unwrap());
}

pub(crate) async fn suspicious_addresses_are_throttled_across_accounts(b: Backend) {
    let s = TestServer::start(b).await;
    let fx = s.fixtures("default");
    fx.user(EMAIL, PASSWORD).await;
    let mut t = fx.tenant().await;
    t.settings.attack_protection.suspicious_ip_failures_per_day = 8;
    let stuffing = meta(Some(IP), None);
    // Credential stuffing: one failure each on many addresses, none of them locked.
    for i in 0..8 {
        let address = format!("victim{i}@example.com");
        fail_times(&s.core, &t, &address, 1, &stuffing).await;
    }
    // The address is now refused, even with a right password, until the day ends.
    let day = left_in_window(&s.core, 86_400);
    match login(&s.core, &t, EMAIL, PASSWORD, &stuffing).await {
        Err(LoginError::Throttled { retry_after_secs }) => assert_eq!(retry_after_secs, day),
        other => panic!("expected Throttled, got {other:?}"),
    }
    // Same /64 for IPv6; other client addresses, and requests without one, log in.
    login(
        &s.core,
        &t,
        EMAIL,
        PASSWORD,
        &meta(Some("198.51.100.9"), None),
    )
    .await
    .unwrap();
    login(&s.core, &t, EMAIL, PASSWORD, &meta(None, None))
        .await
        .unwrap();
    let v6 = |i: u32| meta(Some(&format!("2001:db8:7:7::{i}")), None);
    for i in 0..8 {
        fail_times(&s.core, &t, &format!("v6-{i}@example.com"), 1, &v6(i)).await;
    }
    assert!(matches!(
        login(&s.core, &t, EMAIL, PASSWORD, &v6(99)).await,
        Err(LoginError::Throttled { .. })
    ));
    // The next day the address may try again.
    s.clock.advance_secs(day);
    login(&s.core, &t, EMAIL, PASSWORD, &stuffing)
        .await
        .unwrap();
}

pub(crate) async fn new_devices_are_notified(b: Backend) {
    let s = TestServer::start(b).await;
    let fx = s.fixtures("default");
    fx.user(EMAIL, PASSWORD).await;
    let t = fx.tenant().await;
    let firefox = meta(Some(IP), Some("Firefox/140"));
    let count = async || {
        outbox(&s.core, &t, EMAIL)
            .await
            .iter()
            .filter(|e| e.template == "new_device")
            .count()
    };
    // The first login ever is not a "new device"; the same agent again is not either.
    login(&s.core, &t, EMAIL, PASSWORD, &firefox).await.unwrap();
    login(&s.core, &t, EMAIL, PASSWORD, &firefox).await.unwrap();
    assert_eq!(count().await, 0);
    // Another agent is, once; no agent at all says nothing.
    let chrome = meta(Some("198.51.100.3"), Some("Chrome/150"));
    login(&s.core, &t, EMAIL, PASSWORD, &chrome).await.unwrap();
    assert_eq!(count().await, 1);
    let mail = outbox(&s.core, &t, EMAIL).await.remove(0);
    assert!(mail.text_body.contains("Chrome/150"), "{}", mail.text_body);
    login(&s.core, &t, EMAIL, PASSWORD, &chrome).await.unwrap();
    login(&s.core, &t, EMAIL, PASSWORD, &meta(None, None))
        .await
        .unwrap();
    assert_eq!(count().await, 1);
    // An agent last seen more than 90 days ago is new again.
    s.clock.advance_secs(NEW_DEVICE_SECS + 1);
    login(&s.core, &t, EMAIL, PASSWORD, &firefox).await.unwrap();
    assert_eq!(count().await, 2);
}

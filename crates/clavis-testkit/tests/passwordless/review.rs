//! The attacks a review found on passwordless login, each tried against the fix: wrong
//! codes spread over several sends lock the address (and a locked address gets no code
//! and no login), a session of one organization's `email` connection does not join
//! another organization, pretended codes of unknown addresses expire and are limited like
//! real ones (across the 10-minute expiry and a clock-hour boundary), one client address
//! cannot use up an address's codes, a code login from a new device is notified, and
//! wrong codes count against the client address's daily failures.

use clavis_core::model::{OrgConnection, OrgDomain, Tenant};
use clavis_core::service::RequestMeta;
use clavis_core::service::lifecycle::CodeLoginError;
use clavis_testkit::{Backend, Browser, Landing, Reply};
use clavis_types::{ConnectionId, Email};
use common::query_of;
use serde_json::json;

use crate::attack_kit::*;
use crate::pages_kit::*;
use crate::{
    CONNS, DAVE, ERIN, USERS, World, code_page, common, mgmt, request, resend, submit, world,
};

const GHOST: &str = "ghost@acme.example";

fn meta(ip: &str, agent: &str) -> RequestMeta {
    RequestMeta {
        ip_address: Some(ip.to_owned()),
        user_agent: Some(agent.to_owned()),
        caller: None,
    }
}

/// A code that is not `code`.
fn other_than(code: &str) -> &'static str {
    if code == "111111" { "222222" } else { "111111" }
}

/// Post `code` on the code page `page`.
async fn try_code(br: &mut Browser, page: &Reply, code: &str) -> Landing {
    submit(br, page, "/login/code", &[("code", code)]).await
}

/// The tenant as stored now (after `edit_settings`).
async fn tenant(w: &World) -> Tenant {
    w.s.fixtures("default").tenant().await
}

async fn templates(w: &World, to: &str) -> Vec<String> {
    let t = tenant(w).await;
    let mut tx = w.s.core.store.read().await.unwrap();
    tx.outbox_list(&t.id, Some(to), clavis_core::model::Page::new(0, 100))
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.template)
        .collect()
}

async fn count_template(w: &World, to: &str, template: &str) -> usize {
    templates(w, to)
        .await
        .iter()
        .filter(|t| *t == template)
        .count()
}

pub(crate) async fn wrong_codes_across_sends_lock_the_address(b: Backend) {
    let w = world(b).await;
    let s = &w.s;
    edit_settings(s, "default", |t| {
        t.attack_protection.failed_logins_per_hour = 5;
    })
    .await;
    let (_, req) = request(&w);
    for email in [DAVE, GHOST] {
        let mut br = s.browser();
        // Three wrong codes on the first code, two on the second: no code was tried five
        // times, but the address was.
        let mut page = code_page(&w, &mut br, &req, email).await;
        for _ in 0..3 {
            page = page_of(try_code(&mut br, &page, "000001").await);
            assert_eq!(page.status, 400, "{email}: {}", page.body);
        }
        page = resend(s, &mut br, &page).await;
        assert_eq!(page.status, 200, "{email}: {}", page.body);
        let right = if email == DAVE {
            code_in(&latest_email(s, "default", DAVE).await.text_body)
        } else {
            "123456".to_owned()
        };
        let wrong = other_than(&right);
        for _ in 0..2 {
            page = page_of(try_code(&mut br, &page, wrong).await);
            assert_eq!(page.status, 400, "{email}: {}", page.body);
        }
        // Locked: the right code is refused with 429 and Retry-After, no session.
        let r = page_of(try_code(&mut br, &page, &right).await);
        assert_eq!(r.status, 429, "{email}: {}", r.body);
        let retry: i64 = r.header("retry-after").unwrap().parse().unwrap();
        assert!(retry > 0 && retry <= 900, "{retry}");
        assert!(!br.cookies.contains_key("clavis_session"), "{email}");
        // A locked address gets no new code, from the code page or the identifier step.
        let codes_before = count_template(&w, email, "login_code").await;
        let r = resend(s, &mut br, &page).await;
        assert_eq!(r.status, 429, "{email}: {}", r.body);
        assert!(r.header("retry-after").is_some());
        let login = page_of(br.navigate(&req).await);
        let r = page_of(submit(&mut br, &login, "/login", &[("email", email)]).await);
        assert_eq!(r.status, 429, "{email}: {}", r.body);
        assert_eq!(count_template(&w, email, "login_code").await, codes_before);
    }
    // The real account's owner got the unlock link; nothing went to the unknown address.
    assert_eq!(count_template(&w, DAVE, "blocked_account").await, 1);
    assert_eq!(email_count(s, "default", GHOST).await, 0);
    // Once the lock is over, the address logs in again, and a success forgets the count.
    s.clock.advance_secs(901);
    let mut br = s.browser();
    let page = code_page(&w, &mut br, &req, DAVE).await;
    let code = code_in(&latest_email(s, "default", DAVE).await.text_body);
    let wrong = other_than(&code);
    let page = page_of(try_code(&mut br, &page, wrong).await);
    assert_eq!(page.status, 400, "{}", page.body);
    let Landing::Left(_) = try_code(&mut br, &page, &code).await else {
        panic!("the right code logs in after the lock")
    };
}

pub(crate) async fn another_organizations_email_connection_does_not_join(b: Backend) {
    let w = world(b).await;
    let s = &w.s;
    // Organization `bee` with its own email connection (auto-membership too) and Bob.
    let r = mgmt(
        s,
        "POST",
        CONNS,
        json!({"name": "bee-email", "strategy": "email"}),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let bee_conn = ConnectionId::parse(r.json()["id"].as_str().unwrap()).unwrap();
    let bob = "bob@bee.example";
    let r = mgmt(
        s,
        "POST",
        USERS,
        json!({"email": bob, "connection": "bee-email"}),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let bee = s.fixtures("default").org("bee", &[]).await;
    let mut tx = s.core.store.begin().await.unwrap();
    tx.org_connection_insert(&OrgConnection {
        tenant_id: w.tenant.id.clone(),
        org_id: bee.id.clone(),
        connection_id: bee_conn.clone(),
        assign_membership_on_login: true,
        show_as_button: false,
        created_at: s.core.now(),
    })
    .await
    .unwrap();
    tx.org_domain_insert(&OrgDomain {
        tenant_id: w.tenant.id.clone(),
        domain: "bee.example".into(),
        org_id: bee.id.clone(),
        connection_id: Some(bee_conn.clone()),
        created_at: s.core.now(),
    })
    .await
    .unwrap();
    tx.commit().await.unwrap();
    // Bob logs in through bee's connection and joins bee.
    let (_, req) = request(&w);
    let mut br = s.browser();
    let page = code_page(&w, &mut br, &req, bob).await;
    let code = code_in(&latest_email(s, "default", bob).await.text_body);
    let Landing::Left(back) = try_code(&mut br, &page, &code).await else {
        panic!("Bob logs in")
    };
    assert!(query_of(&back).contains_key("code"), "{back}");
    let bob_id = {
        let mut tx = s.core.store.read().await.unwrap();
        tx.user_get_by_email(&w.tenant.id, &Email::parse(bob).unwrap())
            .await
            .unwrap()
            .unwrap()
            .id
    };
    let orgs = || async {
        let mut tx = s.core.store.read().await.unwrap();
        tx.member_orgs(&w.tenant.id, &bob_id).await.unwrap()
    };
    assert!(orgs().await.contains(&bee.id));
    // The same session asks for acme, which has its own auto-membership email connection:
    // Bob never logged in through it, so he is not made a member and gets no code.
    let (_, challenge) = pkce();
    let acme_req = code_request(
        "default",
        &w.web.client_id,
        &challenge,
        "st2",
        &[("organization", w.acme.id.as_str())],
    );
    let Landing::Left(back) = br.navigate(&acme_req).await else {
        panic!("the request goes back to the application")
    };
    let q = query_of(&back);
    assert_eq!(
        q.get("error").map(String::as_str),
        Some("access_denied"),
        "{back}"
    );
    assert!(!q.contains_key("code"), "{back}");
    assert!(!orgs().await.contains(&w.acme.id), "Bob did not join acme");
    // Dave, who logs in through acme's connection, still joins acme (the check is not
    // simply "never").
    let mut br = s.browser();
    let page = code_page(&w, &mut br, &req, DAVE).await;
    let code = code_in(&latest_email(s, "default", DAVE).await.text_body);
    let Landing::Left(back) = try_code(&mut br, &page, &code).await else {
        panic!("Dave logs in")
    };
    assert!(query_of(&back).contains_key("code"), "{back}");
}

pub(crate) async fn unknown_addresses_expire_and_are_limited_like_real_ones(b: Backend) {
    let w = world(b).await;
    let s = &w.s;
    let (_, req) = request(&w);
    // Five wrong tries within the code's life: "too many" at the fifth, for both.
    // Five wrong tries once it has expired (exactly 600 s after the send, and later):
    // "wrong or expired" every time, for both.
    for (age, too_many_at) in [(599, Some(5)), (600, None), (660, None)] {
        for email in [ERIN, GHOST] {
            let mut br = s.browser();
            let mut page = code_page(&w, &mut br, &req, email).await;
            let code = if email == ERIN {
                code_in(&latest_email(s, "default", ERIN).await.text_body)
            } else {
                "123456".to_owned()
            };
            s.clock.advance_secs(age);
            for i in 1..=5 {
                page = page_of(try_code(&mut br, &page, other_than(&code)).await);
                assert_eq!(page.status, 400, "{email} at {age}s: {}", page.body);
                assert_eq!(
                    page.body.contains("Too many wrong codes"),
                    too_many_at == Some(i),
                    "{email}, {age}s after the send, try {i}"
                );
            }
        }
    }
}

pub(crate) async fn sends_are_counted_by_clock_hour_for_every_address(b: Backend) {
    let w = world(b).await;
    let s = &w.s;
    let (_, req) = request(&w);
    // Ten seconds before the end of the hour: the hour's five codes, then 429 with a
    // Retry-After of the hour's rest; in the next hour, codes again. The same for an
    // address with and without an account.
    s.clock.advance_secs(3_600 - 1 - 20);
    let mut pages = Vec::new();
    for email in [ERIN, GHOST] {
        let mut br = s.browser();
        let mut page = code_page(&w, &mut br, &req, email).await;
        for _ in 0..4 {
            page = resend(s, &mut br, &page).await;
            assert_eq!(page.status, 200, "{email}: {}", page.body);
        }
        let r = resend(s, &mut br, &page).await;
        assert_eq!(r.status, 429, "{email}: {}", r.body);
        let retry: i64 = r.header("retry-after").unwrap().parse().unwrap();
        assert!((1..=20).contains(&retry), "{email}: {retry}");
        pages.push((email, br, page));
    }
    s.clock.advance_secs(20);
    for (email, mut br, page) in pages {
        let r = resend(s, &mut br, &page).await;
        assert_eq!(r.status, 200, "{email} in the next hour: {}", r.body);
    }
    assert_eq!(count_template(&w, ERIN, "login_code").await, 6);
    assert_eq!(email_count(s, "default", GHOST).await, 0);
}

pub(crate) async fn one_client_address_cannot_use_up_an_address(b: Backend) {
    let w = world(b).await;
    let s = &w.s;
    let t = tenant(&w).await;
    let (core, t) = (&s.core, &t);
    let send = |email: &'static str, ip: &'static str| async move {
        core.send_login_code(t, email, "en", &meta(ip, "Firefox/140"))
            .await
    };
    for email in [DAVE, GHOST] {
        // The attacker hammers from one client address: five codes, then refused, and
        // the refusals do not count against the address's own allowance.
        for i in 1..=30 {
            let r = send(email, "203.0.113.66").await;
            assert_eq!(r.is_ok(), i <= 5, "{email}, send {i}: {r:?}");
            if i > 5 {
                assert!(matches!(r, Err(CodeLoginError::Throttled { .. })), "{r:?}");
            }
        }
        // The owner, from their own client address, still gets codes…
        for _ in 0..5 {
            send(email, "198.51.100.7").await.unwrap();
        }
        // …up to the address's ceiling of ten an hour from all client addresses.
        let r = send(email, "192.0.2.1").await;
        assert!(matches!(r, Err(CodeLoginError::Throttled { .. })), "{r:?}");
    }
    assert_eq!(count_template(&w, DAVE, "login_code").await, 10);
    assert_eq!(email_count(s, "default", GHOST).await, 0);
}

pub(crate) async fn a_code_login_from_a_new_device_is_notified(b: Backend) {
    let w = world(b).await;
    let s = &w.s;
    let t = tenant(&w).await;
    let t = &t;
    let login = |agent: &'static str| async move {
        let m = meta("198.51.100.7", agent);
        s.core.send_login_code(t, DAVE, "en", &m).await.unwrap();
        let code = code_in(&latest_email(s, "default", DAVE).await.text_body);
        s.core.code_login(t, DAVE, &code, "en", &m).await.unwrap();
        s.clock.advance_secs(1);
    };
    // The first login is not a new device; the same agent again is not either.
    login("Firefox/140").await;
    login("Firefox/140").await;
    assert_eq!(count_template(&w, DAVE, "new_device").await, 0);
    // Another agent is, once.
    login("Chrome/150").await;
    assert_eq!(count_template(&w, DAVE, "new_device").await, 1);
    login("Chrome/150").await;
    assert_eq!(count_template(&w, DAVE, "new_device").await, 1);
}

pub(crate) async fn wrong_codes_count_against_the_client_address(b: Backend) {
    let w = world(b).await;
    let s = &w.s;
    edit_settings(s, "default", |t| {
        t.attack_protection.suspicious_ip_failures_per_day = 3;
    })
    .await;
    let t = tenant(&w).await;
    let bad = meta("203.0.113.9", "Firefox/140");
    let good = meta("198.51.100.7", "Firefox/140");
    s.core.send_login_code(&t, DAVE, "en", &good).await.unwrap();
    let code = code_in(&latest_email(s, "default", DAVE).await.text_body);
    // Three wrong codes from one client address, at two addresses (one unknown).
    for email in [GHOST, GHOST, DAVE] {
        let r = s
            .core
            .code_login(&t, email, other_than(&code), "en", &bad)
            .await;
        assert!(matches!(r, Err(CodeLoginError::WrongOrExpired)), "{r:?}");
    }
    // That client address is refused now, even with the right code, and gets no code.
    let r = s.core.code_login(&t, DAVE, &code, "en", &bad).await;
    assert!(matches!(r, Err(CodeLoginError::Throttled { .. })), "{r:?}");
    let r = s.core.send_login_code(&t, DAVE, "en", &bad).await;
    assert!(matches!(r, Err(CodeLoginError::Throttled { .. })), "{r:?}");
    // Another client address is not.
    s.core
        .code_login(&t, DAVE, &code, "en", &good)
        .await
        .unwrap();
}

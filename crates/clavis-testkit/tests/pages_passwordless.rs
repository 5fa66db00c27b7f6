//! Passwordless login through an `email` connection, over HTTP on SQLite and PostgreSQL:
//! the connection and its users through the Management API, home-realm discovery routing
//! an organization's domain to the code step, the code from the development outbox, the
//! session (`amr: ["otp"]`, `org_id`, membership, verified address), and the attacks on it:
//! wrong codes, replays, expiry, another user's code, unknown addresses, missing CSRF,
//! passwords posted for a routed address, and the hourly limit on codes (more attacks in
//! `passwordless/review.rs`).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod attack_kit;
mod common;
mod pages_kit;
mod passwordless {
    pub mod review;
}

use attack_kit::*;
use clavis_core::model::{OrgConnection, OrgDomain, Organization, Tenant, TicketKind};
use clavis_testkit::{Backend, Browser, Confidential, Landing, Reply, TestServer, hidden};
use clavis_types::{ConnectionId, Email};
use common::query_of;
use pages_kit::*;
use passwordless::review::{
    a_code_login_from_a_new_device_is_notified,
    another_organizations_email_connection_does_not_join,
    one_client_address_cannot_use_up_an_address, sends_are_counted_by_clock_hour_for_every_address,
    unknown_addresses_expire_and_are_limited_like_real_ones,
    wrong_codes_across_sends_lock_the_address, wrong_codes_count_against_the_client_address,
};
use serde_json::{Value, json};

clavis_testkit::on_both!(
    email_connections_through_the_management_api,
    a_routed_address_logs_in_with_an_emailed_code,
    codes_are_single_use_short_lived_and_bound_to_their_user,
    five_wrong_codes_burn_the_code,
    unknown_and_blocked_addresses_get_the_same_page_and_no_email,
    forms_without_csrf_are_refused_and_send_nothing,
    passwords_are_refused_for_routed_addresses_only,
    wrong_codes_across_sends_lock_the_address,
    another_organizations_email_connection_does_not_join,
    unknown_addresses_expire_and_are_limited_like_real_ones,
    sends_are_counted_by_clock_hour_for_every_address,
    one_client_address_cannot_use_up_an_address,
    a_code_login_from_a_new_device_is_notified,
    wrong_codes_count_against_the_client_address,
);

const DAVE: &str = "dave@acme.example";
const ERIN: &str = "erin@acme.example";
const CONNS: &str = "/t/default/api/v2/connections";
const USERS: &str = "/t/default/api/v2/users";

struct World {
    s: TestServer,
    web: Confidential,
    tenant: Tenant,
    acme: Organization,
    conn: ConnectionId,
}

async fn mgmt(s: &TestServer, method: &str, path: &str, body: Value) -> Reply {
    let token = s
        .mgmt_token(
            "default",
            &["create:connections", "update:connections", "create:users"],
        )
        .await;
    s.client.send(method, path, &token, Some(&body)).await
}

/// Organization `acme` whose domain `acme.example` routes to the `email` connection
/// `acme-email` (users join on login); Dave is a passwordless user created through the
/// Management API, Erin a user of the database connection with a password.
async fn world(b: Backend) -> World {
    let (s, web, _) = attack_kit::world(b).await;
    let r = mgmt(
        &s,
        "POST",
        CONNS,
        json!({"name": "acme-email", "strategy": "email"}),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let conn = ConnectionId::parse(r.json()["id"].as_str().unwrap()).unwrap();
    let r = mgmt(
        &s,
        "POST",
        USERS,
        json!({"email": DAVE, "connection": "acme-email"}),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let fx = s.fixtures("default");
    fx.user(ERIN, PASSWORD).await;
    let acme = fx.org("acme", &[]).await;
    let tenant = fx.tenant().await;
    let mut tx = s.core.store.begin().await.unwrap();
    tx.org_connection_insert(&OrgConnection {
        tenant_id: tenant.id.clone(),
        org_id: acme.id.clone(),
        connection_id: conn.clone(),
        assign_membership_on_login: true,
        show_as_button: false,
        created_at: s.core.now(),
    })
    .await
    .unwrap();
    tx.org_domain_insert(&OrgDomain {
        tenant_id: tenant.id.clone(),
        domain: "acme.example".into(),
        org_id: acme.id.clone(),
        connection_id: Some(conn.clone()),
        created_at: s.core.now(),
    })
    .await
    .unwrap();
    tx.commit().await.unwrap();
    // Many posts from one client address in these tests.
    // Wrong codes lock the address like wrong passwords: out of the way unless a test
    // is about it.
    edit_settings(&s, "default", |t| {
        t.attack_protection.auth_per_ip_per_minute = 1_000;
        t.attack_protection.failed_logins_per_hour = 1_000;
    })
    .await;
    // Start on a fresh hour, so the hourly limit of codes counts every send of a test.
    let now = s.core.now().as_secs();
    s.clock.advance_secs(3_600 - now.rem_euclid(3_600) + 1);
    World {
        s,
        web,
        tenant,
        acme,
        conn,
    }
}

/// Submit the code page's "send a new code" form (a second later, so the newest email
/// is the newest by time).
async fn resend(s: &TestServer, br: &mut Browser, page: &Reply) -> Reply {
    s.clock.advance_secs(1);
    page_of(submit(br, page, "/login/code/resend", &[]).await)
}

/// Submit the form of `page` whose action ends with `action`, with `fields` added.
async fn submit(br: &mut Browser, page: &Reply, action: &str, fields: &[(&str, &str)]) -> Landing {
    let base = "/t/default";
    assert!(
        page.body.contains(&format!("action=\"{base}{action}\"")),
        "no form to {action}: {}",
        page.body
    );
    let mut all = form_of(page);
    // The code forms carry the address.
    if page.body.contains("type=\"hidden\" name=\"email\"")
        && !fields.iter().any(|(k, _)| *k == "email")
    {
        all.push(("email".to_owned(), hidden(&page.body, "email")));
    }
    all.extend(
        fields
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned())),
    );
    let pairs: Vec<(&str, &str)> = all.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    br.submit(&format!("{base}{action}"), &pairs).await
}

/// From the authorization request to the code page of `email`.
async fn code_page(w: &World, br: &mut Browser, req: &str, email: &str) -> Reply {
    w.s.clock.advance_secs(1);
    let login = page_of(br.navigate(req).await);
    let page = page_of(submit(br, &login, "/login", &[("email", email)]).await);
    assert_eq!(page.status, 200, "{}", page.body);
    page
}

fn request(w: &World) -> (String, String) {
    let (verifier, challenge) = pkce();
    (
        verifier,
        code_request("default", &w.web.client_id, &challenge, "st", &[]),
    )
}

async fn login_codes(w: &World, email: &str) -> i64 {
    let user = {
        let mut tx = w.s.core.store.read().await.unwrap();
        tx.user_get_by_email(&w.tenant.id, &Email::parse(email).unwrap())
            .await
            .unwrap()
            .unwrap()
    };
    let mut tx = w.s.core.store.read().await.unwrap();
    tx.ticket_count_since(
        &w.tenant.id,
        &user.id,
        TicketKind::LoginCode,
        clavis_types::Timestamp::from_millis(0),
    )
    .await
    .unwrap()
}

async fn email_connections_through_the_management_api(b: Backend) {
    let w = world(b).await;
    let s = &w.s;
    let r = mgmt(
        s,
        "POST",
        CONNS,
        json!({"name": "other-email", "strategy": "email", "options": {"otp_length": 8}}),
    )
    .await;
    assert_eq!(r.status, 400, "{}", r.body);
    assert!(r.body.contains("options.otp_length"), "{}", r.body);
    let r = mgmt(
        s,
        "PATCH",
        &format!("{CONNS}/{}", w.conn),
        json!({"options": {"disable_signup": false}}),
    )
    .await;
    assert_eq!(r.status, 400, "{}", r.body);
    let r = mgmt(
        s,
        "PATCH",
        &format!("{CONNS}/{}", w.conn),
        json!({"options": {}}),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["strategy"], "email", "{}", r.body);
    // A user of an email connection has no password.
    let r = mgmt(
        s,
        "POST",
        USERS,
        json!({"email": "fay@acme.example", "connection": "acme-email", "password": "a long enough password"}),
    )
    .await;
    assert_eq!(r.status, 400, "{}", r.body);
    assert!(r.body.contains("password"), "{}", r.body);
}

async fn a_routed_address_logs_in_with_an_emailed_code(b: Backend) {
    let w = world(b).await;
    let s = &w.s;
    let (verifier, req) = request(&w);
    let mut br = s.browser();
    let page = code_page(&w, &mut br, &req, "Dave@ACME.example").await;
    // The code step, never a password field; accessible like the other pages.
    assert!(page.body.contains(DAVE), "{}", page.body);
    assert!(!page.body.contains("type=\"password\""), "{}", page.body);
    for needle in [
        "autocomplete=\"one-time-code\"",
        "inputmode=\"numeric\"",
        "<label for=\"code\">",
        "action=\"/t/default/login/code/resend\"",
    ] {
        assert!(page.body.contains(needle), "{needle}: {}", page.body);
    }
    assert_page(&page, "en", &csp_with("https://rp.example.com"));
    let return_to = hidden(&page.body, "return_to");
    assert!(
        return_to.ends_with(&format!("&organization={}", w.acme.id)),
        "{return_to}"
    );
    let mail = latest_email(s, "default", DAVE).await;
    assert_eq!(mail.template, "login_code");
    let code = code_in(&mail.text_body);
    // A wrong code is explained next to the field.
    let wrong = page_of(submit(&mut br, &page, "/login/code", &[("code", "000000")]).await);
    let wrong = if code == "000000" {
        page
    } else {
        assert_eq!(wrong.status, 400, "{}", wrong.body);
        assert!(
            wrong.body.contains("aria-describedby=\"code-error"),
            "{}",
            wrong.body
        );
        wrong
    };
    let back = match submit(&mut br, &wrong, "/login/code", &[("code", &code)]).await {
        Landing::Left(u) => u,
        Landing::Page(p) => panic!("stayed on a page ({}): {}", p.status, p.body),
    };
    let auth_code = query_of(&back)["code"].clone();
    let tokens = exchange(s, "default", &w.web, &auth_code, Some(&verifier))
        .await
        .json();
    let claims = common::payload(tokens["id_token"].as_str().unwrap());
    assert_eq!(claims["org_id"], w.acme.id.as_str(), "{claims}");
    assert_eq!(claims["amr"], json!(["otp"]), "{claims}");
    let mut tx = s.core.store.read().await.unwrap();
    let dave = tx
        .user_get_by_email(&w.tenant.id, &Email::parse(DAVE).unwrap())
        .await
        .unwrap()
        .unwrap();
    assert!(dave.email_verified, "the code proved the address");
    assert!(
        tx.member_orgs(&w.tenant.id, &dave.id)
            .await
            .unwrap()
            .contains(&w.acme.id),
        "the login made Dave a member"
    );
    drop(tx);
    // "Send a new code" sends one, and only the newest works.
    let mut br = s.browser();
    let page = code_page(&w, &mut br, &req, DAVE).await;
    let first = code_in(&latest_email(s, "default", DAVE).await.text_body);
    let again = resend(s, &mut br, &page).await;
    assert_eq!(again.status, 200, "{}", again.body);
    assert!(again.body.contains("role=\"status\""), "{}", again.body);
    let second = code_in(&latest_email(s, "default", DAVE).await.text_body);
    assert_eq!(login_codes(&w, DAVE).await, 3);
    if first != second {
        let old = page_of(submit(&mut br, &again, "/login/code", &[("code", &first)]).await);
        assert_eq!(old.status, 400, "an older code is dead: {}", old.body);
    }
    let Landing::Left(_) = submit(&mut br, &again, "/login/code", &[("code", &second)]).await
    else {
        panic!("the newest code logs in")
    };
    // In French too.
    s.clock.advance_secs(1);
    let mut br = s.browser();
    let login = page_of(br.navigate(&in_lang(&req, "fr")).await);
    let page = page_of(submit(&mut br, &login, "/login", &[("email", DAVE)]).await);
    assert_page(&page, "fr", &csp_with("https://rp.example.com"));
    assert!(
        page.body
            .contains(&format!("Nous avons envoyé un code à {DAVE}")),
        "{}",
        page.body
    );
    let mail = latest_email(s, "default", DAVE).await;
    assert!(
        mail.subject.contains("code de connexion"),
        "{}",
        mail.subject
    );
    // The tenant's own version of the email, like the other templates.
    let token = s.mgmt_token("default", &["update:email_templates"]).await;
    let r = s
        .client
        .send(
            "PUT",
            "/t/default/api/v2/email-templates/login_code",
            &token,
            Some(&json!({
                "subject": "Acme sign-in",
                "text_body": "Your Acme code: {{ code }} ({{ expires_minutes }} min)",
                "html_body": "<p>{{ code }}</p>",
            })),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    code_page(&w, &mut s.browser(), &req, DAVE).await;
    let mail = latest_email(s, "default", DAVE).await;
    assert_eq!(mail.subject, "Acme sign-in");
    assert!(mail.text_body.ends_with("(10 min)"), "{}", mail.text_body);
    assert_eq!(code_in(&mail.text_body).len(), 6);
}

async fn codes_are_single_use_short_lived_and_bound_to_their_user(b: Backend) {
    let w = world(b).await;
    let s = &w.s;
    let (_, req) = request(&w);
    // Replay: a used code does not log in again.
    let mut br = s.browser();
    let page = code_page(&w, &mut br, &req, DAVE).await;
    let code = code_in(&latest_email(s, "default", DAVE).await.text_body);
    let Landing::Left(_) = submit(&mut br, &page, "/login/code", &[("code", &code)]).await else {
        panic!("the code logs in")
    };
    let mut other = s.browser();
    let page = page_of(other.navigate(&with_return_code(&req, DAVE)).await);
    let replay = page_of(submit(&mut other, &page, "/login/code", &[("code", &code)]).await);
    assert_eq!(replay.status, 400, "{}", replay.body);
    assert!(!other.cookies.contains_key("clavis_session"));

    // Expiry: ten minutes.
    let mut br = s.browser();
    let page = code_page(&w, &mut br, &req, DAVE).await;
    let code = code_in(&latest_email(s, "default", DAVE).await.text_body);
    s.clock.advance_secs(601);
    let late = page_of(submit(&mut br, &page, "/login/code", &[("code", &code)]).await);
    assert_eq!(late.status, 400, "{}", late.body);
    assert!(!br.cookies.contains_key("clavis_session"));

    // Dave's code does not log Erin in (she has a code of her own, so a ticket is there
    // to compare against).
    let mut br = s.browser();
    code_page(&w, &mut br, &req, DAVE).await;
    let daves = code_in(&latest_email(s, "default", DAVE).await.text_body);
    let erin_page = code_page(&w, &mut br, &req, ERIN).await;
    let erins = code_in(&latest_email(s, "default", ERIN).await.text_body);
    if daves != erins {
        let r = page_of(submit(&mut br, &erin_page, "/login/code", &[("code", &daves)]).await);
        assert_eq!(r.status, 400, "{}", r.body);
        assert!(!br.cookies.contains_key("clavis_session"));
    }
    // Nor does an email field changed on the form: the code belongs to Dave's ticket.
    let dave_page = code_page(&w, &mut br, &req, DAVE).await;
    let daves = code_in(&latest_email(s, "default", DAVE).await.text_body);
    let mut fields = form_of(&dave_page);
    fields.push(("email".into(), ERIN.into()));
    fields.push(("code".into(), daves.clone()));
    let r = post(s, "/t/default/login/code", &fields, &[], &cookies_of(&br)).await;
    if daves != erins {
        assert_eq!(r.status, 400, "{}", r.body);
        assert!(
            set_cookies(&r)
                .iter()
                .all(|c| !c.starts_with("clavis_session="))
        );
    }
    // And Dave's own code still works for Dave (it was not spent on Erin).
    let Landing::Left(_) = submit(&mut br, &dave_page, "/login/code", &[("code", &daves)]).await
    else {
        panic!("Dave's code logs Dave in")
    };
}

/// `/login/code?return_to=…&email=…` of the request `req`.
fn with_return_code(req: &str, email: &str) -> String {
    format!(
        "{}&email={}",
        with_return("/t/default/login/code", req),
        clavis_testkit::urlencode(email)
    )
}

async fn five_wrong_codes_burn_the_code(b: Backend) {
    let w = world(b).await;
    let s = &w.s;
    let (_, req) = request(&w);
    let mut br = s.browser();
    let mut page = code_page(&w, &mut br, &req, DAVE).await;
    let code = code_in(&latest_email(s, "default", DAVE).await.text_body);
    let wrong = if code == "111111" { "222222" } else { "111111" };
    for i in 1..=5 {
        page = page_of(submit(&mut br, &page, "/login/code", &[("code", wrong)]).await);
        assert_eq!(page.status, 400, "{}", page.body);
        let too_many = page.body.contains("Too many wrong codes");
        assert_eq!(too_many, i == 5, "try {i}: {}", page.body);
    }
    // The ticket is dead: the right code no longer works.
    let r = page_of(submit(&mut br, &page, "/login/code", &[("code", &code)]).await);
    assert_eq!(r.status, 400, "{}", r.body);
    assert!(!br.cookies.contains_key("clavis_session"));
    // A new code works.
    let again = resend(s, &mut br, &r).await;
    let code = code_in(&latest_email(s, "default", DAVE).await.text_body);
    let Landing::Left(_) = submit(&mut br, &again, "/login/code", &[("code", &code)]).await else {
        panic!("a new code logs in")
    };
}

async fn unknown_and_blocked_addresses_get_the_same_page_and_no_email(b: Backend) {
    let w = world(b).await;
    let s = &w.s;
    let (_, req) = request(&w);
    let ghost = "ghost@acme.example";
    let users_before = s
        .client
        .send(
            "GET",
            USERS,
            &s.mgmt_token("default", &["read:users"]).await,
            None,
        )
        .await
        .json();
    let mut br = s.browser();
    let real = code_page(&w, &mut br, &req, ERIN).await;
    let mut br2 = s.browser();
    let fake = code_page(&w, &mut br2, &req, ghost).await;
    let strip = |r: &Reply, email: &str| {
        r.body
            .replace(email, "EMAIL")
            .replace(&clavis_testkit::urlencode(email), "EMAIL")
            .replace(&hidden(&r.body, "csrf"), "CSRF")
    };
    assert_eq!(strip(&real, ERIN), strip(&fake, ghost));
    assert_eq!(email_count(s, "default", ghost).await, 0);
    let users_after = s
        .client
        .send(
            "GET",
            USERS,
            &s.mgmt_token("default", &["read:users"]).await,
            None,
        )
        .await
        .json();
    assert_eq!(users_before, users_after, "no account was created");
    // Codes for the unknown address answer like a real address's: wrong, then "too many"
    // at the fifth try.
    let mut page = fake;
    for i in 1..=5 {
        page = page_of(submit(&mut br2, &page, "/login/code", &[("code", "123456")]).await);
        assert_eq!(page.status, 400, "{}", page.body);
        assert_eq!(
            page.body.contains("Too many wrong codes"),
            i == 5,
            "try {i}"
        );
    }
    // The hourly limit of codes from one client address applies alike: five codes, then
    // 429.
    for (email, br, page) in [(ERIN, &mut br, real), (ghost, &mut br2, page)] {
        let mut page = page;
        for _ in 0..4 {
            page = resend(s, br, &page).await;
            assert_eq!(page.status, 200, "{email}: {}", page.body);
        }
        let r = resend(s, br, &page).await;
        assert_eq!(r.status, 429, "{email}: {}", r.body);
        assert!(r.header("retry-after").is_some());
    }
    assert_eq!(login_codes(&w, ERIN).await, 5);
    assert_eq!(email_count(s, "default", ghost).await, 0);

    // A blocked user gets the page and no code.
    let fx = s.fixtures("default");
    let dave = {
        let mut tx = s.core.store.read().await.unwrap();
        tx.user_get_by_email(&w.tenant.id, &Email::parse(DAVE).unwrap())
            .await
            .unwrap()
            .unwrap()
    };
    fx.edit_user(&dave, |u| u.blocked = true).await;
    let mut br = s.browser();
    let page = code_page(&w, &mut br, &req, DAVE).await;
    assert!(page.body.contains("one-time-code"), "{}", page.body);
    assert_eq!(email_count(s, "default", DAVE).await, 0);
}

async fn forms_without_csrf_are_refused_and_send_nothing(b: Backend) {
    let w = world(b).await;
    let s = &w.s;
    let (_, req) = request(&w);
    let mut br = s.browser();
    let login = page_of(br.navigate(&req).await);
    let mut fields = form_of(&login);
    fields.push(("email".into(), DAVE.into()));
    // No CSRF cookie, then no CSRF field: refused, nothing sent.
    let r = post(
        s,
        "/t/default/login",
        &fields,
        &[],
        &cookies_without_csrf(&br),
    )
    .await;
    assert_eq!(r.status, 403, "{}", r.body);
    let no_field: Vec<(String, String)> = fields
        .iter()
        .filter(|(k, _)| k != "csrf")
        .cloned()
        .collect();
    let r = post(s, "/t/default/login", &no_field, &[], &cookies_of(&br)).await;
    assert_eq!(r.status, 403, "{}", r.body);
    let r = post(
        s,
        "/t/default/login/code/resend",
        &no_field,
        &[],
        &cookies_of(&br),
    )
    .await;
    assert_eq!(r.status, 403, "{}", r.body);
    assert_eq!(email_count(s, "default", DAVE).await, 0);
    // The code form too: a right code without CSRF does not log in.
    let page = code_page(&w, &mut br, &req, DAVE).await;
    let code = code_in(&latest_email(s, "default", DAVE).await.text_body);
    let mut fields: Vec<(String, String)> = form_of(&page)
        .into_iter()
        .filter(|(k, _)| k != "csrf")
        .collect();
    fields.push(("email".into(), DAVE.into()));
    fields.push(("code".into(), code.clone()));
    let r = post(s, "/t/default/login/code", &fields, &[], &cookies_of(&br)).await;
    assert_eq!(r.status, 403, "{}", r.body);
    assert!(
        set_cookies(&r)
            .iter()
            .all(|c| !c.starts_with("clavis_session="))
    );
    // Not spent: with CSRF it still logs in.
    let Landing::Left(_) = submit(&mut br, &page, "/login/code", &[("code", &code)]).await else {
        panic!("the code logs in")
    };
}

async fn passwords_are_refused_for_routed_addresses_only(b: Backend) {
    let w = world(b).await;
    let s = &w.s;
    let (_, req) = request(&w);
    let mut br = s.browser();
    let login = page_of(br.navigate(&req).await);
    // Erin has a right password, but her address routes to the email connection: the
    // identifier form posted with a password, and the password step's form, refuse it.
    let r = page_of(
        submit(
            &mut br,
            &login,
            "/login",
            &[("email", ERIN), ("password", PASSWORD)],
        )
        .await,
    );
    assert_eq!(r.status, 401, "{}", r.body);
    assert!(!br.cookies.contains_key("clavis_session"));
    let mut fields = form_of(&login);
    fields.push(("email".into(), ERIN.into()));
    fields.push(("password".into(), PASSWORD.into()));
    let r = post(
        s,
        "/t/default/login/password",
        &fields,
        &[],
        &cookies_of(&br),
    )
    .await;
    assert_eq!(r.status, 401, "{}", r.body);
    assert!(
        set_cookies(&r)
            .iter()
            .all(|c| !c.starts_with("clavis_session="))
    );
    // The password page is not offered for her address: back to the identifier step.
    let r = s
        .client
        .get(&format!(
            "{}&email={}",
            with_return("/t/default/login/password", &req),
            clavis_testkit::urlencode(ERIN)
        ))
        .await;
    assert_eq!(r.status, 303, "{}", r.body);
    assert!(
        r.header("location")
            .unwrap()
            .starts_with("/t/default/login?"),
        "{:?}",
        r.header("location")
    );
    // A database-connection organization still gets the password step.
    let fx = s.fixtures("default");
    fx.user("gil@beta.example", PASSWORD).await;
    let beta = fx.org("beta", &[]).await;
    let mut tx = s.core.store.begin().await.unwrap();
    let db = tx
        .connection_get_by_name(&w.tenant.id, clavis_core::service::DEFAULT_CONNECTION)
        .await
        .unwrap()
        .unwrap();
    tx.org_connection_insert(&OrgConnection {
        tenant_id: w.tenant.id.clone(),
        org_id: beta.id.clone(),
        connection_id: db.id.clone(),
        assign_membership_on_login: true,
        show_as_button: false,
        created_at: s.core.now(),
    })
    .await
    .unwrap();
    tx.org_domain_insert(&OrgDomain {
        tenant_id: w.tenant.id.clone(),
        domain: "beta.example".into(),
        org_id: beta.id.clone(),
        connection_id: None,
        created_at: s.core.now(),
    })
    .await
    .unwrap();
    tx.commit().await.unwrap();
    let mut br = s.browser();
    let login = page_of(br.navigate(&req).await);
    let pw = page_of(submit(&mut br, &login, "/login", &[("email", "gil@beta.example")]).await);
    assert!(pw.body.contains("type=\"password\""), "{}", pw.body);
    let Landing::Left(_) = submit(
        &mut br,
        &pw,
        "/login/password",
        &[("email", "gil@beta.example"), ("password", PASSWORD)],
    )
    .await
    else {
        panic!("the password logs Gil in")
    };
    assert_eq!(email_count(s, "default", "gil@beta.example").await, 0);
}

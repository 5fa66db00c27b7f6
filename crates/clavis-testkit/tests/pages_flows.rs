//! Universal Login flows through the hosted pages, on SQLite and PostgreSQL: signup,
//! email verification and consent before the code (and their `prompt=none` errors),
//! signup that does not reveal existing accounts, home-realm discovery, password reset and
//! change, lockout and rate limits (429 with `Retry-After`) and unlock.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod attack_kit;
mod common;
mod pages_kit;

use attack_kit::*;
use clavis_core::model::{OrgConnection, OrgDomain};
use clavis_testkit::{Backend, Browser, Landing, Reply, hidden};
use common::query_of;
use pages_kit::*;

clavis_testkit::on_both!(
    signup_verification_and_consent_come_before_the_code,
    signup_of_a_known_address_looks_like_a_new_one,
    the_identifier_step_discovers_the_home_realm,
    forgotten_passwords_are_reset_by_link,
    changing_a_password_needs_the_current_one,
    lockouts_and_rate_limits_answer_429,
);

const NEW_PW: &str = "tulip candle orbit 42";

/// Fill and submit the first form of `page` with `fields` (plus its CSRF and return_to).
async fn fill(br: &mut Browser, page: &Reply, fields: &[(&str, &str)]) -> Landing {
    let action = {
        let start = "<form method=\"post\" action=\"";
        let i = page.body.find(start).expect("a form") + start.len();
        page.body[i..i + page.body[i..].find('"').unwrap()].to_owned()
    };
    let mut all = form_of(page);
    all.extend(
        fields
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned())),
    );
    let pairs: Vec<(&str, &str)> = all.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    br.submit(&action, &pairs).await
}

fn left(l: Landing) -> String {
    match l {
        Landing::Left(u) => u,
        Landing::Page(p) => panic!("stayed on a page ({}): {}", p.status, p.body),
    }
}

async fn signup_verification_and_consent_come_before_the_code(b: Backend) {
    let (s, web, _) = world(b).await;
    let issuer = s.issuer("default");
    s.fixtures("default")
        .edit_app(&web.client_id, |a| a.is_first_party = false)
        .await;
    let (_, challenge) = pkce();
    let req = code_request("default", &web.client_id, &challenge, "st", &[]);
    let mut br = s.browser();
    let login = page_of(br.navigate(&req).await);
    let signup_href = {
        let i = login
            .body
            .find("id=\"signup-link\" href=\"")
            .expect("signup link")
            + 23;
        login.body[i..i + login.body[i..].find('"').unwrap()].replace("&amp;", "&")
    };
    let signup = page_of(br.navigate(&signup_href).await);
    assert_eq!(signup.status, 200, "{}", signup.body);
    // A refused password is explained next to the field.
    let weak = page_of(
        fill(
            &mut br,
            &signup,
            &[("email", "eve@example.com"), ("password", "password")],
        )
        .await,
    );
    assert_eq!(weak.status, 400, "{}", weak.body);
    assert!(
        weak.body.contains("id=\"password-error\" role=\"alert\""),
        "{}",
        weak.body
    );
    assert!(
        weak.body.contains("aria-describedby=\"password-error"),
        "{}",
        weak.body
    );
    assert!(!br.cookies.contains_key("clavis_session"));
    // Signed up: logged in, on the verification page.
    let verify = page_of(
        fill(
            &mut br,
            &weak,
            &[
                ("email", "eve@example.com"),
                ("password", NEW_PW),
                ("name", "Eve"),
            ],
        )
        .await,
    );
    assert!(verify.body.contains("id=\"code\""), "{}", verify.body);
    assert!(br.cookies.contains_key("clavis_session"));
    let cookie = session_cookie(&br);
    let none = code_request(
        "default",
        &web.client_id,
        &challenge,
        "st",
        &[("prompt", "none")],
    );
    let r = s.client.get_with(&none, &[("cookie", &cookie)]).await;
    assert_redirect_error(&r, CB, "interaction_required", Some("st"), &issuer);
    // Without prompt=none, the authorization endpoint sends the user to verify.
    let r = s.client.get_with(&req, &[("cookie", &cookie)]).await;
    assert_eq!(r.status, 303);
    assert!(
        r.header("location")
            .unwrap()
            .starts_with("/t/default/verify-email?return_to=")
    );
    // A wrong code, then the right one.
    let wrong = page_of(fill(&mut br, &verify, &[("code", "000000")]).await);
    assert_eq!(wrong.status, 400, "{}", wrong.body);
    assert!(
        wrong.body.contains("id=\"code-error\" role=\"alert\""),
        "{}",
        wrong.body
    );
    let code = code_in(
        &latest_email(&s, "default", "eve@example.com")
            .await
            .text_body,
    );
    let consent = page_of(fill(&mut br, &wrong, &[("code", &code)]).await);
    assert!(
        consent.body.contains("name=\"decision\" value=\"accept\""),
        "{}",
        consent.body
    );
    for words in [
        "See your email address",
        "See your profile",
        "Keep access while you are not using it",
    ] {
        assert!(consent.body.contains(words), "{words}: {}", consent.body);
    }
    assert!(consent.body.contains("<h1>Allow "), "{}", consent.body);
    let r = s.client.get_with(&none, &[("cookie", &cookie)]).await;
    assert_redirect_error(&r, CB, "consent_required", Some("st"), &issuer);
    // Allow: back to the client with a code; remembered for the next request.
    let back = left(fill(&mut br, &consent, &[("decision", "accept")]).await);
    assert!(query_of(&back).contains_key("code"), "{back}");
    assert_code(
        &s.client.get_with(&none, &[("cookie", &cookie)]).await,
        &issuer,
    );
    // prompt=consent asks again; Deny sends access_denied to the client.
    let again = code_request(
        "default",
        &web.client_id,
        &challenge,
        "st2",
        &[("prompt", "consent")],
    );
    let consent = page_of(br.navigate(&again).await);
    assert!(consent.body.contains("value=\"deny\""), "{}", consent.body);
    let back = left(fill(&mut br, &consent, &[("decision", "deny")]).await);
    let q = query_of(&back);
    assert_eq!(q["error"], "access_denied", "{back}");
    assert_eq!(q["state"], "st2");
    assert_eq!(q["iss"], issuer);
    // The link of the email verifies too (single use).
    let t = s.fixtures("default").tenant().await;
    let ticket = link_param(
        &latest_email(&s, "default", "eve@example.com")
            .await
            .text_body,
        "ticket",
    );
    let r = s
        .client
        .get(&format!("/t/default/verify-email/confirm?ticket={ticket}"))
        .await;
    assert_eq!(
        r.status, 400,
        "already verified by code: the ticket is spent: {}",
        r.body
    );
    let _ = t;
}

async fn signup_of_a_known_address_looks_like_a_new_one(b: Backend) {
    let (s, web, _) = world(b).await;
    let (_, challenge) = pkce();
    let req = code_request("default", &web.client_id, &challenge, "st", &[]);
    let land = |email: &'static str| {
        let (s, req) = (&s, req.clone());
        async move {
            let mut br = s.browser();
            let signup = page_of(br.navigate(&with_return("/t/default/signup", &req)).await);
            let after =
                page_of(fill(&mut br, &signup, &[("email", email), ("password", NEW_PW)]).await);
            let csrf = hidden(&after.body, "csrf");
            (after.status, after.body.replace(&csrf, "CSRF"))
        }
    };
    let before = email_count(&s, "default", EMAIL).await;
    let known = land("alice@example.com").await;
    let new = land("fred@example.com").await;
    assert_eq!(known.0, 200);
    assert_eq!(known, new, "the same page for a known and a new address");
    assert_eq!(
        email_count(&s, "default", EMAIL).await,
        before + 1,
        "the owner is told"
    );
    assert_eq!(
        latest_email(&s, "default", EMAIL).await.template,
        "already_registered"
    );
}

async fn the_identifier_step_discovers_the_home_realm(b: Backend) {
    let (s, web, _) = world(b).await;
    let fx = s.fixtures("default");
    let dave = fx.user("dave@acme.example", PASSWORD).await;
    // Dave is not a member yet: the organization lets its domain's users join on login.
    let acme = fx.org("acme", &[]).await;
    let t = fx.tenant().await;
    let mut tx = s.core.store.begin().await.unwrap();
    let conn = tx
        .connection_get_by_name(&t.id, clavis_core::service::DEFAULT_CONNECTION)
        .await
        .unwrap()
        .unwrap();
    tx.org_connection_insert(&OrgConnection {
        tenant_id: t.id.clone(),
        org_id: acme.id.clone(),
        connection_id: conn.id.clone(),
        assign_membership_on_login: true,
        show_as_button: false,
        created_at: s.core.now(),
    })
    .await
    .unwrap();
    tx.org_domain_insert(&OrgDomain {
        tenant_id: t.id.clone(),
        domain: "acme.example".into(),
        org_id: acme.id.clone(),
        connection_id: None,
        created_at: s.core.now(),
    })
    .await
    .unwrap();
    tx.commit().await.unwrap();

    let (verifier, challenge) = pkce();
    let req = code_request("default", &web.client_id, &challenge, "st", &[]);
    let mut br = s.browser();
    let login = page_of(br.navigate(&req).await);
    let password = page_of(fill(&mut br, &login, &[("email", "Dave@ACME.example")]).await);
    let return_to = hidden(&password.body, "return_to");
    assert!(
        return_to.ends_with(&format!("&organization={}", acme.id)),
        "{return_to}"
    );
    // Its branding context: the organization's name.
    assert!(password.body.contains("acme"), "{}", password.body);
    let back = left(
        fill(
            &mut br,
            &password,
            &[("email", "dave@acme.example"), ("password", PASSWORD)],
        )
        .await,
    );
    let code = query_of(&back)["code"].clone();
    let tokens = exchange(&s, "default", &web, &code, Some(&verifier))
        .await
        .json();
    let claims = common::payload(tokens["id_token"].as_str().unwrap());
    assert_eq!(claims["org_id"], acme.id.as_str(), "{claims}");
    let mut tx = s.core.store.read().await.unwrap();
    assert!(
        tx.member_orgs(&t.id, &dave.id)
            .await
            .unwrap()
            .contains(&acme.id),
        "the login made Dave a member"
    );
    drop(tx);

    // Other domains, and requests that name an organization already, are left alone.
    let mut br = s.browser();
    let login = page_of(br.navigate(&req).await);
    let password = page_of(fill(&mut br, &login, &[("email", EMAIL)]).await);
    assert!(!hidden(&password.body, "return_to").contains("organization"));
    let named = code_request(
        "default",
        &web.client_id,
        &challenge,
        "st",
        &[("organization", "acme")],
    );
    let login = page_of(br.navigate(&named).await);
    let password = page_of(fill(&mut br, &login, &[("email", "dave@acme.example")]).await);
    assert_eq!(
        hidden(&password.body, "return_to"),
        hidden(&login.body, "return_to")
    );
}

async fn forgotten_passwords_are_reset_by_link(b: Backend) {
    let (s, _, _) = world(b).await;
    let t = s.fixtures("default").tenant().await;
    let mut br = s.browser();
    let sent = |email: &'static str| {
        let s = &s;
        async move {
            let mut br = s.browser();
            let forgot = page_of(br.navigate("/t/default/password/forgot").await);
            let done = page_of(fill(&mut br, &forgot, &[("email", email)]).await);
            (done.status, done.body.replace(email, "EMAIL"))
        }
    };
    let known = sent(EMAIL).await;
    assert_eq!(
        known,
        sent("nobody@example.com").await,
        "no account enumeration"
    );
    assert_eq!(known.0, 200);
    let mail = latest_email(&s, "default", EMAIL).await;
    let ticket = link_param(&mail.text_body, "ticket");
    let reset = page_of(
        br.navigate(&format!("/t/default/password/reset?ticket={ticket}"))
            .await,
    );
    assert!(reset.body.contains(EMAIL), "{}", reset.body);
    let mismatch = page_of(
        fill(
            &mut br,
            &reset,
            &[("password", NEW_PW), ("password_confirm", "other")],
        )
        .await,
    );
    assert_eq!(mismatch.status, 400);
    assert!(
        mismatch
            .body
            .contains("id=\"password-confirm-error\" role=\"alert\""),
        "{}",
        mismatch.body
    );
    let common_pw = page_of(
        fill(
            &mut br,
            &mismatch,
            &[
                ("password", "password123"),
                ("password_confirm", "password123"),
            ],
        )
        .await,
    );
    assert_eq!(common_pw.status, 400, "{}", common_pw.body);
    assert!(
        common_pw.body.contains("id=\"password-error\""),
        "{}",
        common_pw.body
    );
    let done = page_of(
        fill(
            &mut br,
            &common_pw,
            &[("password", NEW_PW), ("password_confirm", NEW_PW)],
        )
        .await,
    );
    assert_eq!(done.status, 200, "{}", done.body);
    assert!(done.body.contains("id=\"login-link\""), "{}", done.body);
    assert!(
        s.core
            .password_login(&t, EMAIL, PASSWORD, &meta())
            .await
            .is_err()
    );
    assert!(
        s.core
            .password_login(&t, EMAIL, NEW_PW, &meta())
            .await
            .is_ok()
    );
    let used = s
        .client
        .get(&format!("/t/default/password/reset?ticket={ticket}"))
        .await;
    assert_eq!(used.status, 400, "{}", used.body);
    assert!(!used.body.contains("id=\"password\""));
}

async fn changing_a_password_needs_the_current_one(b: Backend) {
    let (s, web, _) = world(b).await;
    let t = s.fixtures("default").tenant().await;
    let (_, challenge) = pkce();
    let mut br = s.browser();
    code_via(
        &mut br,
        &code_request("default", &web.client_id, &challenge, "st", &[]),
    )
    .await;
    let change = page_of(br.navigate("/t/default/password/change").await);
    assert_eq!(change.status, 200, "{}", change.body);
    let wrong = page_of(
        fill(
            &mut br,
            &change,
            &[
                ("current_password", "nope"),
                ("password", NEW_PW),
                ("password_confirm", NEW_PW),
            ],
        )
        .await,
    );
    assert_eq!(wrong.status, 400);
    assert!(
        wrong
            .body
            .contains("id=\"current-password-error\" role=\"alert\""),
        "{}",
        wrong.body
    );
    let done = page_of(
        fill(
            &mut br,
            &wrong,
            &[
                ("current_password", PASSWORD),
                ("password", NEW_PW),
                ("password_confirm", NEW_PW),
            ],
        )
        .await,
    );
    assert_eq!(done.status, 200, "{}", done.body);
    assert!(
        s.core
            .password_login(&t, EMAIL, NEW_PW, &meta())
            .await
            .is_ok()
    );
    // Logged out: no form.
    let r = s.client.get("/t/default/password/change").await;
    assert_eq!(r.status, 401);
    assert!(!r.body.contains("<form"));
}

async fn lockouts_and_rate_limits_answer_429(b: Backend) {
    let (s, web, _) = world(b).await;
    edit_settings(&s, "default", |st| {
        st.attack_protection.failed_logins_per_hour = 2;
        st.attack_protection.auth_per_ip_per_minute = 1000;
    })
    .await;
    let (_, challenge) = pkce();
    let req = code_request("default", &web.client_id, &challenge, "st", &[]);
    let mut br = s.browser();
    for _ in 0..2 {
        let p = page_of(br.authorize(&req, EMAIL, "wrong password").await);
        assert_eq!(p.status, 401, "{}", p.body);
    }
    let locked = page_of(br.authorize(&req, EMAIL, PASSWORD).await);
    assert_eq!(locked.status, 429, "{}", locked.body);
    let retry: i64 = locked.header("retry-after").unwrap().parse().unwrap();
    assert!(retry > 0);
    assert!(locked.body.contains("role=\"alert\""), "{}", locked.body);
    assert!(!br.cookies.contains_key("clavis_session"));
    // The emailed unlock link ends the lock.
    let mail = latest_email(&s, "default", EMAIL).await;
    assert_eq!(mail.template, "blocked_account");
    let ticket = link_param(&mail.text_body, "ticket");
    let r = s
        .client
        .get(&format!("/t/default/unlock?ticket={ticket}"))
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r.body.contains("id=\"login-link\""), "{}", r.body);
    assert_eq!(
        s.client
            .get(&format!("/t/default/unlock?ticket={ticket}"))
            .await
            .status,
        400
    );
    assert!(
        matches!(br.authorize(&req, EMAIL, PASSWORD).await, Landing::Left(u) if u.starts_with(CB))
    );

    // Per-address rate limit on the email-sending and credential-checking forms.
    edit_settings(&s, "default", |st| {
        st.attack_protection.auth_per_ip_per_minute = 2
    })
    .await;
    s.clock.advance_secs(61); // a fresh counting window
    let mut br = s.browser();
    let mut statuses = Vec::new();
    for _ in 0..3 {
        let forgot = page_of(br.navigate("/t/default/password/forgot").await);
        let r = fill(&mut br, &forgot, &[("email", "nobody@example.com")]).await;
        let r = page_of(r);
        if r.status == 429 {
            assert!(r.header("retry-after").unwrap().parse::<i64>().unwrap() > 0);
        }
        statuses.push(r.status);
    }
    assert_eq!(statuses, [200, 200, 429]);
}

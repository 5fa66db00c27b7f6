//! Account answers through the hosted pages, on SQLite and PostgreSQL: signup with an
//! address that already has an account answers exactly like a new signup (the raw 303,
//! its session cookie, and every later step of the verification page); the verification
//! page sends a missing email; verification codes are counted before they are compared,
//! so concurrent tries cannot compare more than five; a password reset ends refresh
//! tokens; a second tab keeps the first tab's CSRF token; and logging out clears the
//! session cookie with its `Secure` attribute over https.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod attack_kit;
mod common;
mod pages_kit;

use std::path::PathBuf;
use std::time::Duration;

use attack_kit::*;
use clavis_core::model::{AuditQuery, Tenant, TicketKind, User};
use clavis_core::service::lifecycle::{MAX_CODE_ATTEMPTS, SignupOutcome, VerifyError};
use clavis_server::{Config, LogFormat, Server};
use clavis_testkit::{Backend, Client, Landing, Reply, TestServer, hidden};
use clavis_types::SessionId;
use pages_kit::*;

clavis_testkit::on_both!(
    signup_of_a_known_address_answers_exactly_like_a_new_one,
    the_verification_page_sends_a_missing_email,
    concurrent_codes_are_counted_before_they_are_compared,
    a_password_reset_ends_refresh_tokens,
    a_password_change_ends_refresh_tokens,
    a_second_tab_keeps_the_first_tabs_csrf_token,
    logout_clears_the_session_cookie_with_its_attributes,
);

const NEW_PW: &str = "tulip candle orbit 42";

/// Submit the first form of `page` with `fields` (plus its hidden fields).
async fn fill(br: &mut clavis_testkit::Browser, page: &Reply, fields: &[(&str, &str)]) -> Landing {
    let start = "<form method=\"post\" action=\"";
    let i = page.body.find(start).expect("a form") + start.len();
    let action = page.body[i..i + page.body[i..].find('"').unwrap()].to_owned();
    let mut all = form_of(page);
    all.extend(
        fields
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned())),
    );
    let pairs: Vec<(&str, &str)> = all.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    br.submit(&action, &pairs).await
}

/// Every header of a response but `date`, `x-request-id` (both differ per response) and
/// `set-cookie`, sorted.
fn plain_headers(r: &Reply) -> Vec<(String, String)> {
    let mut h: Vec<(String, String)> = r
        .headers
        .iter()
        .filter(|(k, _)| !matches!(k.as_str(), "date" | "x-request-id" | "set-cookie"))
        .map(|(k, v)| (k.to_string(), v.to_str().unwrap().to_owned()))
        .collect();
    h.sort();
    h
}

/// The one `Set-Cookie` of a signup answer, split: its name, value and attributes.
fn session_set_cookie(r: &Reply) -> (String, String, String) {
    let all = set_cookies(r);
    assert_eq!(all.len(), 1, "one cookie: {all:?}");
    let (kv, attrs) = all[0].split_once("; ").unwrap();
    let (k, v) = kv.split_once('=').unwrap();
    (k.to_owned(), v.to_owned(), attrs.to_owned())
}

/// The shape of a session cookie value: a session id, a dot, 43 base64url characters.
fn assert_session_shaped(v: &str) {
    let (id, secret) = v.split_once('.').expect("id.secret");
    SessionId::parse(id).unwrap_or_else(|e| panic!("{id}: {e}"));
    assert_eq!(secret.len(), 43, "{v}");
    assert!(
        secret
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'),
        "{v}"
    );
}

/// One step of the verification page as a browser holding `cookie` sees it: status,
/// `Retry-After`, and the body with its CSRF token blanked.
type Step = (u16, Option<String>, String);

fn step(r: &Reply) -> Step {
    let csrf = hidden(&r.body, "csrf");
    let body = if csrf.is_empty() {
        r.body.clone()
    } else {
        r.body.replace(&csrf, "CSRF")
    };
    (r.status, r.header("retry-after").map(str::to_owned), body)
}

async fn signup_of_a_known_address_answers_exactly_like_a_new_one(b: Backend) {
    let (s, web, _) = world(b).await;
    edit_settings(&s, "default", |st| {
        st.attack_protection.auth_per_ip_per_minute = 10_000;
    })
    .await;
    let t = s.fixtures("default").tenant().await;
    let (_, challenge) = pkce();
    let req = code_request("default", &web.client_id, &challenge, "st", &[]);
    let mut br = s.browser();
    let form = page_of(br.navigate(&with_return("/t/default/signup", &req)).await);
    let (fields, csrf_cookie) = (form_of(&form), cookies_of(&br));
    let signup = |email: &'static str| {
        let (s, fields, csrf_cookie) = (&s, &fields, &csrf_cookie);
        async move {
            let extra = [("email", email), ("password", NEW_PW)];
            post(s, "/t/default/signup", fields, &extra, csrf_cookie).await
        }
    };
    let new = signup("fred@example.com").await;
    let known = signup(EMAIL).await;
    assert_eq!(new.status, 303, "{}", new.body);
    assert_eq!(known.status, new.status);
    let to = new.header("location").unwrap().to_owned();
    assert!(to.starts_with("/t/default/verify-email?return_to="), "{to}");
    assert_eq!(known.header("location"), Some(to.as_str()));
    assert_eq!(known.body, new.body);
    assert_eq!(plain_headers(&known), plain_headers(&new));
    let (new_name, new_value, new_attrs) = session_set_cookie(&new);
    let (known_name, known_value, known_attrs) = session_set_cookie(&known);
    assert_eq!(
        (known_name.as_str(), known_attrs.as_str()),
        ("clavis_session", new_attrs.as_str())
    );
    assert_eq!(new_name, "clavis_session");
    assert_session_shaped(&new_value);
    assert_session_shaped(&known_value);
    assert_eq!(known_value.len(), new_value.len());
    // Only the new account's cookie opens a session.
    assert!(
        s.core
            .session_from_cookie(&t, &new_value)
            .await
            .unwrap()
            .is_some()
    );
    assert!(
        s.core
            .session_from_cookie(&t, &known_value)
            .await
            .unwrap()
            .is_none()
    );

    // Every later step of the verification page reads the same for both cookies: the
    // page, wrong codes up to the limit and past it, resends up to the hourly limit, and
    // a wrong code after a resend.
    let real = code_in(
        &latest_email(&s, "default", "fred@example.com")
            .await
            .text_body,
    );
    let wrong = if real == "000000" { "111111" } else { "000000" };
    let walk = |session: String| {
        let (s, to, csrf_cookie) = (&s, &to, &csrf_cookie);
        async move {
            let cookie = format!("{csrf_cookie}; clavis_session={session}");
            let page = s.client.get_with(to, &[("cookie", &cookie)]).await;
            let fields = form_of(&page);
            let mut steps = vec![step(&page)];
            for _ in 0..=MAX_CODE_ATTEMPTS {
                let extra = [("code", wrong)];
                steps.push(step(
                    &post(s, "/t/default/verify-email", &fields, &extra, &cookie).await,
                ));
            }
            for _ in 0..5 {
                let r = post(s, "/t/default/verify-email/resend", &fields, &[], &cookie).await;
                steps.push(step(&r));
                let extra = [("code", wrong)];
                steps.push(step(
                    &post(s, "/t/default/verify-email", &fields, &extra, &cookie).await,
                ));
            }
            steps
        }
    };
    let for_new = walk(new_value).await;
    let for_known = walk(known_value).await;
    assert_eq!(for_new[0].0, 200);
    assert_eq!(for_new[1].0, 400, "a wrong code: {}", for_new[1].2);
    assert!(for_new[1].2.contains("id=\"code-error\" role=\"alert\""));
    assert_ne!(
        for_new[1].2, for_new[5].2,
        "the fifth wrong code says the code is spent"
    );
    assert_eq!(for_new.last().unwrap().0, 400);
    assert!(
        for_new
            .iter()
            .any(|s| s.0 == 429 && s.1.as_deref() == Some("3600")),
        "the hourly limit of emails is reached"
    );
    for (i, (n, k)) in for_new.iter().zip(&for_known).enumerate() {
        assert_eq!(n, k, "step {i}");
    }
    assert_eq!(for_new.len(), for_known.len());
}

/// An unverified user with a password and no verification ticket (as the Management API
/// creates one), and a session cookie value of theirs.
async fn unverified_user(s: &TestServer, t: &Tenant, email: &str) -> (User, String) {
    let mut user = s.fixtures("default").user(email, PASSWORD).await;
    user.email_verified = false;
    let mut tx = s.core.store.begin().await.unwrap();
    assert!(tx.user_update(&user).await.unwrap());
    tx.commit().await.unwrap();
    let (_, cookie, _) = s
        .core
        .password_login(t, email, PASSWORD, &meta())
        .await
        .unwrap();
    (user, format!("clavis_session={cookie}"))
}

/// `clavis_csrf=…` as a page set it.
fn csrf_of(page: &Reply) -> String {
    set_cookies(page)
        .iter()
        .find(|c| c.starts_with("clavis_csrf="))
        .and_then(|c| c.split(';').next())
        .expect("a CSRF cookie")
        .to_owned()
}

/// Audit events of these types, newest first, as JSON.
async fn events(s: &TestServer, t: &Tenant, types: &[&str]) -> Vec<serde_json::Value> {
    let q = AuditQuery {
        event_types: types.iter().map(|x| (*x).to_owned()).collect(),
        newest_first: true,
        ..AuditQuery::default()
    };
    let page = s
        .core
        .audit_search(t, &q, None, None, None, 100)
        .await
        .unwrap();
    page.events
        .iter()
        .map(|e| serde_json::to_value(e).unwrap())
        .collect()
}

async fn the_verification_page_sends_a_missing_email(b: Backend) {
    let (s, _, _) = world(b).await;
    let t = s.fixtures("default").tenant().await;
    let (mia, cookie) = unverified_user(&s, &t, "mia@example.com").await;
    assert_eq!(email_count(&s, "default", "mia@example.com").await, 0);
    let page = s
        .client
        .get_with("/t/default/verify-email", &[("cookie", &cookie)])
        .await;
    assert_eq!(page.status, 200, "{}", page.body);
    let mail = latest_email(&s, "default", "mia@example.com").await;
    assert_eq!(mail.template, "verify_email");
    let e = events(&s, &t, &["user.verification_email.sent"]).await;
    assert_eq!(e.len(), 1);
    assert_eq!(e[0]["context"]["trigger"], "verification_page");
    assert_eq!(e[0]["context"]["user_id"], mia.id.as_str());
    // Open again: the open ticket is kept, nothing more is sent.
    let again = s
        .client
        .get_with("/t/default/verify-email", &[("cookie", &cookie)])
        .await;
    assert_eq!(step(&again), step(&page));
    assert_eq!(email_count(&s, "default", "mia@example.com").await, 1);
    // The emailed code verifies.
    let code = code_in(&mail.text_body);
    let csrf = format!("{cookie}; {}", csrf_of(&page));
    let done = post(
        &s,
        "/t/default/verify-email",
        &form_of(&page),
        &[("code", &code)],
        &csrf,
    )
    .await;
    assert_eq!(done.status, 200, "{}", done.body);
    assert!(
        s.core
            .session_from_cookie(&t, cookie.trim_start_matches("clavis_session="))
            .await
            .unwrap()
            .unwrap()
            .1
            .email_verified
    );

    // A resend is audited too, without the code or the link's token.
    let (_, cookie) = unverified_user(&s, &t, "max@example.com").await;
    let page = s
        .client
        .get_with("/t/default/verify-email", &[("cookie", &cookie)])
        .await;
    let csrf = format!("{cookie}; {}", csrf_of(&page));
    s.clock.advance_secs(1);
    let r = post(
        &s,
        "/t/default/verify-email/resend",
        &form_of(&page),
        &[],
        &csrf,
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let e = events(&s, &t, &["user.verification_email.sent"]).await;
    assert_eq!(e[0]["context"]["trigger"], "resend");
    let mail = latest_email(&s, "default", "max@example.com").await;
    let text = serde_json::to_string(&e).unwrap();
    assert!(!text.contains(&code_in(&mail.text_body)));
    assert!(!text.contains(&link_param(&mail.text_body, "ticket")));
    // Under the same limit as resends: five emails an hour, however often the page
    // finds no open ticket.
    let user = s
        .core
        .session_from_cookie(&t, cookie.trim_start_matches("clavis_session="))
        .await
        .unwrap()
        .unwrap()
        .1;
    for _ in 0..6 {
        let mut tx = s.core.store.begin().await.unwrap();
        tx.ticket_consume_all(&t.id, &user.id, TicketKind::VerifyEmail, s.core.now())
            .await
            .unwrap();
        tx.commit().await.unwrap();
        let r = s
            .client
            .get_with("/t/default/verify-email", &[("cookie", &cookie)])
            .await;
        assert_eq!(r.status, 200, "{}", r.body);
    }
    assert_eq!(email_count(&s, "default", "max@example.com").await, 5);
}

/// Sign up `email` through core: the new user and the code of its verification email.
async fn signed_up(s: &TestServer, t: &Tenant, email: &str) -> (User, String) {
    let user = match s.core.signup(t, email, NEW_PW, None, "en", &meta()).await {
        Ok(SignupOutcome::Created { user, .. }) => user,
        other => panic!("{other:?}"),
    };
    let code = code_in(&latest_email(s, "default", email).await.text_body);
    (user, code)
}

/// The `i`th code that is not `code`.
fn not(code: &str, i: u32) -> String {
    format!("{:06}", (code.parse::<u32>().unwrap() + 1 + i) % 1_000_000)
}

/// Try `codes` for `user` at once, started `spacing` apart (the spacing lets each try
/// reach the database before the next starts: no event says a try is waiting on a row
/// lock, hence the sleep).
#[allow(clippy::disallowed_methods)]
async fn try_at_once(
    s: &TestServer,
    t: &Tenant,
    user: &User,
    codes: Vec<String>,
    spacing: Duration,
) -> Vec<Result<User, VerifyError>> {
    let mut tasks = Vec::new();
    for code in codes {
        let (core, t, user) = (s.core.clone(), t.clone(), user.clone());
        tasks.push(tokio::spawn(async move {
            core.verify_email_code(&t, &user, &code, &meta()).await
        }));
        tokio::time::sleep(spacing).await;
    }
    let mut out = Vec::new();
    for task in tasks {
        out.push(task.await.unwrap());
    }
    out
}

// Sleeps while the fifth try holds the ticket's row, so the racing tries queue behind it.
#[allow(clippy::disallowed_methods)]
async fn concurrent_codes_are_counted_before_they_are_compared(b: Backend) {
    let s = TestServer::start(b).await;
    let t = s.fixtures("default").tenant().await;

    // Twenty wrong codes at once burn the ticket: the right one is refused afterwards.
    let (ann, code) = signed_up(&s, &t, "ann@example.com").await;
    let tries = (0..20).map(|i| not(&code, i)).collect();
    let r = try_at_once(&s, &t, &ann, tries, Duration::ZERO).await;
    assert!(r.iter().all(Result::is_err), "{r:?}");
    let mut tx = s.core.store.read().await.unwrap();
    let open = tx
        .ticket_latest_open(&t.id, &ann.id, TicketKind::VerifyEmail, s.core.now())
        .await
        .unwrap();
    drop(tx);
    assert!(open.is_none(), "burnt: {open:?}");
    assert!(
        s.core
            .verify_email_code(&t, &ann, &code, &meta())
            .await
            .is_err()
    );

    // The right code among the first five tries works, whatever the order.
    let (bea, code) = signed_up(&s, &t, "bea@example.com").await;
    let mut tries: Vec<String> = (0..4).map(|i| not(&code, i)).collect();
    tries.insert(2, code.clone());
    let r = try_at_once(&s, &t, &bea, tries, Duration::ZERO).await;
    assert!(r[2].as_ref().is_ok_and(|u| u.email_verified), "{r:?}");

    // Past the limit the answer does not depend on the code: with four wrong tries
    // counted and a fifth counted but not yet committed (it holds the ticket's row, or
    // on SQLite the writer), tries that arrive meanwhile — the right code among them —
    // are refused alike. (Compared first and counted after, the right code answered
    // differently from the wrong ones, or even verified.)
    let (cat, code) = signed_up(&s, &t, "cat@example.com").await;
    for i in 0..4 {
        let r = s
            .core
            .verify_email_code(&t, &cat, &not(&code, i), &meta())
            .await;
        assert!(matches!(r, Err(VerifyError::WrongOrExpired)), "{r:?}");
    }
    let ticket = {
        let mut tx = s.core.store.read().await.unwrap();
        tx.ticket_latest_open(&t.id, &cat.id, TicketKind::VerifyEmail, s.core.now())
            .await
            .unwrap()
            .unwrap()
    };
    let mut fifth = s.core.store.begin().await.unwrap();
    assert_eq!(
        fifth
            .ticket_add_attempt(&t.id, &ticket.digest)
            .await
            .unwrap(),
        5
    );
    let racing = {
        let (s2, t2, cat2) = (&s, &t, &cat);
        let tries = vec![not(&code, 10), not(&code, 11), code.clone(), not(&code, 12)];
        async move { try_at_once(s2, t2, cat2, tries, Duration::from_millis(100)).await }
    };
    let commit_later = async move {
        tokio::time::sleep(Duration::from_millis(700)).await;
        fifth.commit().await.unwrap();
    };
    let (r, ()) = tokio::join!(racing, commit_later);
    let kind = |e: &VerifyError| match e {
        VerifyError::WrongOrExpired => "wrong",
        VerifyError::TooManyAttempts => "too_many",
        other => panic!("{other:?}"),
    };
    let wrong_kinds: Vec<&str> = [&r[0], &r[1], &r[3]]
        .iter()
        .map(|x| kind(x.as_ref().expect_err("a wrong code is refused")))
        .collect();
    match &r[2] {
        Ok(u) => panic!("the right code verified {} past the limit", u.id),
        Err(e) => assert!(
            wrong_kinds.contains(&kind(e)),
            "the right code answered {e:?}, wrong ones {wrong_kinds:?}"
        ),
    }
    assert!(
        s.core
            .verify_email_code(&t, &cat, &code, &meta())
            .await
            .is_err()
    );
}

async fn a_password_reset_ends_refresh_tokens(b: Backend) {
    let (s, web, _) = world(b).await;
    let t = s.fixtures("default").tenant().await;
    let before = tokens(&s, "default", &web).await;
    let r = refresh(&s, "default", &web, str_of(&before, "refresh_token"), &[]).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let rt = r.json()["refresh_token"]
        .as_str()
        .unwrap_or(str_of(&before, "refresh_token"))
        .to_owned();
    // Reset through the pages.
    let mut br = s.browser();
    let forgot = page_of(br.navigate("/t/default/password/forgot").await);
    page_of(fill(&mut br, &forgot, &[("email", EMAIL)]).await);
    let ticket = link_param(
        &latest_email(&s, "default", EMAIL).await.text_body,
        "ticket",
    );
    let reset = page_of(
        br.navigate(&format!("/t/default/password/reset?ticket={ticket}"))
            .await,
    );
    let done = page_of(
        fill(
            &mut br,
            &reset,
            &[("password", NEW_PW), ("password_confirm", NEW_PW)],
        )
        .await,
    );
    assert_eq!(done.status, 200, "{}", done.body);
    let r = refresh(&s, "default", &web, &rt, &[]).await;
    assert_eq!(r.status, 400, "{}", r.body);
    assert_eq!(r.json()["error"], "invalid_grant");
    let e = events(&s, &t, &["user.password_reset"]).await;
    assert_eq!(e[0]["context"]["token_families_revoked"], 1);
    // Tokens obtained after the reset work.
    let after = tokens_with(&s, &web, NEW_PW).await;
    let r = refresh(&s, "default", &web, str_of(&after, "refresh_token"), &[]).await;
    assert_eq!(r.status, 200, "{}", r.body);
}

async fn a_password_change_ends_refresh_tokens(b: Backend) {
    let (s, web, _) = world(b).await;
    let t = s.fixtures("default").tenant().await;
    let before = tokens(&s, "default", &web).await;
    let rt = str_of(&before, "refresh_token").to_owned();
    // Change the password through the page, logged in in another browser.
    let mut br = s.browser();
    let (_, challenge) = pkce();
    let req = code_request("default", &web.client_id, &challenge, "st", &[]);
    let Landing::Left(_) = br.authorize(&req, EMAIL, PASSWORD).await else {
        panic!("no code")
    };
    let change = page_of(br.navigate("/t/default/password/change").await);
    let done = page_of(
        fill(
            &mut br,
            &change,
            &[
                ("current_password", PASSWORD),
                ("password", NEW_PW),
                ("password_confirm", NEW_PW),
            ],
        )
        .await,
    );
    assert_eq!(done.status, 200, "{}", done.body);
    let r = refresh(&s, "default", &web, &rt, &[]).await;
    assert_eq!(r.status, 400, "{}", r.body);
    assert_eq!(r.json()["error"], "invalid_grant");
    let e = events(&s, &t, &["user.password_changed"]).await;
    assert!(
        e[0]["context"]["token_families_revoked"].as_u64() >= Some(1),
        "{}",
        e[0]
    );
}

/// Log alice in with `password` and exchange a fresh code.
async fn tokens_with(
    s: &TestServer,
    app: &clavis_testkit::Confidential,
    password: &str,
) -> serde_json::Value {
    let (verifier, challenge) = pkce();
    let mut br = s.browser();
    let req = code_request("default", &app.client_id, &challenge, "st", &[]);
    let Landing::Left(back) = br.authorize(&req, EMAIL, password).await else {
        panic!("no code")
    };
    let code = common::query_of(&back)["code"].clone();
    let r = exchange(s, "default", app, &code, Some(&verifier)).await;
    assert_eq!(r.status, 200, "{}", r.body);
    r.json()
}

async fn a_second_tab_keeps_the_first_tabs_csrf_token(b: Backend) {
    let (s, _, _) = world(b).await;
    let mut br = s.browser();
    let first = page_of(br.navigate("/t/default/password/forgot").await);
    let token = hidden(&first.body, "csrf");
    assert_eq!(br.cookies.get("clavis_csrf"), Some(&token));
    // Another tab: the same token, its cookie renewed.
    let second = page_of(br.navigate("/t/default/signup").await);
    assert_eq!(hidden(&second.body, "csrf"), token);
    assert!(
        set_cookies(&second)
            .iter()
            .any(|c| c.starts_with(&format!("clavis_csrf={token}; Path=/t/default/;"))),
        "{:?}",
        set_cookies(&second)
    );
    // The first tab's form still posts.
    let sent = page_of(fill(&mut br, &first, &[("email", "nobody@example.com")]).await);
    assert_eq!(sent.status, 200, "{}", sent.body);
    // The logout confirmation keeps it too.
    let cookie = format!("clavis_csrf={token}");
    let logout = s
        .client
        .get_with("/t/default/oidc/logout", &[("cookie", &cookie)])
        .await;
    assert_eq!(logout.status, 200, "{}", logout.body);
    assert_eq!(hidden(&logout.body, "csrf"), token);
    // Anything that is not a token of ours is replaced, and a field that differs from
    // the cookie is still refused.
    for bad in [
        "short",
        "a.b",
        &"x".repeat(44),
        &format!("{}%", &token[..42]),
    ] {
        let r = s
            .client
            .get_with(
                "/t/default/signup",
                &[("cookie", &format!("clavis_csrf={bad}"))],
            )
            .await;
        let fresh = hidden(&r.body, "csrf");
        assert!(
            fresh.len() == 43 && fresh != bad && fresh != token,
            "{bad}: {fresh}"
        );
    }
    let forged = "y".repeat(43);
    let r = post(
        &s,
        "/t/default/password/forgot",
        &[("csrf".to_owned(), forged)],
        &[("email", EMAIL)],
        &cookie,
    )
    .await;
    assert_eq!(r.status, 403, "{}", r.body);
}

/// A second server on `s`'s database whose public URL is https (as behind a TLS proxy),
/// reached at its own plain-HTTP address; dropped with the test.
async fn https_node(
    s: &TestServer,
) -> (Client, tokio::sync::oneshot::Sender<()>, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let cfg = Config {
        data_dir: PathBuf::from(dir.path()),
        database_url: Some(s.db.url.clone()),
        listen: "127.0.0.1:0".parse().unwrap(),
        public_url: Some("https://id.example.test".to_owned()),
        master_key: Some(s.db.master_key_b64.clone()),
        master_key_file: None,
        log_format: LogFormat::Json,
        log_level: "warn".to_owned(),
        ..Config::default()
    };
    let server = Server::build_with_clock(cfg, s.clock.clone())
        .await
        .unwrap();
    let client = Client::new(&format!("http://{}", server.local_addr()));
    let (stop, rx) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(async move {
        let _ = server
            .run(async {
                let _ = rx.await;
            })
            .await;
    });
    (client, stop, dir)
}

async fn logout_clears_the_session_cookie_with_its_attributes(b: Backend) {
    let (s, _, _) = world(b).await;
    let t = s.fixtures("default").tenant().await;
    let (node, _stop, _dir) = https_node(&s).await;
    let (_, session, _) = s
        .core
        .password_login(&t, EMAIL, PASSWORD, &meta())
        .await
        .unwrap();
    let cookie = format!("clavis_session={session}");
    let confirm = node
        .get_with("/t/default/oidc/logout", &[("cookie", &cookie)])
        .await;
    assert_eq!(confirm.status, 200, "{}", confirm.body);
    let csrf = hidden(&confirm.body, "csrf");
    let csrf_cookie = set_cookies(&confirm)
        .into_iter()
        .find(|c| c.starts_with("clavis_csrf="))
        .unwrap();
    assert!(csrf_cookie.ends_with("; Secure"), "{csrf_cookie}");
    let r = node
        .post_form(
            "/t/default/oidc/logout",
            &[("csrf", &csrf)],
            &[("cookie", &format!("{cookie}; clavis_csrf={csrf}"))],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let cleared = set_cookies(&r)
        .into_iter()
        .find(|c| c.starts_with("clavis_session="))
        .unwrap();
    let mut attrs: Vec<&str> = cleared.split("; ").collect();
    attrs.sort_unstable();
    assert_eq!(
        attrs,
        [
            "HttpOnly",
            "Max-Age=0",
            "Path=/t/default/",
            "SameSite=Lax",
            "Secure",
            "clavis_session="
        ],
        "{cleared}"
    );
    assert!(
        s.core
            .session_from_cookie(&t, &session)
            .await
            .unwrap()
            .is_none()
    );
}

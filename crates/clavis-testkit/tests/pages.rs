//! The hosted pages (Universal Login) over HTTP, on SQLite and PostgreSQL: every page
//! renders in English and French with the exact Content-Security-Policy and no inline
//! style or script; every form refuses a missing or wrong CSRF proof and changes nothing;
//! `return_to` cannot leave the tenant's authorization endpoint.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod attack_kit;
mod common;
mod pages_kit;

use attack_kit::*;
use clavis_testkit::{Backend, Landing, TestServer, hidden, urlencode};
use pages_kit::*;

clavis_testkit::on_both!(
    every_page_renders_in_english_and_french,
    every_form_needs_its_csrf_proof,
    return_to_stays_in_the_tenant,
);

/// A third-party client (so the consent page appears) and alice logged in through it:
/// the browser stops on the consent page.
async fn consent_world(b: Backend) -> (TestServer, clavis_testkit::Confidential, Browser, String) {
    let (s, web, _) = world(b).await;
    s.fixtures("default")
        .edit_app(&web.client_id, |a| a.is_first_party = false)
        .await;
    let (_, challenge) = pkce();
    let req = code_request("default", &web.client_id, &challenge, "st", &[]);
    let mut br = s.browser();
    let consent = page_of(br.authorize(&req, EMAIL, PASSWORD).await);
    assert_eq!(consent.status, 200, "{}", consent.body);
    assert!(
        consent.body.contains("name=\"decision\" value=\"accept\""),
        "{}",
        consent.body
    );
    (s, web, br, req)
}

use clavis_testkit::Browser;

async fn every_page_renders_in_english_and_french(b: Backend) {
    let (s, _web, br, req) = consent_world(b).await;
    let tenant = s.fixtures("default").tenant().await;
    s.core
        .request_password_reset(&tenant, EMAIL, "en", &meta())
        .await
        .unwrap();
    let ticket = link_param(
        &latest_email(&s, "default", EMAIL).await.text_body,
        "ticket",
    );
    let rt = urlencode(&req);
    let session = cookies_of(&br);
    let client = "https://rp.example.com";
    // (address, status, needs the session, continues the authorization)
    let pages: Vec<(String, u16, bool, bool)> = vec![
        (format!("/t/default/login?return_to={rt}"), 200, false, true),
        (
            format!("/t/default/login?return_to={rt}&login_hint=al%40example.com"),
            200,
            false,
            true,
        ),
        (
            format!("/t/default/login/password?return_to={rt}&email=alice%40example.com"),
            200,
            false,
            true,
        ),
        (
            format!("/t/default/signup?return_to={rt}"),
            200,
            false,
            true,
        ),
        (
            format!("/t/default/verify-email?return_to={rt}"),
            200,
            false,
            true,
        ),
        (
            format!("/t/default/consent?return_to={rt}"),
            200,
            true,
            true,
        ),
        ("/t/default/login".to_owned(), 200, false, false),
        ("/t/default/password/forgot".to_owned(), 200, false, false),
        (
            format!("/t/default/password/reset?ticket={ticket}"),
            200,
            false,
            false,
        ),
        ("/t/default/password/change".to_owned(), 200, true, false),
        (
            "/t/default/unlock?ticket=unknown".to_owned(),
            400,
            false,
            false,
        ),
        (
            "/t/default/verify-email/confirm?ticket=unknown".to_owned(),
            400,
            false,
            false,
        ),
        ("/t/default/oidc/logout".to_owned(), 200, true, false),
        (
            "/t/default/authorize?client_id=nope".to_owned(),
            400,
            false,
            false,
        ),
        ("/t/default/password/change".to_owned(), 401, false, false),
    ];
    let mut bodies = Vec::new();
    for (url, status, with_session, continues) in &pages {
        for lang in ["en", "fr"] {
            let headers: Vec<(&str, &str)> = if *with_session {
                vec![("cookie", session.as_str())]
            } else {
                Vec::new()
            };
            let r = s.client.get_with(&in_lang(url, lang), &headers).await;
            assert_eq!(r.status, *status, "{url} in {lang}: {}", r.body);
            let csp = if *continues {
                csp_with(client)
            } else {
                CSP.to_owned()
            };
            assert_page(&r, lang, &csp);
            // The language link was followed: remembered (HttpOnly, Lax), except where
            // there is no tenant to scope it to.
            {
                let remembered = set_cookies(&r)
                    .into_iter()
                    .find(|c| c.starts_with("clavis_locale="))
                    .unwrap_or_else(|| panic!("{url}: no language cookie"));
                assert!(
                    remembered.starts_with(&format!("clavis_locale={lang};")),
                    "{remembered}"
                );
                assert!(remembered.contains("HttpOnly") && remembered.contains("SameSite=Lax"));
                assert!(remembered.contains("Path=/t/default/"), "{remembered}");
            }
            // Both languages are offered, the current one marked.
            assert!(r.body.contains("hreflang=\"en\""), "{}", r.body);
            assert!(r.body.contains("hreflang=\"fr\""), "{}", r.body);
            assert!(
                r.body.contains(&format!(
                    "hreflang=\"{lang}\" lang=\"{lang}\" aria-current=\"true\""
                )),
                "{}",
                r.body
            );
            bodies.push((url.clone(), lang, r.body));
        }
    }
    // French pages are French.
    for pair in bodies.chunks(2) {
        assert_ne!(
            pair[0].2, pair[1].2,
            "{} is the same in en and fr",
            pair[0].0
        );
    }
    let login_fr = &bodies[1].2;
    assert!(login_fr.contains("Connexion à"), "{login_fr}");
    // The contract with the browser tests: ids and names.
    let find = |url: &str| {
        bodies
            .iter()
            .find(|(u, l, _)| u.starts_with(url) && *l == "en")
            .unwrap()
            .2
            .clone()
    };
    let password = find("/t/default/login/password");
    for needle in [
        "id=\"password\" name=\"password\"",
        "<a id=\"forgot-password\"",
        "<a id=\"signup-link\"",
    ] {
        assert!(password.contains(needle), "{needle}: {password}");
    }
    let login = find("/t/default/login?return_to");
    assert!(login.contains("id=\"email\" name=\"email\""), "{login}");
    assert!(login.contains("<button type=\"submit\""), "{login}");
    let signup = find("/t/default/signup");
    for id in ["email", "password", "name"] {
        assert!(signup.contains(&format!("id=\"{id}\"")), "{id}: {signup}");
    }
    let verify = find("/t/default/verify-email");
    assert!(
        verify.contains("id=\"code\"") && verify.contains("id=\"resend\""),
        "{verify}"
    );
    let reset = find("/t/default/password/reset");
    assert!(
        reset.contains("id=\"password\"") && reset.contains("id=\"password-confirm\""),
        "{reset}"
    );
    let consent = find("/t/default/consent");
    assert!(
        consent.contains("name=\"decision\" value=\"deny\""),
        "{consent}"
    );
    assert!(
        consent.contains("See your email address"),
        "scopes in words: {consent}"
    );
    let error = find("/t/default/authorize");
    assert!(error.contains("<code>invalid_request</code>"), "{error}");

    // An unknown tenant: a 404 page in the browser's language.
    let r = s
        .client
        .get_with("/t/nope/login", &[("accept-language", "fr-CA, en;q=0.5")])
        .await;
    assert_eq!(r.status, 404, "{}", r.body);
    assert_page(&r, "fr", CSP);
    let r = s.client.get("/t/nope/login?ui_locales=fr").await;
    assert_eq!(r.status, 404, "{}", r.body);
    assert_page(&r, "fr", CSP);
    assert!(set_cookies(&r).is_empty(), "no tenant to scope a cookie to");

    // The shared stylesheet is a cacheable file.
    let css = s.client.get("/assets/clavis.css").await;
    assert_eq!(css.status, 200);
    assert_eq!(css.header("content-type"), Some("text/css; charset=utf-8"));
    assert!(css.header("cache-control").unwrap().contains("max-age="));
    assert!(css.body.contains(":focus-visible"));
}

/// A form's fields, to post with a wrong or missing CSRF cookie.
struct Attempt {
    path: &'static str,
    fields: Vec<(String, String)>,
    extra: Vec<(&'static str, String)>,
    /// Cookies other than the CSRF cookie (the session).
    cookies: String,
}

async fn every_form_needs_its_csrf_proof(b: Backend) {
    let (s, web, mut br, req) = consent_world(b).await;
    let fx = s.fixtures("default");
    let tenant = fx.tenant().await;
    // Bob signs up through the pages: logged in, not verified yet.
    let mut bob = s.browser();
    let signup = page_of(bob.navigate(&with_return("/t/default/signup", &req)).await);
    let mut fields = form_of(&signup);
    fields.extend([
        ("email".to_owned(), "bob@example.com".to_owned()),
        ("password".to_owned(), "tulip candle orbit 42".to_owned()),
    ]);
    let pairs: Vec<(&str, &str)> = fields
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let verify = page_of(bob.submit("/t/default/signup", &pairs).await);
    assert!(verify.body.contains("id=\"code\""), "{}", verify.body);
    let code = code_in(
        &latest_email(&s, "default", "bob@example.com")
            .await
            .text_body,
    );
    s.core
        .request_password_reset(&tenant, EMAIL, "en", &meta())
        .await
        .unwrap();
    let ticket = link_param(
        &latest_email(&s, "default", EMAIL).await.text_body,
        "ticket",
    );

    let mut attempts = Vec::new();
    let rt = urlencode(&req);
    let p = page_of(
        br.navigate(&format!("/t/default/login?return_to={rt}"))
            .await,
    );
    attempts.push(Attempt {
        path: "/t/default/login",
        fields: form_of(&p),
        extra: vec![("email", EMAIL.into()), ("password", PASSWORD.into())],
        cookies: String::new(),
    });
    let p = page_of(
        br.navigate(&format!(
            "/t/default/login/password?return_to={rt}&email=alice%40example.com"
        ))
        .await,
    );
    attempts.push(Attempt {
        path: "/t/default/login/password",
        fields: form_of(&p),
        extra: vec![("email", EMAIL.into()), ("password", PASSWORD.into())],
        cookies: String::new(),
    });
    let p = page_of(
        br.navigate(&format!("/t/default/signup?return_to={rt}"))
            .await,
    );
    attempts.push(Attempt {
        path: "/t/default/signup",
        fields: form_of(&p),
        extra: vec![
            ("email", "carol@example.com".into()),
            ("password", "tulip candle orbit 42".into()),
        ],
        cookies: String::new(),
    });
    let p = page_of(
        bob.navigate(&format!("/t/default/verify-email?return_to={rt}"))
            .await,
    );
    for path in ["/t/default/verify-email", "/t/default/verify-email/resend"] {
        attempts.push(Attempt {
            path,
            fields: form_of(&p),
            extra: vec![("code", code.clone())],
            cookies: cookies_without_csrf(&bob),
        });
    }
    let p = page_of(br.navigate("/t/default/password/forgot").await);
    attempts.push(Attempt {
        path: "/t/default/password/forgot",
        fields: form_of(&p),
        extra: vec![("email", EMAIL.into())],
        cookies: String::new(),
    });
    let p = page_of(
        br.navigate(&format!("/t/default/password/reset?ticket={ticket}"))
            .await,
    );
    attempts.push(Attempt {
        path: "/t/default/password/reset",
        fields: form_of(&p),
        extra: vec![
            ("password", "a brand new passphrase".into()),
            ("password_confirm", "a brand new passphrase".into()),
        ],
        cookies: String::new(),
    });
    let p = page_of(br.navigate("/t/default/password/change").await);
    attempts.push(Attempt {
        path: "/t/default/password/change",
        fields: form_of(&p),
        extra: vec![
            ("current_password", PASSWORD.into()),
            ("password", "a brand new passphrase".into()),
            ("password_confirm", "a brand new passphrase".into()),
        ],
        cookies: cookies_without_csrf(&br),
    });
    let p = page_of(
        br.navigate(&format!("/t/default/consent?return_to={rt}"))
            .await,
    );
    attempts.push(Attempt {
        path: "/t/default/consent",
        fields: form_of(&p),
        extra: vec![("decision", "accept".into())],
        cookies: cookies_without_csrf(&br),
    });
    let p = page_of(br.navigate("/t/default/oidc/logout").await);
    attempts.push(Attempt {
        path: "/t/default/oidc/logout",
        fields: form_of(&p),
        extra: vec![],
        cookies: cookies_without_csrf(&br),
    });
    let emails_before = (
        email_count(&s, "default", EMAIL).await,
        email_count(&s, "default", "bob@example.com").await,
    );
    for a in &attempts {
        let extra: Vec<(&str, &str)> = a.extra.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let sep = if a.cookies.is_empty() { "" } else { "; " };
        for csrf_cookie in ["", "clavis_csrf=another-token"] {
            let cookie = format!(
                "{}{}{csrf_cookie}",
                a.cookies,
                if csrf_cookie.is_empty() { "" } else { sep }
            );
            let r = post(&s, a.path, &a.fields, &extra, &cookie).await;
            assert_eq!(
                r.status, 403,
                "{} with cookie {cookie:?}: {}",
                a.path, r.body
            );
            assert!(r.header("location").is_none(), "{}", a.path);
            assert!(
                !set_cookies(&r)
                    .iter()
                    .any(|c| c.starts_with("clavis_session=")),
                "{}: a session without CSRF proof",
                a.path
            );
            let continues = !a.path.contains("/password/") && !a.path.contains("/oidc/");
            let csp = if continues {
                csp_with("https://rp.example.com")
            } else {
                CSP.to_owned()
            };
            assert_page(&r, "en", &csp);
        }
    }
    // Nothing changed.
    let mut tx = s.core.store.read().await.unwrap();
    let carol = clavis_types::Email::parse("carol@example.com").unwrap();
    assert!(
        tx.user_get_by_email(&tenant.id, &carol)
            .await
            .unwrap()
            .is_none(),
        "no signup"
    );
    drop(tx);
    assert_eq!(
        emails_before,
        (
            email_count(&s, "default", EMAIL).await,
            email_count(&s, "default", "bob@example.com").await
        ),
        "no email sent"
    );
    let bob_cookie = bob.cookies["clavis_session"].clone();
    let (_, bob_user) = s
        .core
        .session_from_cookie(&tenant, &bob_cookie)
        .await
        .unwrap()
        .unwrap();
    assert!(!bob_user.email_verified, "not verified");
    assert!(
        s.core
            .reset_ticket_user(&tenant, &ticket)
            .await
            .unwrap()
            .is_some(),
        "ticket unused"
    );
    assert!(
        s.core
            .password_login(&tenant, EMAIL, PASSWORD, &meta())
            .await
            .is_ok(),
        "password unchanged"
    );
    let alice_cookie = br.cookies["clavis_session"].clone();
    assert!(
        s.core
            .session_from_cookie(&tenant, &alice_cookie)
            .await
            .unwrap()
            .is_some(),
        "still logged in"
    );
    let (_, challenge) = pkce();
    let none = code_request(
        "default",
        &web.client_id,
        &challenge,
        "st",
        &[("prompt", "none")],
    );
    let r = s
        .client
        .get_with(
            &none,
            &[("cookie", &format!("clavis_session={alice_cookie}"))],
        )
        .await;
    assert_redirect_error(&r, CB, "consent_required", Some("st"), &s.issuer("default"));

    // Controls: with the proof, the same forms work.
    let consent = page_of(
        br.navigate(&format!("/t/default/consent?return_to={rt}"))
            .await,
    );
    let mut f = form_of(&consent);
    f.push(("decision".into(), "accept".into()));
    let pairs: Vec<(&str, &str)> = f.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    assert!(
        matches!(br.submit("/t/default/consent", &pairs).await, Landing::Left(u) if u.starts_with(CB))
    );
    let v = page_of(
        bob.navigate(&format!("/t/default/verify-email?return_to={rt}"))
            .await,
    );
    let mut f = form_of(&v);
    f.push(("code".into(), code));
    let pairs: Vec<(&str, &str)> = f.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let after = bob.submit("/t/default/verify-email", &pairs).await;
    assert!(
        !matches!(&after, Landing::Page(p) if p.status == 403),
        "{after:?}"
    );
    let (_, bob_user) = s
        .core
        .session_from_cookie(&tenant, &bob_cookie)
        .await
        .unwrap()
        .unwrap();
    assert!(bob_user.email_verified);
}

async fn return_to_stays_in_the_tenant(b: Backend) {
    let (s, web, _) = world(b).await;
    s.fixtures("other").tenant().await;
    let (_, challenge) = pkce();
    let good = code_request("default", &web.client_id, &challenge, "st", &[]);
    let other = good.replace("/t/default/", "/t/other/");
    let r = s.client.get(&with_return("/t/default/signup", &good)).await;
    let token = hidden(&r.body, "csrf");
    let cookie = format!("clavis_csrf={token}");
    let bad = [
        "https://evil.example/",
        "https://evil.example/t/default/authorize?x=1",
        "//evil.example/t/default/authorize?x=1",
        "/\\evil.example/t/default/authorize?x=1",
        other.as_str(),
        "/t/default/login?return_to=https://evil.example/",
        "/t/default/authorize",
        "/t/default/authorize?x=1\r\nLocation: https://evil.example/",
        "",
    ];
    for page in [
        "/t/default/login",
        "/t/default/login/password",
        "/t/default/signup",
        "/t/default/verify-email",
        "/t/default/consent",
        "/t/default/password/forgot",
    ] {
        for rt in bad {
            let r = s
                .client
                .get(&format!("{}&email=a%40b.example", with_return(page, rt)))
                .await;
            assert_eq!(r.status, 400, "GET {page} with {rt:?}: {}", r.body);
            assert!(set_cookies(&r).is_empty(), "{page} {rt:?}");
            assert!(!r.body.contains("<form"), "{page} {rt:?}");
            assert_page(&r, "en", CSP);
            let r = post(
                &s,
                page,
                &[
                    ("csrf".to_owned(), token.clone()),
                    ("return_to".to_owned(), rt.to_owned()),
                ],
                &[
                    ("email", EMAIL),
                    ("password", PASSWORD),
                    ("decision", "accept"),
                    ("code", "123456"),
                ],
                &cookie,
            )
            .await;
            assert_eq!(r.status, 400, "POST {page} with {rt:?}: {}", r.body);
            assert!(r.header("location").is_none(), "{page} {rt:?}");
            assert!(set_cookies(&r).is_empty(), "{page} {rt:?}");
        }
    }
    // Control: the legitimate return_to goes to the password step, then back.
    let r = post(
        &s,
        "/t/default/login",
        &[
            ("csrf".to_owned(), token.clone()),
            ("return_to".to_owned(), good.clone()),
        ],
        &[("email", EMAIL)],
        &cookie,
    )
    .await;
    assert_eq!(r.status, 303, "{}", r.body);
    let next = r.header("location").unwrap();
    assert_eq!(
        next,
        format!(
            "/t/default/login/password?return_to={}&email=alice%40example.com",
            url_form(&good)
        )
    );
}

/// `application/x-www-form-urlencoded` encoding (spaces as `+`), as the pages build links.
fn url_form(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

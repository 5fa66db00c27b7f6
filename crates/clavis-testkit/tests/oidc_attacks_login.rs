//! Adversarial tests of the login form and of RP-initiated logout: account enumeration,
//! CSRF, open redirects through `return_to`, blocked users, imported bcrypt hashes, and
//! logout redirect and session handling — on SQLite and PostgreSQL.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod attack_kit;
mod common;

use attack_kit::*;
use clavis_testkit::{Backend, Landing, hidden};
use common::payload;
use serde_json::Value;

clavis_testkit::on_both!(
    failed_logins_look_alike_and_need_csrf,
    return_to_cannot_leave_the_tenant,
    blocked_users_cannot_log_in,
    imported_bcrypt_hashes_are_upgraded,
    rp_initiated_logout,
);

/// A login page body with its per-request parts (CSRF token, echoed email — as text and
/// in links) blanked.
fn normalized(body: &str, email: &str) -> String {
    body.replace(&hidden(body, "csrf"), "CSRF")
        .replace(&clavis_testkit::urlencode(email), "EMAIL")
        .replace(email, "EMAIL")
}

async fn failed_logins_look_alike_and_need_csrf(b: Backend) {
    let (s, web, _) = world(b).await;
    let (_, challenge) = pkce();
    let path = code_request("default", &web.client_id, &challenge, "st", &[]);
    let mut br = s.browser();
    let wrong_pw = page_of(br.authorize(&path, EMAIL, "wrong password").await);
    let unknown = page_of(br.authorize(&path, "nobody@example.com", PASSWORD).await);
    let malformed = page_of(br.authorize(&path, "not-an-email", PASSWORD).await);
    for p in [&wrong_pw, &unknown, &malformed] {
        assert_eq!(p.status, 401, "{}", p.body);
        assert!(p.body.contains("Wrong email or password."), "{}", p.body);
    }
    assert_eq!(
        normalized(&wrong_pw.body, EMAIL),
        normalized(&unknown.body, "nobody@example.com")
    );
    assert_eq!(
        normalized(&wrong_pw.body, EMAIL),
        normalized(&malformed.body, "not-an-email")
    );
    assert!(!br.cookies.contains_key("clavis_session"));
    // The echoed email is escaped, not markup.
    let xss = "\"><script>alert(1)</script>";
    let p = page_of(br.authorize(&path, xss, PASSWORD).await);
    assert_eq!(p.status, 401);
    assert!(!p.body.contains("<script>"), "{}", p.body);

    // The form without the CSRF cookie (a cross-site post), and with a mismatching one.
    let page = page_of(br.navigate(&path).await);
    let return_to = hidden(&page.body, "return_to");
    let token = hidden(&page.body, "csrf");
    for cookie in [None, Some("clavis_csrf=another-token".to_owned())] {
        let headers: Vec<(&str, &str)> = cookie.iter().map(|c| ("cookie", c.as_str())).collect();
        let r = s
            .client
            .post_form(
                "/t/default/login",
                &[
                    ("csrf", &token),
                    ("return_to", &return_to),
                    ("email", EMAIL),
                    ("password", PASSWORD),
                ],
                &headers,
            )
            .await;
        assert_eq!(r.status, 403, "{}", r.body);
        assert!(r.header("location").is_none());
        assert!(
            !r.headers
                .get_all("set-cookie")
                .iter()
                .any(|c| c.to_str().unwrap().starts_with("clavis_session=")),
            "no session without CSRF proof"
        );
    }
    // An empty token matching an empty cookie is no proof either.
    let r = s
        .client
        .post_form(
            "/t/default/login",
            &[
                ("csrf", ""),
                ("return_to", &return_to),
                ("email", EMAIL),
                ("password", PASSWORD),
            ],
            &[("cookie", "clavis_csrf=")],
        )
        .await;
    assert_eq!(r.status, 403, "{}", r.body);
    // Control: the same form with the cookie logs in.
    assert!(matches!(
        br.authorize(&path, EMAIL, PASSWORD).await,
        Landing::Left(u) if u.starts_with(CB)
    ));
}

async fn return_to_cannot_leave_the_tenant(b: Backend) {
    let (s, web, _) = world(b).await;
    s.fixtures("other").tenant().await;
    let (_, challenge) = pkce();
    let good = code_request("default", &web.client_id, &challenge, "st", &[]);
    // A CSRF token and its cookie from a legitimate login page.
    let r = s
        .client
        .get(&with_query("/t/default/login", &[("return_to", &good)]))
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let token = hidden(&r.body, "csrf");
    let cookie = format!("clavis_csrf={token}");
    let other = good.replace("/t/default/", "/t/other/");
    for bad in [
        "https://evil.example/",
        "https://evil.example/t/default/authorize?x=1",
        "//evil.example/t/default/authorize?x=1",
        "/\\evil.example/t/default/authorize?x=1",
        other.as_str(),
        "/t/default/login?return_to=https://evil.example/",
        "/t/default/authorize",
        "/t/default/authorize?x=1\r\nLocation: https://evil.example/",
        "/t/default/authorize?x=\\\\evil.example",
        "javascript:alert(1)//t/default/authorize?",
        "",
    ] {
        let r = s
            .client
            .get(&with_query("/t/default/login", &[("return_to", bad)]))
            .await;
        assert_eq!(r.status, 400, "GET with {bad}: {}", r.body);
        assert!(!r.body.contains("name=\"password\""), "{bad}");
        assert!(!r.body.contains("id=\"email\""), "{bad}");
        assert!(r.header("set-cookie").is_none(), "{bad}");
        let r = s
            .client
            .post_form(
                "/t/default/login",
                &[
                    ("csrf", &token),
                    ("return_to", bad),
                    ("email", EMAIL),
                    ("password", PASSWORD),
                ],
                &[("cookie", &cookie)],
            )
            .await;
        assert_eq!(r.status, 400, "POST with {bad}: {}", r.body);
        assert!(r.header("location").is_none(), "{bad}");
        assert!(r.header("set-cookie").is_none(), "{bad}");
    }
    // Control: the legitimate return_to logs in and goes back to the authorization endpoint.
    let r = s
        .client
        .post_form(
            "/t/default/login",
            &[
                ("csrf", &token),
                ("return_to", &good),
                ("email", EMAIL),
                ("password", PASSWORD),
            ],
            &[("cookie", &cookie)],
        )
        .await;
    assert_eq!(r.status, 303, "{}", r.body);
    assert_eq!(r.header("location"), Some(good.as_str()));
}

async fn blocked_users_cannot_log_in(b: Backend) {
    let (s, web, alice) = world(b).await;
    let issuer = s.issuer("default");
    let fx = s.fixtures("default");
    let (verifier, challenge) = pkce();
    let path = code_request("default", &web.client_id, &challenge, "st", &[]);
    // A session and tokens from before the block.
    let mut br = s.browser();
    let code = code_via(&mut br, &path).await;
    let t = exchange(&s, "default", &web, &code, Some(&verifier))
        .await
        .json();
    let cookie = session_cookie(&br);

    fx.edit_user(&alice, |u| u.blocked = true).await;
    // A new login is refused, with the right password.
    let mut fresh = s.browser();
    let page = page_of(fresh.authorize(&path, EMAIL, PASSWORD).await);
    assert_eq!(page.status, 403, "{}", page.body);
    assert!(page.body.contains("blocked"), "{}", page.body);
    assert!(!fresh.cookies.contains_key("clavis_session"));
    // With a wrong password it is the usual failure (nothing learned about the account).
    let page = page_of(fresh.authorize(&path, EMAIL, "wrong").await);
    assert_eq!(page.status, 401);
    // The existing session no longer authorizes.
    let none = code_request(
        "default",
        &web.client_id,
        &challenge,
        "st",
        &[("prompt", "none")],
    );
    let r = s.client.get_with(&none, &[("cookie", &cookie)]).await;
    assert_redirect_error(&r, CB, "login_required", Some("st"), &issuer);
    // Issued tokens stop working.
    assert_oauth_error(
        &refresh(
            &s,
            "default",
            &web,
            t["refresh_token"].as_str().unwrap(),
            &[],
        )
        .await,
        400,
        "invalid_grant",
    );
    assert_invalid_token(&userinfo(&s, "default", t["access_token"].as_str().unwrap()).await);
    // Unblocked, the user logs in again.
    fx.edit_user(&alice, |u| u.blocked = false).await;
    assert!(matches!(
        fresh.authorize(&path, EMAIL, PASSWORD).await,
        Landing::Left(u) if u.starts_with(CB)
    ));
}

async fn imported_bcrypt_hashes_are_upgraded(b: Backend) {
    let (s, web, _) = world(b).await;
    let fx = s.fixtures("default");
    let password = "imported from legacy";
    let hash = bcrypt::hash(password, 4).unwrap();
    let bob = fx.user_with_stored_hash("bob@example.com", &hash).await;
    let (_, challenge) = pkce();
    let path = code_request("default", &web.client_id, &challenge, "st", &[]);
    // A wrong password neither logs in nor touches the hash.
    let mut br = s.browser();
    let page = page_of(br.authorize(&path, "bob@example.com", "wrong").await);
    assert_eq!(page.status, 401);
    assert_eq!(fx.password_hash(&bob).await.as_deref(), Some(hash.as_str()));
    // The right one logs in, and the hash becomes argon2id.
    let back = br.authorize(&path, "bob@example.com", password).await;
    assert!(
        matches!(&back, Landing::Left(u) if u.starts_with(CB)),
        "{back:?}"
    );
    let upgraded = fx.password_hash(&bob).await.unwrap();
    assert!(upgraded.starts_with("$argon2id$"), "{upgraded}");
    // And the upgraded hash verifies the same password.
    let mut again = s.browser();
    assert!(matches!(
        again.authorize(&path, "bob@example.com", password).await,
        Landing::Left(u) if u.starts_with(CB)
    ));
    assert_eq!(fx.password_hash(&bob).await.unwrap(), upgraded);
}

async fn rp_initiated_logout(b: Backend) {
    let (s, web, _) = world(b).await;
    let issuer = s.issuer("default");
    let (verifier, challenge) = pkce();
    let path = code_request("default", &web.client_id, &challenge, "st", &[]);
    let mut br = s.browser();
    let code = code_via(&mut br, &path).await;
    let t = exchange(&s, "default", &web, &code, Some(&verifier))
        .await
        .json();
    let hint = t["id_token"].as_str().unwrap().to_owned();
    let cookie = session_cookie(&br);
    let none = code_request(
        "default",
        &web.client_id,
        &challenge,
        "st",
        &[("prompt", "none")],
    );
    let logout = |params: &[(&str, &str)]| with_query("/t/default/oidc/logout", params);

    // Unregistered post_logout_redirect_uri: an error page, no redirect, session intact.
    for bad in [
        "https://evil.example/",
        "https://rp.example.com/logged-out/",
        "https://rp.example.com/logged-out?next=https://evil.example/",
        "https://RP.example.com/logged-out",
        CB,
    ] {
        let r = s
            .client
            .get_with(
                &logout(&[
                    ("id_token_hint", &hint),
                    ("post_logout_redirect_uri", bad),
                    ("state", "bye"),
                ]),
                &[("cookie", &cookie)],
            )
            .await;
        assert_error_page(&r, "invalid_request");
        assert!(r.header("set-cookie").is_none(), "{bad}");
        // Also with client_id instead of a hint.
        let r = s
            .client
            .get_with(
                &logout(&[
                    ("client_id", &web.client_id),
                    ("post_logout_redirect_uri", bad),
                ]),
                &[("cookie", &cookie)],
            )
            .await;
        assert_error_page(&r, "invalid_request");
    }
    // A forged hint (alg none), and one signed by another tenant claiming this issuer.
    let forged = format!(
        "{}.",
        signing_input(
            &serde_json::json!({"alg": "none", "kid": common::header(&hint)["kid"]}),
            &payload(&hint)
        )
    );
    let other = s.fixtures("other").tenant().await;
    let Value::Object(claims) = payload(&hint) else {
        panic!("claims")
    };
    let other_signer = s.core.signer(&other).await.unwrap();
    let foreign = s
        .core
        .mint_id_token(&other_signer, &issuer, &web.client_id, 3600, claims)
        .await
        .unwrap();
    for bad_hint in [forged.as_str(), foreign.as_str(), "garbage"] {
        let r = s
            .client
            .get_with(
                &logout(&[
                    ("id_token_hint", bad_hint),
                    ("post_logout_redirect_uri", LOGOUT),
                ]),
                &[("cookie", &cookie)],
            )
            .await;
        assert_error_page(&r, "invalid_request");
        assert!(r.header("set-cookie").is_none());
    }
    assert_code(
        &s.client.get_with(&none, &[("cookie", &cookie)]).await,
        &issuer,
    );

    // A valid hint for another session of the same user: ask, do not end this session.
    let mut br2 = s.browser();
    let code2 = code_via(&mut br2, &path).await;
    let t2 = exchange(&s, "default", &web, &code2, Some(&verifier))
        .await
        .json();
    let hint2 = t2["id_token"].as_str().unwrap();
    let r = s
        .client
        .get_with(
            &logout(&[
                ("id_token_hint", hint2),
                ("post_logout_redirect_uri", LOGOUT),
            ]),
            &[("cookie", &cookie)],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r.header("location").is_none());
    assert!(r.body.contains("Log out?"), "{}", r.body);
    assert_code(
        &s.client.get_with(&none, &[("cookie", &cookie)]).await,
        &issuer,
    );

    // The matching hint: straight back to the registered URI with the state.
    let r = s
        .client
        .get_with(
            &logout(&[
                ("id_token_hint", &hint),
                ("post_logout_redirect_uri", LOGOUT),
                ("state", "bye"),
            ]),
            &[("cookie", &cookie)],
        )
        .await;
    assert_eq!(r.status, 303, "{}", r.body);
    assert_eq!(
        r.header("location"),
        Some(format!("{LOGOUT}?state=bye").as_str())
    );
    let cleared = r
        .headers
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|c| c.starts_with("clavis_session="))
        .expect("the session cookie is cleared")
        .to_owned();
    assert!(cleared.starts_with("clavis_session=;"), "{cleared}");
    assert!(cleared.contains("Max-Age=0"), "{cleared}");
    assert!(cleared.contains("Path=/t/default/"), "{cleared}");
    // The session is over on the server, not only in the browser.
    let r = s.client.get_with(&none, &[("cookie", &cookie)]).await;
    assert_redirect_error(&r, CB, "login_required", Some("st"), &issuer);
    // The other session lives on.
    let cookie2 = session_cookie(&br2);
    assert_code(
        &s.client.get_with(&none, &[("cookie", &cookie2)]).await,
        &issuer,
    );
}

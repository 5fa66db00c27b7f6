//! Adversarial tests of the authorization endpoint: PKCE and exact redirect-URI
//! enforcement, organizations, `prompt` and `max_age` — each asserting the exact status and
//! error (and, for redirects, only the registered URI with `error`, `state` and `iss`), on
//! SQLite and PostgreSQL. Login and logout are in `oidc_attacks_login.rs`, tokens in
//! `oidc_attacks_tokens.rs`, client authentication in `oidc_attacks_clients.rs`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod attack_kit;
mod common;

use attack_kit::*;
use clavis_testkit::{Backend, TestServer, hidden, urlencode};
use clavis_types::OrganizationUsage;
use common::{payload, query_of};

clavis_testkit::on_both!(
    pkce_is_enforced_at_the_authorization_endpoint,
    unregistered_redirect_uris_are_never_redirected_to,
    organizations_cannot_be_crossed,
    prompt_and_max_age,
);

async fn pkce_is_enforced_at_the_authorization_endpoint(b: Backend) {
    let (s, web, _) = world(b).await;
    let issuer = s.issuer("default");
    let spa = s
        .fixtures("default")
        .spa_app(&[CB], OrganizationUsage::Allow)
        .await;
    let (_, challenge) = pkce();
    fn base(client: &str) -> Vec<(&str, &str)> {
        vec![
            ("response_type", "code"),
            ("client_id", client),
            ("redirect_uri", CB),
            ("scope", "openid"),
            ("state", "st-1"),
        ]
    }
    let cases: Vec<(&str, Vec<(&str, &str)>)> = vec![
        ("plain", {
            let mut p = base(&web.client_id);
            p.extend([
                ("code_challenge", challenge.as_str()),
                ("code_challenge_method", "plain"),
            ]);
            p
        }),
        ("challenge without method (plain by default)", {
            let mut p = base(&web.client_id);
            p.push(("code_challenge", challenge.as_str()));
            p
        }),
        ("method without challenge", {
            let mut p = base(&web.client_id);
            p.push(("code_challenge_method", "S256"));
            p
        }),
        ("S256 with a short challenge", {
            let mut p = base(&web.client_id);
            p.extend([("code_challenge", "abc"), ("code_challenge_method", "S256")]);
            p
        }),
        ("S256 in lower case", {
            let mut p = base(&web.client_id);
            p.extend([
                ("code_challenge", challenge.as_str()),
                ("code_challenge_method", "s256"),
            ]);
            p
        }),
        ("public client without PKCE", base(&spa)),
        ("public client with plain", {
            let mut p = base(&spa);
            p.extend([
                ("code_challenge", challenge.as_str()),
                ("code_challenge_method", "plain"),
            ]);
            p
        }),
        (
            "confidential client requiring PKCE, without",
            base(&web.client_id),
        ),
    ];
    for (what, params) in cases {
        let r = s.client.get(&authorize_path("default", &params)).await;
        assert_eq!(r.status, 303, "{what}");
        assert_redirect_error(&r, CB, "invalid_request", Some("st-1"), &issuer);
    }
    // Control: the same requests with S256 go on to the login page.
    for client in [spa.as_str(), web.client_id.as_str()] {
        let mut p = base(client);
        p.extend([
            ("code_challenge", challenge.as_str()),
            ("code_challenge_method", "S256"),
        ]);
        assert_sent_to_login(&s.client.get(&authorize_path("default", &p)).await);
    }
}

async fn unregistered_redirect_uris_are_never_redirected_to(b: Backend) {
    let (s, web, _) = world(b).await;
    let issuer = s.issuer("default");
    let (verifier, challenge) = pkce();
    let request = |client: &str, redirect: Option<&str>| {
        let mut p = vec![
            ("response_type", "code"),
            ("scope", "openid"),
            ("state", "st"),
            ("code_challenge", challenge.as_str()),
            ("code_challenge_method", "S256"),
            ("client_id", client),
        ];
        if let Some(r) = redirect {
            p.push(("redirect_uri", r));
        }
        authorize_path("default", &p)
    };
    for bad in [
        "https://evil.example/callback",
        "https://rp.example.com/callback/",
        "https://RP.example.com/callback",
        "https://rp.example.com/Callback",
        "HTTPS://rp.example.com/callback",
        "https://rp.example.com/callback?next=https://evil.example/",
        "https://rp.example.com/callback#frag",
        "http://rp.example.com/callback",
        "https://rp.example.com:443/callback",
        "https://rp.example.com/%63allback",
        "https://rp.example.com/x/../callback",
        "https://rp.example.com@evil.example/callback",
        "https://rp.example.com.evil.example/callback",
        " https://rp.example.com/callback",
        "",
    ] {
        let r = s.client.get(&request(&web.client_id, Some(bad))).await;
        assert_error_page(&r, "invalid_request");
        assert!(!r.body.contains("evil.example/callback\""), "{bad}");
    }
    // Missing redirect_uri; missing, unknown, malformed client_id.
    assert_error_page(
        &s.client.get(&request(&web.client_id, None)).await,
        "invalid_request",
    );
    let no_client = authorize_path(
        "default",
        &[
            ("response_type", "code"),
            ("redirect_uri", CB),
            ("state", "st"),
        ],
    );
    assert_error_page(&s.client.get(&no_client).await, "invalid_request");
    for client in ["cl_unknown00000000000000000", "../../etc", ""] {
        assert_error_page(
            &s.client.get(&request(client, Some(CB))).await,
            "invalid_request",
        );
    }
    // Repeated redirect_uri (one of them registered) is refused without a redirect.
    let twice = format!(
        "{}&redirect_uri=https%3A%2F%2Fevil.example%2F",
        request(&web.client_id, Some(CB))
    );
    assert_error_page(&s.client.get(&twice).await, "invalid_request");
    // An unknown tenant.
    let r = s
        .client
        .get(&request(&web.client_id, Some(CB)).replace("/t/default/", "/t/nowhere/"))
        .await;
    assert_error_page(&r, "invalid_request");
    // Once the redirect URI is validated, errors go back to it.
    let bad_type =
        request(&web.client_id, Some(CB)).replace("response_type=code", "response_type=token");
    assert_redirect_error(
        &s.client.get(&bad_type).await,
        CB,
        "unsupported_response_type",
        Some("st"),
        &issuer,
    );

    // At the token endpoint the redirect_uri must be the authorization request's.
    let mut br = s.browser();
    let path = code_request("default", &web.client_id, &challenge, "st", &[]);
    let auth = basic(&web.client_id, &web.secret);
    let code = code_via(&mut br, &path).await;
    for redirect in [
        Some(CB2),
        Some("https://rp.example.com/callback/"),
        Some(""),
        None,
    ] {
        let mut form = vec![
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("code_verifier", verifier.as_str()),
        ];
        if let Some(r) = redirect {
            form.push(("redirect_uri", r));
        }
        let r = token(&s, "default", &form, &[("authorization", &auth)]).await;
        assert_oauth_error(&r, 400, "invalid_grant");
    }
    // A code issued for CB2 is not exchangeable with CB either.
    let path = path.replace(&urlencode(CB), &urlencode(CB2));
    let code = code_via_to(&mut br, &path, CB2).await;
    assert_oauth_error(
        &exchange(&s, "default", &web, &code, Some(&verifier)).await,
        400,
        "invalid_grant",
    );
}

async fn organizations_cannot_be_crossed(b: Backend) {
    let s = TestServer::start(b).await;
    let issuer = s.issuer("default");
    let fx = s.fixtures("default");
    let alice = fx.user(EMAIL, PASSWORD).await;
    let bob = fx.user("bob@example.com", PASSWORD).await;
    let acme = fx.org("acme", &[&alice]).await;
    let globex = fx.org("globex", &[&bob]).await;
    let spa = fx.spa_app(&[CB], OrganizationUsage::Require).await;
    let (verifier, challenge) = pkce();
    let mut br = s.browser();
    let code = code_via(
        &mut br,
        &code_request(
            "default",
            &spa,
            &challenge,
            "st",
            &[("organization", acme.id.as_str())],
        ),
    )
    .await;
    let r = token(
        &s,
        "default",
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", CB),
            ("code_verifier", &verifier),
            ("client_id", &spa),
        ],
        &[],
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let t = r.json();
    for jwt in [&t["id_token"], &t["access_token"]] {
        let c = payload(jwt.as_str().unwrap());
        assert_eq!(c["org_id"], acme.id.as_str(), "{c}");
        assert_eq!(c["org_name"], "acme", "{c}");
    }
    let cookie = session_cookie(&br);
    let with_org = |org: Option<&str>| {
        let mut extra = vec![];
        if let Some(o) = org {
            extra.push(("organization", o));
        }
        code_request("default", &spa, &challenge, "st", &extra)
    };
    let get = |path: String| {
        let (s, cookie) = (&s, &cookie);
        async move { s.client.get_with(&path, &[("cookie", cookie)]).await }
    };
    // Another organization, by id and by slug: the user is not a member.
    for org in [globex.id.as_str(), "globex"] {
        assert_redirect_error(
            &get(with_org(Some(org))).await,
            CB,
            "access_denied",
            Some("st"),
            &issuer,
        );
    }
    // No organization, an empty one, an unknown one.
    for org in [
        None,
        Some(""),
        Some("initech"),
        Some("org_00000000000000000000000000"),
    ] {
        assert_redirect_error(
            &get(with_org(org)).await,
            CB,
            "invalid_request",
            Some("st"),
            &issuer,
        );
    }
    // Control: acme by slug issues a code.
    assert_code(&get(with_org(Some("acme"))).await, &issuer);

    // Refresh cannot move the family to another organization.
    let rt = t["refresh_token"].as_str().unwrap();
    let refresh_in = |org: &str| {
        let (s, spa) = (&s, &spa);
        let org = org.to_owned();
        let rt = rt.to_owned();
        async move {
            token(
                s,
                "default",
                &[
                    ("grant_type", "refresh_token"),
                    ("refresh_token", &rt),
                    ("client_id", spa),
                    ("organization", &org),
                ],
                &[],
            )
            .await
        }
    };
    for org in [globex.id.as_str(), "globex", "initech"] {
        assert_oauth_error(&refresh_in(org).await, 400, "invalid_grant");
    }
    // The same organization works, by id (and the refreshed tokens carry it).
    let r = refresh_in(acme.id.as_str()).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let t2 = r.json();
    let c = payload(t2["access_token"].as_str().unwrap());
    assert_eq!(c["org_id"], acme.id.as_str());
    // …and by slug, the way the authorization request may have named it.
    let rt2 = t2["refresh_token"].as_str().unwrap();
    let r = token(
        &s,
        "default",
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", rt2),
            ("client_id", &spa),
            ("organization", "acme"),
        ],
        &[],
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);

    // A client that denies organizations refuses the parameter.
    let deny = fx.spa_app(&[CB], OrganizationUsage::Deny).await;
    let path = code_request(
        "default",
        &deny,
        &challenge,
        "st",
        &[("organization", acme.id.as_str())],
    );
    assert_redirect_error(&get(path).await, CB, "invalid_request", Some("st"), &issuer);
}

async fn prompt_and_max_age(b: Backend) {
    let (s, web, _) = world(b).await;
    let issuer = s.issuer("default");
    let (verifier, challenge) = pkce();
    let req =
        |extra: &[(&str, &str)]| code_request("default", &web.client_id, &challenge, "st", extra);
    // prompt=none without a session, and with a forged or garbage one.
    for cookie in [
        None,
        Some("clavis_session=ses_x.y"),
        Some("clavis_session=garbage"),
    ] {
        let headers: Vec<(&str, &str)> = cookie.map(|c| ("cookie", c)).into_iter().collect();
        let r = s
            .client
            .get_with(&req(&[("prompt", "none")]), &headers)
            .await;
        assert_redirect_error(&r, CB, "login_required", Some("st"), &issuer);
    }
    // Log in.
    let mut br = s.browser();
    let code = code_via(&mut br, &req(&[])).await;
    let t = exchange(&s, "default", &web, &code, Some(&verifier))
        .await
        .json();
    let auth_time = payload(t["id_token"].as_str().unwrap())["auth_time"]
        .as_i64()
        .unwrap();
    let cookie = session_cookie(&br);
    let get = |extra: &[(&str, &str)]| {
        let (s, cookie, path) = (&s, cookie.clone(), req(extra));
        async move { s.client.get_with(&path, &[("cookie", &cookie)]).await }
    };
    // prompt=none with the session: a code, no login.
    assert_code(&get(&[("prompt", "none")]).await, &issuer);
    // prompt=login with a live session: the login page again, and the return drops prompt.
    let loc = assert_sent_to_login(&get(&[("prompt", "login")]).await);
    let return_to = query_of(&loc)["return_to"].clone();
    assert!(!return_to.contains("prompt"), "{return_to}");
    let page = page_of(br.navigate(&req(&[("prompt", "login")])).await);
    assert_eq!(page.status, 200);
    assert!(
        page.body.contains("id=\"email\""),
        "the login page: {}",
        page.body
    );
    // Logging in again moves auth_time.
    s.clock.advance_secs(10);
    let code = code_via(&mut br, &req(&[("prompt", "login")])).await;
    let t = exchange(&s, "default", &web, &code, Some(&verifier))
        .await
        .json();
    let auth_time2 = payload(t["id_token"].as_str().unwrap())["auth_time"]
        .as_i64()
        .unwrap();
    assert_eq!(auth_time2, auth_time + 10);
    // prompt=none together with another value.
    assert_redirect_error(
        &get(&[("prompt", "none login")]).await,
        CB,
        "invalid_request",
        Some("st"),
        &issuer,
    );

    // max_age against a login 5 seconds old.
    let cookie = session_cookie(&br);
    s.clock.advance_secs(5);
    let get = |extra: &[(&str, &str)]| {
        let (s, cookie, path) = (&s, cookie.clone(), req(extra));
        async move { s.client.get_with(&path, &[("cookie", &cookie)]).await }
    };
    assert_sent_to_login(&get(&[("max_age", "0")]).await);
    assert_sent_to_login(&get(&[("max_age", "4")]).await);
    assert_code(&get(&[("max_age", "5")]).await, &issuer);
    assert_code(&get(&[("max_age", "3600")]).await, &issuer);
    assert_redirect_error(
        &get(&[("prompt", "none"), ("max_age", "0")]).await,
        CB,
        "login_required",
        Some("st"),
        &issuer,
    );
    for bad in ["-1", "abc", "1.5"] {
        assert_redirect_error(
            &get(&[("max_age", bad)]).await,
            CB,
            "invalid_request",
            Some("st"),
            &issuer,
        );
    }
    // After the forced login the request completes, even when the clock ticks between the
    // login and the return to the authorization endpoint (no login loop).
    let page = page_of(br.navigate(&req(&[("max_age", "0")])).await);
    assert!(
        page.body.contains("id=\"email\""),
        "the login page: {}",
        page.body
    );
    let csrf_cookie = format!("clavis_csrf={}", br.cookies["clavis_csrf"]);
    let r = s
        .client
        .post_form(
            "/t/default/login",
            &[
                ("csrf", &hidden(&page.body, "csrf")),
                ("return_to", &hidden(&page.body, "return_to")),
                ("email", EMAIL),
                ("password", PASSWORD),
            ],
            &[("cookie", &csrf_cookie)],
        )
        .await;
    assert_eq!(r.status, 303, "{}", r.body);
    let session = r
        .headers
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|c| c.starts_with("clavis_session="))
        .and_then(|c| c.split(';').next())
        .unwrap()
        .to_owned();
    s.clock.advance_secs(1);
    let back = r.header("location").unwrap();
    let r = s.client.get_with(back, &[("cookie", &session)]).await;
    let code = assert_code(&r, &issuer);
    let t = exchange(&s, "default", &web, &code, Some(&verifier))
        .await
        .json();
    let c = payload(t["id_token"].as_str().unwrap());
    assert_eq!(c["auth_time"].as_i64(), Some(s.core.now().as_secs() - 1));
}

//! Adversarial tests of issued grants and tokens: code replay, PKCE, expired codes,
//! refresh-token reuse, cross-tenant tokens and codes, and forged JWS algorithms — each
//! asserting the exact status and RFC 6749 / RFC 6750 error, on SQLite and PostgreSQL.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod attack_kit;
mod common;

use attack_kit::*;
use clavis_core::oauth::AccessTokenClaims;
use clavis_crypto::{Signer, SystemRng, b64url_decode, generate_signing_key};
use clavis_testkit::Backend;
use clavis_types::SigningAlg;
use common::{header, payload};
use serde_json::{Map, Value, json};

clavis_testkit::on_both!(
    code_replay_is_refused_and_revokes_what_the_code_gave,
    pkce_mismatches_are_invalid_grant,
    expired_code_is_invalid_grant,
    refresh_reuse_revokes_the_whole_family,
    tokens_and_codes_do_not_cross_tenants,
    forged_access_tokens_are_refused,
);

async fn code_replay_is_refused_and_revokes_what_the_code_gave(b: Backend) {
    let (s, web, _) = world(b).await;
    let (verifier, challenge) = pkce();
    let mut br = s.browser();
    let code = code_via(
        &mut br,
        &code_request("default", &web.client_id, &challenge, "st", &[]),
    )
    .await;
    // Another client of the tenant cannot redeem it (and does not burn it).
    let thief = s.fixtures("default").web_app(&[CB], &[]).await;
    assert_oauth_error(
        &exchange(&s, "default", &thief, &code, Some(&verifier)).await,
        400,
        "invalid_grant",
    );
    let first = exchange(&s, "default", &web, &code, Some(&verifier)).await;
    assert_eq!(first.status, 200, "{}", first.body);
    let t = first.json();
    let (at, rt) = (str_of(&t, "access_token"), str_of(&t, "refresh_token"));
    // Live before the replay.
    assert_eq!(userinfo(&s, "default", at).await.status, 200);
    assert_eq!(
        introspect(&s, "default", &web, at).await.json()["active"],
        true
    );

    let second = exchange(&s, "default", &web, &code, Some(&verifier)).await;
    assert_oauth_error(&second, 400, "invalid_grant");

    // Everything the code gave is revoked (RFC 6749 §4.1.2, §10.5).
    assert_invalid_token(&userinfo(&s, "default", at).await);
    assert_inactive(&introspect(&s, "default", &web, at).await);
    assert_inactive(&introspect(&s, "default", &web, rt).await);
    assert_oauth_error(
        &refresh(&s, "default", &web, rt, &[]).await,
        400,
        "invalid_grant",
    );
    // A third attempt is still refused.
    assert_oauth_error(
        &exchange(&s, "default", &web, &code, Some(&verifier)).await,
        400,
        "invalid_grant",
    );
}

async fn pkce_mismatches_are_invalid_grant(b: Backend) {
    let (s, web, _) = world(b).await;
    let mut br = s.browser();
    // Wrong verifier (well-formed, another one).
    let (verifier, challenge) = pkce();
    let (other, _) = pkce();
    let path = code_request("default", &web.client_id, &challenge, "st", &[]);
    let code = code_via(&mut br, &path).await;
    assert_oauth_error(
        &exchange(&s, "default", &web, &code, Some(&other)).await,
        400,
        "invalid_grant",
    );
    // Malformed verifiers: too short, and the challenge itself.
    for bad in ["abc", challenge.as_str()] {
        assert_oauth_error(
            &exchange(&s, "default", &web, &code, Some(bad)).await,
            400,
            "invalid_grant",
        );
    }
    // Missing verifier although a challenge was sent.
    let code = code_via(&mut br, &path).await;
    assert_oauth_error(
        &exchange(&s, "default", &web, &code, None).await,
        400,
        "invalid_grant",
    );
    // The right verifier still works on a fresh code (the checks above were not vacuous).
    let code = code_via(&mut br, &path).await;
    assert_eq!(
        exchange(&s, "default", &web, &code, Some(&verifier))
            .await
            .status,
        200
    );

    // A verifier sent when the request had no challenge (confidential client, PKCE optional).
    s.fixtures("default")
        .edit_app(&web.client_id, |a| a.pkce_required = false)
        .await;
    let no_pkce = authorize_path(
        "default",
        &[
            ("response_type", "code"),
            ("client_id", &web.client_id),
            ("redirect_uri", CB),
            ("scope", "openid"),
            ("state", "st"),
        ],
    );
    let code = code_via(&mut br, &no_pkce).await;
    assert_oauth_error(
        &exchange(&s, "default", &web, &code, Some(&verifier)).await,
        400,
        "invalid_grant",
    );
    let code = code_via(&mut br, &no_pkce).await;
    assert_eq!(exchange(&s, "default", &web, &code, None).await.status, 200);
}

async fn expired_code_is_invalid_grant(b: Backend) {
    let (s, web, _) = world(b).await;
    let mut br = s.browser();
    let (verifier, challenge) = pkce();
    let path = code_request("default", &web.client_id, &challenge, "st", &[]);
    let code = code_via(&mut br, &path).await;
    s.clock.advance_secs(61);
    assert_oauth_error(
        &exchange(&s, "default", &web, &code, Some(&verifier)).await,
        400,
        "invalid_grant",
    );
    // At exactly 60 seconds it has expired too (lifetime 60 s, `expires_at <= now`).
    let code = code_via(&mut br, &path).await;
    s.clock.advance_secs(60);
    assert_oauth_error(
        &exchange(&s, "default", &web, &code, Some(&verifier)).await,
        400,
        "invalid_grant",
    );
    // One second before, it works.
    let code = code_via(&mut br, &path).await;
    s.clock.advance_secs(59);
    assert_eq!(
        exchange(&s, "default", &web, &code, Some(&verifier))
            .await
            .status,
        200
    );
}

async fn refresh_reuse_revokes_the_whole_family(b: Backend) {
    let (s, web, _) = world(b).await;
    let t1 = tokens(&s, "default", &web).await;
    let (at1, rt1) = (str_of(&t1, "access_token"), str_of(&t1, "refresh_token"));
    // Another client of the tenant cannot use it, nor learn about it by introspection.
    let thief = s.fixtures("default").web_app(&[CB], &[]).await;
    assert_oauth_error(
        &refresh(&s, "default", &thief, rt1, &[]).await,
        400,
        "invalid_grant",
    );
    assert_inactive(&introspect(&s, "default", &thief, rt1).await);
    // Scope cannot grow on refresh.
    assert_oauth_error(
        &refresh(&s, "default", &web, rt1, &[("scope", "openid admin")]).await,
        400,
        "invalid_scope",
    );
    let r = refresh(&s, "default", &web, rt1, &[]).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let t2 = r.json();
    let (at2, rt2) = (str_of(&t2, "access_token"), str_of(&t2, "refresh_token"));
    assert_ne!(rt1, rt2);
    assert_eq!(
        introspect(&s, "default", &web, rt2).await.json()["active"],
        true
    );

    // Reuse of the rotated token: refused, and the family dies.
    assert_oauth_error(
        &refresh(&s, "default", &web, rt1, &[]).await,
        400,
        "invalid_grant",
    );
    assert_oauth_error(
        &refresh(&s, "default", &web, rt2, &[]).await,
        400,
        "invalid_grant",
    );
    for at in [at1, at2] {
        assert_inactive(&introspect(&s, "default", &web, at).await);
        assert_invalid_token(&userinfo(&s, "default", at).await);
    }
    assert_inactive(&introspect(&s, "default", &web, rt2).await);
    // A new login starts a new, independent family.
    let t3 = tokens(&s, "default", &web).await;
    assert_eq!(
        refresh(&s, "default", &web, str_of(&t3, "refresh_token"), &[])
            .await
            .status,
        200
    );
}

async fn tokens_and_codes_do_not_cross_tenants(b: Backend) {
    let (s, web, _) = world(b).await;
    let ofx = s.fixtures("other");
    ofx.user(EMAIL, PASSWORD).await;
    let oweb = ofx.web_app(&[CB], &[]).await;
    ofx.user("carol@example.com", "carol's own password").await;
    let t = tokens(&s, "default", &web).await;
    let (at, rt) = (str_of(&t, "access_token"), str_of(&t, "refresh_token"));

    // default's access token at other's userinfo and introspection.
    assert_invalid_token(&userinfo(&s, "other", at).await);
    assert_inactive(&introspect(&s, "other", &oweb, at).await);
    // default's ID token is no access token anywhere.
    assert_invalid_token(&userinfo(&s, "other", str_of(&t, "id_token")).await);
    // default's refresh token at other, by other's client…
    assert_oauth_error(
        &refresh(&s, "other", &oweb, rt, &[]).await,
        400,
        "invalid_grant",
    );
    assert_inactive(&introspect(&s, "other", &oweb, rt).await);
    // …and by default's client, which does not exist at other.
    assert_oauth_error(
        &refresh(&s, "other", &web, rt, &[]).await,
        401,
        "invalid_client",
    );
    // The refresh token still works at home: nothing at other touched it.
    assert_eq!(refresh(&s, "default", &web, rt, &[]).await.status, 200);

    // A code of default exchanged at other fails, and stays usable at default.
    let (verifier, challenge) = pkce();
    let mut br = s.browser();
    let code = code_via(
        &mut br,
        &code_request("default", &web.client_id, &challenge, "st", &[]),
    )
    .await;
    assert_oauth_error(
        &exchange(&s, "other", &oweb, &code, Some(&verifier)).await,
        400,
        "invalid_grant",
    );
    assert_oauth_error(
        &exchange(&s, "other", &web, &code, Some(&verifier)).await,
        401,
        "invalid_client",
    );
    assert_eq!(
        exchange(&s, "default", &web, &code, Some(&verifier))
            .await
            .status,
        200
    );

    // other's user cannot log in at default.
    let mut carol = s.browser();
    let login = carol
        .authorize(
            &code_request("default", &web.client_id, &challenge, "st", &[]),
            "carol@example.com",
            "carol's own password",
        )
        .await;
    assert!(
        matches!(&login, clavis_testkit::Landing::Page(p) if p.status == 401),
        "{login:?}"
    );

    // default's session does not log the browser in at other.
    let (_, challenge) = pkce();
    let path = code_request(
        "other",
        &oweb.client_id,
        &challenge,
        "st",
        &[("prompt", "none")],
    );
    let cookie = format!("clavis_session={}", br.cookies["clavis_session"]);
    let r = s.client.get_with(&path, &[("cookie", &cookie)]).await;
    assert_redirect_error(&r, CB, "login_required", Some("st"), &s.issuer("other"));

    // other's client is unknown at default's authorization endpoint: a page, no redirect.
    let path = code_request("default", &oweb.client_id, &challenge, "st", &[]);
    assert_error_page(&s.client.get(&path).await, "invalid_request");
}

async fn forged_access_tokens_are_refused(b: Backend) {
    let (s, web, _) = world(b).await;
    let issuer = s.issuer("default");
    let t = tokens(&s, "default", &web).await;
    let at = str_of(&t, "access_token");
    let real_header = header(at);
    let claims = payload(at);
    let kid = real_header["kid"].as_str().unwrap().to_owned();
    assert_eq!(real_header["alg"], "RS256");
    let jwks = s.client.jwks("default").await;
    let jwk = jwks
        .find(&kid)
        .expect("the signing key is published")
        .clone();

    let mut forged: Vec<(&str, String)> = Vec::new();
    // alg none, with and without the real kid; with and without a trailing dot.
    for h in [
        json!({"alg": "none", "typ": "at+jwt", "kid": kid}),
        json!({"alg": "none", "typ": "at+jwt"}),
        json!({"alg": "None", "typ": "at+jwt", "kid": kid}),
    ] {
        let input = signing_input(&h, &claims);
        forged.push(("alg none", format!("{input}.")));
        forged.push(("alg none, two parts", input));
    }
    // HS256 keyed with the public key: the JWK JSON (as published and as re-serialised),
    // the raw modulus, and the base64url modulus text.
    let h = json!({"alg": "HS256", "typ": "at+jwt", "kid": kid});
    let input = signing_input(&h, &claims);
    let published = s.client.get("/t/default/.well-known/jwks.json").await.body;
    let published: Value = serde_json::from_str(&published).unwrap();
    let published_key = published["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["kid"] == kid.as_str())
        .unwrap()
        .to_string();
    let n = jwk.n.clone().unwrap();
    for key in [
        serde_json::to_vec(&jwk).unwrap(),
        published_key.into_bytes(),
        b64url_decode(&n).unwrap(),
        n.clone().into_bytes(),
    ] {
        forged.push(("HS256 with the public key", hs256(&input, &key)));
    }
    // A key the tenant never published, under an unknown kid and under the real kid.
    let rogue = generate_signing_key(SigningAlg::Rs256, "rogue").unwrap();
    let rogue_signer = Signer::from_pkcs8(SigningAlg::Rs256, "rogue", &rogue.pkcs8_der).unwrap();
    let mut typ = Map::new();
    typ.insert("typ".into(), json!("at+jwt"));
    let rogue_token = rogue_signer
        .sign_jws(&typ, &claims, &SystemRng::new())
        .unwrap();
    forged.push(("unknown kid", rogue_token.clone()));
    let renamed = Signer::from_pkcs8(SigningAlg::Rs256, &kid, &rogue.pkcs8_der).unwrap();
    forged.push((
        "real kid, rogue key",
        renamed.sign_jws(&typ, &claims, &SystemRng::new()).unwrap(),
    ));
    // Validly signed by tenant other, claiming default's issuer (right shape, wrong keys).
    let other = s.fixtures("other").tenant().await;
    let other_signer = s.core.signer(&other).await.unwrap();
    let minted = s
        .core
        .mint_access_token(
            &other_signer,
            &issuer,
            &AccessTokenClaims {
                sub: claims["sub"].as_str().unwrap().to_owned(),
                client_id: web.client_id.clone(),
                audience: vec![format!("{issuer}/userinfo")],
                scope: "openid profile email".into(),
                permissions: None,
                org: None,
                lifetime_secs: 3600,
                auth_time: None,
                extra: Map::new(),
            },
        )
        .await
        .unwrap();
    forged.push(("other tenant's key", minted.token.clone()));
    let other_kid = header(&minted.token)["kid"].as_str().unwrap().to_owned();
    forged.push((
        "other tenant's key relabelled",
        with_header(
            &minted.token,
            &json!({"alg": "RS256", "typ": "at+jwt", "kid": kid}),
        ),
    ));
    assert_ne!(other_kid, kid);
    // Header alg other than the key's, with the real kid and the real signature.
    for alg in ["RS512", "ES256", "PS256", "EdDSA", "HS256", "rs256"] {
        forged.push((
            "alg swapped",
            with_header(at, &json!({"alg": alg, "typ": "at+jwt", "kid": kid})),
        ));
    }
    // Validly signed by the tenant's own key, but not typed as an access token.
    let tenant = s.fixtures("default").tenant().await;
    let signer = s.core.signer(&tenant).await.unwrap();
    for typ_value in [json!("JWT"), json!("jwt"), json!(null)] {
        let mut h = Map::new();
        if !typ_value.is_null() {
            h.insert("typ".into(), typ_value);
        }
        forged.push((
            "typ is not at+jwt",
            signer.sign_jws(&h, &claims, &SystemRng::new()).unwrap(),
        ));
    }
    // Tampered payload under the real signature.
    let mut evil = claims.clone();
    evil["scope"] = json!("openid profile email admin");
    let parts: Vec<&str> = at.split('.').collect();
    forged.push((
        "tampered payload",
        format!(
            "{}.{}.{}",
            parts[0],
            clavis_crypto::b64url(&serde_json::to_vec(&evil).unwrap()),
            parts[2]
        ),
    ));
    // The ID token is not an access token.
    forged.push(("ID token", str_of(&t, "id_token").to_owned()));
    // Garbage.
    for g in ["", "a.b.c", "....", "eyJ9.e30.", &format!("{at}.x")] {
        forged.push(("garbage", g.to_owned()));
    }

    for (what, tok) in &forged {
        let r = userinfo(&s, "default", tok).await;
        assert_eq!(r.status, 401, "{what}: {tok} → {}", r.body);
        assert_invalid_token(&r);
        let r = introspect(&s, "default", &web, tok).await;
        assert_eq!(r.json(), json!({"active": false}), "{what}: {tok}");
    }

    // Control: the same signer with the right typ yields a token the tenant accepts, so
    // the refusals above come from the forgery, not from the test's construction.
    let genuine = signer.sign_jws(&typ, &claims, &SystemRng::new()).unwrap();
    assert_eq!(userinfo(&s, "default", &genuine).await.status, 200);
    assert_eq!(userinfo(&s, "default", at).await.status, 200);
    // And the other tenant's token is good at other, only there.
    assert_eq!(
        userinfo(&s, "other", &minted.token).await.status,
        401,
        "its issuer is default's, so other refuses it too"
    );
}

//! Adversarial tests of client authentication at the token, introspection and revocation
//! endpoints (secrets, `private_key_jwt` assertions and their replay) and of malformed
//! token requests, which must never produce a 500 — on SQLite and PostgreSQL.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod attack_kit;
mod common;

use attack_kit::*;
use clavis_crypto::{JwkSet, Signer, SystemRng, generate_signing_key};
use clavis_testkit::{Backend, TestServer};
use clavis_types::SigningAlg;
use serde_json::{Map, json};

clavis_testkit::on_both!(
    client_authentication_failures,
    private_key_jwt_assertions,
    malformed_token_requests_never_500,
);

async fn client_authentication_failures(b: Backend) {
    let s = TestServer::start(b).await;
    let fx = s.fixtures("default");
    let api = fx.api(API, &["read:reports"]).await;
    let m2m = fx
        .m2m_app(&api, &["read:reports"], "client_secret_basic", None)
        .await;
    let cc = [("grant_type", "client_credentials"), ("audience", API)];
    let ok = token(
        &s,
        "default",
        &cc,
        &[("authorization", &basic(&m2m.client_id, &m2m.secret))],
    )
    .await;
    assert_eq!(ok.status, 200, "{}", ok.body);

    // Wrong secret.
    let wrong = token(
        &s,
        "default",
        &cc,
        &[("authorization", &basic(&m2m.client_id, "not-the-secret"))],
    )
    .await;
    let e1 = assert_oauth_error(&wrong, 401, "invalid_client");
    assert!(
        wrong
            .header("www-authenticate")
            .unwrap()
            .starts_with("Basic")
    );
    // Unknown client: the same answer, word for word.
    let unknown = token(
        &s,
        "default",
        &cc,
        &[("authorization", &basic("cl_doesnotexist0000000000", "x"))],
    )
    .await;
    let e2 = assert_oauth_error(&unknown, 401, "invalid_client");
    assert_eq!(e1["error_description"], e2["error_description"]);
    // Empty secret.
    assert_oauth_error(
        &token(
            &s,
            "default",
            &cc,
            &[("authorization", &basic(&m2m.client_id, ""))],
        )
        .await,
        401,
        "invalid_client",
    );
    // A client_secret_basic client using client_secret_post (even with the right secret).
    let mut post = cc.to_vec();
    post.extend([
        ("client_id", m2m.client_id.as_str()),
        ("client_secret", m2m.secret.as_str()),
    ]);
    assert_oauth_error(
        &token(&s, "default", &post, &[]).await,
        401,
        "invalid_client",
    );
    // …or no authentication at all (as if public).
    let mut none = cc.to_vec();
    none.push(("client_id", m2m.client_id.as_str()));
    assert_oauth_error(
        &token(&s, "default", &none, &[]).await,
        401,
        "invalid_client",
    );
    // Two methods at once.
    let mut both = cc.to_vec();
    both.push(("client_secret", m2m.secret.as_str()));
    assert_oauth_error(
        &token(
            &s,
            "default",
            &both,
            &[("authorization", &basic(&m2m.client_id, &m2m.secret))],
        )
        .await,
        400,
        "invalid_request",
    );
    // Basic for one client, client_id of another in the form.
    let mut mixed = cc.to_vec();
    mixed.push(("client_id", "cl_someoneelse000000000000"));
    assert_oauth_error(
        &token(
            &s,
            "default",
            &mixed,
            &[("authorization", &basic(&m2m.client_id, &m2m.secret))],
        )
        .await,
        400,
        "invalid_request",
    );
    // The same failures at introspection and revocation.
    for ep in ["introspect", "revoke"] {
        let r = s
            .client
            .post_form(
                &format!("/t/default/oauth/{ep}"),
                &[("token", "x")],
                &[("authorization", &basic(&m2m.client_id, "wrong"))],
            )
            .await;
        assert_oauth_error(&r, 401, "invalid_client");
    }
}

/// A `private_key_jwt` client assertion.
fn assertion(signer: &Signer, client_id: &str, aud: &str, exp: i64, jti: &str) -> String {
    signer
        .sign_jws(
            &Map::new(),
            &json!({"iss": client_id, "sub": client_id, "aud": aud, "exp": exp, "jti": jti}),
            &SystemRng::new(),
        )
        .unwrap()
}

async fn private_key_jwt_assertions(b: Backend) {
    let s = TestServer::start(b).await;
    let fx = s.fixtures("default");
    let api = fx.api(API, &["read:reports"]).await;
    let key = generate_signing_key(SigningAlg::Es256, "client-key-1").unwrap();
    let signer = Signer::from_pkcs8(SigningAlg::Es256, "client-key-1", &key.pkcs8_der).unwrap();
    let jwks = JwkSet {
        keys: vec![key.public_jwk.clone()],
    };
    let app = fx
        .m2m_app(&api, &["read:reports"], "private_key_jwt", Some(jwks))
        .await;
    let aud = format!("{}/oauth/token", s.issuer("default"));
    let now = s.core.now().as_secs();
    let send = |a: String| {
        let s = &s;
        async move {
            token(
                s,
                "default",
                &[
                    ("grant_type", "client_credentials"),
                    ("audience", API),
                    (
                        "client_assertion_type",
                        "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
                    ),
                    ("client_assertion", &a),
                ],
                &[],
            )
            .await
        }
    };

    let good = assertion(&signer, &app.client_id, &aud, now + 60, &random(16));
    let r = send(good.clone()).await;
    assert_eq!(r.status, 200, "{}", r.body);
    // The same assertion again: a replay.
    assert_oauth_error(&send(good.clone()).await, 401, "invalid_client");
    // Signed by another key (same kid, same alg).
    let rogue = generate_signing_key(SigningAlg::Es256, "client-key-1").unwrap();
    let rogue = Signer::from_pkcs8(SigningAlg::Es256, "client-key-1", &rogue.pkcs8_der).unwrap();
    let a = assertion(&rogue, &app.client_id, &aud, now + 60, &random(16));
    assert_oauth_error(&send(a).await, 401, "invalid_client");
    // Expired, and too far in the future.
    let a = assertion(&signer, &app.client_id, &aud, now - 1, &random(16));
    assert_oauth_error(&send(a).await, 401, "invalid_client");
    let a = assertion(&signer, &app.client_id, &aud, now + 3600, &random(16));
    assert_oauth_error(&send(a).await, 401, "invalid_client");
    // Wrong audience: another endpoint, another tenant.
    for bad_aud in [
        format!("{}/oauth/introspect", s.issuer("default")),
        format!("{}/oauth/token", s.issuer("other")),
        "https://evil.example/token".to_owned(),
    ] {
        let a = assertion(&signer, &app.client_id, &bad_aud, now + 60, &random(16));
        assert_oauth_error(&send(a).await, 401, "invalid_client");
    }
    // iss ≠ sub.
    let a = signer
        .sign_jws(
            &Map::new(),
            &json!({"iss": "someone", "sub": app.client_id, "aud": aud, "exp": now + 60, "jti": random(16)}),
            &SystemRng::new(),
        )
        .unwrap();
    assert_oauth_error(&send(a).await, 401, "invalid_client");
    // alg none with the client's kid.
    let a = format!(
        "{}.",
        signing_input(
            &json!({"alg": "none", "kid": "client-key-1"}),
            &json!({"iss": app.client_id, "sub": app.client_id, "aud": aud, "exp": now + 60, "jti": random(16)}),
        )
    );
    assert_oauth_error(&send(a).await, 401, "invalid_client");
    // A valid assertion that expires while the clock moves on.
    let a = assertion(&signer, &app.client_id, &aud, now + 60, &random(16));
    s.clock.advance_secs(61);
    assert_oauth_error(&send(a).await, 401, "invalid_client");
    // A fresh one still works.
    let now = s.core.now().as_secs();
    let a = assertion(&signer, &app.client_id, &aud, now + 60, &random(16));
    assert_eq!(send(a).await.status, 200);
    // At introspection and revocation the assertion names those endpoints; replays fail there too.
    for ep in ["introspect", "revoke"] {
        let ep_aud = format!("{}/oauth/{ep}", s.issuer("default"));
        let a = assertion(&signer, &app.client_id, &ep_aud, now + 60, &random(16));
        let form = |a: &str| {
            vec![
                ("token", "not-a-token".to_owned()),
                (
                    "client_assertion_type",
                    "urn:ietf:params:oauth:client-assertion-type:jwt-bearer".to_owned(),
                ),
                ("client_assertion", a.to_owned()),
            ]
        };
        let path = format!("/t/default/oauth/{ep}");
        let f = form(&a);
        let f: Vec<(&str, &str)> = f.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let r = s.client.post_form(&path, &f, &[]).await;
        assert_eq!(r.status, 200, "{ep}: {}", r.body);
        let r = s.client.post_form(&path, &f, &[]).await;
        assert_oauth_error(&r, 401, "invalid_client");
    }
}

async fn malformed_token_requests_never_500(b: Backend) {
    let s = TestServer::start(b).await;
    let fx = s.fixtures("default");
    let api = fx.api(API, &["read:reports"]).await;
    let m2m = fx
        .m2m_app(&api, &["read:reports"], "client_secret_basic", None)
        .await;
    let auth = basic(&m2m.client_id, &m2m.secret);
    let h = [("authorization", auth.as_str())];
    // Repeated parameters (RFC 6749 §3.2).
    let r = token(
        &s,
        "default",
        &[
            ("grant_type", "client_credentials"),
            ("grant_type", "client_credentials"),
            ("audience", API),
        ],
        &h,
    )
    .await;
    assert_oauth_error(&r, 400, "invalid_request");
    let r = token(
        &s,
        "default",
        &[
            ("grant_type", "client_credentials"),
            ("audience", API),
            ("audience", "https://other.example.com"),
        ],
        &h,
    )
    .await;
    assert_oauth_error(&r, 400, "invalid_request");
    for ep in ["introspect", "revoke"] {
        let r = s
            .client
            .post_form(
                &format!("/t/default/oauth/{ep}"),
                &[("token", "a"), ("token", "b")],
                &h,
            )
            .await;
        assert_oauth_error(&r, 400, "invalid_request");
    }
    // A JSON body, no content type at all, and types that only begin like a form's.
    let url = s.client.url("/t/default/oauth/token");
    let form_body = format!(
        "grant_type=client_credentials&audience={}",
        clavis_testkit::urlencode(API)
    );
    for (ct, body) in [
        (
            Some("application/json"),
            json!({"grant_type": "client_credentials", "audience": API}).to_string(),
        ),
        (None, "grant_type=client_credentials".to_owned()),
        (
            Some("application/x-www-form-urlencodedx"),
            form_body.clone(),
        ),
        (Some("application/x-www-form"), form_body.clone()),
        (
            Some("text/plain; x=application/x-www-form-urlencoded"),
            form_body.clone(),
        ),
    ] {
        let mut req = s.client.http.post(&url).header("authorization", &auth);
        if let Some(ct) = ct {
            req = req.header("content-type", ct);
        }
        let resp = req.body(body).send().await.unwrap();
        let r = clavis_testkit::Reply {
            status: resp.status().as_u16(),
            headers: resp.headers().clone(),
            body: resp.text().await.unwrap(),
        };
        assert_oauth_error(&r, 400, "invalid_request");
    }
    // The introspection and revocation endpoints take forms the same way.
    for ep in ["introspect", "revoke"] {
        for ct in ["application/json", "application/x-www-form-urlencodedx"] {
            let resp = s
                .client
                .http
                .post(s.client.url(&format!("/t/default/oauth/{ep}")))
                .header("authorization", &auth)
                .header("content-type", ct)
                .body("token=a")
                .send()
                .await
                .unwrap();
            let r = clavis_testkit::Reply {
                status: resp.status().as_u16(),
                headers: resp.headers().clone(),
                body: resp.text().await.unwrap(),
            };
            assert_oauth_error(&r, 400, "invalid_request");
        }
    }
    // The form type in any case and with a charset parameter is a form.
    let resp = s
        .client
        .http
        .post(&url)
        .header("authorization", &auth)
        .header(
            "content-type",
            "Application/X-WWW-Form-Urlencoded ; charset=UTF-8",
        )
        .body(form_body)
        .send()
        .await
        .unwrap();
    assert_eq!(
        resp.status().as_u16(),
        200,
        "{}",
        resp.text().await.unwrap()
    );
    // Unsupported grant types, with a correctly authenticated client.
    for g in [
        "password",
        "implicit",
        "urn:ietf:params:oauth:grant-type:device_code",
        "",
    ] {
        let r = token(&s, "default", &[("grant_type", g), ("audience", API)], &h).await;
        assert_oauth_error(&r, 400, "unsupported_grant_type");
    }
    // No grant_type at all.
    let r = token(&s, "default", &[("audience", API)], &h).await;
    assert_oauth_error(&r, 400, "invalid_request");
    // Body over 64 KiB.
    let big = "x".repeat(64 * 1024 + 1);
    let r = token(
        &s,
        "default",
        &[("grant_type", "client_credentials"), ("audience", &big)],
        &h,
    )
    .await;
    assert_eq!(r.status, 413, "{}", r.body);
    // Garbage Basic headers.
    for garbage in [
        "Basic !!!not-base64!!!",
        "Basic ",
        "Basic bm9jb2xvbg==", // "nocolon"
        "Basic //79",         // not UTF-8
        "Basic JTpzZWNyZXQ=", // "%:secret"
    ] {
        let r = token(
            &s,
            "default",
            &[("grant_type", "client_credentials"), ("audience", API)],
            &[("authorization", garbage)],
        )
        .await;
        assert_oauth_error(&r, 401, "invalid_client");
    }
    // Oversized values of single fields do not reach the database as errors.
    let long = "c".repeat(4000);
    for (k, v) in [("code", long.as_str()), ("refresh_token", long.as_str())] {
        let grant = if k == "code" {
            "authorization_code"
        } else {
            "refresh_token"
        };
        let r = token(&s, "default", &[("grant_type", grant), (k, v)], &h).await;
        assert_ne!(r.status, 500, "{}", r.body);
    }
}

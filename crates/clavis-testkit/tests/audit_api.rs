//! The audit log over the Management API: who may call it, search and cursors, one event,
//! verification, checkpoints, export verified offline, legal holds, purge, erasure and
//! reports — against a real server, on SQLite and PostgreSQL.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use clavis_testkit::{Backend, Landing, TestServer};
use common::{payload, query_of};
use serde_json::{Value, json};

clavis_testkit::on_both!(
    management_calls_need_a_valid_token_with_the_scope,
    user_tokens_are_refused_and_grants_are_rechecked,
    malformed_input_is_a_400_naming_the_field,
    search_filters_and_pages_with_a_cursor,
    verify_checkpoint_and_offline_export,
    erasure_hides_personal_data_and_keeps_the_chain,
    legal_holds_purge_and_reports,
);

const PW: &str = "correct horse battery";

/// Log in once with a wrong password and once more, so the log holds user events.
async fn failed_login(s: &TestServer, email: &str) {
    let app = s
        .fixtures("default")
        .web_app(&["https://rp.example.com/cb"], &[])
        .await;
    let url = format!(
        "/t/default/authorize?response_type=code&client_id={}&redirect_uri={}&scope=openid&state=s&code_challenge=E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM&code_challenge_method=S256",
        app.client_id,
        clavis_testkit::urlencode("https://rp.example.com/cb")
    );
    let landing = s.browser().authorize(&url, email, "wrong password").await;
    assert!(
        matches!(landing, Landing::Page(_)),
        "a wrong password stays on the page"
    );
}

async fn logs(s: &TestServer, token: &str, query: &str) -> Value {
    let r = s
        .client
        .send(
            "GET",
            &format!("/t/default/api/v2/logs{query}"),
            token,
            None,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    r.json()
}

async fn management_calls_need_a_valid_token_with_the_scope(b: Backend) {
    let s = TestServer::start(b).await;
    let path = "/t/default/api/v2/logs";
    let none = s.client.send("GET", path, "", None).await;
    assert_eq!(none.status, 401);
    assert_eq!(none.json()["error"], "invalid_token");
    assert!(
        none.header("www-authenticate")
            .unwrap()
            .contains("invalid_token")
    );

    let garbage = s.client.send("GET", path, "not.a.jwt", None).await;
    assert_eq!(garbage.status, 401);

    // A valid token of the tenant, but for another Api: not a Management API token.
    let fx = s.fixtures("default");
    let other = fx.api("https://api.example.com", &["read:logs"]).await;
    let app = fx
        .m2m_app(&other, &["read:logs"], "client_secret_post", None)
        .await;
    let r = s
        .client
        .post_form(
            "/t/default/oauth/token",
            &[
                ("grant_type", "client_credentials"),
                ("client_id", &app.client_id),
                ("client_secret", &app.secret),
                ("audience", "https://api.example.com"),
            ],
            &[],
        )
        .await;
    let foreign = r.json()["access_token"].as_str().unwrap().to_owned();
    assert_eq!(s.client.send("GET", path, &foreign, None).await.status, 401);

    // The right audience without the scope: 403 insufficient_scope naming it.
    let weak = s.mgmt_token("default", &["read:reports"]).await;
    let r = s.client.send("GET", path, &weak, None).await;
    assert_eq!(r.status, 403, "{}", r.body);
    assert_eq!(r.json()["error"], "insufficient_scope");
    assert!(
        r.header("www-authenticate")
            .unwrap()
            .contains("scope=\"read:logs\"")
    );
    for (method, p) in [
        ("GET", "/t/default/api/v2/logs/verify"),
        ("POST", "/t/default/api/v2/logs/checkpoints"),
        ("POST", "/t/default/api/v2/logs/purge"),
        ("GET", "/t/default/api/v2/logs/export"),
        (
            "DELETE",
            "/t/default/api/v2/users/usr_00000000000000000000000000/audit-data",
        ),
    ] {
        let r = s.client.send(method, p, &weak, None).await;
        assert_eq!(r.status, 403, "{method} {p}: {}", r.body);
    }

    // A token of another tenant is refused.
    s.fixtures("other").tenant().await;
    let theirs = s.mgmt_token("other", &["read:logs"]).await;
    assert_eq!(s.client.send("GET", path, &theirs, None).await.status, 401);
    let ours = s.mgmt_token("default", &["read:logs"]).await;
    assert_eq!(
        s.client
            .send("GET", "/t/other/api/v2/logs", &ours, None)
            .await
            .status,
        401
    );
    assert_eq!(s.client.send("GET", path, &ours, None).await.status, 200);
}

async fn search_filters_and_pages_with_a_cursor(b: Backend) {
    let s = TestServer::start(b).await;
    let user = s.fixtures("default").user("ann@example.com", PW).await;
    for _ in 0..3 {
        failed_login(&s, "ann@example.com").await;
    }
    let token = s.mgmt_token("default", &["read:logs"]).await;

    let failures = logs(&s, &token, "?type=user.login.failure&order=asc").await;
    let list = failures["logs"].as_array().unwrap();
    assert_eq!(list.len(), 3, "{failures}");
    for e in list {
        assert_eq!(e["event_type"], "user.login.failure");
        assert_eq!(e["actor"]["user_id"], user.id.to_string());
        assert_eq!(
            e["actor"]["email"], "ann@example.com",
            "unsealed for the reader"
        );
        assert!(e["hash_chain"].as_str().unwrap().starts_with("sha256:"));
    }
    let seqs: Vec<i64> = list.iter().map(|e| e["seq"].as_i64().unwrap()).collect();
    assert!(seqs.windows(2).all(|w| w[0] < w[1]), "{seqs:?}");

    // Pages of one, newest first, following the cursor.
    let mut seen = Vec::new();
    let mut cursor = String::new();
    loop {
        let q = format!("?type=user.login.failure&per_page=1{cursor}");
        let page = logs(&s, &token, &q).await;
        for e in page["logs"].as_array().unwrap() {
            seen.push(e["seq"].as_i64().unwrap());
        }
        match page["next"].as_str() {
            Some(c) => cursor = format!("&cursor={}", clavis_testkit::urlencode(c)),
            None => break,
        }
        assert!(seen.len() <= 3, "the cursor must end: {seen:?}");
    }
    let mut expected = seqs.clone();
    expected.reverse();
    assert_eq!(seen, expected);

    // Filters: by user, by a prefix, by an IP nobody used.
    let by_user = logs(&s, &token, &format!("?user_id={}", user.id)).await;
    assert_eq!(by_user["logs"].as_array().unwrap().len(), 3);
    let prefix = logs(&s, &token, "?type=user.login.*").await;
    assert_eq!(prefix["logs"].as_array().unwrap().len(), 3);
    let nobody = logs(&s, &token, "?ip=203.0.113.9").await;
    assert!(nobody["logs"].as_array().unwrap().is_empty());
    let by_ip = logs(&s, &token, "?ip=127.0.0.1&type=user.login.failure").await;
    assert_eq!(by_ip["logs"].as_array().unwrap().len(), 3);

    // One event by id.
    let id = list[0]["event_id"].as_str().unwrap();
    let one = s
        .client
        .send("GET", &format!("/t/default/api/v2/logs/{id}"), &token, None)
        .await;
    assert_eq!(one.status, 200, "{}", one.body);
    assert_eq!(one.json()["event_id"], id);
    let missing = s
        .client
        .send("GET", "/t/default/api/v2/logs/evt_nope", &token, None)
        .await;
    assert_eq!(missing.status, 404);

    // Bad input names the parameter and never 500s.
    for (q, param) in [
        ("?bogus=1", "bogus"),
        ("?per_page=1000", "per_page"),
        ("?from=yesterday", "from"),
        ("?order=sideways", "order"),
        ("?cursor=%00garbage", "cursor"),
        ("?per_page=1&per_page=2", "per_page"),
    ] {
        let r = s
            .client
            .send("GET", &format!("/t/default/api/v2/logs{q}"), &token, None)
            .await;
        assert_eq!(r.status, 400, "{q}: {}", r.body);
        assert!(
            r.json()["error_description"]
                .as_str()
                .unwrap()
                .contains(param),
            "{q}: {}",
            r.body
        );
    }
}

async fn verify_checkpoint_and_offline_export(b: Backend) {
    let s = TestServer::start(b).await;
    s.fixtures("default").user("bob@example.com", PW).await;
    failed_login(&s, "bob@example.com").await;
    failed_login(&s, "nobody@example.com").await;
    let token = s
        .mgmt_token("default", &["read:logs", "create:log_checkpoints"])
        .await;

    let v = s
        .client
        .send("GET", "/t/default/api/v2/logs/verify", &token, None)
        .await;
    assert_eq!(v.status, 200, "{}", v.body);
    assert_eq!(v.json()["ok"], true, "{}", v.body);
    assert!(v.json()["events_checked"].as_i64().unwrap() >= 2);

    let c = s
        .client
        .send("POST", "/t/default/api/v2/logs/checkpoints", &token, None)
        .await;
    assert_eq!(c.status, 201, "{}", c.body);
    let list = s
        .client
        .send("GET", "/t/default/api/v2/logs/checkpoints", &token, None)
        .await;
    assert_eq!(list.status, 200, "{}", list.body);
    assert!(!list.json()["checkpoints"].as_array().unwrap().is_empty());

    let export = s
        .client
        .send(
            "GET",
            "/t/default/api/v2/logs/export?format=jsonl",
            &token,
            None,
        )
        .await;
    assert_eq!(export.status, 200, "{}", export.body);
    assert_eq!(export.header("content-type"), Some("application/x-ndjson"));
    let jwks = s.client.jwks("default").await;
    let keys = s.client.get("/t/default/.well-known/audit-keys.json").await;
    assert_eq!(keys.status, 200, "{}", keys.body);
    let all: clavis_crypto::JwkSet = serde_json::from_str(&keys.body).unwrap();
    assert!(all.keys.len() >= jwks.keys.len());
    for k in &jwks.keys {
        assert!(all.find(&k.kid).is_some(), "audit keys include the JWKS");
    }
    let mut reader = std::io::Cursor::new(export.body.clone().into_bytes());
    assert!(clavis_core::chain_verify::verify_export(&mut reader, &all).is_ok());
    let mut reader = std::io::Cursor::new(export.body.clone().into_bytes());
    let ok = clavis_core::chain_verify::verify_export(&mut reader, &jwks);
    assert!(ok.is_ok(), "{ok:?}");

    // One edited byte in an event body fails offline verification.
    let tampered = export
        .body
        .replacen("user.login.failure", "user.login.success", 1);
    let mut reader = std::io::Cursor::new(tampered.into_bytes());
    assert!(clavis_core::chain_verify::verify_export(&mut reader, &jwks).is_err());

    let csv = s
        .client
        .send(
            "GET",
            "/t/default/api/v2/logs/export?format=csv",
            &token,
            None,
        )
        .await;
    assert_eq!(csv.status, 200, "{}", csv.body);
    assert!(
        csv.body.starts_with("seq,"),
        "{}",
        &csv.body[..csv.body.len().min(200)]
    );
    assert!(csv.body.contains("user.login.failure"));
}

async fn erasure_hides_personal_data_and_keeps_the_chain(b: Backend) {
    let s = TestServer::start(b).await;
    let user = s.fixtures("default").user("cy@example.com", PW).await;
    failed_login(&s, "cy@example.com").await;
    let token = s
        .mgmt_token("default", &["read:logs", "delete:user_audit_data"])
        .await;
    let before = logs(&s, &token, &format!("?user_id={}", user.id)).await;
    assert_eq!(before["logs"][0]["actor"]["email"], "cy@example.com");

    let path = format!("/t/default/api/v2/users/{}/audit-data", user.id);
    let r = s.client.send("DELETE", &path, &token, None).await;
    assert_eq!(r.status, 204, "{}", r.body);
    let after = logs(&s, &token, &format!("?user_id={}", user.id)).await;
    let e = &after["logs"][0];
    assert_eq!(e["actor"]["email"], "[erased]", "{after}");
    assert_eq!(e["actor"]["ip_address"], "[erased]", "{after}");
    assert!(!after.to_string().contains("cy@example.com"));

    let v = s
        .client
        .send("GET", "/t/default/api/v2/logs/verify", &token, None)
        .await;
    assert_eq!(
        v.json()["ok"],
        true,
        "erasure keeps every hash valid: {}",
        v.body
    );
    let erased = logs(&s, &token, "?type=audit.subject_erased").await;
    assert_eq!(erased["logs"].as_array().unwrap().len(), 1, "{erased}");

    let bad = s
        .client
        .send(
            "DELETE",
            "/t/default/api/v2/users/not-a-user/audit-data",
            &token,
            None,
        )
        .await;
    assert_eq!(bad.status, 400, "{}", bad.body);
}

async fn legal_holds_purge_and_reports(b: Backend) {
    let s = TestServer::start(b).await;
    s.fixtures("default").user("di@example.com", PW).await;
    failed_login(&s, "di@example.com").await;
    let org = s.fixtures("default").org("acme", &[]).await;
    let token = s
        .mgmt_token(
            "default",
            &[
                "read:logs",
                "create:legal_holds",
                "delete:legal_holds",
                "delete:logs",
                "read:reports",
            ],
        )
        .await;

    let bad = s
        .client
        .send(
            "POST",
            "/t/default/api/v2/logs/legal-holds",
            &token,
            Some(&json!({"org_id": org.id.to_string(), "reason": "x", "extra": 1})),
        )
        .await;
    assert_eq!(bad.status, 400, "unknown fields are refused: {}", bad.body);
    let h = s
        .client
        .send(
            "POST",
            "/t/default/api/v2/logs/legal-holds",
            &token,
            Some(&json!({"org_id": org.id.to_string(), "reason": "litigation 2026-17"})),
        )
        .await;
    assert_eq!(h.status, 201, "{}", h.body);
    let id = h.json()["id"].as_str().unwrap().to_owned();
    // The event names who placed the hold: the calling client.
    let placed = logs(&s, &token, "?type=audit.legal_hold.created").await;
    let actor = &placed["logs"][0]["actor"];
    assert!(
        actor["client_id"].as_str().is_some_and(|c| !c.is_empty()),
        "{placed}"
    );
    let list = s
        .client
        .send(
            "GET",
            "/t/default/api/v2/logs/legal-holds?active=true",
            &token,
            None,
        )
        .await;
    assert_eq!(list.json()["legal_holds"].as_array().unwrap().len(), 1);
    let path = format!("/t/default/api/v2/logs/legal-holds/{id}");
    assert_eq!(
        s.client.send("DELETE", &path, &token, None).await.status,
        204
    );
    assert_eq!(
        s.client.send("DELETE", &path, &token, None).await.status,
        404
    );

    // Nothing is older than seven years yet: the purge deletes nothing and verify passes.
    let p = s
        .client
        .send("POST", "/t/default/api/v2/logs/purge", &token, None)
        .await;
    assert_eq!(p.status, 200, "{}", p.body);
    let v = s
        .client
        .send("GET", "/t/default/api/v2/logs/verify", &token, None)
        .await;
    assert_eq!(v.json()["ok"], true, "{}", v.body);

    for kind in ["soc2", "hipaa", "gdpr"] {
        let r = s
            .client
            .send(
                "GET",
                &format!("/t/default/api/v2/reports/{kind}"),
                &token,
                None,
            )
            .await;
        assert_eq!(r.status, 200, "{kind}: {}", r.body);
        let html = s
            .client
            .send(
                "GET",
                &format!("/t/default/api/v2/reports/{kind}?format=html"),
                &token,
                None,
            )
            .await;
        assert_eq!(html.status, 200, "{kind}: {}", html.body);
        assert!(
            html.header("content-type")
                .unwrap()
                .starts_with("text/html")
        );
        assert!(html.body.contains("<html"), "{kind}");
    }
    let r = s
        .client
        .send("GET", "/t/default/api/v2/reports/sox", &token, None)
        .await;
    assert_eq!(r.status, 404);
    let r = s
        .client
        .send(
            "GET",
            "/t/default/api/v2/reports/soc2?from=2026-02-01&to=2026-01-01",
            &token,
            None,
        )
        .await;
    assert_eq!(r.status, 400, "{}", r.body);
}

async fn user_tokens_are_refused_and_grants_are_rechecked(b: Backend) {
    let s = TestServer::start(b).await;
    let fx = s.fixtures("default");
    let audience = format!("{}/api/v2/", s.issuer("default"));
    // A Management API token for a client: works.
    let token = s.mgmt_token("default", &["read:logs"]).await;
    assert_eq!(
        s.client
            .send("GET", "/t/default/api/v2/logs", &token, None)
            .await
            .status,
        200
    );

    // An end user logs in through an ordinary application asking for the Management API
    // audience with its scopes; the Api configuration lets the scope into the token, but
    // the Management API refuses user tokens.
    fx.user("eve@example.com", PW).await;
    let t = fx.tenant().await;
    let mut tx = s.core.store.begin().await.unwrap();
    let mut api = tx
        .api_get_by_identifier(&t.id, &audience)
        .await
        .unwrap()
        .unwrap();
    api.rbac_enabled = false; // a careless configuration: any user may ask for any scope
    tx.api_update(&api).await.unwrap();
    tx.commit().await.unwrap();
    s.clock.advance_secs(3);
    let cb = "https://rp.example.com/cb";
    let app = fx.web_app(&[cb], &[]).await;
    let verifier = "v".repeat(43) + "0123456789";
    let challenge = clavis_crypto::b64url(&clavis_crypto::sha256(verifier.as_bytes()));
    let url = format!(
        "/t/default/authorize?response_type=code&client_id={}&redirect_uri={}&scope={}&state=s&code_challenge={challenge}&code_challenge_method=S256&audience={}",
        app.client_id,
        clavis_testkit::urlencode(cb),
        clavis_testkit::urlencode("openid read:logs"),
        clavis_testkit::urlencode(&audience),
    );
    let Landing::Left(back) = s.browser().authorize(&url, "eve@example.com", PW).await else {
        panic!("the login did not return to the client")
    };
    let code = query_of(&back)["code"].clone();
    let basic = {
        use base64::Engine;
        let pair = format!("{}:{}", app.client_id, app.secret);
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(pair)
        )
    };
    let r = s
        .client
        .post_form(
            "/t/default/oauth/token",
            &[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", cb),
                ("code_verifier", &verifier),
            ],
            &[("authorization", &basic)],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let user_token = r.json()["access_token"].as_str().unwrap().to_owned();
    let aud = payload(&user_token)["aud"].clone();
    assert!(
        aud.as_array().is_some_and(|a| a.contains(&json!(audience))),
        "the token is for the Management API: {aud}"
    );
    assert!(
        payload(&user_token)["scope"]
            .as_str()
            .unwrap()
            .contains("read:logs")
    );
    let refused = s
        .client
        .send("GET", "/t/default/api/v2/logs", &user_token, None)
        .await;
    assert_eq!(refused.status, 401, "{}", refused.body);
    assert_eq!(refused.json()["error"], "invalid_token");

    // Narrowing the client's grant takes effect on a token already issued.
    let client_id = payload(&token)["client_id"].as_str().unwrap().to_owned();
    let mut tx = s.core.store.begin().await.unwrap();
    let grants = tx
        .client_grant_list(&t.id, &clavis_types::ClientId::parse(&client_id).unwrap())
        .await
        .unwrap();
    let mut g = grants.into_iter().next().expect("the client's grant");
    g.scope = vec!["read:reports".into()];
    tx.client_grant_upsert(&g).await.unwrap();
    tx.commit().await.unwrap();
    s.clock.advance_secs(3); // past the 2-second configuration cache
    let r = s
        .client
        .send("GET", "/t/default/api/v2/logs", &token, None)
        .await;
    assert_eq!(r.status, 403, "{}", r.body);
    assert_eq!(r.json()["error"], "insufficient_scope");
    // Removing it: the token no longer works at all.
    let mut tx = s.core.store.begin().await.unwrap();
    assert!(tx.client_grant_delete(&t.id, &g.id).await.unwrap());
    tx.commit().await.unwrap();
    s.clock.advance_secs(3);
    let r = s
        .client
        .send("GET", "/t/default/api/v2/logs", &token, None)
        .await;
    assert_eq!(r.status, 401, "{}", r.body);
}

async fn malformed_input_is_a_400_naming_the_field(b: Backend) {
    let s = TestServer::start(b).await;
    let token = s
        .mgmt_token(
            "default",
            &["read:logs", "create:legal_holds", "create:log_streams"],
        )
        .await;
    let many_types = (0..30)
        .map(|i| format!("t{i}"))
        .collect::<Vec<_>>()
        .join(",");
    for (q, field) in [
        ("?user_id=usr_%00x".to_owned(), "user_id"),
        ("?org_id=%01".to_owned(), "org_id"),
        ("?type=user.login%00".to_owned(), "type"),
        (format!("?type={many_types}"), "type"),
    ] {
        let r = s
            .client
            .send("GET", &format!("/t/default/api/v2/logs{q}"), &token, None)
            .await;
        assert_eq!(r.status, 400, "{q}: {}", r.body);
        assert!(r.body.contains(field), "{q}: {}", r.body);
    }
    let r = s
        .client
        .send("GET", "/t/default/api/v2/logs/evt%00x", &token, None)
        .await;
    assert_eq!(r.status, 400, "{}", r.body);
    assert!(r.body.contains("event_id"), "{}", r.body);
    let org = s.fixtures("default").org("acme", &[]).await;
    let r = s
        .client
        .send(
            "POST",
            "/t/default/api/v2/logs/legal-holds",
            &token,
            Some(&json!({"org_id": org.id.to_string(), "reason": "a\u{0}b"})),
        )
        .await;
    assert_eq!(r.status, 400, "{}", r.body);
    assert!(r.body.contains("reason"), "{}", r.body);
    for body in [
        json!({"name": "x\u{0}", "kind": "https", "endpoint": "https://siem.example.com/in"}),
        json!({"name": "x", "kind": "https", "endpoint": "https://siem.example.com/in", "color": "red"}),
        json!({"name": "x", "kind": "carrier-pigeon", "endpoint": "https://siem.example.com/in"}),
        json!(["not", "an", "object"]),
    ] {
        let r = s
            .client
            .send("POST", "/t/default/api/v2/log-streams", &token, Some(&body))
            .await;
        assert_eq!(r.status, 400, "{body}: {}", r.body);
    }
}

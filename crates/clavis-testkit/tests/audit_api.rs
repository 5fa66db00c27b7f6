//! The audit log over the Management API: who may call it, search and cursors, one event,
//! verification, checkpoints, export verified offline, legal holds, purge, erasure and
//! reports — against a real server, on SQLite and PostgreSQL.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use clavis_testkit::{Backend, Landing, TestServer};
use serde_json::{Value, json};

clavis_testkit::on_both!(
    management_calls_need_a_valid_token_with_the_scope,
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

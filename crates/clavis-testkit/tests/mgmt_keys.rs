//! Signing keys of the Management API over HTTP (`/keys/signing`): listing without
//! private material, rotation only once the next key has been published long enough,
//! revocation taking a key out of the JWKS and making tokens it signed fail at once, the
//! current key protected, scopes and other tenants refused, and the audit trail —
//! against a real server, on SQLite and PostgreSQL.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use clavis_core::model::AuditQuery;
use clavis_testkit::{Backend, Reply, TestServer};
use serde_json::{Value, json};

clavis_testkit::on_both!(
    keys_are_listed_without_private_material,
    rotation_waits_for_the_next_key_to_be_published,
    revoked_keys_leave_the_jwks_and_their_tokens_fail,
    scopes_and_tenants_are_enforced,
);

const KEYS: &str = "/t/default/api/v2/keys/signing";
const ALL: &[&str] = &[
    "read:signing_keys",
    "create:signing_keys",
    "update:signing_keys",
];
/// Members of a JWK that would be private key material.
const PRIVATE: &[&str] = &["d", "p", "q", "dp", "dq", "qi", "k"];

async fn send(s: &TestServer, method: &str, path: &str, bearer: &str) -> Reply {
    s.client.send(method, path, bearer, None).await
}

fn error_of(r: &Reply) -> String {
    r.json()["error"].as_str().unwrap_or_default().to_owned()
}

fn kid_of(token: &str) -> String {
    let header = token.split('.').next().unwrap();
    let v: Value = serde_json::from_slice(&clavis_crypto::b64url_decode(header).unwrap()).unwrap();
    v["kid"].as_str().unwrap().to_owned()
}

fn client_of(token: &str) -> String {
    let payload = token.split('.').nth(1).unwrap();
    let v: Value = serde_json::from_slice(&clavis_crypto::b64url_decode(payload).unwrap()).unwrap();
    v["client_id"].as_str().unwrap().to_owned()
}

async fn keys(s: &TestServer, token: &str) -> Vec<Value> {
    let r = send(s, "GET", KEYS, token).await;
    assert_eq!(r.status, 200, "{}", r.body);
    r.json().as_array().unwrap().clone()
}

fn with_state<'a>(keys: &'a [Value], state: &str) -> Vec<&'a Value> {
    keys.iter().filter(|k| k["state"] == state).collect()
}

async fn events(s: &TestServer, types: &[&str]) -> Vec<Value> {
    let t = s.fixtures("default").tenant().await;
    let q = AuditQuery {
        event_types: types.iter().map(|t| (*t).to_owned()).collect(),
        ..AuditQuery::default()
    };
    let page = s
        .core
        .audit_search(&t, &q, None, None, None, 100)
        .await
        .unwrap();
    page.events
        .iter()
        .map(|e| serde_json::to_value(e).unwrap())
        .collect()
}

/// Move the server's clock past the time a next key must have been published.
fn past_publication(s: &TestServer) {
    s.clock
        .advance_secs(clavis_core::service::JWKS_MAX_AGE_SECS + 1);
}

async fn keys_are_listed_without_private_material(b: Backend) {
    let s = TestServer::start(b).await;
    let token = s.mgmt_token("default", ALL).await;
    let list = keys(&s, &token).await;
    assert_eq!(list.len(), 2, "{list:#?}");
    let current = with_state(&list, "current");
    let next = with_state(&list, "next");
    assert_eq!((current.len(), next.len()), (1, 1), "{list:#?}");
    assert_eq!(
        current[0]["kid"],
        kid_of(&token).as_str(),
        "the current key signs"
    );
    assert_eq!(current[0]["current"], true);
    assert_eq!(current[0]["next"], false);
    assert!(current[0]["current_since"].is_string());
    assert_eq!(next[0]["current_since"], Value::Null);
    for k in &list {
        let jwk = k["jwk"].as_object().unwrap();
        assert_eq!(jwk["kid"], k["kid"]);
        assert_eq!(jwk["alg"], k["alg"]);
        for m in PRIVATE {
            assert!(!jwk.contains_key(*m), "private member `{m}` in {k}");
        }
        assert!(k.get("private_key_sealed").is_none(), "{k}");
    }
    // The same keys the JWKS publishes.
    let jwks = s.client.jwks("default").await;
    for k in &list {
        assert!(jwks.find(k["kid"].as_str().unwrap()).is_some(), "{k}");
    }

    // One key, pages and totals.
    let kid = current[0]["kid"].as_str().unwrap();
    let r = send(&s, "GET", &format!("{KEYS}/{kid}"), &token).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["state"], "current");
    let r = send(
        &s,
        "GET",
        &format!("{KEYS}?per_page=1&include_totals=true"),
        &token,
    )
    .await;
    assert_eq!(r.json()["total"], 2, "{}", r.body);
    assert_eq!(r.json()["keys"].as_array().unwrap().len(), 1);
    let r = send(&s, "GET", &format!("{KEYS}?per_page=1&page=1"), &token).await;
    assert_eq!(r.json().as_array().unwrap().len(), 1, "{}", r.body);
    let r = send(&s, "GET", &format!("{KEYS}?page=5"), &token).await;
    assert_eq!(r.json(), json!([]));

    // Bad input.
    let r = send(&s, "GET", &format!("{KEYS}?state=current"), &token).await;
    assert_eq!(r.status, 400, "{}", r.body);
    assert!(r.body.contains("state"), "{}", r.body);
    let r = send(&s, "GET", &format!("{KEYS}/bad.kid"), &token).await;
    assert_eq!(r.status, 400, "{}", r.body);
    assert!(r.body.contains("kid"), "{}", r.body);
    let r = send(&s, "GET", &format!("{KEYS}/{}", "0".repeat(26)), &token).await;
    assert_eq!(r.status, 404, "{}", r.body);
    let r = send(
        &s,
        "PUT",
        &format!("{KEYS}/{}/revoke", "0".repeat(26)),
        &token,
    )
    .await;
    assert_eq!(r.status, 404, "{}", r.body);
}

async fn rotation_waits_for_the_next_key_to_be_published(b: Backend) {
    let s = TestServer::start(b).await;
    let token = s.mgmt_token("default", ALL).await;
    let before = keys(&s, &token).await;
    let old_current = with_state(&before, "current")[0]["kid"]
        .as_str()
        .unwrap()
        .to_owned();
    let old_next = with_state(&before, "next")[0]["kid"]
        .as_str()
        .unwrap()
        .to_owned();

    // The next key was published moments ago: relying parties may not know it yet.
    let r = send(&s, "POST", &format!("{KEYS}/rotate"), &token).await;
    assert_eq!(r.status, 409, "{}", r.body);
    assert_eq!(error_of(&r), "conflict");
    assert!(r.body.contains(&old_next), "{}", r.body);

    past_publication(&s);
    let r = send(&s, "POST", &format!("{KEYS}/rotate"), &token).await;
    assert_eq!(r.status, 201, "{}", r.body);
    let rot = r.json();
    assert_eq!(rot["rotated"], true);
    assert_eq!(rot["current"]["kid"], old_next.as_str());
    let new_next = rot["next"]["kid"].as_str().unwrap().to_owned();
    assert!(new_next != old_current && new_next != old_next);
    let after = keys(&s, &token).await;
    let prev = with_state(&after, "previous");
    assert_eq!(prev.len(), 1, "{after:#?}");
    assert_eq!(prev[0]["kid"], old_current.as_str());
    assert!(prev[0]["current_until"].is_string() && prev[0]["published_until"].is_string());
    // The old token still works (its key stays published), and new tokens use the new key.
    let r = send(&s, "GET", KEYS, &token).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let fresh = s.mgmt_token("default", ALL).await;
    assert_eq!(kid_of(&fresh), old_next, "the rotated-in key signs at once");
    let jwks = s.client.jwks("default").await;
    for k in [&old_current, &old_next, &new_next] {
        assert!(jwks.find(k).is_some(), "{k} published");
    }
    // A second rotation at once is refused again.
    let r = send(&s, "POST", &format!("{KEYS}/rotate"), &fresh).await;
    assert_eq!(r.status, 409, "{}", r.body);

    // One `key.rotated` event, naming the caller.
    let evs = events(&s, &["key.*"]).await;
    assert_eq!(evs.len(), 1, "{evs:#?}");
    assert_eq!(evs[0]["event_type"], "key.rotated");
    assert_eq!(evs[0]["context"]["kid"], old_next.as_str());
    assert_eq!(evs[0]["actor"]["client_id"], client_of(&token).as_str());
}

async fn revoked_keys_leave_the_jwks_and_their_tokens_fail(b: Backend) {
    let s = TestServer::start(b).await;
    let old_token = s.mgmt_token("default", ALL).await;
    let old_kid = kid_of(&old_token);

    // The current key is protected: rotate first.
    let r = send(&s, "PUT", &format!("{KEYS}/{old_kid}/revoke"), &old_token).await;
    assert_eq!(r.status, 409, "{}", r.body);
    assert!(r.body.contains("rotate"), "{}", r.body);

    past_publication(&s);
    let r = send(&s, "POST", &format!("{KEYS}/rotate"), &old_token).await;
    assert_eq!(r.status, 201, "{}", r.body);
    let token = s.mgmt_token("default", ALL).await;
    assert_ne!(kid_of(&token), old_kid);
    let r = send(&s, "GET", KEYS, &old_token).await;
    assert_eq!(r.status, 200, "a previous key still verifies: {}", r.body);

    // Revoke the previous key: out of the JWKS, its tokens refused at once.
    let r = send(&s, "PUT", &format!("{KEYS}/{old_kid}/revoke"), &token).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let v = r.json();
    assert_eq!(v["state"], "revoked");
    assert_eq!(v["revoked"], true);
    assert!(v["revoked_at"].is_string(), "{v}");
    assert!(
        s.client.jwks("default").await.find(&old_kid).is_none(),
        "left the JWKS"
    );
    let r = send(&s, "GET", KEYS, &old_token).await;
    assert_eq!(r.status, 401, "token of a revoked key: {}", r.body);
    assert_eq!(error_of(&r), "invalid_token");
    let r = send(&s, "GET", KEYS, &token).await;
    assert_eq!(r.status, 200, "{}", r.body);
    // Reading it shows its state.
    let r = send(&s, "GET", &format!("{KEYS}/{old_kid}"), &token).await;
    assert_eq!(r.json()["state"], "revoked");

    // Revoking again changes nothing and records nothing more.
    let r = send(&s, "PUT", &format!("{KEYS}/{old_kid}/revoke"), &token).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let evs = events(&s, &["key.revoked"]).await;
    assert_eq!(evs.len(), 1, "{evs:#?}");
    assert_eq!(evs[0]["context"]["kid"], old_kid.as_str());
    assert_eq!(evs[0]["context"]["previous_state"], "previous");
    assert_eq!(evs[0]["actor"]["client_id"], client_of(&token).as_str());

    // The next key may be revoked too; a rotation then only publishes a new one.
    let list = keys(&s, &token).await;
    let next = with_state(&list, "next")[0]["kid"]
        .as_str()
        .unwrap()
        .to_owned();
    let r = send(&s, "PUT", &format!("{KEYS}/{next}/revoke"), &token).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(s.client.jwks("default").await.find(&next).is_none());
    let r = send(&s, "POST", &format!("{KEYS}/rotate"), &token).await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(r.json()["rotated"], false, "{}", r.body);
    assert_eq!(
        r.json()["current"]["kid"],
        kid_of(&token).as_str(),
        "still signs"
    );
    let published = r.json()["next"]["kid"].as_str().unwrap().to_owned();
    assert!(s.client.jwks("default").await.find(&published).is_some());
    let r = send(&s, "GET", KEYS, &token).await;
    assert_eq!(r.status, 200, "the current key kept signing: {}", r.body);
}

async fn scopes_and_tenants_are_enforced(b: Backend) {
    let s = TestServer::start(b).await;
    let token = s.mgmt_token("default", &["read:clients"]).await;
    let kid = kid_of(&token);
    for (method, path, scope) in [
        ("GET", KEYS.to_owned(), "read:signing_keys"),
        ("GET", format!("{KEYS}/{kid}"), "read:signing_keys"),
        ("POST", format!("{KEYS}/rotate"), "create:signing_keys"),
        ("PUT", format!("{KEYS}/{kid}/revoke"), "update:signing_keys"),
    ] {
        let r = send(&s, method, &path, &token).await;
        assert_eq!(r.status, 403, "{method} {path}: {}", r.body);
        assert_eq!(error_of(&r), "insufficient_scope");
        assert!(r.body.contains(scope), "{}", r.body);
    }
    // Read-only callers cannot rotate or revoke.
    let reader = s.mgmt_token("default", &["read:signing_keys"]).await;
    let r = send(&s, "POST", &format!("{KEYS}/rotate"), &reader).await;
    assert_eq!(r.status, 403, "{}", r.body);

    // Another tenant: its token is refused here; its keys are not found through this one.
    let foreign = s.mgmt_token("other", ALL).await;
    let r = send(&s, "GET", KEYS, &foreign).await;
    assert_eq!(r.status, 401, "{}", r.body);
    let foreign_kid = kid_of(&foreign);
    let admin = s.mgmt_token("default", ALL).await;
    let r = send(&s, "GET", &format!("{KEYS}/{foreign_kid}"), &admin).await;
    assert_eq!(r.status, 404, "{}", r.body);
    past_publication(&s);
    let r = send(&s, "POST", "/t/other/api/v2/keys/signing/rotate", &foreign).await;
    assert_eq!(r.status, 201, "{}", r.body);
    let r = send(&s, "PUT", &format!("{KEYS}/{foreign_kid}/revoke"), &admin).await;
    assert_eq!(r.status, 404, "another tenant's previous key: {}", r.body);
    let r = send(&s, "GET", "/t/other/api/v2/keys/signing", &foreign).await;
    assert_eq!(r.status, 200, "their key untouched: {}", r.body);
    let list = keys(&s, &admin).await;
    assert!(list.iter().all(|k| k["kid"] != foreign_kid.as_str()));
}

//! API keys of the Management API over HTTP (`/api-keys`), and the built-in Management
//! API of every tenant: the key's format and one-time display, its use as a bearer
//! credential (scopes, expiry, `last_used_at`), rotation and revocation seen at once by a
//! second server on the same database, privilege escalation refused, organization
//! administrators' keys confined to their organization, validation naming the field, and
//! the audit trail — against a real server, on SQLite and PostgreSQL.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod nodes;

use clavis_testkit::{Backend, MGMT_SCOPES, Reply, TestServer};
use nodes::{
    audit_trail_names_the_caller_and_holds_no_secret, every_tenant_has_the_management_api,
    revocation_is_seen_at_once_by_another_server,
};
use serde_json::{Value, json};

clavis_testkit::on_both!(
    lifecycle_create_use_list_update_rotate_revoke,
    keys_are_recognisable_and_never_shown_again,
    input_is_validated_naming_the_field,
    scopes_and_tenants_are_enforced,
    no_privilege_escalation,
    organization_keys_stay_in_their_organization,
    expiry_and_last_used,
    audit_trail_names_the_caller_and_holds_no_secret,
    revocation_is_seen_at_once_by_another_server,
    every_tenant_has_the_management_api,
);

pub(crate) const KEYS: &str = "/t/default/api/v2/api-keys";
const ALL_KEY_SCOPES: &[&str] = &[
    "read:api_keys",
    "create:api_keys",
    "update:api_keys",
    "delete:api_keys",
];

/// The regular expression documented for secret scanners, checked by hand.
fn looks_like_a_key(k: &str) -> bool {
    k.strip_prefix("clv_").is_some_and(|r| {
        r.len() == 52
            && r.bytes()
                .all(|b| b"0123456789abcdefghjkmnpqrstvwxyz".contains(&b))
    })
}

pub(crate) async fn send(
    s: &TestServer,
    method: &str,
    path: &str,
    bearer: &str,
    body: Option<Value>,
) -> Reply {
    s.client.send(method, path, bearer, body.as_ref()).await
}

/// Create a key and return the whole answer (asserting 201).
pub(crate) async fn create(s: &TestServer, bearer: &str, body: Value) -> Value {
    let r = send(s, "POST", KEYS, bearer, Some(body)).await;
    assert_eq!(r.status, 201, "{}", r.body);
    r.json()
}

fn error_of(r: &Reply) -> String {
    r.json()["error"].as_str().unwrap_or_default().to_owned()
}

async fn lifecycle_create_use_list_update_rotate_revoke(b: Backend) {
    let s = TestServer::start(b).await;
    let admin = s.mgmt_token("default", MGMT_SCOPES).await;
    let created = create(
        &s,
        &admin,
        json!({"name": "deploy bot", "scopes": ["read:api_keys", "read:logs"]}),
    )
    .await;
    let id = created["id"].as_str().unwrap().to_owned();
    let key = created["key"].as_str().unwrap().to_owned();
    assert!(id.starts_with("akey_"), "{created}");
    assert!(looks_like_a_key(&key), "{key}");
    assert_eq!(created["name"], "deploy bot");
    assert_eq!(created["scopes"], json!(["read:api_keys", "read:logs"]));
    assert_eq!(created["revoked"], false);
    assert_eq!(created["org_id"], Value::Null);
    assert_eq!(created["last_used_at"], Value::Null);

    // The key is a bearer credential with its own scopes.
    let r = send(&s, "GET", &format!("{KEYS}/{id}"), &key, None).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["id"], id.as_str());
    assert!(r.json().get("key").is_none(), "{}", r.body);
    let r = send(&s, "GET", "/t/default/api/v2/logs", &key, None).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let r = send(
        &s,
        "POST",
        KEYS,
        &key,
        Some(json!({"name": "x", "scopes": ["read:logs"]})),
    )
    .await;
    assert_eq!(r.status, 403, "{}", r.body);
    assert_eq!(error_of(&r), "insufficient_scope");

    // Pagination and totals.
    for n in 0..3 {
        s.clock.advance_secs(1);
        create(
            &s,
            &admin,
            json!({"name": format!("k{n}"), "scopes": ["read:logs"]}),
        )
        .await;
    }
    let r = send(
        &s,
        "GET",
        &format!("{KEYS}?per_page=2&page=0"),
        &admin,
        None,
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let first = r.json();
    assert_eq!(first.as_array().unwrap().len(), 2, "{first}");
    assert_eq!(first[0]["name"], "k2", "newest first: {first}");
    let r = send(
        &s,
        "GET",
        &format!("{KEYS}?per_page=2&page=1&include_totals=true"),
        &admin,
        None,
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let page = r.json();
    assert_eq!(page["total"], 4, "{page}");
    assert_eq!(page["start"], 2);
    assert_eq!(page["limit"], 2);
    assert_eq!(page["length"], 2);
    assert_eq!(page["api_keys"][1]["id"], id.as_str(), "{page}");

    // Update.
    let r = send(
        &s,
        "PATCH",
        &format!("{KEYS}/{id}"),
        &admin,
        Some(json!({"name": "deploy bot 2", "scopes": ["read:api_keys"]})),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["name"], "deploy bot 2");
    assert_eq!(r.json()["scopes"], json!(["read:api_keys"]));
    let r = send(&s, "GET", "/t/default/api/v2/logs", &key, None).await;
    assert_eq!(r.status, 403, "a removed scope is gone at once: {}", r.body);

    // Rotate: the old key stops working at once, the new one works.
    let r = send(&s, "POST", &format!("{KEYS}/{id}/rotate"), &admin, None).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let rotated = r.json();
    let new_key = rotated["key"].as_str().unwrap().to_owned();
    assert!(looks_like_a_key(&new_key));
    assert_ne!(new_key, key);
    assert_eq!(rotated["id"], id.as_str());
    let old = send(&s, "GET", KEYS, &key, None).await;
    assert_eq!(old.status, 401, "{}", old.body);
    assert_eq!(error_of(&old), "invalid_token");
    assert!(
        old.header("www-authenticate")
            .unwrap()
            .contains("invalid_token")
    );
    assert_eq!(send(&s, "GET", KEYS, &new_key, None).await.status, 200);

    // Revoke: refused at once; gone from then on, except from a list of revoked keys.
    let r = send(&s, "DELETE", &format!("{KEYS}/{id}"), &admin, None).await;
    assert_eq!(r.status, 204, "{}", r.body);
    let r = send(&s, "GET", KEYS, &new_key, None).await;
    assert_eq!(r.status, 401, "{}", r.body);
    assert_eq!(error_of(&r), "invalid_token");
    for (method, path, body) in [
        ("GET", format!("{KEYS}/{id}"), None),
        ("DELETE", format!("{KEYS}/{id}"), None),
        ("POST", format!("{KEYS}/{id}/rotate"), None),
        (
            "PATCH",
            format!("{KEYS}/{id}"),
            Some(json!({"name": "again"})),
        ),
    ] {
        let r = send(&s, method, &path, &admin, body).await;
        assert_eq!(r.status, 404, "{method} {path}: {}", r.body);
    }
    let r = send(
        &s,
        "GET",
        &format!("{KEYS}?include_totals=true"),
        &admin,
        None,
    )
    .await;
    assert_eq!(r.json()["total"], 3, "{}", r.body);
    assert!(!r.body.contains(id.as_str()), "{}", r.body);
    let r = send(
        &s,
        "GET",
        &format!("{KEYS}?include_totals=true&include_revoked=true"),
        &admin,
        None,
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let page = r.json();
    assert_eq!(page["total"], 4, "{page}");
    let revoked: Vec<&Value> = page["api_keys"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|k| k["revoked"] == true)
        .collect();
    assert_eq!(revoked.len(), 1, "{page}");
    assert_eq!(revoked[0]["id"], id.as_str());

    // Unknown but well-formed ids are 404.
    let missing = "akey_00000000000000000000000000";
    for (method, path, body) in [
        ("GET", format!("{KEYS}/{missing}"), None),
        (
            "PATCH",
            format!("{KEYS}/{missing}"),
            Some(json!({"name": "x"})),
        ),
        ("DELETE", format!("{KEYS}/{missing}"), None),
        ("POST", format!("{KEYS}/{missing}/rotate"), None),
    ] {
        let r = send(&s, method, &path, &admin, body).await;
        assert_eq!(r.status, 404, "{method} {path}: {}", r.body);
    }
}

async fn keys_are_recognisable_and_never_shown_again(b: Backend) {
    let s = TestServer::start(b).await;
    let admin = s.mgmt_token("default", MGMT_SCOPES).await;
    let mut keys = Vec::new();
    for n in 0..5 {
        let c = create(
            &s,
            &admin,
            json!({"name": format!("k{n}"), "scopes": ["read:logs"]}),
        )
        .await;
        let key = c["key"].as_str().unwrap().to_owned();
        assert!(looks_like_a_key(&key), "{key}");
        // The hint is the prefix and the first characters, nothing more.
        let hint = c["hint"].as_str().unwrap();
        assert!(key.starts_with(hint) && hint.len() == 10, "{hint}");
        keys.push(key);
    }
    let mut unique = keys.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), keys.len());
    // Neither a list nor one key shows a key or a digest again.
    let list = send(
        &s,
        "GET",
        &format!("{KEYS}?include_totals=true"),
        &admin,
        None,
    )
    .await;
    for k in &keys {
        assert!(!list.body.contains(k.as_str()), "{}", list.body);
    }
    assert!(!list.body.contains("digest"), "{}", list.body);
    for item in list.json()["api_keys"].as_array().unwrap() {
        assert!(item.get("key").is_none(), "{item}");
        let one = send(
            &s,
            "GET",
            &format!("{KEYS}/{}", item["id"].as_str().unwrap()),
            &admin,
            None,
        )
        .await;
        assert!(
            one.json().get("key").is_none() && !one.body.contains("digest"),
            "{}",
            one.body
        );
    }
    // The create and rotate answers are not cached.
    let r = send(
        &s,
        "POST",
        KEYS,
        &admin,
        Some(json!({"name": "c", "scopes": ["read:logs"]})),
    )
    .await;
    assert_eq!(r.header("cache-control"), Some("no-store"));
    // A near miss of a real key, or garbage after the prefix, is an invalid token.
    let mut near = keys[0].clone();
    let last = near.pop().unwrap();
    near.push(if last == 'a' { 'b' } else { 'a' });
    for bad in [
        near.as_str(),
        "clv_",
        "clv_short",
        "clv_0000000000000000000000000000000000000000000000000000",
    ] {
        let r = send(&s, "GET", KEYS, bad, None).await;
        assert_eq!(r.status, 401, "{bad}: {}", r.body);
        assert_eq!(error_of(&r), "invalid_token");
    }
}

async fn input_is_validated_naming_the_field(b: Backend) {
    let s = TestServer::start(b).await;
    let admin = s.mgmt_token("default", MGMT_SCOPES).await;
    let past = "2001-01-01T00:00:00Z";
    for (body, named) in [
        (
            json!({"name": "x", "scopes": ["read:users", "fly:kites"]}),
            "fly:kites",
        ),
        (json!({"name": "x", "scopes": []}), "scopes"),
        (json!({"name": "", "scopes": ["read:logs"]}), "name"),
        (
            json!({"name": "x".repeat(101), "scopes": ["read:logs"]}),
            "name",
        ),
        (json!({"name": "a\u{1}b", "scopes": ["read:logs"]}), "name"),
        (
            json!({"name": "x", "scopes": ["read:logs"], "color": "red"}),
            "color",
        ),
        (
            json!({"name": "x", "scopes": ["read:logs"], "expires_at": past}),
            "expires_at",
        ),
        (
            json!({"name": "x", "scopes": ["read:logs"], "expires_at": "soon"}),
            "expires_at",
        ),
        (
            json!({"name": "x", "scopes": ["read:logs"], "org_id": "acme"}),
            "org_id",
        ),
        (
            json!({"name": "x", "scopes": ["read:logs"], "org_id": "org_00000000000000000000000000"}),
            "org_id",
        ),
        (json!({"scopes": ["read:logs"]}), "name"),
        (json!({"name": "x", "scopes": "read:logs"}), "scopes"),
    ] {
        let r = send(&s, "POST", KEYS, &admin, Some(body.clone())).await;
        assert_eq!(r.status, 400, "{body}: {}", r.body);
        assert_eq!(error_of(&r), "invalid_request");
        assert!(r.body.contains(named), "{body}: {}", r.body);
    }
    let r = s.client.send("POST", KEYS, &admin, None).await;
    assert_eq!(r.status, 400, "{}", r.body);
    // A struct's fields in order, as an array, are not an object.
    let r = send(&s, "POST", KEYS, &admin, Some(json!(["x", ["read:logs"]]))).await;
    assert_eq!(r.status, 400, "{}", r.body);
    assert!(r.body.contains("object"), "{}", r.body);

    let id = create(&s, &admin, json!({"name": "x", "scopes": ["read:logs"]})).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    for (body, named) in [
        (json!({"scopes": ["nope"]}), "nope"),
        (json!({"expires_at": past}), "expires_at"),
        (
            json!({"org_id": "org_00000000000000000000000000"}),
            "org_id",
        ),
        (json!({"hint": "clv_aaaaaa"}), "hint"),
    ] {
        let r = send(
            &s,
            "PATCH",
            &format!("{KEYS}/{id}"),
            &admin,
            Some(body.clone()),
        )
        .await;
        assert_eq!(r.status, 400, "{body}: {}", r.body);
        assert!(r.body.contains(named), "{body}: {}", r.body);
    }
    // `expires_at: null` clears an expiry.
    let soon = s.core.now().plus_secs(3600).to_rfc3339();
    let r = send(
        &s,
        "PATCH",
        &format!("{KEYS}/{id}"),
        &admin,
        Some(json!({"expires_at": soon})),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r.json()["expires_at"].is_string());
    let r = send(
        &s,
        "PATCH",
        &format!("{KEYS}/{id}"),
        &admin,
        Some(json!({"expires_at": null})),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["expires_at"], Value::Null);

    for (q, named) in [
        ("?color=red", "color"),
        ("?per_page=0", "per_page"),
        ("?per_page=101", "per_page"),
        ("?page=-1", "page"),
        ("?include_totals=maybe", "include_totals"),
        ("?page=1&page=2", "page"),
    ] {
        let r = send(&s, "GET", &format!("{KEYS}{q}"), &admin, None).await;
        assert_eq!(r.status, 400, "{q}: {}", r.body);
        assert!(r.body.contains(named), "{q}: {}", r.body);
    }
    for bad in ["not-an-id", "usr_00000000000000000000000000", "akey_%00"] {
        let r = send(&s, "GET", &format!("{KEYS}/{bad}"), &admin, None).await;
        assert_eq!(r.status, 400, "{bad}: {}", r.body);
        assert!(r.body.contains("`id`"), "{bad}: {}", r.body);
    }
}

async fn scopes_and_tenants_are_enforced(b: Backend) {
    let s = TestServer::start(b).await;
    let admin = s.mgmt_token("default", MGMT_SCOPES).await;
    let id = create(&s, &admin, json!({"name": "x", "scopes": ["read:logs"]})).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let one = format!("{KEYS}/{id}");
    let rotate = format!("{one}/rotate");
    let calls: [(&str, &str, Option<Value>, &str); 6] = [
        ("GET", KEYS, None, "read:api_keys"),
        (
            "POST",
            KEYS,
            Some(json!({"name": "y", "scopes": ["read:logs"]})),
            "create:api_keys",
        ),
        ("GET", &one, None, "read:api_keys"),
        ("PATCH", &one, Some(json!({"name": "z"})), "update:api_keys"),
        ("POST", &rotate, None, "update:api_keys"),
        ("DELETE", &one, None, "delete:api_keys"),
    ];
    let others: Vec<&str> = MGMT_SCOPES
        .iter()
        .copied()
        .filter(|s| !ALL_KEY_SCOPES.contains(s))
        .collect();
    let weak = s.mgmt_token("default", &others).await;
    for (method, path, body, scope) in &calls {
        let r = send(&s, method, path, &weak, body.clone()).await;
        assert_eq!(r.status, 403, "{method} {path}: {}", r.body);
        assert_eq!(error_of(&r), "insufficient_scope");
        assert!(
            r.header("www-authenticate").unwrap().contains(scope),
            "{method} {path}"
        );
    }
    // No credential, a foreign tenant's token, a foreign tenant's key: 401.
    s.fixtures("other").tenant().await;
    let foreign = s.mgmt_token("other", MGMT_SCOPES).await;
    let foreign_key = {
        let r = send(
            &s,
            "POST",
            "/t/other/api/v2/api-keys",
            &foreign,
            Some(json!({"name": "theirs", "scopes": ["read:api_keys"]})),
        )
        .await;
        assert_eq!(r.status, 201, "{}", r.body);
        r.json()
    };
    for bearer in ["", foreign.as_str(), foreign_key["key"].as_str().unwrap()] {
        for (method, path, body, _) in &calls {
            let r = send(&s, method, path, bearer, body.clone()).await;
            assert_eq!(r.status, 401, "{method} {path}: {}", r.body);
            assert_eq!(error_of(&r), "invalid_token");
        }
    }
    // A foreign tenant's key id is not found here.
    let theirs = foreign_key["id"].as_str().unwrap();
    for (method, path) in [
        ("GET", format!("{KEYS}/{theirs}")),
        ("DELETE", format!("{KEYS}/{theirs}")),
        ("POST", format!("{KEYS}/{theirs}/rotate")),
    ] {
        let r = send(&s, method, &path, &admin, None).await;
        assert_eq!(r.status, 404, "{method} {path}: {}", r.body);
    }
    let r = send(
        &s,
        "GET",
        "/t/other/api/v2/api-keys",
        foreign_key["key"].as_str().unwrap(),
        None,
    )
    .await;
    assert_eq!(r.status, 200, "the key works in its own tenant: {}", r.body);
}

async fn no_privilege_escalation(b: Backend) {
    let s = TestServer::start(b).await;
    let admin = s.mgmt_token("default", MGMT_SCOPES).await;
    // A caller that may manage keys and read logs, nothing else.
    let limited = s
        .mgmt_token(
            "default",
            &[
                "create:api_keys",
                "update:api_keys",
                "read:api_keys",
                "read:logs",
            ],
        )
        .await;
    let r = send(
        &s,
        "POST",
        KEYS,
        &limited,
        Some(json!({"name": "up", "scopes": ["read:logs", "delete:users"]})),
    )
    .await;
    assert_eq!(r.status, 403, "{}", r.body);
    assert_eq!(error_of(&r), "access_denied");
    assert!(r.body.contains("delete:users"), "{}", r.body);
    let own = create(
        &s,
        &limited,
        json!({"name": "mine", "scopes": ["read:logs", "create:api_keys"]}),
    )
    .await;
    let own_id = own["id"].as_str().unwrap();
    // Nor by widening a key afterwards.
    let r = send(
        &s,
        "PATCH",
        &format!("{KEYS}/{own_id}"),
        &limited,
        Some(json!({"scopes": ["read:logs", "read:users"]})),
    )
    .await;
    assert_eq!(r.status, 403, "{}", r.body);
    // Nor through a key: a key holding create:api_keys cannot mint one with more.
    let key = own["key"].as_str().unwrap();
    let r = send(
        &s,
        "POST",
        KEYS,
        key,
        Some(json!({"name": "up", "scopes": ["read:logs", "create:api_keys", "delete:api_keys"]})),
    )
    .await;
    assert_eq!(r.status, 403, "{}", r.body);
    let r = send(
        &s,
        "POST",
        KEYS,
        key,
        Some(json!({"name": "down", "scopes": ["read:logs"]})),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.body);
    // Nor by taking over a stronger key: no rotating it, no renaming it.
    let strong = create(
        &s,
        &admin,
        json!({"name": "strong", "scopes": ["delete:users"]}),
    )
    .await;
    let strong_id = strong["id"].as_str().unwrap();
    let r = send(
        &s,
        "POST",
        &format!("{KEYS}/{strong_id}/rotate"),
        &limited,
        None,
    )
    .await;
    assert_eq!(r.status, 403, "{}", r.body);
    let r = send(
        &s,
        "PATCH",
        &format!("{KEYS}/{strong_id}"),
        &limited,
        Some(json!({"name": "mine now"})),
    )
    .await;
    assert_eq!(r.status, 403, "{}", r.body);
    // The stronger key still works, untouched.
    let r = send(&s, "GET", &format!("{KEYS}/{strong_id}"), &admin, None).await;
    assert_eq!(r.json()["name"], "strong");
}

async fn organization_keys_stay_in_their_organization(b: Backend) {
    let s = TestServer::start(b).await;
    let admin = s.mgmt_token("default", MGMT_SCOPES).await;
    let fx = s.fixtures("default");
    let acme = fx.org("acme", &[]).await;
    let beta = fx.org("beta", &[]).await;
    // Only organization-level scopes.
    let r = send(
        &s,
        "POST",
        KEYS,
        &admin,
        Some(json!({"name": "x", "org_id": acme.id.to_string(), "scopes": ["read:users"]})),
    )
    .await;
    assert_eq!(r.status, 400, "{}", r.body);
    assert!(r.body.contains("read:users"), "{}", r.body);
    let org_scopes = [
        "read:api_keys",
        "create:api_keys",
        "update:api_keys",
        "delete:api_keys",
        "read:logs",
        "read:organization_members",
    ];
    let acme_key = create(
        &s,
        &admin,
        json!({"name": "acme admin", "org_id": acme.id.to_string(), "scopes": org_scopes}),
    )
    .await;
    assert_eq!(acme_key["org_id"], acme.id.to_string());
    let beta_key = create(
        &s,
        &admin,
        json!({"name": "beta admin", "org_id": beta.id.to_string(), "scopes": ["read:api_keys"]}),
    )
    .await;
    let tenant_key = create(
        &s,
        &admin,
        json!({"name": "tenant", "scopes": ["read:api_keys"]}),
    )
    .await;
    let key = acme_key["key"].as_str().unwrap();

    // It sees and manages only its organization's keys.
    let r = send(&s, "GET", &format!("{KEYS}?include_totals=true"), key, None).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["total"], 1, "{}", r.body);
    assert_eq!(r.json()["api_keys"][0]["id"], acme_key["id"]);
    for other in [&beta_key, &tenant_key] {
        let id = other["id"].as_str().unwrap();
        for (method, path, body) in [
            ("GET", format!("{KEYS}/{id}"), None),
            (
                "PATCH",
                format!("{KEYS}/{id}"),
                Some(json!({"name": "pwned"})),
            ),
            ("POST", format!("{KEYS}/{id}/rotate"), None),
            ("DELETE", format!("{KEYS}/{id}"), None),
        ] {
            let r = send(&s, method, &path, key, body).await;
            assert_eq!(r.status, 404, "{method} {path}: {}", r.body);
        }
    }
    // Its new keys are its organization's; it cannot make a tenant-wide one, nor one for
    // another organization.
    let child = create(&s, key, json!({"name": "child", "scopes": ["read:logs"]})).await;
    assert_eq!(child["org_id"], acme.id.to_string());
    let r = send(
        &s,
        "POST",
        KEYS,
        key,
        Some(json!({"name": "x", "org_id": beta.id.to_string(), "scopes": ["read:logs"]})),
    )
    .await;
    assert_eq!(r.status, 403, "{}", r.body);
    assert_eq!(error_of(&r), "access_denied");
    // Tenant-wide operations answer it 403 access_denied.
    let r = send(&s, "GET", "/t/default/api/v2/logs/checkpoints", key, None).await;
    assert_eq!(r.status, 403, "{}", r.body);
    assert_eq!(error_of(&r), "access_denied");
    // Its audit search is pinned to its organization.
    let r = send(
        &s,
        "GET",
        &format!("/t/default/api/v2/logs?org_id={}", beta.id),
        key,
        None,
    )
    .await;
    assert_eq!(r.status, 403, "{}", r.body);
    let r = send(&s, "GET", "/t/default/api/v2/logs", key, None).await;
    assert_eq!(r.status, 200, "{}", r.body);
    for e in r.json()["logs"].as_array().unwrap() {
        assert_eq!(e["organization"]["org_id"], acme.id.to_string(), "{e}");
    }
    // The tenant-wide caller sees them all.
    let r = send(
        &s,
        "GET",
        &format!("{KEYS}?include_totals=true"),
        &admin,
        None,
    )
    .await;
    assert_eq!(r.json()["total"], 4, "{}", r.body);
}

async fn expiry_and_last_used(b: Backend) {
    let s = TestServer::start(b).await;
    let admin = s.mgmt_token("default", MGMT_SCOPES).await;
    let expires = s.core.now().plus_secs(600).to_rfc3339();
    let c = create(
        &s,
        &admin,
        json!({"name": "short", "scopes": ["read:api_keys", "create:api_keys"], "expires_at": expires}),
    )
    .await;
    let (id, key) = (
        c["id"].as_str().unwrap().to_owned(),
        c["key"].as_str().unwrap().to_owned(),
    );
    // An expiring key cannot make a key that outlives it.
    let later = s.core.now().plus_secs(601).to_rfc3339();
    for body in [
        json!({"name": "forever", "scopes": ["read:api_keys"]}),
        json!({"name": "longer", "scopes": ["read:api_keys"], "expires_at": later}),
    ] {
        let r = send(&s, "POST", KEYS, &key, Some(body.clone())).await;
        assert_eq!(r.status, 400, "{body}: {}", r.body);
        assert!(r.body.contains("expires_at"), "{}", r.body);
    }
    let sooner = s.core.now().plus_secs(300).to_rfc3339();
    create(
        &s,
        &key,
        json!({"name": "shorter", "scopes": ["read:api_keys"], "expires_at": sooner}),
    )
    .await;
    let last_used = |r: &Reply| r.json()["last_used_at"].clone();
    let view = format!("{KEYS}/{id}");

    assert_eq!(send(&s, "GET", &view, &key, None).await.status, 200);
    let first = last_used(&send(&s, "GET", &view, &admin, None).await);
    assert!(first.is_string(), "{first}");
    // Used again within the minute: not written again.
    s.clock.advance_secs(20);
    assert_eq!(send(&s, "GET", &view, &key, None).await.status, 200);
    assert_eq!(
        last_used(&send(&s, "GET", &view, &admin, None).await),
        first
    );
    // A minute later: written.
    s.clock.advance_secs(50);
    assert_eq!(send(&s, "GET", &view, &key, None).await.status, 200);
    let second = last_used(&send(&s, "GET", &view, &admin, None).await);
    assert!(second.is_string() && second != first, "{first} {second}");
    // Past its expiry: refused.
    s.clock.advance_secs(600);
    let admin = s.mgmt_token("default", MGMT_SCOPES).await;
    let r = send(&s, "GET", &view, &key, None).await;
    assert_eq!(r.status, 401, "{}", r.body);
    assert_eq!(error_of(&r), "invalid_token");
    let r = send(&s, "GET", &view, &admin, None).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["expires_at"], expires.as_str());
}

//! Resource servers (Apis) through the Management API (`/resource-servers`), against a
//! real server on SQLite and PostgreSQL: the life cycle, pagination, strict input, scopes,
//! the Management API's own Api protected, removed scopes leaving roles, client grants
//! and decisions at once, audit events, and isolation between tenants.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use clavis_testkit::{Backend, Reply, TestServer};
use serde_json::{Value, json};

clavis_testkit::on_both!(
    resource_server_life_cycle,
    resource_server_list_pages,
    resource_server_input_is_strict,
    resource_server_scopes_and_tenants,
    system_api_is_protected,
    removed_scopes_leave_roles_grants_and_decisions,
    another_tenants_apis_are_unreachable,
    organization_credentials_are_refused,
);

const RS: &str = "/t/default/api/v2/resource-servers";
const PW: &str = "correct horse battery";

const ALL: &[&str] = &[
    "read:resource_servers",
    "create:resource_servers",
    "update:resource_servers",
    "delete:resource_servers",
    "read:roles",
    "create:roles",
    "update:roles",
    "create:role_members",
    "read:logs",
    "read:authz",
];

async fn send(s: &TestServer, token: &str, method: &str, path: &str, body: Option<Value>) -> Reply {
    s.client.send(method, path, token, body.as_ref()).await
}

/// The client id a Management API token was issued to.
fn client_of(token: &str) -> String {
    let payload = token.split('.').nth(1).unwrap();
    let claims: Value =
        serde_json::from_slice(&clavis_crypto::b64url_decode(payload).unwrap()).unwrap();
    claims["client_id"].as_str().unwrap().to_owned()
}

/// The newest audit event of `event_type`.
async fn last_event(s: &TestServer, token: &str, event_type: &str) -> Value {
    let r = send(
        s,
        token,
        "GET",
        &format!("/t/default/api/v2/logs?type={event_type}&per_page=1"),
        None,
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let e = r.json()["logs"][0].clone();
    assert_eq!(e["event_type"], event_type, "{}", r.body);
    e
}

fn error_of(r: &Reply) -> (String, String) {
    let v = r.json();
    (
        v["error"].as_str().unwrap_or_default().to_owned(),
        v["error_description"]
            .as_str()
            .unwrap_or_default()
            .to_owned(),
    )
}

/// Assert a 400 whose description mentions `needle`.
fn assert_400(r: &Reply, needle: &str) {
    assert_eq!(r.status, 400, "{}", r.body);
    let (error, description) = error_of(r);
    assert_eq!(error, "invalid_request", "{}", r.body);
    assert!(
        description.contains(needle),
        "`{needle}` not in {description}"
    );
}

async fn create(s: &TestServer, token: &str, identifier: &str, scopes: &[&str]) -> Value {
    let scopes: Vec<Value> = scopes
        .iter()
        .map(|v| json!({"value": v, "description": format!("may {v}")}))
        .collect();
    let r = send(
        s,
        token,
        "POST",
        RS,
        Some(json!({"identifier": identifier, "scopes": scopes})),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.body);
    r.json()
}

async fn resource_server_life_cycle(b: Backend) {
    let s = TestServer::start(b).await;
    let token = s.mgmt_token("default", ALL).await;
    let r = send(
        &s,
        &token,
        "POST",
        RS,
        Some(json!({
            "name": "Docs",
            "identifier": "https://docs.example.com/",
            "scopes": [{"value": "write:doc", "description": "Write"}, {"value": "read:doc"}],
            "token_lifetime": 600,
            "enforce_policies": true,
            "token_dialect": "access_token_authz",
            "signing_alg": "RS256",
        })),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let created = r.json();
    let id = created["id"].as_str().unwrap().to_owned();
    assert!(id.starts_with("api_"));
    assert_eq!(created["name"], "Docs");
    assert_eq!(created["identifier"], "https://docs.example.com/");
    assert_eq!(
        created["scopes"],
        json!([{"value": "read:doc", "description": ""}, {"value": "write:doc", "description": "Write"}])
    );
    assert_eq!(created["token_lifetime"], 600);
    assert_eq!(created["enforce_policies"], true);
    assert_eq!(created["token_dialect"], "access_token_authz");
    assert_eq!(created["signing_alg"], "RS256");
    assert_eq!(created["allow_offline_access"], false);
    assert_eq!(created["is_system"], false);
    let e = last_event(&s, &token, "resource_server.created").await;
    assert_eq!(e["actor"]["client_id"], client_of(&token));
    assert_eq!(e["context"]["resource_server_id"], id);
    assert_eq!(e["context"]["scopes"], json!(["read:doc", "write:doc"]));
    assert!(!e.to_string().contains(&token));

    let one = send(&s, &token, "GET", &format!("{RS}/{id}"), None).await;
    assert_eq!(one.status, 200, "{}", one.body);
    assert_eq!(one.json(), created);

    // Defaults: name = identifier, access_token dialect, RBAC off, one hour.
    let plain = create(&s, &token, "urn:example:plain", &[]).await;
    assert_eq!(plain["name"], "urn:example:plain");
    assert_eq!(plain["token_dialect"], "access_token");
    assert_eq!(plain["enforce_policies"], false);
    assert_eq!(plain["token_lifetime"], 3600);

    let r = send(
        &s,
        &token,
        "PATCH",
        &format!("{RS}/{id}"),
        Some(json!({
            "name": "Documents",
            "token_lifetime": 1200,
            "token_dialect": "access_token",
            "identifier": "https://docs.example.com/",
            "skip_consent_for_verifiable_first_party_clients": true,
        })),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let v = r.json();
    assert_eq!(v["name"], "Documents");
    assert_eq!(v["token_lifetime"], 1200);
    assert_eq!(v["token_dialect"], "access_token");
    assert_eq!(v["skip_consent_for_verifiable_first_party_clients"], true);
    assert_eq!(
        v["scopes"], created["scopes"],
        "scopes untouched when absent"
    );
    let e = last_event(&s, &token, "resource_server.updated").await;
    assert_eq!(e["context"]["before"]["name"], "Docs");
    assert_eq!(e["context"]["after"]["name"], "Documents");
    assert_eq!(e["context"]["after"]["token_lifetime"], 1200);

    let r = send(
        &s,
        &token,
        "PATCH",
        &format!("{RS}/{id}"),
        Some(json!({"scopes": [{"value": "read:doc"}, {"value": "admin:doc", "description": "Admin"}]})),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        r.json()["scopes"],
        json!([{"value": "admin:doc", "description": "Admin"}, {"value": "read:doc", "description": ""}])
    );
    let e = last_event(&s, &token, "resource_server.updated").await;
    assert_eq!(e["context"]["scopes_added"], json!(["admin:doc"]));
    assert_eq!(e["context"]["scopes_removed"], json!(["write:doc"]));

    let r = send(&s, &token, "DELETE", &format!("{RS}/{id}"), None).await;
    assert_eq!(r.status, 204, "{}", r.body);
    let e = last_event(&s, &token, "resource_server.deleted").await;
    assert_eq!(e["context"]["identifier"], "https://docs.example.com/");
    assert_eq!(e["actor"]["client_id"], client_of(&token));
    for method in ["GET", "DELETE"] {
        let r = send(&s, &token, method, &format!("{RS}/{id}"), None).await;
        assert_eq!(r.status, 404, "{}", r.body);
    }
    let r = send(
        &s,
        &token,
        "PATCH",
        &format!("{RS}/{id}"),
        Some(json!({"name": "x"})),
    )
    .await;
    assert_eq!(r.status, 404, "{}", r.body);
    // The identifier is free again.
    create(&s, &token, "https://docs.example.com/", &[]).await;
}

async fn resource_server_list_pages(b: Backend) {
    let s = TestServer::start(b).await;
    let token = s.mgmt_token("default", ALL).await;
    for i in 0..4 {
        create(
            &s,
            &token,
            &format!("https://api{i}.example.com/"),
            &["read:x"],
        )
        .await;
    }
    // Four, plus the Management API's own.
    let r = send(&s, &token, "GET", RS, None).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let all = r.json();
    assert_eq!(all.as_array().unwrap().len(), 5, "{all}");
    assert_eq!(
        all.as_array()
            .unwrap()
            .iter()
            .filter(|a| a["is_system"] == true)
            .count(),
        1
    );
    let r = send(
        &s,
        &token,
        "GET",
        &format!("{RS}?per_page=2&page=2&include_totals=true"),
        None,
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let v = r.json();
    assert_eq!(v["total"], 5);
    assert_eq!(v["start"], 4);
    assert_eq!(v["length"], 1);
    assert_eq!(v["resource_servers"][0], all[4]);
    let r = send(&s, &token, "GET", &format!("{RS}?per_page=0"), None).await;
    assert_400(&r, "per_page");
    let r = send(&s, &token, "GET", &format!("{RS}?identifier=x"), None).await;
    assert_400(&r, "identifier");
}

async fn resource_server_input_is_strict(b: Backend) {
    let s = TestServer::start(b).await;
    let token = s.mgmt_token("default", ALL).await;
    let api = create(&s, &token, "https://docs.example.com/", &["read:doc"]).await;
    let id = api["id"].as_str().unwrap();
    let one = format!("{RS}/{id}");
    let cases = [
        (
            "POST",
            RS.to_owned(),
            json!({"identifier": "https://a.example/", "colour": 1}),
            "colour",
        ),
        (
            "POST",
            RS.to_owned(),
            json!({"name": "no identifier"}),
            "identifier",
        ),
        (
            "POST",
            RS.to_owned(),
            json!({"identifier": "not a uri"}),
            "identifier",
        ),
        (
            "POST",
            RS.to_owned(),
            json!({"identifier": "docs.example.com"}),
            "identifier",
        ),
        (
            "POST",
            RS.to_owned(),
            json!({"identifier": "https://a.example/#x"}),
            "identifier",
        ),
        (
            "POST",
            RS.to_owned(),
            json!({"identifier": format!("https://a.example/{}", "x".repeat(600))}),
            "identifier",
        ),
        (
            "POST",
            RS.to_owned(),
            json!({"identifier": "https://a.example/", "token_lifetime": 0}),
            "token_lifetime",
        ),
        (
            "POST",
            RS.to_owned(),
            json!({"identifier": "https://a.example/", "token_lifetime": 86_401}),
            "token_lifetime",
        ),
        (
            "POST",
            RS.to_owned(),
            json!({"identifier": "https://a.example/", "token_lifetime": "1"}),
            "request body",
        ),
        (
            "POST",
            RS.to_owned(),
            json!({"identifier": "https://a.example/", "token_dialect": "jwt"}),
            "token_dialect",
        ),
        (
            "POST",
            RS.to_owned(),
            json!({"identifier": "https://a.example/", "signing_alg": "HS256"}),
            "signing_alg",
        ),
        (
            "POST",
            RS.to_owned(),
            json!({"identifier": "https://a.example/", "scopes": [{"value": "a b"}]}),
            "scopes[0].value",
        ),
        (
            "POST",
            RS.to_owned(),
            json!({"identifier": "https://a.example/", "scopes": [{"value": "a"}, {"value": "a"}]}),
            "scopes[1].value",
        ),
        (
            "POST",
            RS.to_owned(),
            json!({"identifier": "https://a.example/", "scopes": [{"value": "a", "x": 1}]}),
            "x",
        ),
        (
            "PATCH",
            one.clone(),
            json!({"identifier": "https://elsewhere.example/"}),
            "identifier",
        ),
        ("PATCH", one.clone(), json!({"name": ""}), "name"),
        (
            "PATCH",
            one.clone(),
            json!({"scopes": [{"value": ""}]}),
            "scopes[0].value",
        ),
        ("PATCH", one.clone(), json!({"audience": "x"}), "audience"),
    ];
    for (method, path, body, needle) in cases {
        let r = send(&s, &token, method, &path, Some(body.clone())).await;
        assert_eq!(r.status, 400, "{method} {body}: {}", r.body);
        assert_400(&r, needle);
    }
    let r = send(&s, &token, "GET", &format!("{one}?fields=name"), None).await;
    assert_400(&r, "fields");
    for bad in ["rol_abc", "api_a-b", "x"] {
        let r = send(&s, &token, "GET", &format!("{RS}/{bad}"), None).await;
        assert_400(&r, "`id`");
    }
    let r = send(&s, &token, "GET", &format!("{RS}/api_doesnotexist"), None).await;
    assert_eq!(r.status, 404, "{}", r.body);
    // The identifier is unique in the tenant.
    let r = send(
        &s,
        &token,
        "POST",
        RS,
        Some(json!({"identifier": "https://docs.example.com/"})),
    )
    .await;
    assert_eq!(r.status, 409, "{}", r.body);
    assert!(
        error_of(&r).1.contains("https://docs.example.com/"),
        "{}",
        r.body
    );
    // Nothing changed.
    let r = send(&s, &token, "GET", &one, None).await;
    assert_eq!(r.json(), api);
}

async fn resource_server_scopes_and_tenants(b: Backend) {
    let s = TestServer::start(b).await;
    let admin = s.mgmt_token("default", ALL).await;
    let api = create(&s, &admin, "https://docs.example.com/", &[]).await;
    let id = api["id"].as_str().unwrap();
    let reader = s.mgmt_token("default", &["read:resource_servers"]).await;
    let none = s.mgmt_token("default", &["read:roles"]).await;
    let ops = [
        ("GET", RS.to_owned(), None, "read:resource_servers"),
        ("GET", format!("{RS}/{id}"), None, "read:resource_servers"),
        (
            "POST",
            RS.to_owned(),
            Some(json!({"identifier": "urn:x"})),
            "create:resource_servers",
        ),
        (
            "PATCH",
            format!("{RS}/{id}"),
            Some(json!({"name": "n"})),
            "update:resource_servers",
        ),
        (
            "DELETE",
            format!("{RS}/{id}"),
            None,
            "delete:resource_servers",
        ),
    ];
    for (method, path, body, scope) in &ops {
        let token = if scope.starts_with("read:") {
            &none
        } else {
            &reader
        };
        let r = send(&s, token, method, path, body.clone()).await;
        assert_eq!(r.status, 403, "{method} {path}: {}", r.body);
        let (error, description) = error_of(&r);
        assert_eq!(error, "insufficient_scope");
        assert!(description.contains(scope), "{description}");
    }
    let other = s.mgmt_token("other", ALL).await;
    for bad in ["", "garbage", other.as_str()] {
        let r = send(&s, bad, "GET", &format!("{RS}/{id}"), None).await;
        assert_eq!(r.status, 401, "{}", r.body);
    }
    let r = send(&s, &admin, "GET", &format!("{RS}/{id}"), None).await;
    assert_eq!(r.json(), api);
}

async fn system_api_is_protected(b: Backend) {
    let s = TestServer::start(b).await;
    let token = s.mgmt_token("default", ALL).await;
    let r = send(&s, &token, "GET", RS, None).await;
    let system = r
        .json()
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["is_system"] == true)
        .cloned()
        .unwrap();
    let audience = format!("{}/api/v2/", s.issuer("default"));
    assert_eq!(system["identifier"], audience);
    let id = system["id"].as_str().unwrap().to_owned();

    let r = send(&s, &token, "DELETE", &format!("{RS}/{id}"), None).await;
    assert_eq!(r.status, 403, "{}", r.body);
    let (error, description) = error_of(&r);
    assert_eq!(error, "access_denied");
    assert!(description.contains("Management API"), "{description}");

    let r = send(
        &s,
        &token,
        "PATCH",
        &format!("{RS}/{id}"),
        Some(json!({"scopes": []})),
    )
    .await;
    assert_400(&r, "scopes");
    assert_400(&r, "Management API");
    let r = send(
        &s,
        &token,
        "PATCH",
        &format!("{RS}/{id}"),
        Some(json!({"identifier": "https://evil.example/api/v2/"})),
    )
    .await;
    assert_400(&r, "identifier");
    // Sending its scopes unchanged is no change.
    let r = send(
        &s,
        &token,
        "PATCH",
        &format!("{RS}/{id}"),
        Some(json!({"scopes": system["scopes"]})),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    // Nothing else of it can change either, but the lifetime of its tokens.
    for body in [
        json!({"name": "Mine now"}),
        json!({"enforce_policies": !system["enforce_policies"].as_bool().unwrap()}),
        json!({"skip_consent_for_verifiable_first_party_clients": !system["skip_consent_for_verifiable_first_party_clients"].as_bool().unwrap()}),
        json!({"allow_offline_access": !system["allow_offline_access"].as_bool().unwrap()}),
        json!({"token_dialect": "access_token_authz", "name": "x"}),
    ] {
        let r = send(
            &s,
            &token,
            "PATCH",
            &format!("{RS}/{id}"),
            Some(body.clone()),
        )
        .await;
        assert_eq!(r.status, 400, "{body}: {}", r.body);
        assert_400(&r, "Management API");
    }

    let r = send(&s, &token, "GET", &format!("{RS}/{id}"), None).await;
    assert_eq!(r.json(), system, "the system Api is untouched");
    let r = send(
        &s,
        &token,
        "PATCH",
        &format!("{RS}/{id}"),
        Some(json!({"token_lifetime": 600})),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["token_lifetime"], 600);
    // And the Management API still answers.
    assert_eq!(send(&s, &token, "GET", RS, None).await.status, 200);
}

async fn check(s: &TestServer, token: &str, user: &str, permission: &str) -> bool {
    let body = json!({"subject": {"user_id": user}, "api": "https://docs.example.com/", "permission": permission});
    let r = send(
        s,
        token,
        "POST",
        "/t/default/api/v2/authorize/check",
        Some(body),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    r.json()["allowed"].as_bool().unwrap()
}

async fn removed_scopes_leave_roles_grants_and_decisions(b: Backend) {
    let s = TestServer::start(b).await;
    let fx = s.fixtures("default");
    let token = s.mgmt_token("default", ALL).await;
    let api = create(
        &s,
        &token,
        "https://docs.example.com/",
        &["read:doc", "write:doc"],
    )
    .await;
    let id = api["id"].as_str().unwrap().to_owned();
    let ann = fx.user("ann@example.com", PW).await.id.to_string();
    let r = send(
        &s,
        &token,
        "POST",
        "/t/default/api/v2/roles",
        Some(json!({"name": "writer"})),
    )
    .await;
    let role = r.json()["id"].as_str().unwrap().to_owned();
    let perms = json!({"permissions": [
        {"resource_server_identifier": "https://docs.example.com/", "permission_name": "write:doc"},
        {"resource_server_identifier": "https://docs.example.com/", "permission_name": "read:doc"},
    ]});
    let roles = format!("/t/default/api/v2/roles/{role}");
    assert_eq!(
        send(
            &s,
            &token,
            "POST",
            &format!("{roles}/permissions"),
            Some(perms)
        )
        .await
        .status,
        201
    );
    assert_eq!(
        send(
            &s,
            &token,
            "POST",
            &format!("{roles}/users"),
            Some(json!({"users": [ann]}))
        )
        .await
        .status,
        201
    );
    assert!(check(&s, &token, &ann, "write:doc").await);

    // A machine-to-machine client granted both scopes.
    let t = fx.tenant().await;
    let stored = {
        let mut tx = s.core.store.read().await.unwrap();
        tx.api_get(&t.id, &clavis_types::ApiId::parse(&id).unwrap())
            .await
            .unwrap()
            .unwrap()
    };
    let m2m = fx
        .m2m_app(
            &stored,
            &["read:doc", "write:doc"],
            "client_secret_post",
            None,
        )
        .await;
    let client = clavis_types::ClientId::parse(&m2m.client_id).unwrap();

    let r = send(
        &s,
        &token,
        "PATCH",
        &format!("{RS}/{id}"),
        Some(json!({"scopes": [{"value": "read:doc"}]})),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(
        !check(&s, &token, &ann, "write:doc").await,
        "denied at the next check"
    );
    assert!(check(&s, &token, &ann, "read:doc").await);
    let r = send(&s, &token, "GET", &format!("{roles}/permissions"), None).await;
    let held = r.json();
    assert_eq!(held.as_array().unwrap().len(), 1, "{held}");
    assert_eq!(held[0]["permission_name"], "read:doc");
    let grant = {
        let mut tx = s.core.store.read().await.unwrap();
        tx.client_grant_get(&t.id, &client, &stored.id)
            .await
            .unwrap()
            .unwrap()
    };
    assert_eq!(grant.scope, vec!["read:doc".to_owned()]);

    // Deleting the Api takes its permissions from the role.
    assert_eq!(
        send(&s, &token, "DELETE", &format!("{RS}/{id}"), None)
            .await
            .status,
        204
    );
    let r = send(&s, &token, "GET", &format!("{roles}/permissions"), None).await;
    assert_eq!(r.json(), json!([]), "{}", r.body);
    let grant = {
        let mut tx = s.core.store.read().await.unwrap();
        tx.client_grant_get(&t.id, &client, &stored.id)
            .await
            .unwrap()
    };
    assert!(grant.is_none());
}

async fn another_tenants_apis_are_unreachable(b: Backend) {
    let s = TestServer::start(b).await;
    let theirs = s.mgmt_token("other", ALL).await;
    let r = send(
        &s,
        &theirs,
        "POST",
        "/t/other/api/v2/resource-servers",
        Some(json!({"identifier": "https://docs.example.com/", "scopes": [{"value": "read:doc"}]})),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let their = r.json();
    let their_id = their["id"].as_str().unwrap();
    let token = s.mgmt_token("default", ALL).await;
    for (method, body) in [
        ("GET", None),
        ("PATCH", Some(json!({"name": "pwned", "scopes": []}))),
        ("DELETE", None),
    ] {
        let r = send(&s, &token, method, &format!("{RS}/{their_id}"), body).await;
        assert_eq!(r.status, 404, "{method}: {}", r.body);
    }
    // The same identifier is free in this tenant; lists are per tenant.
    let mine = create(&s, &token, "https://docs.example.com/", &[]).await;
    assert_ne!(mine["id"], their["id"]);
    let r = send(&s, &token, "GET", RS, None).await;
    assert!(!r.body.contains(their_id), "{}", r.body);
    let r = send(
        &s,
        &theirs,
        "GET",
        &format!("/t/other/api/v2/resource-servers/{their_id}"),
        None,
    )
    .await;
    assert_eq!(r.json(), their, "untouched");
}

/// An organization administrator's API key reaches no Api operation (they span the
/// tenant); a tenant-wide key with the scope does.
async fn organization_credentials_are_refused(b: Backend) {
    let s = TestServer::start(b).await;
    let acme = s.fixtures("default").org("acme", &[]).await;
    let token = s
        .mgmt_token(
            "default",
            &["create:api_keys", "read:authz", "read:resource_servers"],
        )
        .await;
    let mut keys = Vec::new();
    for (org, scope) in [
        (Some(acme.id.to_string()), "read:authz"),
        (None, "read:resource_servers"),
    ] {
        let body = json!({"name": "k", "scopes": [scope], "org_id": org});
        let r = send(&s, &token, "POST", "/t/default/api/v2/api-keys", Some(body)).await;
        assert_eq!(r.status, 201, "{}", r.body);
        keys.push(r.json()["key"].as_str().unwrap().to_owned());
    }
    let api = create(
        &s,
        &s.mgmt_token("default", ALL).await,
        "urn:example:x",
        &[],
    )
    .await;
    let one = format!("{RS}/{}", api["id"].as_str().unwrap());
    for (method, path, body) in [
        ("GET", RS.to_owned(), None),
        ("GET", one.clone(), None),
        (
            "POST",
            RS.to_owned(),
            Some(json!({"identifier": "urn:example:y"})),
        ),
        ("DELETE", one.clone(), None),
    ] {
        let r = send(&s, &keys[0], method, &path, body).await;
        assert_eq!(r.status, 403, "{method} {path}: {}", r.body);
    }
    let r = send(&s, &keys[1], "GET", &one, None).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json(), api);
}

//! Connections through the Management API: the life cycle (create, read, list with
//! pagination and totals, change options, delete), the default connection and connections
//! holding identities protected from deletion, malformed input, scopes, tenants and the
//! audit events — against a real server, on SQLite and PostgreSQL.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use clavis_testkit::{Backend, Reply, TestServer};
use serde_json::{Value, json};

clavis_testkit::on_both!(
    connection_life_cycle,
    default_and_used_connections_are_kept,
    malformed_input_is_a_400_naming_it,
    callers_need_the_scope_and_their_own_tenant,
);

const CONNS: &str = "/t/default/api/v2/connections";
const ALL: &[&str] = &[
    "read:connections",
    "create:connections",
    "update:connections",
    "delete:connections",
    "create:users",
    "delete:users",
    "read:logs",
];

async fn send(s: &TestServer, token: &str, method: &str, path: &str, body: Option<Value>) -> Reply {
    s.client.send(method, path, token, body.as_ref()).await
}

fn assert_error(r: &Reply, status: u16, error: &str, mentions: &str) {
    assert_eq!(r.status, status, "{}", r.body);
    let body = r.json();
    assert_eq!(body["error"], error, "{}", r.body);
    let d = body["error_description"].as_str().unwrap();
    assert!(d.contains(mentions), "`{mentions}` not in: {d}");
}

async fn create(s: &TestServer, token: &str, body: Value) -> Value {
    let r = send(s, token, "POST", CONNS, Some(body)).await;
    assert_eq!(r.status, 201, "{}", r.body);
    r.json()
}

async fn events(s: &TestServer, token: &str, kind: &str) -> Vec<Value> {
    let r = send(
        s,
        token,
        "GET",
        &format!("/t/default/api/v2/logs?type={kind}&order=asc"),
        None,
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    r.json()["logs"].as_array().unwrap().clone()
}

fn client_of(token: &str) -> String {
    let payload = token.split('.').nth(1).unwrap();
    let claims: Value =
        serde_json::from_slice(&clavis_crypto::b64url_decode(payload).unwrap()).unwrap();
    claims["client_id"].as_str().unwrap().to_owned()
}

async fn connection_life_cycle(b: Backend) {
    let s = TestServer::start(b).await;
    let token = s.mgmt_token("default", ALL).await;

    // Every tenant starts with its default database connection.
    let r = send(
        &s,
        &token,
        "GET",
        &format!("{CONNS}?include_totals=true"),
        None,
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let body = r.json();
    assert_eq!(body["total"], 1, "{body}");
    assert_eq!(
        body["connections"][0]["name"],
        "Username-Password-Authentication"
    );
    assert_eq!(body["connections"][0]["strategy"], "database");
    assert_eq!(body["connections"][0]["is_default"], true);

    let c = create(
        &s,
        &token,
        json!({"name": "partners-db", "strategy": "database", "options": {"disable_signup": true}}),
    )
    .await;
    let id = c["id"].as_str().unwrap().to_owned();
    assert!(id.starts_with("con_"), "{c}");
    assert_eq!(c["name"], "partners-db");
    assert_eq!(c["options"], json!({"disable_signup": true}));
    assert_eq!(c["is_default"], false);
    let r = send(&s, &token, "GET", &format!("{CONNS}/{id}"), None).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json(), c);

    for i in 0..3 {
        create(
            &s,
            &token,
            json!({"name": format!("db-{i}"), "strategy": "database"}),
        )
        .await;
    }
    let r = send(
        &s,
        &token,
        "GET",
        &format!("{CONNS}?per_page=2&page=1&include_totals=true"),
        None,
    )
    .await;
    let page = r.json();
    assert_eq!(page["total"], 5, "{page}");
    assert_eq!(page["start"], 2);
    assert_eq!(page["connections"].as_array().unwrap().len(), 2);
    let r = send(
        &s,
        &token,
        "GET",
        &format!("{CONNS}?per_page=2&page=2"),
        None,
    )
    .await;
    assert_eq!(r.json().as_array().unwrap().len(), 1, "{}", r.body);

    // Options are replaced as a whole; an unchanged patch records nothing.
    let r = send(
        &s,
        &token,
        "PATCH",
        &format!("{CONNS}/{id}"),
        Some(json!({"options": {"brute_force_protection": true}})),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["options"], json!({"brute_force_protection": true}));
    assert_eq!(r.json()["name"], "partners-db");
    let r = send(
        &s,
        &token,
        "PATCH",
        &format!("{CONNS}/{id}"),
        Some(json!({"options": {"brute_force_protection": true}})),
    )
    .await;
    assert_eq!(r.status, 200);
    let r = send(
        &s,
        &token,
        "PATCH",
        &format!("{CONNS}/{id}"),
        Some(json!({})),
    )
    .await;
    assert_eq!(r.status, 200);

    let r = send(&s, &token, "DELETE", &format!("{CONNS}/{id}"), None).await;
    assert_eq!(r.status, 204, "{}", r.body);
    for m in ["GET", "DELETE"] {
        let r = send(&s, &token, m, &format!("{CONNS}/{id}"), None).await;
        assert_error(&r, 404, "not_found", "connection");
    }
    let r = send(
        &s,
        &token,
        "PATCH",
        &format!("{CONNS}/{id}"),
        Some(json!({"options": {}})),
    )
    .await;
    assert_eq!(r.status, 404);
    // The name is free again.
    create(
        &s,
        &token,
        json!({"name": "partners-db", "strategy": "database"}),
    )
    .await;

    let client = client_of(&token);
    let created = events(&s, &token, "connection.created").await;
    assert_eq!(created.len(), 5);
    assert_eq!(created[0]["actor"]["client_id"], client.as_str());
    assert_eq!(created[0]["context"]["connection_id"], id.as_str());
    assert_eq!(created[0]["context"]["connection"], "partners-db");
    let updated = events(&s, &token, "connection.updated").await;
    assert_eq!(updated.len(), 1, "{updated:?}");
    assert_eq!(updated[0]["context"]["changed"], json!(["options"]));
    assert!(
        !updated[0].to_string().contains("brute_force"),
        "no option values: {}",
        updated[0]
    );
    let deleted = events(&s, &token, "connection.deleted").await;
    assert_eq!(deleted.len(), 1);
    assert_eq!(deleted[0]["context"]["connection_id"], id.as_str());
    assert_eq!(deleted[0]["actor"]["client_id"], client.as_str());
}

async fn default_and_used_connections_are_kept(b: Backend) {
    let s = TestServer::start(b).await;
    let token = s.mgmt_token("default", ALL).await;
    let r = send(&s, &token, "GET", CONNS, None).await;
    let default_id = r.json()[0]["id"].as_str().unwrap().to_owned();
    let r = send(&s, &token, "DELETE", &format!("{CONNS}/{default_id}"), None).await;
    assert_error(&r, 409, "conflict", "default");

    // A user on a new connection keeps it alive; once the user is gone it may go (a soft-
    // deleted user's identity still counts until it is purged, so delete is refused).
    let c = create(&s, &token, json!({"name": "staff", "strategy": "database"})).await;
    let id = c["id"].as_str().unwrap().to_owned();
    let r = send(
        &s,
        &token,
        "POST",
        "/t/default/api/v2/users",
        Some(json!({"email": "s@example.com", "connection": "staff"})),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(r.json()["identities"][0]["connection"], "staff");
    assert_eq!(r.json()["identities"][0]["connection_id"], id.as_str());
    let r = send(&s, &token, "DELETE", &format!("{CONNS}/{id}"), None).await;
    assert_error(&r, 409, "conflict", "identit");
    let r = send(&s, &token, "GET", &format!("{CONNS}/{id}"), None).await;
    assert_eq!(r.status, 200, "still there");
    assert!(events(&s, &token, "connection.deleted").await.is_empty());
}

async fn malformed_input_is_a_400_naming_it(b: Backend) {
    let s = TestServer::start(b).await;
    let token = s.mgmt_token("default", ALL).await;
    let c = create(&s, &token, json!({"name": "one", "strategy": "database"})).await;
    let id = c["id"].as_str().unwrap().to_owned();

    let cases = [
        (
            json!({"name": "two", "strategy": "database", "enabled_clients": []}),
            "enabled_clients",
        ),
        (
            json!({"name": "two", "strategy": "google-oauth2"}),
            "strategy",
        ),
        (json!({"name": "two"}), "strategy"),
        (json!({"strategy": "database"}), "name"),
        (json!({"name": "has space", "strategy": "database"}), "name"),
        (json!({"name": "-dash", "strategy": "database"}), "name"),
        (
            json!({"name": "x".repeat(129), "strategy": "database"}),
            "name",
        ),
        (
            json!({"name": "two", "strategy": "database", "options": []}),
            "request body",
        ),
        (
            json!({"name": "two", "strategy": "database", "options": {"x": [[[[[[[[[[1]]]]]]]]]]}}),
            "options",
        ),
        (
            json!({"name": "two", "strategy": "database", "options": {"big": "y".repeat(17 * 1024)}}),
            "options",
        ),
    ];
    for (body, field) in cases {
        let r = send(&s, &token, "POST", CONNS, Some(body.clone())).await;
        assert_error(&r, 400, "invalid_request", field);
    }
    let r = send(
        &s,
        &token,
        "POST",
        CONNS,
        Some(json!({"name": "one", "strategy": "database"})),
    )
    .await;
    assert_error(&r, 409, "conflict", "one");
    let r = send(
        &s,
        &token,
        "POST",
        CONNS,
        Some(json!({"name": "Username-Password-Authentication", "strategy": "database"})),
    )
    .await;
    assert_eq!(r.status, 409);

    // Name and strategy cannot change.
    for field in ["name", "strategy"] {
        let r = send(
            &s,
            &token,
            "PATCH",
            &format!("{CONNS}/{id}"),
            Some(json!({field: "other"})),
        )
        .await;
        assert_error(&r, 400, "invalid_request", field);
    }
    let r = send(
        &s,
        &token,
        "PATCH",
        &format!("{CONNS}/{id}"),
        Some(json!({"options": "x"})),
    )
    .await;
    assert_eq!(r.status, 400);

    for q in [
        "?strategy=database",
        "?per_page=500",
        "?page=-1",
        "?include_totals=1",
    ] {
        let r = send(&s, &token, "GET", &format!("{CONNS}{q}"), None).await;
        assert_eq!(r.status, 400, "{q}: {}", r.body);
    }
    let r = send(&s, &token, "GET", &format!("{CONNS}?name=one"), None).await;
    assert_error(&r, 400, "invalid_request", "`name`");
    for bad in ["one", "usr_00000000000000000000000000", "con_a.b"] {
        let r = send(&s, &token, "GET", &format!("{CONNS}/{bad}"), None).await;
        assert_error(&r, 400, "invalid_request", "`id`");
    }
    let r = send(
        &s,
        &token,
        "GET",
        &format!("{CONNS}/con_00000000000000000000000000"),
        None,
    )
    .await;
    assert_error(&r, 404, "not_found", "connection");
}

async fn callers_need_the_scope_and_their_own_tenant(b: Backend) {
    let s = TestServer::start(b).await;
    let token = s.mgmt_token("default", ALL).await;
    let c = create(&s, &token, json!({"name": "mine", "strategy": "database"})).await;
    let id = c["id"].as_str().unwrap().to_owned();

    let none = s.mgmt_token("default", &["read:users"]).await;
    let cases = [
        ("GET", CONNS.to_owned(), None, "read:connections"),
        (
            "POST",
            CONNS.to_owned(),
            Some(json!({"name": "x", "strategy": "database"})),
            "create:connections",
        ),
        ("GET", format!("{CONNS}/{id}"), None, "read:connections"),
        (
            "PATCH",
            format!("{CONNS}/{id}"),
            Some(json!({"options": {}})),
            "update:connections",
        ),
        (
            "DELETE",
            format!("{CONNS}/{id}"),
            None,
            "delete:connections",
        ),
    ];
    for (m, p, body, scope) in cases {
        let r = send(&s, &none, m, &p, body).await;
        assert_error(&r, 403, "insufficient_scope", scope);
    }
    let r = send(&s, "", "GET", CONNS, None).await;
    assert_eq!(r.status, 401);

    // Another tenant's token is refused here; its connections are unreachable from here.
    s.fixtures("other").tenant().await;
    let theirs = s.mgmt_token("other", ALL).await;
    let r = send(&s, &theirs, "GET", CONNS, None).await;
    assert_eq!(r.status, 401, "{}", r.body);
    let r = send(&s, &theirs, "GET", "/t/other/api/v2/connections", None).await;
    let their_default = r.json()[0]["id"].as_str().unwrap().to_owned();
    assert_ne!(their_default, id);
    for (m, body) in [
        ("GET", None),
        ("PATCH", Some(json!({"options": {"x": 1}}))),
        ("DELETE", None),
    ] {
        let r = send(&s, &token, m, &format!("{CONNS}/{their_default}"), body).await;
        assert_error(&r, 404, "not_found", "connection");
    }
    let r = send(
        &s,
        &theirs,
        "DELETE",
        &format!("/t/other/api/v2/connections/{id}"),
        None,
    )
    .await;
    assert_eq!(r.status, 404);
    let r = send(&s, &token, "GET", &format!("{CONNS}/{id}"), None).await;
    assert_eq!(r.status, 200, "untouched");
    // The same name may exist in both tenants.
    let r = send(
        &s,
        &theirs,
        "POST",
        "/t/other/api/v2/connections",
        Some(json!({"name": "mine", "strategy": "database"})),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.body);
    // A connection of another tenant cannot be named when creating a user here.
    let r = send(
        &s,
        &theirs,
        "POST",
        "/t/other/api/v2/connections",
        Some(json!({"name": "theirs-only", "strategy": "database"})),
    )
    .await;
    assert_eq!(r.status, 201);
    let r = send(
        &s,
        &token,
        "POST",
        "/t/default/api/v2/users",
        Some(json!({"email": "a@example.com", "connection": "theirs-only"})),
    )
    .await;
    assert_error(&r, 400, "invalid_request", "connection");
}

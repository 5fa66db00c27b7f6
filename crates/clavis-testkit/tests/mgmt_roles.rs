//! Roles through the Management API (`/roles`, their permissions, inheritance and users),
//! against a real server on SQLite and PostgreSQL: the life cycle, pagination and the name
//! filter, strict input, scopes, cycles refused with a 409 naming them, decisions of
//! `POST /authorize/check` following permission changes at once, audit events, and
//! isolation between tenants.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use clavis_testkit::{Backend, Reply, TestServer};
use serde_json::{Value, json};

#[path = "mgmt_roles/relations.rs"]
mod relations;

use relations::{
    another_tenants_roles_are_unreachable, direct_inheritance_is_bounded,
    organization_credentials_are_refused, role_inheritance_refuses_cycles,
    role_users_are_assigned_and_listed,
};

clavis_testkit::on_both!(
    role_life_cycle,
    role_list_pages_and_filters,
    role_filter_with_non_ascii_letters,
    role_input_is_strict,
    role_scopes_and_tenants,
    role_permissions_follow_decisions,
    role_permissions_must_exist_on_their_api,
    role_inheritance_refuses_cycles,
    role_users_are_assigned_and_listed,
    another_tenants_roles_are_unreachable,
    organization_credentials_are_refused,
    direct_inheritance_is_bounded,
);

const ROLES: &str = "/t/default/api/v2/roles";
const API: &str = "https://docs.example.com/";
const PW: &str = "correct horse battery";

const ALL: &[&str] = &[
    "read:roles",
    "create:roles",
    "update:roles",
    "delete:roles",
    "read:role_members",
    "create:role_members",
    "read:logs",
    "read:authz",
];

async fn send(s: &TestServer, token: &str, method: &str, path: &str, body: Option<Value>) -> Reply {
    s.client.send(method, path, token, body.as_ref()).await
}

/// Create a role over HTTP; returns its id.
async fn create_role(s: &TestServer, token: &str, name: &str) -> String {
    let r = send(
        s,
        token,
        "POST",
        ROLES,
        Some(json!({"name": name, "description": format!("the {name} role")})),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.body);
    r.json()["id"].as_str().unwrap().to_owned()
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

async fn role_life_cycle(b: Backend) {
    let s = TestServer::start(b).await;
    let token = s.mgmt_token("default", ALL).await;
    let r = send(
        &s,
        &token,
        "POST",
        ROLES,
        Some(json!({"name": "  editor ", "description": "edits"})),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let created = r.json();
    let id = created["id"].as_str().unwrap().to_owned();
    assert!(id.starts_with("rol_"));
    assert_eq!(created["name"], "editor");
    assert_eq!(created["description"], "edits");

    let one = send(&s, &token, "GET", &format!("{ROLES}/{id}"), None).await;
    assert_eq!(one.status, 200, "{}", one.body);
    assert_eq!(one.json(), created);

    let e = last_event(&s, &token, "role.created").await;
    assert_eq!(e["actor"]["client_id"], client_of(&token));
    assert_eq!(e["context"]["role_id"], id);
    assert!(
        !e.to_string().contains(&token),
        "the token leaked into the event"
    );

    let r = send(
        &s,
        &token,
        "PATCH",
        &format!("{ROLES}/{id}"),
        Some(json!({"name": "writer"})),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["name"], "writer");
    assert_eq!(r.json()["description"], "edits");
    let e = last_event(&s, &token, "role.updated").await;
    assert_eq!(e["context"]["before"]["name"], "editor");
    assert_eq!(e["context"]["after"]["name"], "writer");

    let r = send(&s, &token, "DELETE", &format!("{ROLES}/{id}"), None).await;
    assert_eq!(r.status, 204, "{}", r.body);
    let e = last_event(&s, &token, "role.deleted").await;
    assert_eq!(e["context"]["role_id"], id);
    assert_eq!(e["actor"]["client_id"], client_of(&token));
    for (method, path) in [
        ("GET", format!("{ROLES}/{id}")),
        ("DELETE", format!("{ROLES}/{id}")),
        ("GET", format!("{ROLES}/{id}/permissions")),
        ("GET", format!("{ROLES}/{id}/users")),
    ] {
        let r = send(&s, &token, method, &path, None).await;
        assert_eq!(r.status, 404, "{method} {path}: {}", r.body);
    }
    let r = send(
        &s,
        &token,
        "PATCH",
        &format!("{ROLES}/{id}"),
        Some(json!({"name": "x"})),
    )
    .await;
    assert_eq!(r.status, 404, "{}", r.body);
}

async fn role_list_pages_and_filters(b: Backend) {
    let s = TestServer::start(b).await;
    let token = s.mgmt_token("default", ALL).await;
    for name in [
        "Admin",
        "auditor",
        "billing",
        "Support_Agent",
        "support-lead",
    ] {
        create_role(&s, &token, name).await;
    }
    let r = send(&s, &token, "GET", ROLES, None).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let names: Vec<String> = r
        .json()
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(names.len(), 5);

    let r = send(
        &s,
        &token,
        "GET",
        &format!("{ROLES}?per_page=2&page=1&include_totals=true"),
        None,
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let v = r.json();
    assert_eq!(v["total"], 5);
    assert_eq!(v["start"], 2);
    assert_eq!(v["limit"], 2);
    assert_eq!(v["length"], 2);
    let page: Vec<&str> = v["roles"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        page,
        names[2..4].iter().map(String::as_str).collect::<Vec<_>>()
    );

    // Case-insensitive substring; `_` is a literal, not a wildcard.
    let r = send(
        &s,
        &token,
        "GET",
        &format!("{ROLES}?name_filter=SUPPORT&include_totals=true"),
        None,
    )
    .await;
    assert_eq!(r.json()["total"], 2, "{}", r.body);
    let r = send(&s, &token, "GET", &format!("{ROLES}?name_filter=t_a"), None).await;
    let found = r.json();
    assert_eq!(found.as_array().unwrap().len(), 1, "{found}");
    assert_eq!(found[0]["name"], "Support_Agent");
    let r = send(&s, &token, "GET", &format!("{ROLES}?name_filter=%25"), None).await;
    assert_eq!(r.json().as_array().unwrap().len(), 0, "{}", r.body);

    let r = send(&s, &token, "GET", &format!("{ROLES}?per_page=101"), None).await;
    assert_400(&r, "per_page");
    let r = send(
        &s,
        &token,
        "GET",
        &format!("{ROLES}?include_totals=yes"),
        None,
    )
    .await;
    assert_400(&r, "include_totals");
}

async fn role_input_is_strict(b: Backend) {
    let s = TestServer::start(b).await;
    let token = s.mgmt_token("default", ALL).await;
    let id = create_role(&s, &token, "reader").await;
    let cases = [
        (
            "POST",
            ROLES.to_owned(),
            json!({"name": "x", "colour": "red"}),
            "colour",
        ),
        ("POST", ROLES.to_owned(), json!({"name": "   "}), "name"),
        (
            "POST",
            ROLES.to_owned(),
            json!({"description": "no name"}),
            "name",
        ),
        (
            "POST",
            ROLES.to_owned(),
            json!({"name": "x".repeat(256)}),
            "name",
        ),
        (
            "POST",
            ROLES.to_owned(),
            json!({"name": "a\u{7}b"}),
            "control character",
        ),
        (
            "PATCH",
            format!("{ROLES}/{id}"),
            json!({"permissions": []}),
            "permissions",
        ),
        (
            "PATCH",
            format!("{ROLES}/{id}"),
            json!({"description": "d".repeat(501)}),
            "description",
        ),
        (
            "POST",
            format!("{ROLES}/{id}/permissions"),
            json!({"permissions": []}),
            "permissions",
        ),
        (
            "POST",
            format!("{ROLES}/{id}/inherits"),
            json!({"roles": ["nope"]}),
            "roles[0]",
        ),
        (
            "POST",
            format!("{ROLES}/{id}/users"),
            json!({"users": [], "x": 1}),
            "x",
        ),
        (
            "POST",
            format!("{ROLES}/{id}/users"),
            json!({"users": ["usr_nobody"]}),
            "users[0]",
        ),
    ];
    for (method, path, body, needle) in cases {
        let r = send(&s, &token, method, &path, Some(body.clone())).await;
        assert_400(&r, needle);
    }
    let r = s
        .client
        .http
        .post(s.client.url(ROLES))
        .bearer_auth(&token)
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);

    // Query parameters: unknown or repeated ones are refused by name.
    let r = send(&s, &token, "GET", &format!("{ROLES}?sort=name"), None).await;
    assert_400(&r, "sort");
    let r = send(&s, &token, "GET", &format!("{ROLES}?page=1&page=2"), None).await;
    assert_400(&r, "page");
    let r = send(
        &s,
        &token,
        "GET",
        &format!("{ROLES}/{id}?fields=name"),
        None,
    )
    .await;
    assert_400(&r, "fields");

    // Ids: malformed is a 400 naming `id`; well-formed but absent a 404.
    for bad in ["usr_abc", "rol_a-b", "x"] {
        let r = send(&s, &token, "GET", &format!("{ROLES}/{bad}"), None).await;
        assert_400(&r, "`id`");
    }
    let r = send(
        &s,
        &token,
        "GET",
        &format!("{ROLES}/rol_doesnotexist"),
        None,
    )
    .await;
    assert_eq!(r.status, 404, "{}", r.body);

    // Names are unique in the tenant, on create and on rename.
    let r = send(&s, &token, "POST", ROLES, Some(json!({"name": "reader"}))).await;
    assert_eq!(r.status, 409, "{}", r.body);
    assert!(error_of(&r).1.contains("reader"), "{}", r.body);
    let other = create_role(&s, &token, "writer").await;
    let r = send(
        &s,
        &token,
        "PATCH",
        &format!("{ROLES}/{other}"),
        Some(json!({"name": "reader"})),
    )
    .await;
    assert_eq!(r.status, 409, "{}", r.body);
}

async fn role_scopes_and_tenants(b: Backend) {
    let s = TestServer::start(b).await;
    let admin = s.mgmt_token("default", ALL).await;
    let id = create_role(&s, &admin, "reader").await;
    let reader = s.mgmt_token("default", &["read:roles"]).await;
    let none = s.mgmt_token("default", &["read:users"]).await;
    let ops: [(&str, String, Option<Value>, &str); 10] = [
        ("GET", ROLES.to_owned(), None, "read:roles"),
        (
            "POST",
            ROLES.to_owned(),
            Some(json!({"name": "n"})),
            "create:roles",
        ),
        (
            "PATCH",
            format!("{ROLES}/{id}"),
            Some(json!({"name": "n"})),
            "update:roles",
        ),
        ("DELETE", format!("{ROLES}/{id}"), None, "delete:roles"),
        (
            "POST",
            format!("{ROLES}/{id}/permissions"),
            Some(json!({"permissions": []})),
            "update:roles",
        ),
        (
            "DELETE",
            format!("{ROLES}/{id}/permissions"),
            Some(json!({"permissions": []})),
            "update:roles",
        ),
        (
            "POST",
            format!("{ROLES}/{id}/inherits"),
            Some(json!({"roles": []})),
            "update:roles",
        ),
        (
            "DELETE",
            format!("{ROLES}/{id}/inherits"),
            Some(json!({"roles": []})),
            "update:roles",
        ),
        (
            "GET",
            format!("{ROLES}/{id}/users"),
            None,
            "read:role_members",
        ),
        (
            "POST",
            format!("{ROLES}/{id}/users"),
            Some(json!({"users": []})),
            "create:role_members",
        ),
    ];
    for (method, path, body, scope) in &ops {
        let token = if *scope == "read:roles" {
            &none
        } else {
            &reader
        };
        let r = send(&s, token, method, path, body.clone()).await;
        assert_eq!(r.status, 403, "{method} {path}: {}", r.body);
        let (error, description) = error_of(&r);
        assert_eq!(error, "insufficient_scope", "{}", r.body);
        assert!(description.contains(scope), "{description}");
    }
    // No token, a garbage token, another tenant's token: 401.
    let other = s.mgmt_token("other", ALL).await;
    for bad in ["", "not-a-token", other.as_str()] {
        let r = send(&s, bad, "GET", ROLES, None).await;
        assert_eq!(r.status, 401, "{}", r.body);
        let r = send(&s, bad, "GET", &format!("{ROLES}/{id}"), None).await;
        assert_eq!(r.status, 401, "{}", r.body);
    }
    // The role is untouched.
    let r = send(&s, &admin, "GET", &format!("{ROLES}/{id}"), None).await;
    assert_eq!(r.json()["name"], "reader");
}

async fn check(s: &TestServer, token: &str, user: &str, permission: &str) -> bool {
    let body = json!({"subject": {"user_id": user}, "api": API, "permission": permission});
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

async fn role_permissions_follow_decisions(b: Backend) {
    let s = TestServer::start(b).await;
    let fx = s.fixtures("default");
    fx.api(API, &["read:doc", "write:doc"]).await;
    let ann = fx.user("ann@example.com", PW).await.id.to_string();
    let token = s.mgmt_token("default", ALL).await;
    let id = create_role(&s, &token, "writer").await;
    let r = send(
        &s,
        &token,
        "POST",
        &format!("{ROLES}/{id}/users"),
        Some(json!({"users": [ann]})),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert!(!check(&s, &token, &ann, "write:doc").await);

    let perms = json!({"permissions": [
        {"resource_server_identifier": API, "permission_name": "write:doc"},
        {"resource_server_identifier": API, "permission_name": "read:doc"},
    ]});
    let r = send(
        &s,
        &token,
        "POST",
        &format!("{ROLES}/{id}/permissions"),
        Some(perms),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert!(
        check(&s, &token, &ann, "write:doc").await,
        "allowed at the next check"
    );
    assert!(check(&s, &token, &ann, "read:doc").await);
    let e = last_event(&s, &token, "role.permissions.added").await;
    assert_eq!(e["context"]["role_id"], id);
    assert_eq!(
        e["context"]["permissions"].as_array().unwrap().len(),
        2,
        "{e}"
    );
    assert_eq!(e["actor"]["client_id"], client_of(&token));

    let r = send(
        &s,
        &token,
        "GET",
        &format!("{ROLES}/{id}/permissions?include_totals=true"),
        None,
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let v = r.json();
    assert_eq!(v["total"], 2);
    assert_eq!(v["permissions"][0]["permission_name"], "read:doc");
    assert_eq!(v["permissions"][0]["resource_server_identifier"], API);
    assert_eq!(v["permissions"][0]["resource_server_name"], API);
    let r = send(
        &s,
        &token,
        "GET",
        &format!("{ROLES}/{id}/permissions?per_page=1&page=1"),
        None,
    )
    .await;
    assert_eq!(r.json()[0]["permission_name"], "write:doc", "{}", r.body);

    let gone = json!({"permissions": [{"resource_server_identifier": API, "permission_name": "write:doc"}]});
    let r = send(
        &s,
        &token,
        "DELETE",
        &format!("{ROLES}/{id}/permissions"),
        Some(gone.clone()),
    )
    .await;
    assert_eq!(r.status, 204, "{}", r.body);
    assert!(
        !check(&s, &token, &ann, "write:doc").await,
        "denied at the next check"
    );
    assert!(check(&s, &token, &ann, "read:doc").await);
    let e = last_event(&s, &token, "role.permissions.removed").await;
    assert_eq!(
        e["context"]["permissions"][0]["permission_name"], "write:doc",
        "{e}"
    );
    // Removing what the role does not hold changes nothing.
    let r = send(
        &s,
        &token,
        "DELETE",
        &format!("{ROLES}/{id}/permissions"),
        Some(gone),
    )
    .await;
    assert_eq!(r.status, 204, "{}", r.body);

    // Deleting the role takes its permissions from its users at once.
    let r = send(&s, &token, "DELETE", &format!("{ROLES}/{id}"), None).await;
    assert_eq!(r.status, 204, "{}", r.body);
    assert!(!check(&s, &token, &ann, "read:doc").await);
}

async fn role_permissions_must_exist_on_their_api(b: Backend) {
    let s = TestServer::start(b).await;
    let fx = s.fixtures("default");
    fx.api(API, &["read:doc"]).await;
    fx.api("https://other.example.com/", &["write:doc"]).await;
    let token = s.mgmt_token("default", ALL).await;
    let id = create_role(&s, &token, "reader").await;
    let path = format!("{ROLES}/{id}/permissions");
    let one = |api: &str, p: &str| json!({"resource_server_identifier": api, "permission_name": p});
    let cases = [
        (
            json!({"permissions": [one(API, "read:doc"), one(API, "write:doc")]}),
            "permissions[1]",
            "write:doc",
        ),
        (
            json!({"permissions": [one("https://nowhere.example/", "read:doc")]}),
            "permissions[0]",
            "nowhere",
        ),
        (
            json!({"permissions": [one(API, "")]}),
            "permissions[0]",
            "permission_name",
        ),
        (
            json!({"permissions": [{"resource_server_identifier": API}]}),
            "permission_name",
            "",
        ),
        (
            json!({"permissions": [{"resource_server_identifier": API, "permission_name": "read:doc", "x": 1}]}),
            "x",
            "",
        ),
    ];
    for (body, field, detail) in cases {
        let r = send(&s, &token, "POST", &path, Some(body)).await;
        assert_400(&r, field);
        assert_400(&r, detail);
    }
    let many: Vec<Value> = (0..101).map(|_| one(API, "read:doc")).collect();
    let r = send(
        &s,
        &token,
        "POST",
        &path,
        Some(json!({"permissions": many})),
    )
    .await;
    assert_400(&r, "permissions");
    // Nothing was half-applied.
    let r = send(&s, &token, "GET", &path, None).await;
    assert_eq!(r.json(), json!([]), "{}", r.body);
}

/// A filter with letters outside ASCII finds the names that contain it as written, on
/// every backend (PostgreSQL lower-cases them in names, SQLite does not).
async fn role_filter_with_non_ascii_letters(b: Backend) {
    let s = TestServer::start(b).await;
    let token = s.mgmt_token("default", ALL).await;
    create_role(&s, &token, "Équipe support").await;
    create_role(&s, &token, "billing").await;
    // `Équipe`, percent-encoded.
    let r = send(
        &s,
        &token,
        "GET",
        &format!("{ROLES}?name_filter=%C3%89quipe&include_totals=true"),
        None,
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["total"], 1, "{}", r.body);
    assert_eq!(r.json()["roles"][0]["name"], "Équipe support", "{}", r.body);
    let r = send(
        &s,
        &token,
        "GET",
        &format!("{ROLES}?name_filter=%C3%89QUIPE"),
        None,
    )
    .await;
    assert_eq!(r.json().as_array().unwrap().len(), 1, "{}", r.body);
}

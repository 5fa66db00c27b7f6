//! Users through the Management API: the life cycle (create, read, list with pagination
//! and totals, update with metadata merging, soft delete), passwords and blocking as login
//! sees them, tenant-wide roles, organizations and effective permissions, identities,
//! malformed input, scopes, tenants and the audit events — against a real server, on
//! SQLite and PostgreSQL.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "mgmt_users/access.rs"]
mod access;

use access::{identities_unlink_but_never_the_last, roles_organizations_and_permissions};
use clavis_core::oauth::LoginError;
use clavis_core::service::RequestMeta;
use clavis_testkit::{Backend, Reply, TestServer};
use clavis_types::UserId;
use serde_json::{Value, json};

clavis_testkit::on_both!(
    user_life_cycle,
    passwords_and_blocking_govern_login,
    roles_organizations_and_permissions,
    identities_unlink_but_never_the_last,
    malformed_input_is_a_400_naming_it,
    callers_need_the_scope_and_their_own_tenant,
    deleted_users_leave_their_organizations,
    undeclared_query_parameters_are_refused,
);

const PW: &str = "correct horse battery";
const USERS: &str = "/t/default/api/v2/users";

const ALL: &[&str] = &[
    "read:users",
    "create:users",
    "update:users",
    "delete:users",
    "read:roles",
    "create:role_members",
    "delete:role_members",
    "read:organizations",
    "read:logs",
];

async fn send(s: &TestServer, token: &str, method: &str, path: &str, body: Option<Value>) -> Reply {
    s.client.send(method, path, token, body.as_ref()).await
}

/// Create a user over HTTP, which must succeed.
async fn create(s: &TestServer, token: &str, body: Value) -> Value {
    let r = send(s, token, "POST", USERS, Some(body)).await;
    assert_eq!(r.status, 201, "{}", r.body);
    r.json()
}

/// The audit events of `kind`, oldest first.
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

/// The client id inside a token (the audit actor of its calls).
fn client_of(token: &str) -> String {
    let payload = token.split('.').nth(1).unwrap();
    let bytes = clavis_crypto::b64url_decode(payload).unwrap();
    let claims: Value = serde_json::from_slice(&bytes).unwrap();
    claims["client_id"].as_str().unwrap().to_owned()
}

fn assert_error(r: &Reply, status: u16, error: &str, mentions: &str) {
    assert_eq!(r.status, status, "{}", r.body);
    let body = r.json();
    assert_eq!(body["error"], error, "{}", r.body);
    let d = body["error_description"].as_str().unwrap();
    assert!(d.contains(mentions), "`{mentions}` not in: {d}");
}

async fn user_life_cycle(b: Backend) {
    let s = TestServer::start(b).await;
    let token = s.mgmt_token("default", ALL).await;

    let ann = create(
        &s,
        &token,
        json!({
            "email": "Ann@Example.com",
            "password": PW,
            "name": "Ann Example",
            "given_name": "Ann",
            "email_verified": true,
            "user_metadata": {"theme": "dark", "lang": "en"},
            "app_metadata": {"plan": "gold"},
        }),
    )
    .await;
    let id = ann["user_id"].as_str().unwrap().to_owned();
    assert!(id.starts_with("usr_"), "{ann}");
    assert_eq!(ann["email"], "ann@example.com");
    assert_eq!(ann["email_verified"], true);
    assert_eq!(ann["blocked"], false);
    assert_eq!(ann["name"], "Ann Example");
    assert_eq!(ann["family_name"], Value::Null);
    assert_eq!(ann["last_login"], Value::Null);
    assert_eq!(
        ann["identities"][0]["connection"],
        "Username-Password-Authentication"
    );
    assert_eq!(ann["identities"][0]["user_id"], id.as_str());
    assert_eq!(ann["identities"][0]["provider"], "database");
    let text = ann.to_string();
    assert!(
        !text.contains("password") && !text.contains("argon2"),
        "{text}"
    );

    // Read it back, also by email, and in a filtered list.
    let r = send(&s, &token, "GET", &format!("{USERS}/{id}"), None).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json(), ann);
    let r = send(
        &s,
        &token,
        "GET",
        "/t/default/api/v2/users-by-email?email=ANN%40example.com",
        None,
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json().as_array().unwrap().len(), 1);
    assert_eq!(r.json()[0]["user_id"], id.as_str());
    let r = send(
        &s,
        &token,
        "GET",
        "/t/default/api/v2/users-by-email?email=nobody%40example.com",
        None,
    )
    .await;
    assert_eq!(r.json(), json!([]));
    let r = send(
        &s,
        &token,
        "GET",
        &format!("{USERS}?email=ann%40example.com&include_totals=true"),
        None,
    )
    .await;
    assert_eq!(r.json()["total"], 1, "{}", r.body);
    assert_eq!(r.json()["users"][0]["user_id"], id.as_str());

    // Pagination over five users.
    for i in 0..4 {
        s.clock.advance_secs(1); // ids are time-ordered: list order is creation order
        create(&s, &token, json!({"email": format!("u{i}@example.com")})).await;
    }
    let r = send(
        &s,
        &token,
        "GET",
        &format!("{USERS}?per_page=2&page=1&include_totals=true"),
        None,
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let body = r.json();
    assert_eq!(body["total"], 5, "{body}");
    assert_eq!(body["start"], 2);
    assert_eq!(body["limit"], 2);
    assert_eq!(body["length"], 2);
    assert_eq!(body["users"].as_array().unwrap().len(), 2);
    let r = send(
        &s,
        &token,
        "GET",
        &format!("{USERS}?per_page=2&page=2"),
        None,
    )
    .await;
    assert_eq!(r.json().as_array().unwrap().len(), 1, "{}", r.body);
    let r = send(&s, &token, "GET", USERS, None).await;
    let all: Vec<String> = r
        .json()
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["user_id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(all.len(), 5);
    assert_eq!(all[0], id, "oldest first");

    // Update: profile fields, clearing one, metadata merged at the top level.
    let r = send(
        &s,
        &token,
        "PATCH",
        &format!("{USERS}/{id}"),
        Some(json!({
            "nickname": "annie",
            "given_name": null,
            "user_metadata": {"lang": null, "tz": "UTC"},
            "app_metadata": {"plan": "platinum"},
        })),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let u = r.json();
    assert_eq!(u["nickname"], "annie");
    assert_eq!(u["given_name"], Value::Null);
    assert_eq!(u["name"], "Ann Example");
    assert_eq!(u["user_metadata"], json!({"theme": "dark", "tz": "UTC"}));
    assert_eq!(u["app_metadata"], json!({"plan": "platinum"}));
    // An empty object clears the metadata.
    let r = send(
        &s,
        &token,
        "PATCH",
        &format!("{USERS}/{id}"),
        Some(json!({"user_metadata": {}})),
    )
    .await;
    assert_eq!(r.json()["user_metadata"], json!({}), "{}", r.body);
    // A new address is unverified unless the patch says otherwise.
    let r = send(
        &s,
        &token,
        "PATCH",
        &format!("{USERS}/{id}"),
        Some(json!({"email": "ann2@example.com"})),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["email"], "ann2@example.com");
    assert_eq!(r.json()["email_verified"], false);
    // Taking another user's address is a conflict.
    let r = send(
        &s,
        &token,
        "PATCH",
        &format!("{USERS}/{id}"),
        Some(json!({"email": "u0@example.com"})),
    )
    .await;
    assert_error(&r, 409, "conflict", "email");

    // Delete: gone from reads and lists; the address is free again.
    let r = send(&s, &token, "DELETE", &format!("{USERS}/{id}"), None).await;
    assert_eq!(r.status, 204, "{}", r.body);
    let r = send(&s, &token, "GET", &format!("{USERS}/{id}"), None).await;
    assert_error(&r, 404, "not_found", "user");
    let r = send(&s, &token, "DELETE", &format!("{USERS}/{id}"), None).await;
    assert_eq!(r.status, 404);
    let r = send(
        &s,
        &token,
        "PATCH",
        &format!("{USERS}/{id}"),
        Some(json!({"nickname": "x"})),
    )
    .await;
    assert_eq!(r.status, 404);
    let r = send(
        &s,
        &token,
        "GET",
        &format!("{USERS}?include_totals=true"),
        None,
    )
    .await;
    assert_eq!(r.json()["total"], 4);
    create(&s, &token, json!({"email": "ann2@example.com"})).await;

    // The audit trail: actor = the caller's client, target in the context, no secrets.
    let client = client_of(&token);
    let created = events(&s, &token, "user.created").await;
    assert_eq!(created.len(), 6);
    let first = &created[0];
    assert_eq!(first["actor"]["client_id"], client.as_str());
    assert_eq!(first["context"]["user_id"], id.as_str());
    assert_eq!(first["context"]["has_password"], true);
    assert_eq!(first["context"]["email"], "ann@example.com");
    let updated = events(&s, &token, "user.updated").await;
    assert_eq!(updated.len(), 3);
    let changed = updated[0]["context"]["changed"].as_array().unwrap();
    for f in ["nickname", "given_name", "user_metadata", "app_metadata"] {
        assert!(changed.contains(&json!(f)), "{changed:?}");
    }
    assert!(
        !updated[0].to_string().contains("platinum"),
        "no values: {}",
        updated[0]
    );
    let deleted = events(&s, &token, "user.deleted").await;
    assert_eq!(deleted.len(), 1);
    assert_eq!(deleted[0]["context"]["user_id"], id.as_str());
    assert_eq!(deleted[0]["actor"]["client_id"], client.as_str());
    let log = send(
        &s,
        &token,
        "GET",
        "/t/default/api/v2/logs?per_page=100",
        None,
    )
    .await;
    assert!(!log.body.contains(PW), "the password is in the log");
}

async fn passwords_and_blocking_govern_login(b: Backend) {
    let s = TestServer::start(b).await;
    let token = s.mgmt_token("default", ALL).await;
    let tenant = s.fixtures("default").tenant().await;
    let meta = RequestMeta::default();
    let u = create(
        &s,
        &token,
        json!({"email": "bo@example.com", "password": PW}),
    )
    .await;
    let id = u["user_id"].as_str().unwrap().to_owned();
    let login = |pw: &'static str| {
        let (core, tenant, meta) = (s.core.clone(), tenant.clone(), meta.clone());
        async move {
            core.password_login(&tenant, "bo@example.com", pw, &meta)
                .await
        }
    };
    assert!(login(PW).await.is_ok(), "the created password logs in");

    // Stored as argon2id, never returned.
    let stored = {
        let mut tx = s.core.store.read().await.unwrap();
        tx.password_get(&tenant.id, &UserId::parse(&id).unwrap())
            .await
            .unwrap()
            .unwrap()
    };
    assert!(stored.starts_with("$argon2id$"), "{stored}");

    // A new password replaces the old one.
    let r = send(
        &s,
        &token,
        "PATCH",
        &format!("{USERS}/{id}"),
        Some(json!({"password": "a new long password"})),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(!r.body.contains("a new long password"));
    assert!(matches!(login(PW).await, Err(LoginError::WrongCredentials)));
    assert!(login("a new long password").await.is_ok());

    // Blocked: no login; unblocked: login again.
    let r = send(
        &s,
        &token,
        "PATCH",
        &format!("{USERS}/{id}"),
        Some(json!({"blocked": true})),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["blocked"], true);
    assert!(matches!(
        login("a new long password").await,
        Err(LoginError::Blocked)
    ));
    let r = send(
        &s,
        &token,
        "PATCH",
        &format!("{USERS}/{id}"),
        Some(json!({"blocked": false})),
    )
    .await;
    assert_eq!(r.json()["blocked"], false);
    assert!(login("a new long password").await.is_ok());
    let r = send(&s, &token, "GET", &format!("{USERS}/{id}"), None).await;
    assert!(r.json()["last_login"].is_string(), "{}", r.body);

    // A user created blocked cannot log in either.
    create(
        &s,
        &token,
        json!({"email": "cy@example.com", "password": PW, "blocked": true}),
    )
    .await;
    let r = s
        .core
        .password_login(&tenant, "cy@example.com", PW, &meta)
        .await;
    assert!(matches!(r, Err(LoginError::Blocked)));

    // Deleted: no login.
    let r = send(&s, &token, "DELETE", &format!("{USERS}/{id}"), None).await;
    assert_eq!(r.status, 204);
    assert!(login("a new long password").await.is_err());

    let changed = events(&s, &token, "user.password.changed").await;
    assert_eq!(changed.len(), 1);
    assert_eq!(changed[0]["context"], json!({"user_id": id}));
    assert_eq!(events(&s, &token, "user.blocked").await.len(), 1);
    assert_eq!(events(&s, &token, "user.unblocked").await.len(), 1);
    assert!(
        events(&s, &token, "user.updated").await.is_empty(),
        "a password or block change alone is not a profile update"
    );
}

async fn malformed_input_is_a_400_naming_it(b: Backend) {
    let s = TestServer::start(b).await;
    let token = s.mgmt_token("default", ALL).await;
    let u = create(&s, &token, json!({"email": "x@example.com"})).await;
    let id = u["user_id"].as_str().unwrap().to_owned();
    let post = |body: Value| send(&s, &token, "POST", USERS, Some(body));

    let r = post(json!({"email": "y@example.com", "colour": "red"})).await;
    assert_error(&r, 400, "invalid_request", "colour");
    let r = post(json!({"email": "not-an-address"})).await;
    assert_error(&r, 400, "invalid_request", "email");
    let r = post(json!({"password": PW})).await;
    assert_error(&r, 400, "invalid_request", "email");
    let r = post(json!({"email": "y@example.com", "password": "short"})).await;
    assert_error(&r, 400, "invalid_request", "password");
    let r = post(json!({"email": "y@example.com", "connection": "nope"})).await;
    assert_error(&r, 400, "invalid_request", "connection");
    let r = post(json!({"email": "y@example.com", "name": "a\u{0007}b"})).await;
    assert_error(&r, 400, "invalid_request", "name");
    let r = post(json!({"email": "y@example.com", "picture": "javascript:alert(1)"})).await;
    assert_error(&r, 400, "invalid_request", "picture");
    let r = post(json!({"email": "y@example.com", "name": "n".repeat(301)})).await;
    assert_error(&r, 400, "invalid_request", "name");
    let big = "x".repeat(17 * 1024);
    let r = post(json!({"email": "y@example.com", "app_metadata": {"blob": big}})).await;
    assert_error(&r, 400, "invalid_request", "app_metadata");
    let r = post(json!({"email": "X@example.com"})).await;
    assert_error(&r, 409, "conflict", "email");
    let r = s
        .client
        .http
        .post(s.client.url(USERS))
        .bearer_auth(&token)
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 400);

    let r = send(
        &s,
        &token,
        "PATCH",
        &format!("{USERS}/{id}"),
        Some(json!({"user_id": "usr_x"})),
    )
    .await;
    assert_error(&r, 400, "invalid_request", "user_id");
    let r = send(
        &s,
        &token,
        "PATCH",
        &format!("{USERS}/{id}"),
        Some(json!({"blocked": "yes"})),
    )
    .await;
    assert_error(&r, 400, "invalid_request", "request body");

    for q in [
        "?sort=email:1",
        "?per_page=0",
        "?per_page=101",
        "?page=x",
        "?include_totals=maybe",
        "?email=a@b.c&email=d@e.f",
    ] {
        let r = send(&s, &token, "GET", &format!("{USERS}{q}"), None).await;
        assert_eq!(r.status, 400, "{q}: {}", r.body);
    }
    let r = send(&s, &token, "GET", &format!("{USERS}?q=email:x"), None).await;
    assert_error(&r, 400, "invalid_request", "`q`");
    let r = send(&s, &token, "GET", "/t/default/api/v2/users-by-email", None).await;
    assert_error(&r, 400, "invalid_request", "email");
    let r = send(
        &s,
        &token,
        "GET",
        "/t/default/api/v2/users-by-email?email=nope",
        None,
    )
    .await;
    assert_error(&r, 400, "invalid_request", "email");

    // Ids: malformed → 400 naming `id`; well formed and absent → 404.
    for bad in ["nope", "rol_00000000000000000000000000", "usr_%2e%2e"] {
        let r = send(&s, &token, "GET", &format!("{USERS}/{bad}"), None).await;
        assert_error(&r, 400, "invalid_request", "`id`");
    }
    let absent = "usr_00000000000000000000000000";
    for (m, p) in [
        ("GET", ""),
        ("PATCH", ""),
        ("DELETE", ""),
        ("GET", "/roles"),
        ("GET", "/permissions"),
        ("GET", "/organizations"),
    ] {
        let body = (m == "PATCH").then(|| json!({"nickname": "n"}));
        let r = send(&s, &token, m, &format!("{USERS}/{absent}{p}"), body).await;
        assert_error(&r, 404, "not_found", "user");
    }
    let r = send(
        &s,
        &token,
        "POST",
        &format!("{USERS}/{absent}/roles"),
        Some(json!({"roles": []})),
    )
    .await;
    assert_eq!(r.status, 400, "{}", r.body);
    let r = send(
        &s,
        &token,
        "POST",
        &format!("{USERS}/{id}/roles"),
        Some(json!({"roles": ["rol_1"], "extra": 1})),
    )
    .await;
    assert_error(&r, 400, "invalid_request", "extra");
}

async fn callers_need_the_scope_and_their_own_tenant(b: Backend) {
    let s = TestServer::start(b).await;
    let token = s.mgmt_token("default", ALL).await;
    let u = create(&s, &token, json!({"email": "mine@example.com"})).await;
    let id = u["user_id"].as_str().unwrap().to_owned();

    // Each operation's scope.
    let none = s.mgmt_token("default", &["read:connections"]).await;
    let cases: [(&str, String, Option<Value>, &str); 9] = [
        ("GET", USERS.to_owned(), None, "read:users"),
        (
            "POST",
            USERS.to_owned(),
            Some(json!({"email": "z@example.com"})),
            "create:users",
        ),
        ("GET", format!("{USERS}/{id}"), None, "read:users"),
        (
            "PATCH",
            format!("{USERS}/{id}"),
            Some(json!({"nickname": "z"})),
            "update:users",
        ),
        ("DELETE", format!("{USERS}/{id}"), None, "delete:users"),
        (
            "GET",
            "/t/default/api/v2/users-by-email?email=z%40example.com".to_owned(),
            None,
            "read:users",
        ),
        (
            "GET",
            format!("{USERS}/{id}/permissions"),
            None,
            "read:users",
        ),
        (
            "GET",
            format!("{USERS}/{id}/organizations"),
            None,
            "read:users",
        ),
        (
            "DELETE",
            format!("{USERS}/{id}/identities/con_00000000000000000000000000/x"),
            None,
            "update:users",
        ),
    ];
    for (m, p, body, scope) in cases {
        let r = send(&s, &none, m, &p, body).await;
        assert_error(&r, 403, "insufficient_scope", scope);
        assert!(r.header("www-authenticate").unwrap().contains(scope));
    }
    let r = send(&s, "", "GET", USERS, None).await;
    assert_eq!(r.status, 401);
    let r = send(&s, "garbage", "GET", USERS, None).await;
    assert_eq!(r.status, 401);

    // An organization administrator's API key reaches neither users nor connections
    // (its scopes are organization-level; every operation here spans the tenant).
    let fx = s.fixtures("default");
    let acme = fx.org("acme", &[]).await;
    let t = fx.tenant().await;
    let all: Vec<String> = clavis_testkit::MGMT_SCOPES
        .iter()
        .map(|s| (*s).to_owned())
        .collect();
    let org_key = s
        .core
        .api_key_create(
            &t,
            clavis_core::service::management::api_keys::ApiKeyInput {
                name: "acme admin".into(),
                scopes: vec!["read:organizations".into(), "read:logs".into()],
                org_id: Some(acme.id.to_string()),
                expires_at: None,
            },
            &clavis_core::service::management::api_keys::KeyHolder {
                scopes: &all,
                org_id: None,
            },
            &RequestMeta::default(),
        )
        .await
        .unwrap()
        .key;
    for p in [
        USERS.to_owned(),
        format!("{USERS}/{id}"),
        format!("{USERS}/{id}/organizations"),
        "/t/default/api/v2/connections".to_owned(),
    ] {
        let r = send(&s, &org_key, "GET", &p, None).await;
        assert_eq!(r.status, 403, "{p}: {}", r.body);
    }

    // Another tenant: its token is refused here, and its users are not reachable from here.
    let ofx = s.fixtures("other");
    ofx.tenant().await;
    let theirs = s.mgmt_token("other", ALL).await;
    let r = send(&s, &theirs, "GET", &format!("{USERS}/{id}"), None).await;
    assert_eq!(r.status, 401, "{}", r.body);
    let stranger = ofx.user("stranger@example.com", PW).await;
    let r = send(&s, &token, "GET", &format!("{USERS}/{}", stranger.id), None).await;
    assert_eq!(r.status, 404, "{}", r.body);
    let r = send(
        &s,
        &token,
        "PATCH",
        &format!("{USERS}/{}", stranger.id),
        Some(json!({"blocked": true})),
    )
    .await;
    assert_eq!(r.status, 404);
    let r = send(
        &s,
        &token,
        "DELETE",
        &format!("{USERS}/{}", stranger.id),
        None,
    )
    .await;
    assert_eq!(r.status, 404);
    let r = send(
        &s,
        &token,
        "GET",
        "/t/default/api/v2/users-by-email?email=stranger%40example.com",
        None,
    )
    .await;
    assert_eq!(r.json(), json!([]));
    // The same address may exist in both tenants.
    create(&s, &token, json!({"email": "stranger@example.com"})).await;
    let r = send(
        &s,
        &theirs,
        "GET",
        "/t/other/api/v2/users?include_totals=true",
        None,
    )
    .await;
    assert_eq!(r.json()["total"], 1, "{}", r.body);
    assert_eq!(r.json()["users"][0]["user_id"], stranger.id.to_string());
    // Another tenant's role cannot be assigned here.
    let oapi = ofx.api("https://o.example.com", &["p"]).await;
    let orole = ofx.role("r", &oapi, &["p"], &stranger, None).await;
    let r = send(
        &s,
        &token,
        "POST",
        &format!("{USERS}/{id}/roles"),
        Some(json!({"roles": [orole.id.to_string()]})),
    )
    .await;
    assert_error(&r, 400, "invalid_request", "roles[0]");
}

/// A deleted user leaves every organization: no longer listed among its members, no
/// longer holding a seat under its `user_limit`, and the organization's log says so.
async fn deleted_users_leave_their_organizations(b: Backend) {
    let s = TestServer::start(b).await;
    let mut scopes = ALL.to_vec();
    scopes.extend([
        "create:organizations",
        "read:organization_members",
        "create:organization_members",
    ]);
    let token = s.mgmt_token("default", &scopes).await;
    let ann = create(&s, &token, json!({ "email": "ann@example.com" })).await;
    let ann = ann["user_id"].as_str().unwrap().to_owned();
    let r = send(
        &s,
        &token,
        "POST",
        "/t/default/api/v2/organizations",
        Some(json!({ "name": "acme", "user_limit": 1 })),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let org = r.json()["id"].as_str().unwrap().to_owned();
    let members = format!("/t/default/api/v2/organizations/{org}/members");
    let r = send(
        &s,
        &token,
        "POST",
        &members,
        Some(json!({ "members": [ann] })),
    )
    .await;
    assert_eq!(r.status, 204, "{}", r.body);

    let r = send(&s, &token, "DELETE", &format!("{USERS}/{ann}"), None).await;
    assert_eq!(r.status, 204, "{}", r.body);
    let r = send(&s, &token, "GET", &members, None).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json(), json!([]), "a deleted user is still listed");
    // The seat is free again.
    let bob = create(&s, &token, json!({ "email": "bob@example.com" })).await;
    let r = send(
        &s,
        &token,
        "POST",
        &members,
        Some(json!({ "members": [bob["user_id"]] })),
    )
    .await;
    assert_eq!(r.status, 204, "{}", r.body);
    let removed = events(&s, &token, "organization.member.removed").await;
    assert_eq!(removed.len(), 1, "{removed:?}");
    assert_eq!(removed[0]["context"]["user_id"], ann.as_str());
    assert_eq!(removed[0]["organization"]["org_id"], org.as_str());
    let deleted = events(&s, &token, "user.deleted").await;
    assert_eq!(deleted[0]["context"]["organizations"], json!([org]));
}

/// Every operation refuses query parameters its spec does not declare, naming them —
/// also the operations that read no query at all.
async fn undeclared_query_parameters_are_refused(b: Backend) {
    let s = TestServer::start(b).await;
    let token = s.mgmt_token("default", ALL).await;
    let user = create(&s, &token, json!({"email": "q@example.com"})).await;
    let id = user["user_id"].as_str().unwrap();
    let one = format!("{USERS}/{id}");
    assert_eq!(send(&s, &token, "GET", &one, None).await.status, 200);
    for (method, path) in [
        ("GET", format!("{one}?fields=email")),
        ("PATCH", format!("{one}?x=1")),
        ("DELETE", format!("{one}?cascade=true")),
        ("GET", format!("{USERS}?page=0&sort=email:1")),
    ] {
        let body = (method == "PATCH").then(|| json!({"name": "Q"}));
        let r = send(&s, &token, method, &path, body).await;
        assert_eq!(r.status, 400, "{method} {path}: {}", r.body);
        assert_eq!(r.json()["error"], "invalid_request");
        let why = r.json()["error_description"].as_str().unwrap().to_owned();
        assert!(why.starts_with("query parameter `"), "{why}");
    }
    // Nothing was changed or deleted by the refused requests.
    let r = send(&s, &token, "GET", &one, None).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_ne!(r.json()["name"], "Q");
    // Declared parameters still work.
    let r = send(
        &s,
        &token,
        "GET",
        &format!("{USERS}?page=0&per_page=5"),
        None,
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
}

//! Role inheritance, role members, and isolation of roles between tenants.

use clavis_testkit::{Backend, TestServer};
use serde_json::json;

use super::{
    ALL, API, PW, ROLES, assert_400, check, client_of, create_role, error_of, last_event, send,
};

pub(crate) async fn role_inheritance_refuses_cycles(b: Backend) {
    let s = TestServer::start(b).await;
    let fx = s.fixtures("default");
    fx.api(API, &["read:doc", "admin:doc"]).await;
    let ann = fx.user("ann@example.com", PW).await.id.to_string();
    let token = s.mgmt_token("default", ALL).await;
    let a = create_role(&s, &token, "a").await;
    let b_ = create_role(&s, &token, "b").await;
    let c = create_role(&s, &token, "c").await;
    let inherit = |child: &str, parents: &[&str]| {
        (
            format!("{ROLES}/{child}/inherits"),
            json!({"roles": parents}),
        )
    };
    let (p, body) = inherit(&a, &[&b_]);
    let r = send(&s, &token, "POST", &p, Some(body)).await;
    assert_eq!(r.status, 201, "{}", r.body);
    let e = last_event(&s, &token, "role.inherits.added").await;
    assert_eq!(e["context"]["role_id"], a);
    assert_eq!(e["context"]["roles"], json!([b_]));
    let (p, body) = inherit(&b_, &[&c]);
    assert_eq!(send(&s, &token, "POST", &p, Some(body)).await.status, 201);

    // c → a would close a → b → c → a; a role may not inherit itself either.
    let (p, body) = inherit(&c, &[&a]);
    let r = send(&s, &token, "POST", &p, Some(body)).await;
    assert_eq!(r.status, 409, "{}", r.body);
    let (error, description) = error_of(&r);
    assert_eq!(error, "conflict");
    assert!(description.contains("cycle"), "{description}");
    for role in [&a, &b_, &c] {
        assert!(
            description.contains(role.as_str()),
            "{role} not named in {description}"
        );
    }
    let (p, body) = inherit(&a, &[&a]);
    let r = send(&s, &token, "POST", &p, Some(body)).await;
    assert_eq!(r.status, 409, "{}", r.body);
    let r = send(&s, &token, "GET", &format!("{ROLES}/{c}/inherits"), None).await;
    assert_eq!(
        r.json(),
        json!([]),
        "the refused change left nothing behind"
    );

    let r = send(&s, &token, "GET", &format!("{ROLES}/{a}/inherits"), None).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()[0]["id"], b_);
    assert_eq!(r.json()[0]["name"], "b");

    // Permissions flow through inheritance, and stop when it is removed.
    let perms = json!({"permissions": [{"resource_server_identifier": API, "permission_name": "admin:doc"}]});
    let r = send(
        &s,
        &token,
        "POST",
        &format!("{ROLES}/{c}/permissions"),
        Some(perms),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let r = send(
        &s,
        &token,
        "POST",
        &format!("{ROLES}/{a}/users"),
        Some(json!({"users": [ann]})),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert!(check(&s, &token, &ann, "admin:doc").await);
    let (p, body) = inherit(&b_, &[&c]);
    let r = send(&s, &token, "DELETE", &p, Some(body)).await;
    assert_eq!(r.status, 204, "{}", r.body);
    let e = last_event(&s, &token, "role.inherits.removed").await;
    assert_eq!(e["context"]["roles"], json!([c]));
    assert!(!check(&s, &token, &ann, "admin:doc").await);
    // Now c → a is no cycle.
    let (p, body) = inherit(&c, &[&a]);
    assert_eq!(send(&s, &token, "POST", &p, Some(body)).await.status, 201);

    let (p, body) = inherit(&a, &["rol_doesnotexist"]);
    assert_400(&send(&s, &token, "POST", &p, Some(body)).await, "roles[0]");
}

pub(crate) async fn role_users_are_assigned_and_listed(b: Backend) {
    let s = TestServer::start(b).await;
    let fx = s.fixtures("default");
    let mut users = Vec::new();
    for name in ["ann", "bob", "cy"] {
        users.push(
            fx.user(&format!("{name}@example.com"), PW)
                .await
                .id
                .to_string(),
        );
    }
    let token = s.mgmt_token("default", ALL).await;
    let id = create_role(&s, &token, "member").await;
    let path = format!("{ROLES}/{id}/users");
    let r = send(
        &s,
        &token,
        "POST",
        &path,
        Some(json!({"users": [users[0], "usr_nobody"]})),
    )
    .await;
    assert_400(&r, "users[1]");
    let r = send(&s, &token, "GET", &path, None).await;
    assert_eq!(r.json(), json!([]), "a refused request assigns nobody");

    let r = send(&s, &token, "POST", &path, Some(json!({"users": users}))).await;
    assert_eq!(r.status, 201, "{}", r.body);
    let e = last_event(&s, &token, "role.users.assigned").await;
    assert_eq!(e["context"]["role_id"], id);
    assert_eq!(e["context"]["user_ids"].as_array().unwrap().len(), 3, "{e}");
    assert_eq!(e["actor"]["client_id"], client_of(&token));
    // Assigning again is accepted and changes nothing.
    let r = send(
        &s,
        &token,
        "POST",
        &path,
        Some(json!({"users": [users[0]]})),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.body);

    let r = send(
        &s,
        &token,
        "GET",
        &format!("{path}?per_page=2&include_totals=true"),
        None,
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let v = r.json();
    assert_eq!(v["total"], 3);
    assert_eq!(v["users"].as_array().unwrap().len(), 2);
    let mut sorted = users.clone();
    sorted.sort();
    assert_eq!(v["users"][0]["user_id"], sorted[0]);
    let r = send(
        &s,
        &token,
        "GET",
        &format!("{path}?per_page=2&page=1"),
        None,
    )
    .await;
    let last = r.json();
    assert_eq!(last.as_array().unwrap().len(), 1, "{last}");
    assert_eq!(last[0]["user_id"], sorted[2]);
    assert!(last[0]["email"].as_str().unwrap().ends_with("@example.com"));
    let r = send(&s, &token, "GET", &format!("{path}?role=x"), None).await;
    assert_400(&r, "role");
}

pub(crate) async fn another_tenants_roles_are_unreachable(b: Backend) {
    let s = TestServer::start(b).await;
    let theirs = s.mgmt_token("other", ALL).await;
    let their_role = {
        let r = send(
            &s,
            &theirs,
            "POST",
            "/t/other/api/v2/roles",
            Some(json!({"name": "secret"})),
        )
        .await;
        assert_eq!(r.status, 201, "{}", r.body);
        r.json()["id"].as_str().unwrap().to_owned()
    };
    let their_user = s
        .fixtures("other")
        .user("eve@example.com", PW)
        .await
        .id
        .to_string();
    let token = s.mgmt_token("default", ALL).await;
    let mine = create_role(&s, &token, "mine").await;
    for (method, path, body) in [
        ("GET", format!("{ROLES}/{their_role}"), None),
        (
            "PATCH",
            format!("{ROLES}/{their_role}"),
            Some(json!({"name": "pwned"})),
        ),
        ("DELETE", format!("{ROLES}/{their_role}"), None),
        ("GET", format!("{ROLES}/{their_role}/users"), None),
        (
            "POST",
            format!("{ROLES}/{their_role}/users"),
            Some(json!({"users": [their_user]})),
        ),
    ] {
        let r = send(&s, &token, method, &path, body).await;
        assert_eq!(r.status, 404, "{method} {path}: {}", r.body);
    }
    // Their role cannot be inherited, their user cannot be assigned.
    let r = send(
        &s,
        &token,
        "POST",
        &format!("{ROLES}/{mine}/inherits"),
        Some(json!({"roles": [their_role]})),
    )
    .await;
    assert_400(&r, "roles[0]");
    let r = send(
        &s,
        &token,
        "POST",
        &format!("{ROLES}/{mine}/users"),
        Some(json!({"users": [their_user]})),
    )
    .await;
    assert_400(&r, "users[0]");
    // Lists show only the tenant's own roles.
    let r = send(&s, &token, "GET", ROLES, None).await;
    let listed = r.json();
    let names: Vec<&str> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, vec!["mine"]);
    let r = send(
        &s,
        &theirs,
        "GET",
        &format!("/t/other/api/v2/roles/{their_role}"),
        None,
    )
    .await;
    assert_eq!(r.json()["name"], "secret", "untouched");
}

/// An organization administrator's API key reaches no role operation (they span the
/// tenant); a tenant-wide key with the scope does.
pub(crate) async fn organization_credentials_are_refused(b: Backend) {
    let s = TestServer::start(b).await;
    let acme = s.fixtures("default").org("acme", &[]).await;
    let token = s
        .mgmt_token("default", &["create:api_keys", "read:authz", "read:roles"])
        .await;
    let key = |org: Option<String>, scopes: &[&str]| {
        let body = json!({"name": "k", "scopes": scopes, "org_id": org});
        let s = &s;
        let token = &token;
        async move {
            let r = send(s, token, "POST", "/t/default/api/v2/api-keys", Some(body)).await;
            assert_eq!(r.status, 201, "{}", r.body);
            r.json()["key"].as_str().unwrap().to_owned()
        }
    };
    let org_key = key(Some(acme.id.to_string()), &["read:authz"]).await;
    let tenant_key = key(None, &["read:roles"]).await;
    let id = create_role(&s, &s.mgmt_token("default", ALL).await, "reader").await;
    for path in [
        ROLES.to_owned(),
        format!("{ROLES}/{id}"),
        format!("{ROLES}/{id}/users"),
    ] {
        let r = send(&s, &org_key, "GET", &path, None).await;
        assert_eq!(r.status, 403, "{path}: {}", r.body);
    }
    let r = send(&s, &org_key, "POST", ROLES, Some(json!({"name": "x"}))).await;
    assert_eq!(r.status, 403, "{}", r.body);
    let r = send(&s, &tenant_key, "GET", &format!("{ROLES}/{id}"), None).await;
    assert_eq!(r.status, 200, "{}", r.body);
}

/// A role inherits at most 100 roles directly, so its `inherits` list is bounded.
pub(crate) async fn direct_inheritance_is_bounded(b: Backend) {
    let s = TestServer::start(b).await;
    let token = s.mgmt_token("default", ALL).await;
    let child = create_role(&s, &token, "child").await;
    let mut parents = Vec::new();
    for i in 0..101 {
        parents.push(create_role(&s, &token, &format!("parent-{i}")).await);
    }
    let path = format!("{ROLES}/{child}/inherits");
    let r = send(
        &s,
        &token,
        "POST",
        &path,
        Some(json!({"roles": &parents[..100]})),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let r = send(
        &s,
        &token,
        "POST",
        &path,
        Some(json!({"roles": [&parents[100]]})),
    )
    .await;
    assert_eq!(r.status, 409, "{}", r.body);
    let (_, description) = error_of(&r);
    assert!(description.contains("at most 100"), "{description}");
    let r = send(&s, &token, "GET", &path, None).await;
    assert_eq!(r.json().as_array().map(Vec::len), Some(100), "{}", r.body);
}

//! A user's tenant-wide roles, organizations, effective permissions and identities.

use clavis_core::model::{Identity, JsonMap};
use clavis_testkit::{Backend, TestServer};
use clavis_types::{ConnectionId, UserId};
use serde_json::json;

use super::{ALL, PW, USERS, assert_error, client_of, create, events, send};

pub(super) async fn roles_organizations_and_permissions(b: Backend) {
    let s = TestServer::start(b).await;
    let token = s.mgmt_token("default", ALL).await;
    let fx = s.fixtures("default");
    let api = fx
        .api("https://docs.example.com", &["read:doc", "write:doc"])
        .await;
    let ann = fx.user("ann@example.com", PW).await;
    let other = fx.user("other@example.com", PW).await;
    // `reader` is assigned to `other`; `writer` inside an organization only.
    let reader = fx.role("reader", &api, &["read:doc"], &other, None).await;
    let acme = fx.org("acme", &[&ann]).await;
    let writer = fx
        .role("writer", &api, &["write:doc"], &ann, Some(&acme))
        .await;
    let path = |p: &str| format!("{USERS}/{}/{p}", ann.id);

    let r = send(&s, &token, "GET", &path("roles"), None).await;
    assert_eq!(r.json(), json!([]), "{}", r.body);
    let r = send(&s, &token, "GET", &path("permissions"), None).await;
    assert_eq!(
        r.json(),
        json!([]),
        "organization roles are not tenant-wide: {}",
        r.body
    );

    let body = json!({"roles": [reader.id.to_string(), writer.id.to_string()]});
    let r = send(&s, &token, "POST", &path("roles"), Some(body.clone())).await;
    assert_eq!(r.status, 204, "{}", r.body);
    let r = send(
        &s,
        &token,
        "GET",
        &format!("{}?include_totals=true", path("roles")),
        None,
    )
    .await;
    let got = r.json();
    assert_eq!(got["total"], 2, "{got}");
    assert_eq!(got["roles"][0]["name"], "reader");
    assert_eq!(got["roles"][1]["id"], writer.id.to_string());
    let r = send(&s, &token, "GET", &path("permissions"), None).await;
    let perms = r.json();
    let names: Vec<&str> = perms
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["permission_name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["read:doc", "write:doc"], "{perms}");
    assert_eq!(
        perms[0]["resource_server_identifier"],
        "https://docs.example.com"
    );
    assert_eq!(perms[0]["sources"][0]["source_id"], reader.id.to_string());
    assert_eq!(perms[0]["sources"][0]["source_name"], "reader");

    // Assigning again changes nothing and records nothing more.
    let r = send(&s, &token, "POST", &path("roles"), Some(body)).await;
    assert_eq!(r.status, 204);

    // The decision library sees the change at once.
    let check = s.mgmt_token("default", &["read:authz"]).await;
    let decide = |perm: &'static str| {
        let (s, check, ann) = (&s, check.clone(), ann.id.to_string());
        async move {
            let r = s
                .client
                .send(
                    "POST",
                    "/t/default/api/v2/authorize/check",
                    &check,
                    Some(&json!({"subject": {"user_id": ann}, "api": "https://docs.example.com", "permission": perm})),
                )
                .await;
            assert_eq!(r.status, 200, "{}", r.body);
            r.json()["allowed"].as_bool().unwrap()
        }
    };
    assert!(decide("write:doc").await);
    let r = send(
        &s,
        &token,
        "DELETE",
        &path("roles"),
        Some(json!({"roles": [writer.id.to_string()]})),
    )
    .await;
    assert_eq!(r.status, 204, "{}", r.body);
    assert!(!decide("write:doc").await);
    let r = send(&s, &token, "GET", &path("permissions"), None).await;
    assert_eq!(r.json().as_array().unwrap().len(), 1, "{}", r.body);

    // A blocked user holds nothing.
    fx.edit_user(&ann, |u| u.blocked = true).await;
    let r = send(&s, &token, "GET", &path("permissions"), None).await;
    assert_eq!(r.json(), json!([]), "{}", r.body);
    fx.edit_user(&ann, |u| u.blocked = false).await;

    // Organizations.
    let r = send(&s, &token, "GET", &path("organizations"), None).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let orgs = r.json();
    assert_eq!(orgs.as_array().unwrap().len(), 1, "{orgs}");
    assert_eq!(orgs[0]["id"], acme.id.to_string());
    assert_eq!(orgs[0]["name"], "acme");
    let r = send(
        &s,
        &token,
        "GET",
        &format!("{USERS}/{}/organizations?include_totals=true", other.id),
        None,
    )
    .await;
    assert_eq!(r.json()["total"], 0, "{}", r.body);

    // Unknown or malformed roles are refused by position; nothing is assigned.
    let r = send(
        &s,
        &token,
        "POST",
        &path("roles"),
        Some(json!({"roles": [writer.id.to_string(), "rol_00000000000000000000000000"]})),
    )
    .await;
    assert_error(&r, 400, "invalid_request", "roles[1]");
    let r = send(
        &s,
        &token,
        "POST",
        &path("roles"),
        Some(json!({"roles": ["nope"]})),
    )
    .await;
    assert_error(&r, 400, "invalid_request", "roles[0]");
    let r = send(
        &s,
        &token,
        "POST",
        &path("roles"),
        Some(json!({"roles": []})),
    )
    .await;
    assert_error(&r, 400, "invalid_request", "roles");
    let r = send(&s, &token, "GET", &path("roles"), None).await;
    assert_eq!(r.json().as_array().unwrap().len(), 1, "{}", r.body);

    // Scopes of role membership.
    let read_only = s.mgmt_token("default", &["read:users"]).await;
    let r = send(
        &s,
        &read_only,
        "POST",
        &path("roles"),
        Some(json!({"roles": [writer.id.to_string()]})),
    )
    .await;
    assert_error(&r, 403, "insufficient_scope", "create:role_members");
    let r = send(
        &s,
        &read_only,
        "DELETE",
        &path("roles"),
        Some(json!({"roles": [reader.id.to_string()]})),
    )
    .await;
    assert_error(&r, 403, "insufficient_scope", "delete:role_members");
    let r = send(&s, &read_only, "GET", &path("roles"), None).await;
    assert_error(&r, 403, "insufficient_scope", "read:roles");

    let assigned = events(&s, &token, "user.roles.assigned").await;
    assert_eq!(assigned.len(), 1, "{assigned:?}");
    assert_eq!(assigned[0]["context"]["user_id"], ann.id.to_string());
    assert_eq!(
        assigned[0]["context"]["role_ids"].as_array().unwrap().len(),
        2
    );
    assert_eq!(
        assigned[0]["actor"]["client_id"],
        client_of(&token).as_str()
    );
    let removed = events(&s, &token, "user.roles.removed").await;
    assert_eq!(removed.len(), 1);
    assert_eq!(
        removed[0]["context"]["role_ids"],
        json!([writer.id.to_string()])
    );
}

pub(super) async fn identities_unlink_but_never_the_last(b: Backend) {
    let s = TestServer::start(b).await;
    let token = s.mgmt_token("default", ALL).await;
    let t = s.fixtures("default").tenant().await;
    let u = create(&s, &token, json!({"email": "id@example.com"})).await;
    let id = u["user_id"].as_str().unwrap().to_owned();
    let primary = u["identities"][0]["connection_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let unlink = |conn: &str, subject: &str| format!("{USERS}/{id}/identities/{conn}/{subject}");

    let r = send(&s, &token, "DELETE", &unlink(&primary, &id), None).await;
    assert_error(&r, 409, "conflict", "primary");

    // A second identity on another database connection.
    let conn_token = s.mgmt_token("default", &["create:connections"]).await;
    let r = send(
        &s,
        &conn_token,
        "POST",
        "/t/default/api/v2/connections",
        Some(json!({"name": "legacy-db", "strategy": "database"})),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let legacy = r.json()["id"].as_str().unwrap().to_owned();
    let mut tx = s.core.store.begin().await.unwrap();
    tx.identity_insert(&Identity {
        tenant_id: t.id.clone(),
        user_id: UserId::parse(&id).unwrap(),
        connection_id: ConnectionId::parse(&legacy).unwrap(),
        subject: "legacy-42".into(),
        profile_data: JsonMap::new(),
        created_at: s.core.now(),
    })
    .await
    .unwrap();
    tx.commit().await.unwrap();
    let r = send(&s, &token, "GET", &format!("{USERS}/{id}"), None).await;
    let ids = r.json()["identities"].as_array().unwrap().clone();
    assert_eq!(ids.len(), 2, "{}", r.body);
    assert!(
        ids.iter()
            .any(|i| i["connection"] == "legacy-db" && i["user_id"] == "legacy-42")
    );

    // Unknown identities are 404; a malformed connection id is a 400 naming it.
    let r = send(&s, &token, "DELETE", &unlink(&legacy, "someone-else"), None).await;
    assert_error(&r, 404, "not_found", "identity");
    let r = send(&s, &token, "DELETE", &unlink("legacy", "legacy-42"), None).await;
    assert_error(&r, 400, "invalid_request", "connection_id");

    let r = send(&s, &token, "DELETE", &unlink(&legacy, "legacy-42"), None).await;
    assert_eq!(r.status, 204, "{}", r.body);
    let r = send(&s, &token, "GET", &format!("{USERS}/{id}"), None).await;
    assert_eq!(r.json()["identities"].as_array().unwrap().len(), 1);
    let r = send(&s, &token, "DELETE", &unlink(&legacy, "legacy-42"), None).await;
    assert_eq!(r.status, 404);
    let ev = events(&s, &token, "user.identity.unlinked").await;
    assert_eq!(ev.len(), 1);
    assert_eq!(ev[0]["context"]["connection_id"], legacy.as_str());
}

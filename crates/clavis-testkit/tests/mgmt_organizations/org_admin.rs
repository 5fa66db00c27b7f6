//! An organization administrator's API key confined to its own organization (see the
//! parent file).

use clavis_core::service::management::api_keys::ORG_LEVEL_SCOPES;
use clavis_testkit::{Backend, TestServer};
use serde_json::{Value, json};

use super::{PW, all_scopes, call, create_org};

/// An organization administrator's API key for `org_id`, holding every
/// organization-level scope, created through `POST /api-keys` by a tenant-wide caller.
async fn org_admin_key(s: &TestServer, token: &str, org_id: &str) -> String {
    let r = call(
        s,
        "POST",
        "/api-keys",
        token,
        Some(json!({ "name": "org admin", "scopes": ORG_LEVEL_SCOPES, "org_id": org_id })),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let key = r.json()["key"].as_str().unwrap().to_owned();
    assert!(key.starts_with("clv_"));
    key
}

pub(super) async fn org_admin_key_reaches_only_its_organization(b: Backend) {
    let s = TestServer::start(b).await;
    let fx = s.fixtures("default");
    let token = s.mgmt_token("default", &all_scopes()).await;
    let ann = fx.user("ann@example.com", PW).await;
    let a = create_org(&s, &token, "org-a").await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let b_id = create_org(&s, &token, "org-b").await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let key = org_admin_key(&s, &token, &a).await;

    // Its own organization.
    assert_eq!(
        call(&s, "GET", &format!("/organizations/{a}"), &key, None)
            .await
            .status,
        200
    );
    let r = call(
        &s,
        "PATCH",
        &format!("/organizations/{a}"),
        &key,
        Some(json!({ "display_name": "A" })),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    // It cannot add an arbitrary user of the tenant by id (that would reveal users of
    // other organizations); a tenant-wide caller can.
    let members = json!({ "members": [ann.id.to_string()] });
    let r = call(
        &s,
        "POST",
        &format!("/organizations/{a}/members"),
        &key,
        Some(members.clone()),
    )
    .await;
    assert_eq!(r.status, 403, "{}", r.body);
    assert_eq!(r.json()["error"], "access_denied");
    let r = call(
        &s,
        "GET",
        &format!("/organizations/{a}/members?include_totals=true"),
        &key,
        None,
    )
    .await;
    assert_eq!(r.json()["total"], 0, "{}", r.body);
    let r = call(
        &s,
        "POST",
        &format!("/organizations/{a}/members"),
        &token,
        Some(members.clone()),
    )
    .await;
    assert_eq!(r.status, 204, "{}", r.body);
    assert_eq!(
        call(
            &s,
            "GET",
            &format!("/organizations/{a}/enabled_connections"),
            &key,
            None
        )
        .await
        .status,
        200
    );
    assert_eq!(
        call(&s, "GET", &format!("/organizations/{a}/teams"), &key, None)
            .await
            .status,
        200
    );
    // ...but not what stays tenant-wide, even on its own organization.
    for (m, p, body) in [
        ("GET", "/organizations".to_owned(), None),
        (
            "POST",
            "/organizations".to_owned(),
            Some(json!({ "name": "mine" })),
        ),
        ("GET", "/organizations/name/org-a".to_owned(), None),
        ("DELETE", format!("/organizations/{a}"), None),
        (
            "PATCH",
            format!("/organizations/{a}"),
            Some(json!({ "user_limit": 1000 })),
        ),
        (
            "PATCH",
            format!("/organizations/{a}"),
            Some(json!({ "metadata": { "subscription_tier": "platinum" } })),
        ),
        (
            "PATCH",
            format!("/organizations/{a}"),
            Some(json!({ "name": "renamed" })),
        ),
        (
            "POST",
            format!("/organizations/{a}/enabled_connections"),
            Some(json!({ "connection_id": "con_00000000000000000000000000" })),
        ),
        (
            "DELETE",
            format!("/organizations/{a}/enabled_connections/con_00000000000000000000000000"),
            None,
        ),
    ] {
        let r = call(&s, m, &p, &key, body).await;
        assert_eq!(r.status, 403, "{m} {p}: {}", r.body);
        let e = r.json()["error"].as_str().unwrap().to_owned();
        assert!(
            e == "access_denied" || e == "insufficient_scope",
            "{m} {p}: {e}"
        );
    }

    // Every operation on another organization: 403, whatever the body.
    let uid = ann.id.to_string();
    let ops: Vec<(&str, String, Option<Value>)> = vec![
        ("GET", format!("/organizations/{b_id}"), None),
        (
            "PATCH",
            format!("/organizations/{b_id}"),
            Some(json!({ "display_name": "x" })),
        ),
        ("DELETE", format!("/organizations/{b_id}"), None),
        ("GET", format!("/organizations/{b_id}/members"), None),
        (
            "POST",
            format!("/organizations/{b_id}/members"),
            Some(members.clone()),
        ),
        (
            "DELETE",
            format!("/organizations/{b_id}/members"),
            Some(members.clone()),
        ),
        (
            "GET",
            format!("/organizations/{b_id}/members/{uid}/roles"),
            None,
        ),
        (
            "POST",
            format!("/organizations/{b_id}/members/{uid}/roles"),
            Some(json!({ "roles": ["rol_00000000000000000000000000"] })),
        ),
        (
            "DELETE",
            format!("/organizations/{b_id}/members/{uid}/roles"),
            Some(json!({ "roles": ["rol_00000000000000000000000000"] })),
        ),
        ("GET", format!("/organizations/{b_id}/invitations"), None),
        (
            "POST",
            format!("/organizations/{b_id}/invitations"),
            Some(json!({})),
        ),
        (
            "GET",
            format!("/organizations/{b_id}/invitations/uinv_00000000000000000000000000"),
            None,
        ),
        (
            "DELETE",
            format!("/organizations/{b_id}/invitations/uinv_00000000000000000000000000"),
            None,
        ),
        (
            "GET",
            format!("/organizations/{b_id}/enabled_connections"),
            None,
        ),
        (
            "GET",
            format!("/organizations/{b_id}/enabled_connections/con_00000000000000000000000000"),
            None,
        ),
        (
            "PATCH",
            format!("/organizations/{b_id}/enabled_connections/con_00000000000000000000000000"),
            Some(json!({})),
        ),
        ("GET", format!("/organizations/{b_id}/teams"), None),
        (
            "POST",
            format!("/organizations/{b_id}/teams"),
            Some(json!({ "name": "ops" })),
        ),
        (
            "GET",
            format!("/organizations/{b_id}/teams/team_00000000000000000000000000"),
            None,
        ),
        (
            "PATCH",
            format!("/organizations/{b_id}/teams/team_00000000000000000000000000"),
            Some(json!({})),
        ),
        (
            "DELETE",
            format!("/organizations/{b_id}/teams/team_00000000000000000000000000"),
            None,
        ),
        (
            "GET",
            format!("/organizations/{b_id}/teams/team_00000000000000000000000000/members"),
            None,
        ),
        (
            "POST",
            format!("/organizations/{b_id}/teams/team_00000000000000000000000000/members"),
            Some(members.clone()),
        ),
        (
            "GET",
            format!("/organizations/{b_id}/teams/team_00000000000000000000000000/roles"),
            None,
        ),
        (
            "DELETE",
            format!("/organizations/{b_id}/teams/team_00000000000000000000000000/roles"),
            Some(json!({ "roles": [] })),
        ),
    ];
    for (m, p, body) in ops {
        let r = call(&s, m, &p, &key, body).await;
        assert_eq!(r.status, 403, "{m} {p}: {}", r.body);
        let e = r.json()["error"].as_str().unwrap().to_owned();
        assert!(
            e == "access_denied" || e == "insufficient_scope",
            "{m} {p}: {e}"
        );
    }
    // B is untouched.
    let b_org = call(&s, "GET", &format!("/organizations/{b_id}"), &token, None)
        .await
        .json();
    assert_eq!(b_org["display_name"], "org-b");
    let b_members = call(
        &s,
        "GET",
        &format!("/organizations/{b_id}/members?include_totals=true"),
        &token,
        None,
    )
    .await
    .json();
    assert_eq!(b_members["total"], 0);
}

/// An organization role applies to every Api of the tenant, so an organization's
/// administrator may assign — to members, to teams, through invitations — only the roles
/// the tenant lists in `org_assignable_roles`; by default none.
pub(super) async fn org_admin_assigns_only_roles_the_tenant_allows(b: Backend) {
    let s = TestServer::start(b).await;
    let fx = s.fixtures("default");
    let token = s.mgmt_token("default", &all_scopes()).await;
    let ann = fx.user("ann@example.com", PW).await;
    let app = fx
        .spa_app(
            &["https://app.example.com/cb"],
            clavis_types::OrganizationUsage::Allow,
        )
        .await;
    let a = create_org(&s, &token, "org-a").await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let role = |name: &'static str| {
        let (s, token) = (&s, &token);
        async move {
            let r = call(s, "POST", "/roles", token, Some(json!({ "name": name }))).await;
            assert_eq!(r.status, 201, "{}", r.body);
            r.json()["id"].as_str().unwrap().to_owned()
        }
    };
    let viewer = role("viewer").await;
    let owner = role("tenant-owner").await;
    let members = json!({ "members": [ann.id.to_string()] });
    let r = call(
        &s,
        "POST",
        &format!("/organizations/{a}/members"),
        &token,
        Some(members.clone()),
    )
    .await;
    assert_eq!(r.status, 204, "{}", r.body);
    let r = call(
        &s,
        "POST",
        &format!("/organizations/{a}/teams"),
        &token,
        Some(json!({ "name": "ops" })),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let team = r.json()["id"].as_str().unwrap().to_owned();
    let key = org_admin_key(&s, &token, &a).await;

    let member_roles = format!("/organizations/{a}/members/{}/roles", ann.id);
    let team_roles = format!("/organizations/{a}/teams/{team}/roles");
    let invite = |role: &str| {
        json!({
            "inviter": { "name": "Org Admin" },
            "invitee": { "email": "new@example.com" },
            "client_id": app,
            "roles": [role],
        })
    };
    let attempts = |role: &str| {
        vec![
            ("POST", member_roles.clone(), json!({ "roles": [role] })),
            ("DELETE", member_roles.clone(), json!({ "roles": [role] })),
            ("POST", team_roles.clone(), json!({ "roles": [role] })),
            ("DELETE", team_roles.clone(), json!({ "roles": [role] })),
            (
                "POST",
                format!("/organizations/{a}/invitations"),
                invite(role),
            ),
        ]
    };
    // Nothing is assignable by default.
    for role in [&viewer, &owner] {
        for (m, p, body) in attempts(role) {
            let r = call(&s, m, &p, &key, Some(body)).await;
            assert_eq!(r.status, 403, "{m} {p}: {}", r.body);
            assert_eq!(r.json()["error"], "access_denied", "{m} {p}");
            assert!(r.body.contains("org_assignable_roles"), "{}", r.body);
        }
    }
    assert_eq!(
        call(&s, "GET", &member_roles, &key, None).await.json(),
        json!([])
    );

    // The tenant lets organizations assign `viewer`, and only it.
    let mut tenant = (*s.core.tenant_by_slug("default").await.unwrap()).clone();
    tenant.settings.org_assignable_roles = vec!["viewer".to_owned()];
    let mut tx = s.core.store.begin().await.unwrap();
    assert!(tx.tenant_update(&tenant).await.unwrap());
    tx.commit().await.unwrap();
    s.clock.advance_secs(5);
    for (m, p, body) in attempts(&viewer) {
        let r = call(&s, m, &p, &key, Some(body)).await;
        assert!(r.status == 204 || r.status == 201, "{m} {p}: {}", r.body);
    }
    for (m, p, body) in attempts(&owner) {
        let r = call(&s, m, &p, &key, Some(body)).await;
        assert_eq!(r.status, 403, "{m} {p}: {}", r.body);
    }
    // A tenant-wide caller assigns any role.
    let r = call(
        &s,
        "POST",
        &member_roles,
        &token,
        Some(json!({ "roles": [owner] })),
    )
    .await;
    assert_eq!(r.status, 204, "{}", r.body);
}

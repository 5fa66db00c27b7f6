//! Organizations through the Management API: lifecycle, pagination, validation naming
//! the field, members and their roles with `user_limit`, invitations whose link is shown
//! once, enabled connections, audit events, other tenants' tokens and ids, and an
//! organization administrator's API key confined to its own organization — against a real
//! server, on SQLite and PostgreSQL.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use clavis_core::service::management::MANAGEMENT_SCOPES;
use clavis_testkit::{Backend, Reply, TestServer};
use serde_json::{Value, json};

#[path = "mgmt_organizations/invitations.rs"]
mod invitations;
#[path = "mgmt_organizations/org_admin.rs"]
mod org_admin;

use invitations::{enabled_connections, invitations_show_their_link_once};
use org_admin::{
    org_admin_assigns_only_roles_the_tenant_allows, org_admin_key_reaches_only_its_organization,
};

clavis_testkit::on_both!(
    organization_lifecycle,
    bad_input_is_a_400_naming_it,
    callers_need_the_scope_and_their_own_tenant,
    members_and_member_roles,
    invitations_show_their_link_once,
    enabled_connections,
    org_admin_key_reaches_only_its_organization,
    org_admin_assigns_only_roles_the_tenant_allows,
);

const PW: &str = "correct horse battery";
const V2: &str = "/t/default/api/v2";

async fn call(s: &TestServer, method: &str, path: &str, token: &str, body: Option<Value>) -> Reply {
    s.client
        .send(method, &format!("{V2}{path}"), token, body.as_ref())
        .await
}

/// The `client_id` claim of an access token.
fn client_of(token: &str) -> String {
    let payload = token.split('.').nth(1).unwrap();
    let claims: Value =
        serde_json::from_slice(&clavis_crypto::b64url_decode(payload).unwrap()).unwrap();
    claims["client_id"].as_str().unwrap().to_owned()
}

/// Events of `event_type`, oldest first.
async fn events(s: &TestServer, event_type: &str) -> Vec<Value> {
    let token = s.mgmt_token("default", &["read:logs"]).await;
    let r = call(
        s,
        "GET",
        &format!("/logs?type={event_type}&order=asc"),
        &token,
        None,
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    r.json()["logs"].as_array().unwrap().clone()
}

async fn create_org(s: &TestServer, token: &str, name: &str) -> Value {
    let r = call(
        s,
        "POST",
        "/organizations",
        token,
        Some(json!({ "name": name })),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.body);
    r.json()
}

fn all_scopes() -> Vec<&'static str> {
    MANAGEMENT_SCOPES.to_vec()
}

async fn organization_lifecycle(b: Backend) {
    let s = TestServer::start(b).await;
    let token = s.mgmt_token("default", &all_scopes()).await;
    let r = call(
        &s,
        "POST",
        "/organizations",
        &token,
        Some(json!({
            "name": "acme",
            "display_name": "Acme Corp",
            "metadata": { "subscription_tier": "gold", "extra": { "region": "eu" } },
            "user_limit": 10
        })),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let acme = r.json();
    let id = acme["id"].as_str().unwrap().to_owned();
    assert!(id.starts_with("org_"));
    assert_eq!(acme["name"], "acme");
    assert_eq!(acme["display_name"], "Acme Corp");
    assert_eq!(acme["metadata"]["subscription_tier"], "gold");
    assert_eq!(acme["metadata"]["extra"]["region"], "eu");
    assert_eq!(acme["user_limit"], 10);

    // Duplicate name.
    let dup = call(
        &s,
        "POST",
        "/organizations",
        &token,
        Some(json!({ "name": "acme" })),
    )
    .await;
    assert_eq!(dup.status, 409, "{}", dup.body);

    // Read by id and by name.
    let one = call(&s, "GET", &format!("/organizations/{id}"), &token, None).await;
    assert_eq!(one.status, 200, "{}", one.body);
    assert_eq!(one.json()["display_name"], "Acme Corp");
    let by_name = call(&s, "GET", "/organizations/name/acme", &token, None).await;
    assert_eq!(by_name.status, 200, "{}", by_name.body);
    assert_eq!(by_name.json()["id"], id.as_str());
    assert_eq!(
        call(&s, "GET", "/organizations/name/nobody", &token, None)
            .await
            .status,
        404
    );

    // Pagination with totals.
    for n in ["beta", "gamma"] {
        let o = create_org(&s, &token, n).await;
        assert_eq!(o["display_name"], n, "display_name defaults to the name");
        assert_eq!(o["user_limit"], Value::Null);
    }
    let page = call(
        &s,
        "GET",
        "/organizations?per_page=2&page=0&include_totals=true",
        &token,
        None,
    )
    .await;
    assert_eq!(page.status, 200, "{}", page.body);
    let page = page.json();
    assert_eq!(page["total"], 3);
    assert_eq!(page["limit"], 2);
    assert_eq!(page["start"], 0);
    assert_eq!(page["organizations"].as_array().unwrap().len(), 2);
    let last = call(&s, "GET", "/organizations?per_page=2&page=1", &token, None)
        .await
        .json();
    assert_eq!(
        last.as_array().unwrap().len(),
        1,
        "a bare array without totals"
    );

    // Update: display name, metadata, remove the limit.
    let r = call(
        &s,
        "PATCH",
        &format!("/organizations/{id}"),
        &token,
        Some(json!({
            "display_name": "Acme Inc",
            "metadata": { "data_residency": "eu-west" },
            "user_limit": null
        })),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let changed = r.json();
    assert_eq!(changed["display_name"], "Acme Inc");
    assert_eq!(changed["metadata"], json!({ "data_residency": "eu-west" }));
    assert_eq!(changed["user_limit"], Value::Null);
    let taken = call(
        &s,
        "PATCH",
        &format!("/organizations/{id}"),
        &token,
        Some(json!({ "name": "beta" })),
    )
    .await;
    assert_eq!(taken.status, 409, "{}", taken.body);

    // Delete, then 404.
    let del = call(&s, "DELETE", &format!("/organizations/{id}"), &token, None).await;
    assert_eq!(del.status, 204, "{}", del.body);
    for (m, p) in [
        ("GET", format!("/organizations/{id}")),
        ("DELETE", format!("/organizations/{id}")),
    ] {
        assert_eq!(call(&s, m, &p, &token, None).await.status, 404, "{m} {p}");
    }

    // Audit: the caller's client is the actor, the organization is filled in.
    let client = client_of(&token);
    for t in [
        "organization.created",
        "organization.updated",
        "organization.deleted",
    ] {
        let list = events(&s, t).await;
        let e = list
            .iter()
            .find(|e| e["organization"]["org_id"] == id.as_str())
            .unwrap_or_else(|| panic!("{t}: {list:?}"));
        assert_eq!(e["actor"]["client_id"], client.as_str(), "{e}");
        assert_eq!(e["organization"]["name"], "acme", "{e}");
        assert_eq!(e["context"]["org_id"], id.as_str(), "{e}");
    }
    let updated = &events(&s, "organization.updated").await[0];
    assert_eq!(
        updated["context"]["changed"],
        json!(["display_name", "metadata", "user_limit"])
    );
}

async fn bad_input_is_a_400_naming_it(b: Backend) {
    let s = TestServer::start(b).await;
    let token = s.mgmt_token("default", &all_scopes()).await;
    let org = create_org(&s, &token, "acme").await;
    let id = org["id"].as_str().unwrap();
    let cases: Vec<(&str, String, Option<Value>, &str)> = vec![
        (
            "POST",
            "/organizations".into(),
            Some(json!({ "name": "x", "colour": "red" })),
            "colour",
        ),
        (
            "POST",
            "/organizations".into(),
            Some(json!({ "name": "Not A Slug" })),
            "name",
        ),
        (
            "POST",
            "/organizations".into(),
            Some(json!({ "name": "ok", "display_name": " " })),
            "display_name",
        ),
        (
            "POST",
            "/organizations".into(),
            Some(json!({ "name": "ok", "user_limit": -1 })),
            "user_limit",
        ),
        (
            "POST",
            "/organizations".into(),
            Some(json!({ "name": "ok", "metadata": { "nope": 1 } })),
            "nope",
        ),
        ("GET", "/organizations?colour=red".into(), None, "colour"),
        (
            "GET",
            "/organizations?per_page=1000".into(),
            None,
            "per_page",
        ),
        ("GET", "/organizations/not-an-id!".into(), None, "id"),
        (
            "GET",
            "/organizations/usr_0000000000000000000000000".into(),
            None,
            "id",
        ),
        ("GET", "/organizations/name/Not_A_Slug".into(), None, "name"),
        (
            "PATCH",
            format!("/organizations/{id}"),
            Some(json!({ "slug": "x" })),
            "slug",
        ),
        (
            "GET",
            format!("/organizations/{id}/members?sort=x"),
            None,
            "sort",
        ),
        (
            "POST",
            format!("/organizations/{id}/members"),
            Some(json!({ "members": ["bad"] })),
            "members[0]",
        ),
        (
            "POST",
            format!("/organizations/{id}/members"),
            Some(json!({ "members": [] })),
            "members",
        ),
        (
            "GET",
            format!("/organizations/{id}/members/nope/roles"),
            None,
            "user_id",
        ),
        (
            "GET",
            format!("/organizations/{id}/invitations/nope"),
            None,
            "invitation_id",
        ),
        (
            "GET",
            format!("/organizations/{id}/enabled_connections/nope"),
            None,
            "connection_id",
        ),
    ];
    for (m, p, body, named) in cases {
        let r = call(&s, m, &p, &token, body).await;
        assert_eq!(r.status, 400, "{m} {p}: {}", r.body);
        assert_eq!(r.json()["error"], "invalid_request");
        let d = r.json()["error_description"].as_str().unwrap().to_owned();
        assert!(d.contains(named), "{m} {p}: `{named}` not named in {d}");
    }
    // Well-formed but absent: 404.
    let absent = "org_00000000000000000000000000";
    for p in [
        format!("/organizations/{absent}"),
        format!("/organizations/{absent}/members"),
        format!("/organizations/{absent}/invitations"),
        format!("/organizations/{absent}/enabled_connections"),
    ] {
        let r = call(&s, "GET", &p, &token, None).await;
        assert_eq!(r.status, 404, "{p}: {}", r.body);
    }
}

async fn callers_need_the_scope_and_their_own_tenant(b: Backend) {
    let s = TestServer::start(b).await;
    let token = s.mgmt_token("default", &all_scopes()).await;
    let org = create_org(&s, &token, "acme").await;
    let id = org["id"].as_str().unwrap();
    let weak = s.mgmt_token("default", &["read:users"]).await;
    for (m, p, scope) in [
        ("GET", "/organizations".to_owned(), "read:organizations"),
        ("POST", "/organizations".to_owned(), "create:organizations"),
        (
            "PATCH",
            format!("/organizations/{id}"),
            "update:organizations",
        ),
        (
            "DELETE",
            format!("/organizations/{id}"),
            "delete:organizations",
        ),
        (
            "GET",
            format!("/organizations/{id}/members"),
            "read:organization_members",
        ),
        (
            "POST",
            format!("/organizations/{id}/members"),
            "create:organization_members",
        ),
        (
            "GET",
            format!("/organizations/{id}/invitations"),
            "read:organization_invitations",
        ),
        (
            "POST",
            format!("/organizations/{id}/enabled_connections"),
            "create:organization_connections",
        ),
    ] {
        let r = call(&s, m, &p, &weak, Some(json!({}))).await;
        assert_eq!(r.status, 403, "{m} {p}: {}", r.body);
        assert_eq!(r.json()["error"], "insufficient_scope");
        assert!(
            r.json()["error_description"]
                .as_str()
                .unwrap()
                .contains(scope)
        );
    }
    assert_eq!(
        call(&s, "GET", "/organizations", "", None).await.status,
        401
    );

    // Another tenant's token is refused here; our token cannot reach its organizations.
    s.fixtures("other").tenant().await;
    let theirs = s.mgmt_token("other", &all_scopes()).await;
    assert_eq!(
        call(&s, "GET", "/organizations", &theirs, None)
            .await
            .status,
        401
    );
    let r = s
        .client
        .send(
            "POST",
            "/t/other/api/v2/organizations",
            &theirs,
            Some(&json!({ "name": "globex" })),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let globex = r.json()["id"].as_str().unwrap().to_owned();
    for p in [
        format!("/organizations/{globex}"),
        format!("/organizations/{globex}/members"),
        "/organizations/name/globex".to_owned(),
    ] {
        assert_eq!(call(&s, "GET", &p, &token, None).await.status, 404, "{p}");
    }
    let r = call(
        &s,
        "DELETE",
        &format!("/organizations/{globex}"),
        &token,
        None,
    )
    .await;
    assert_eq!(r.status, 404, "{}", r.body);
}

async fn members_and_member_roles(b: Backend) {
    let s = TestServer::start(b).await;
    let fx = s.fixtures("default");
    let token = s.mgmt_token("default", &all_scopes()).await;
    let ann = fx.user("ann@example.com", PW).await;
    let bob = fx.user("bob@example.com", PW).await;
    let cy = fx.user("cy@example.com", PW).await;
    let api = fx.api("https://docs.example.com", &["read:doc"]).await;
    let role = fx.role("reader", &api, &["read:doc"], &cy, None).await;
    let r = call(
        &s,
        "POST",
        "/organizations",
        &token,
        Some(json!({ "name": "acme", "user_limit": 2 })),
    )
    .await;
    let id = r.json()["id"].as_str().unwrap().to_owned();
    let members = format!("/organizations/{id}/members");

    let add = |ids: Vec<String>| json!({ "members": ids });
    let r = call(
        &s,
        "POST",
        &members,
        &token,
        Some(add(vec![ann.id.to_string(), bob.id.to_string()])),
    )
    .await;
    assert_eq!(r.status, 204, "{}", r.body);
    // Adding an existing member again changes nothing; a third member exceeds the limit.
    let r = call(
        &s,
        "POST",
        &members,
        &token,
        Some(add(vec![ann.id.to_string()])),
    )
    .await;
    assert_eq!(r.status, 204, "{}", r.body);
    let r = call(
        &s,
        "POST",
        &members,
        &token,
        Some(add(vec![cy.id.to_string()])),
    )
    .await;
    assert_eq!(r.status, 409, "{}", r.body);
    assert!(r.body.contains("user_limit"), "{}", r.body);
    let r = call(
        &s,
        "POST",
        &members,
        &token,
        Some(add(vec!["usr_00000000000000000000000000".into()])),
    )
    .await;
    assert_eq!(r.status, 400, "{}", r.body);

    let list = call(
        &s,
        "GET",
        &format!("{members}?include_totals=true&per_page=1"),
        &token,
        None,
    )
    .await;
    assert_eq!(list.status, 200, "{}", list.body);
    let list = list.json();
    assert_eq!(list["total"], 2);
    assert_eq!(list["members"].as_array().unwrap().len(), 1);
    let all = call(&s, "GET", &members, &token, None).await.json();
    let emails: Vec<&str> = all
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["email"].as_str().unwrap())
        .collect();
    assert!(
        emails.contains(&"ann@example.com") && emails.contains(&"bob@example.com"),
        "{all}"
    );

    // Roles inside the organization.
    let roles = format!("{members}/{}/roles", ann.id);
    let body = json!({ "roles": [role.id.to_string()] });
    let r = call(&s, "POST", &roles, &token, Some(body.clone())).await;
    assert_eq!(r.status, 204, "{}", r.body);
    let held = call(&s, "GET", &roles, &token, None).await;
    assert_eq!(held.status, 200, "{}", held.body);
    assert_eq!(held.json()[0]["name"], "reader");
    let r = call(
        &s,
        "POST",
        &roles,
        &token,
        Some(json!({ "roles": ["rol_00000000000000000000000000"] })),
    )
    .await;
    assert_eq!(r.status, 400, "{}", r.body);
    assert!(r.body.contains("roles[0]"), "{}", r.body);
    let not_member = format!("{members}/{}/roles", cy.id);
    assert_eq!(call(&s, "GET", &not_member, &token, None).await.status, 404);
    assert_eq!(
        call(&s, "POST", &not_member, &token, Some(body.clone()))
            .await
            .status,
        404
    );
    let r = call(&s, "DELETE", &roles, &token, Some(body.clone())).await;
    assert_eq!(r.status, 204, "{}", r.body);
    let held = call(
        &s,
        "GET",
        &format!("{roles}?include_totals=true"),
        &token,
        None,
    )
    .await
    .json();
    assert_eq!(held["total"], 0, "{held}");

    // Remove a member; the limit leaves room again.
    let r = call(
        &s,
        "DELETE",
        &members,
        &token,
        Some(add(vec![bob.id.to_string()])),
    )
    .await;
    assert_eq!(r.status, 204, "{}", r.body);
    let r = call(
        &s,
        "POST",
        &members,
        &token,
        Some(add(vec![cy.id.to_string()])),
    )
    .await;
    assert_eq!(r.status, 204, "{}", r.body);
    // Lowering the limit below the member count is refused.
    let r = call(
        &s,
        "PATCH",
        &format!("/organizations/{id}"),
        &token,
        Some(json!({ "user_limit": 1 })),
    )
    .await;
    assert_eq!(r.status, 409, "{}", r.body);

    let client = client_of(&token);
    let added = events(&s, "organization.member.added").await;
    assert_eq!(added.len(), 3, "ann, bob, cy: {added:?}");
    assert!(
        added
            .iter()
            .all(|e| e["organization"]["org_id"] == id.as_str()
                && e["actor"]["client_id"] == client.as_str())
    );
    let removed = events(&s, "organization.member.removed").await;
    assert_eq!(removed.len(), 1);
    assert_eq!(removed[0]["context"]["user_id"], bob.id.to_string());
    for t in [
        "organization.member.roles.assigned",
        "organization.member.roles.removed",
    ] {
        let e = events(&s, t).await;
        assert_eq!(e.len(), 1, "{t}: {e:?}");
        assert_eq!(e[0]["context"]["roles"], json!([role.id.to_string()]));
        assert_eq!(e[0]["context"]["user_id"], ann.id.to_string());
    }
}

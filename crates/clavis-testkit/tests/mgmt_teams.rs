//! Teams through the Management API, nested under organizations: lifecycle, pagination,
//! validation naming the field, members who must be organization members, team roles,
//! audit events, teams reachable only through their own organization and tenant, and an
//! organization administrator's API key confined to its own organization's teams —
//! against a real server, on SQLite and PostgreSQL.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use clavis_core::service::management::MANAGEMENT_SCOPES;
use clavis_core::service::management::api_keys::ORG_LEVEL_SCOPES;
use clavis_testkit::{Backend, Reply, TestServer};
use serde_json::{Value, json};

clavis_testkit::on_both!(
    team_lifecycle,
    team_members_must_be_organization_members,
    team_roles,
    bad_input_scopes_and_tenants,
    teams_are_reached_only_through_their_organization,
);

const PW: &str = "correct horse battery";
const V2: &str = "/t/default/api/v2";

async fn call(s: &TestServer, method: &str, path: &str, token: &str, body: Option<Value>) -> Reply {
    s.client
        .send(method, &format!("{V2}{path}"), token, body.as_ref())
        .await
}

fn client_of(token: &str) -> String {
    let payload = token.split('.').nth(1).unwrap();
    let claims: Value =
        serde_json::from_slice(&clavis_crypto::b64url_decode(payload).unwrap()).unwrap();
    claims["client_id"].as_str().unwrap().to_owned()
}

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

async fn token(s: &TestServer) -> String {
    s.mgmt_token("default", MANAGEMENT_SCOPES).await
}

async fn create_org(s: &TestServer, token: &str, name: &str) -> String {
    let r = call(
        s,
        "POST",
        "/organizations",
        token,
        Some(json!({ "name": name })),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.body);
    r.json()["id"].as_str().unwrap().to_owned()
}

async fn create_team(s: &TestServer, token: &str, org: &str, name: &str) -> String {
    let r = call(
        s,
        "POST",
        &format!("/organizations/{org}/teams"),
        token,
        Some(json!({ "name": name })),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.body);
    r.json()["id"].as_str().unwrap().to_owned()
}

async fn team_lifecycle(b: Backend) {
    let s = TestServer::start(b).await;
    let token = token(&s).await;
    let org = create_org(&s, &token, "acme").await;
    let teams = format!("/organizations/{org}/teams");
    let r = call(
        &s,
        "POST",
        &teams,
        &token,
        Some(json!({ "name": "ops", "display_name": "Operations", "description": "Keeps things up" })),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let team = r.json();
    let id = team["id"].as_str().unwrap().to_owned();
    assert!(id.starts_with("team_"));
    assert_eq!(team["organization_id"], org.as_str());
    assert_eq!(team["name"], "ops");
    assert_eq!(team["display_name"], "Operations");
    assert_eq!(team["description"], "Keeps things up");

    let dup = call(&s, "POST", &teams, &token, Some(json!({ "name": "ops" }))).await;
    assert_eq!(dup.status, 409, "{}", dup.body);
    // The same name in another organization is fine.
    let other = create_org(&s, &token, "beta").await;
    create_team(&s, &token, &other, "ops").await;

    let one = call(&s, "GET", &format!("{teams}/{id}"), &token, None).await;
    assert_eq!(one.status, 200, "{}", one.body);
    assert_eq!(one.json()["display_name"], "Operations");

    for n in ["dev", "sales"] {
        let t = create_team(&s, &token, &org, n).await;
        let v = call(&s, "GET", &format!("{teams}/{t}"), &token, None)
            .await
            .json();
        assert_eq!(v["display_name"], n, "display_name defaults to the name");
        assert_eq!(v["description"], "");
    }
    let page = call(
        &s,
        "GET",
        &format!("{teams}?per_page=2&include_totals=true"),
        &token,
        None,
    )
    .await;
    assert_eq!(page.status, 200, "{}", page.body);
    let page = page.json();
    assert_eq!(page["total"], 3, "only this organization's teams: {page}");
    assert_eq!(page["teams"].as_array().unwrap().len(), 2);
    let second = call(
        &s,
        "GET",
        &format!("{teams}?per_page=2&page=1"),
        &token,
        None,
    )
    .await
    .json();
    assert_eq!(second.as_array().unwrap().len(), 1);

    let r = call(
        &s,
        "PATCH",
        &format!("{teams}/{id}"),
        &token,
        Some(json!({ "name": "sre", "description": "" })),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["name"], "sre");
    assert_eq!(r.json()["description"], "");
    assert_eq!(r.json()["display_name"], "Operations");
    let taken = call(
        &s,
        "PATCH",
        &format!("{teams}/{id}"),
        &token,
        Some(json!({ "name": "dev" })),
    )
    .await;
    assert_eq!(taken.status, 409, "{}", taken.body);

    assert_eq!(
        call(&s, "DELETE", &format!("{teams}/{id}"), &token, None)
            .await
            .status,
        204
    );
    assert_eq!(
        call(&s, "GET", &format!("{teams}/{id}"), &token, None)
            .await
            .status,
        404
    );
    assert_eq!(
        call(&s, "DELETE", &format!("{teams}/{id}"), &token, None)
            .await
            .status,
        404
    );

    // Deleting the organization deletes its teams.
    let dev = create_team(&s, &token, &other, "dev").await;
    assert_eq!(
        call(
            &s,
            "DELETE",
            &format!("/organizations/{other}"),
            &token,
            None
        )
        .await
        .status,
        204
    );
    let t = s.fixtures("default").tenant().await;
    let mut tx = s.core.store.read().await.unwrap();
    let gone = tx
        .team_get(&t.id, &clavis_types::TeamId::parse(&dev).unwrap())
        .await
        .unwrap();
    assert!(gone.is_none());
    drop(tx);

    let client = client_of(&token);
    for ty in ["team.created", "team.updated", "team.deleted"] {
        let list = events(&s, ty).await;
        let e = list
            .iter()
            .find(|e| e["context"]["team_id"] == id.as_str())
            .unwrap_or_else(|| panic!("{ty}: {list:?}"));
        assert_eq!(e["organization"]["org_id"], org.as_str(), "{e}");
        assert_eq!(e["organization"]["name"], "acme", "{e}");
        assert_eq!(e["actor"]["client_id"], client.as_str(), "{e}");
    }
    let updated = &events(&s, "team.updated").await[0];
    assert_eq!(
        updated["context"]["changed"],
        json!(["name", "description"])
    );
    assert_eq!(updated["context"]["before"]["slug"], "ops");
}

async fn team_members_must_be_organization_members(b: Backend) {
    let s = TestServer::start(b).await;
    let fx = s.fixtures("default");
    let token = token(&s).await;
    let ann = fx.user("ann@example.com", PW).await;
    let bob = fx.user("bob@example.com", PW).await;
    let cy = fx.user("cy@example.com", PW).await;
    let org = create_org(&s, &token, "acme").await;
    let r = call(
        &s,
        "POST",
        &format!("/organizations/{org}/members"),
        &token,
        Some(json!({ "members": [ann.id.to_string(), bob.id.to_string()] })),
    )
    .await;
    assert_eq!(r.status, 204, "{}", r.body);
    let team = create_team(&s, &token, &org, "ops").await;
    let members = format!("/organizations/{org}/teams/{team}/members");

    // cy is not a member of the organization: nothing is added.
    let r = call(
        &s,
        "POST",
        &members,
        &token,
        Some(json!({ "members": [ann.id.to_string(), cy.id.to_string()] })),
    )
    .await;
    assert_eq!(r.status, 409, "{}", r.body);
    assert!(r.body.contains(&cy.id.to_string()), "{}", r.body);
    let empty = call(
        &s,
        "GET",
        &format!("{members}?include_totals=true"),
        &token,
        None,
    )
    .await
    .json();
    assert_eq!(empty["total"], 0, "{empty}");

    let r = call(
        &s,
        "POST",
        &members,
        &token,
        Some(json!({ "members": [ann.id.to_string(), bob.id.to_string()] })),
    )
    .await;
    assert_eq!(r.status, 204, "{}", r.body);
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

    let r = call(
        &s,
        "DELETE",
        &members,
        &token,
        Some(json!({ "members": [ann.id.to_string()] })),
    )
    .await;
    assert_eq!(r.status, 204, "{}", r.body);
    // Leaving the organization ends the team membership too.
    let r = call(
        &s,
        "DELETE",
        &format!("/organizations/{org}/members"),
        &token,
        Some(json!({ "members": [bob.id.to_string()] })),
    )
    .await;
    assert_eq!(r.status, 204, "{}", r.body);
    let after = call(
        &s,
        "GET",
        &format!("{members}?include_totals=true"),
        &token,
        None,
    )
    .await
    .json();
    assert_eq!(after["total"], 0, "{after}");

    let added = events(&s, "team.member.added").await;
    assert_eq!(added.len(), 2, "{added:?}");
    assert!(
        added
            .iter()
            .all(|e| e["organization"]["org_id"] == org.as_str()
                && e["context"]["team_id"] == team.as_str())
    );
    let removed = events(&s, "team.member.removed").await;
    assert_eq!(removed.len(), 1);
    assert_eq!(removed[0]["context"]["user_id"], ann.id.to_string());
}

async fn team_roles(b: Backend) {
    let s = TestServer::start(b).await;
    let fx = s.fixtures("default");
    let token = token(&s).await;
    let ann = fx.user("ann@example.com", PW).await;
    let api = fx
        .api("https://docs.example.com", &["read:doc", "write:doc"])
        .await;
    let reader = fx.role("reader", &api, &["read:doc"], &ann, None).await;
    let writer = fx.role("writer", &api, &["write:doc"], &ann, None).await;
    let org = create_org(&s, &token, "acme").await;
    let team = create_team(&s, &token, &org, "ops").await;
    let roles = format!("/organizations/{org}/teams/{team}/roles");
    let both = json!({ "roles": [writer.id.to_string(), reader.id.to_string()] });
    let r = call(&s, "POST", &roles, &token, Some(both.clone())).await;
    assert_eq!(r.status, 204, "{}", r.body);
    let held = call(&s, "GET", &roles, &token, None).await;
    assert_eq!(held.status, 200, "{}", held.body);
    let names: Vec<String> = held
        .json()
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(names, ["reader", "writer"], "by name");
    let page = call(
        &s,
        "GET",
        &format!("{roles}?per_page=1&page=1&include_totals=true"),
        &token,
        None,
    )
    .await
    .json();
    assert_eq!(page["total"], 2);
    assert_eq!(page["roles"][0]["name"], "writer");

    let r = call(
        &s,
        "POST",
        &roles,
        &token,
        Some(json!({ "roles": [reader.id.to_string(), "rol_00000000000000000000000000"] })),
    )
    .await;
    assert_eq!(r.status, 400, "{}", r.body);
    assert!(r.body.contains("roles[1]"), "{}", r.body);
    let r = call(&s, "POST", &roles, &token, Some(json!({ "roles": [] }))).await;
    assert_eq!(r.status, 400, "{}", r.body);

    let r = call(
        &s,
        "DELETE",
        &roles,
        &token,
        Some(json!({ "roles": [reader.id.to_string()] })),
    )
    .await;
    assert_eq!(r.status, 204, "{}", r.body);
    let held = call(&s, "GET", &roles, &token, None).await.json();
    assert_eq!(held.as_array().unwrap().len(), 1);
    assert_eq!(held[0]["id"], writer.id.to_string());

    let assigned = events(&s, "team.roles.assigned").await;
    assert_eq!(assigned.len(), 1);
    assert_eq!(assigned[0]["context"]["roles"].as_array().unwrap().len(), 2);
    assert_eq!(assigned[0]["organization"]["org_id"], org.as_str());
    let removed = events(&s, "team.roles.removed").await;
    assert_eq!(
        removed[0]["context"]["roles"],
        json!([reader.id.to_string()])
    );
}

async fn bad_input_scopes_and_tenants(b: Backend) {
    let s = TestServer::start(b).await;
    let token = token(&s).await;
    let org = create_org(&s, &token, "acme").await;
    let team = create_team(&s, &token, &org, "ops").await;
    let teams = format!("/organizations/{org}/teams");
    for (m, p, body, named) in [
        (
            "POST",
            teams.clone(),
            Some(json!({ "name": "x", "colour": "red" })),
            "colour",
        ),
        (
            "POST",
            teams.clone(),
            Some(json!({ "name": "Bad Name" })),
            "name",
        ),
        (
            "POST",
            teams.clone(),
            Some(json!({ "name": "ok", "description": "x".repeat(2001) })),
            "description",
        ),
        ("GET", format!("{teams}?colour=red"), None, "colour"),
        ("GET", format!("{teams}/not-a-team!"), None, "team_id"),
        (
            "GET",
            format!("{teams}/org_00000000000000000000000000"),
            None,
            "team_id",
        ),
        (
            "PATCH",
            format!("{teams}/{team}"),
            Some(json!({ "slug": "x" })),
            "slug",
        ),
        (
            "POST",
            format!("{teams}/{team}/members"),
            Some(json!({ "members": ["nope"] })),
            "members[0]",
        ),
        ("GET", format!("{teams}/{team}/roles?page=-1"), None, "page"),
    ] {
        let r = call(&s, m, &p, &token, body).await;
        assert_eq!(r.status, 400, "{m} {p}: {}", r.body);
        assert!(r.body.contains(named), "{m} {p}: `{named}` in {}", r.body);
    }
    let absent = format!("{teams}/team_00000000000000000000000000");
    assert_eq!(call(&s, "GET", &absent, &token, None).await.status, 404);

    let weak = s.mgmt_token("default", &["read:organizations"]).await;
    for (m, p, scope) in [
        ("GET", teams.clone(), "read:teams"),
        ("POST", teams.clone(), "create:teams"),
        ("PATCH", format!("{teams}/{team}"), "update:teams"),
        ("DELETE", format!("{teams}/{team}"), "delete:teams"),
        ("POST", format!("{teams}/{team}/members"), "update:teams"),
        ("POST", format!("{teams}/{team}/roles"), "update:teams"),
    ] {
        let r = call(&s, m, &p, &weak, Some(json!({}))).await;
        assert_eq!(r.status, 403, "{m} {p}: {}", r.body);
        assert_eq!(r.json()["error"], "insufficient_scope");
        assert!(r.body.contains(scope));
    }
    assert_eq!(call(&s, "GET", &teams, "", None).await.status, 401);
    s.fixtures("other").tenant().await;
    let theirs = s.mgmt_token("other", MANAGEMENT_SCOPES).await;
    assert_eq!(call(&s, "GET", &teams, &theirs, None).await.status, 401);
    // Their organization and team are not found through our tenant.
    let r = s
        .client
        .send(
            "POST",
            "/t/other/api/v2/organizations",
            &theirs,
            Some(&json!({ "name": "globex" })),
        )
        .await;
    let globex = r.json()["id"].as_str().unwrap().to_owned();
    let r = s
        .client
        .send(
            "POST",
            &format!("/t/other/api/v2/organizations/{globex}/teams"),
            &theirs,
            Some(&json!({ "name": "ops" })),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let their_team = r.json()["id"].as_str().unwrap().to_owned();
    assert_eq!(
        call(
            &s,
            "GET",
            &format!("/organizations/{globex}/teams/{their_team}"),
            &token,
            None
        )
        .await
        .status,
        404
    );
    assert_eq!(
        call(&s, "GET", &format!("{teams}/{their_team}"), &token, None)
            .await
            .status,
        404
    );
}

async fn teams_are_reached_only_through_their_organization(b: Backend) {
    let s = TestServer::start(b).await;
    let fx = s.fixtures("default");
    let token = token(&s).await;
    let ann = fx.user("ann@example.com", PW).await;
    let a = create_org(&s, &token, "org-a").await;
    let b_id = create_org(&s, &token, "org-b").await;
    let team_a = create_team(&s, &token, &a, "ops").await;
    let team_b = create_team(&s, &token, &b_id, "ops").await;

    // A's team through B's path: not found, and untouched.
    for (m, body) in [
        ("GET", None),
        ("PATCH", Some(json!({ "display_name": "hijacked" }))),
        ("DELETE", None),
    ] {
        let r = call(
            &s,
            m,
            &format!("/organizations/{b_id}/teams/{team_a}"),
            &token,
            body,
        )
        .await;
        assert_eq!(r.status, 404, "{m}: {}", r.body);
    }
    for sub in ["members", "roles"] {
        let r = call(
            &s,
            "GET",
            &format!("/organizations/{b_id}/teams/{team_a}/{sub}"),
            &token,
            None,
        )
        .await;
        assert_eq!(r.status, 404, "{sub}: {}", r.body);
    }
    let v = call(
        &s,
        "GET",
        &format!("/organizations/{a}/teams/{team_a}"),
        &token,
        None,
    )
    .await
    .json();
    assert_eq!(v["display_name"], "ops");

    // B's administrator key: its own teams yes, A's never.
    let r = call(
        &s,
        "POST",
        "/api-keys",
        &token,
        Some(json!({ "name": "b admin", "scopes": ORG_LEVEL_SCOPES, "org_id": b_id })),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let key = r.json()["key"].as_str().unwrap().to_owned();
    let r = call(
        &s,
        "PATCH",
        &format!("/organizations/{b_id}/teams/{team_b}"),
        &key,
        Some(json!({ "display_name": "B ops" })),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let r = call(
        &s,
        "POST",
        &format!("/organizations/{b_id}/teams"),
        &key,
        Some(json!({ "name": "dev" })),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let members = json!({ "members": [ann.id.to_string()] });
    for (m, p, body) in [
        ("GET", format!("/organizations/{a}/teams"), None),
        (
            "POST",
            format!("/organizations/{a}/teams"),
            Some(json!({ "name": "evil" })),
        ),
        ("GET", format!("/organizations/{a}/teams/{team_a}"), None),
        (
            "PATCH",
            format!("/organizations/{a}/teams/{team_a}"),
            Some(json!({ "display_name": "x" })),
        ),
        ("DELETE", format!("/organizations/{a}/teams/{team_a}"), None),
        (
            "GET",
            format!("/organizations/{a}/teams/{team_a}/members"),
            None,
        ),
        (
            "POST",
            format!("/organizations/{a}/teams/{team_a}/members"),
            Some(members.clone()),
        ),
        (
            "DELETE",
            format!("/organizations/{a}/teams/{team_a}/members"),
            Some(members.clone()),
        ),
        (
            "GET",
            format!("/organizations/{a}/teams/{team_a}/roles"),
            None,
        ),
        (
            "POST",
            format!("/organizations/{a}/teams/{team_a}/roles"),
            Some(json!({ "roles": ["rol_00000000000000000000000000"] })),
        ),
        (
            "DELETE",
            format!("/organizations/{a}/teams/{team_a}/roles"),
            Some(json!({ "roles": ["rol_00000000000000000000000000"] })),
        ),
    ] {
        let r = call(&s, m, &p, &key, body).await;
        assert_eq!(r.status, 403, "{m} {p}: {}", r.body);
        assert_eq!(r.json()["error"], "access_denied", "{m} {p}");
    }
    // A's team through B's path with B's key: still only B's teams.
    let r = call(
        &s,
        "GET",
        &format!("/organizations/{b_id}/teams/{team_a}"),
        &key,
        None,
    )
    .await;
    assert_eq!(r.status, 404, "{}", r.body);
    let list = call(
        &s,
        "GET",
        &format!("/organizations/{b_id}/teams?include_totals=true"),
        &key,
        None,
    )
    .await
    .json();
    assert_eq!(list["total"], 2, "{list}");
    assert!(!list.to_string().contains(&team_a));
}

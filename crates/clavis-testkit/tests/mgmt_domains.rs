//! Organizations' email domains through the Management API and home-realm discovery
//! (`Core::home_realm`), against a real server on SQLite and PostgreSQL: registering,
//! listing and removing domains, one organization per domain in a tenant, the connection
//! that must be enabled for the organization, discovery following those changes, scopes,
//! organization administrators (read only), other tenants' ids, audit events.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use clavis_core::service::management::MANAGEMENT_SCOPES;
use clavis_core::service::management::api_keys::ORG_LEVEL_SCOPES;
use clavis_testkit::{Backend, Reply, TestServer};
use serde_json::{Value, json};

clavis_testkit::on_both!(
    domains_route_logins_to_their_organization,
    bad_input_is_a_400_naming_it,
    callers_need_the_scope_and_their_own_tenant,
);

const V2: &str = "/t/default/api/v2";

async fn call(s: &TestServer, method: &str, path: &str, token: &str, body: Option<Value>) -> Reply {
    s.client
        .send(method, &format!("{V2}{path}"), token, body.as_ref())
        .await
}

fn assert_error(r: &Reply, status: u16, error: &str, mentions: &str) {
    assert_eq!(r.status, status, "{}", r.body);
    let body = r.json();
    assert_eq!(body["error"], error, "{}", r.body);
    let d = body["error_description"].as_str().unwrap();
    assert!(d.contains(mentions), "`{mentions}` not in: {d}");
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

/// A new database connection of the default tenant, enabled for `org` when given. The
/// clock moves on, so connections created one after the other sort in that order.
async fn connection(s: &TestServer, token: &str, name: &str, org: Option<&str>) -> String {
    s.clock.advance_secs(1);
    let r = call(
        s,
        "POST",
        "/connections",
        token,
        Some(json!({"name": name, "strategy": "database"})),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let id = r.json()["id"].as_str().unwrap().to_owned();
    if let Some(org) = org {
        enable(s, token, org, &id).await;
    }
    id
}

async fn enable(s: &TestServer, token: &str, org: &str, connection: &str) {
    let r = call(
        s,
        "POST",
        &format!("/organizations/{org}/enabled_connections"),
        token,
        Some(json!({"connection_id": connection})),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.body);
}

async fn realm(s: &TestServer, email: &str) -> Option<(String, String)> {
    let t = s.fixtures("default").tenant().await;
    s.core
        .home_realm(&t, email)
        .await
        .unwrap()
        .map(|h| (h.org.id.to_string(), h.connection.id.to_string()))
}

async fn domains_route_logins_to_their_organization(b: Backend) {
    let s = TestServer::start(b).await;
    let token = s.mgmt_token("default", MANAGEMENT_SCOPES).await;
    let fx = s.fixtures("default");
    let acme = fx.org("acme", &[]).await.id.to_string();
    let globex = fx.org("globex", &[]).await.id.to_string();
    let first = connection(&s, &token, "acme-first", Some(&acme)).await;
    let sso = connection(&s, &token, "acme-sso", Some(&acme)).await;
    let elsewhere = connection(&s, &token, "globex-db", Some(&globex)).await;
    let path = format!("/organizations/{acme}/domains");

    let r = call(&s, "GET", &path, &token, None).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json(), json!([]));
    assert_eq!(realm(&s, "bob@acme.example").await, None);

    // A domain with a chosen connection, and one with the organization's first.
    let r = call(
        &s,
        "POST",
        &path,
        &token,
        Some(json!({"domain": " ACME.example ", "connection_id": sso})),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let d = r.json();
    assert_eq!(d["domain"], "acme.example");
    assert_eq!(d["organization_id"], acme.as_str());
    assert_eq!(d["connection_id"], sso.as_str());
    let r = call(
        &s,
        "POST",
        &path,
        &token,
        Some(json!({"domain": "acme.test"})),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert!(r.json()["connection_id"].is_null());
    let r = call(&s, "GET", &path, &token, None).await;
    let listed: Vec<String> = r
        .json()
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["domain"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(listed, ["acme.example", "acme.test"]);

    // Discovery: the address's domain, case-insensitively.
    assert_eq!(
        realm(&s, "Bob@ACME.example").await,
        Some((acme.clone(), sso.clone()))
    );
    assert_eq!(
        realm(&s, "eve@acme.test").await,
        Some((acme.clone(), first.clone()))
    );
    assert_eq!(
        realm(&s, "bob@sub.acme.example").await,
        None,
        "exact domains only"
    );
    assert_eq!(realm(&s, "bob@example.com").await, None);
    assert_eq!(realm(&s, "not an address").await, None);

    // One organization per domain in the tenant.
    let r = call(
        &s,
        "POST",
        &format!("/organizations/{globex}/domains"),
        &token,
        Some(json!({"domain": "acme.example"})),
    )
    .await;
    assert_error(&r, 409, "conflict", "acme.example");
    let r = call(
        &s,
        "POST",
        &path,
        &token,
        Some(json!({"domain": "acme.example"})),
    )
    .await;
    assert_error(&r, 409, "conflict", "acme.example");
    // The connection must be enabled for the organization.
    let r = call(
        &s,
        "POST",
        &path,
        &token,
        Some(json!({"domain": "acme.org", "connection_id": elsewhere})),
    )
    .await;
    assert_error(&r, 400, "invalid_request", "connection_id");

    // Disabling the chosen connection stops discovery through it.
    let r = call(
        &s,
        "DELETE",
        &format!("/organizations/{acme}/enabled_connections/{sso}"),
        &token,
        None,
    )
    .await;
    assert_eq!(r.status, 204, "{}", r.body);
    assert_eq!(realm(&s, "bob@acme.example").await, None);
    enable(&s, &token, &acme, &sso).await;
    assert_eq!(
        realm(&s, "bob@acme.example").await,
        Some((acme.clone(), sso.clone()))
    );

    // Removing: only through the owning organization.
    let r = call(
        &s,
        "DELETE",
        &format!("/organizations/{globex}/domains/acme.example"),
        &token,
        None,
    )
    .await;
    assert_error(&r, 404, "not_found", "domain");
    let r = call(&s, "DELETE", &format!("{path}/ACME.example"), &token, None).await;
    assert_eq!(r.status, 204, "{}", r.body);
    let r = call(&s, "DELETE", &format!("{path}/acme.example"), &token, None).await;
    assert_error(&r, 404, "not_found", "domain");
    assert_eq!(realm(&s, "bob@acme.example").await, None);
    // Now another organization may have it.
    let r = call(
        &s,
        "POST",
        &format!("/organizations/{globex}/domains"),
        &token,
        Some(json!({"domain": "acme.example"})),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(
        realm(&s, "bob@acme.example").await,
        Some((globex.clone(), elsewhere.clone()))
    );

    // Deleting the organization removes its domains.
    let r = call(
        &s,
        "DELETE",
        &format!("/organizations/{acme}"),
        &token,
        None,
    )
    .await;
    assert_eq!(r.status, 204, "{}", r.body);
    assert_eq!(realm(&s, "eve@acme.test").await, None);
    let r = call(&s, "GET", &path, &token, None).await;
    assert_error(&r, 404, "not_found", "organization");

    // Audited, naming the organization.
    let added = events(&s, "organization.domain.added").await;
    assert_eq!(added.len(), 3, "{added:?}");
    assert_eq!(added[0]["context"]["domain"], "acme.example");
    assert_eq!(added[0]["context"]["connection_id"], sso.as_str());
    assert_eq!(added[0]["organization"]["org_id"], acme.as_str());
    let removed = events(&s, "organization.domain.removed").await;
    assert_eq!(removed.len(), 1, "{removed:?}");
}

async fn bad_input_is_a_400_naming_it(b: Backend) {
    let s = TestServer::start(b).await;
    let token = s.mgmt_token("default", MANAGEMENT_SCOPES).await;
    let acme = s.fixtures("default").org("acme", &[]).await.id.to_string();
    let path = format!("/organizations/{acme}/domains");
    for (body, mentions) in [
        (json!({"domain": "acme"}), "domain"),
        (json!({"domain": ""}), "domain"),
        (json!({"domain": "bob@acme.example"}), "domain"),
        (json!({"domain": "*.acme.example"}), "domain"),
        (json!({"domain": "acme..example"}), "domain"),
        (json!({"domain": "-acme.example"}), "domain"),
        (json!({"domain": "acme.example/path"}), "domain"),
        (json!({"domain": "<script>.example"}), "domain"),
        (
            json!({"domain": format!("{}.example", "a".repeat(64))}),
            "domain",
        ),
        (
            json!({"domain": "acme.example", "connection_id": "nope"}),
            "connection_id",
        ),
        (
            json!({"domain": "acme.example", "connection_id": "con_doesnotexist"}),
            "connection_id",
        ),
        (json!({"domain": "acme.example", "org_id": acme}), "org_id"),
        (json!({"domain": 7}), "domain"),
        (json!({}), "domain"),
    ] {
        let r = call(&s, "POST", &path, &token, Some(body)).await;
        assert_error(&r, 400, "invalid_request", mentions);
    }
    let r = call(
        &s,
        "DELETE",
        &format!("{path}/acme.example%2Fx"),
        &token,
        None,
    )
    .await;
    assert_error(&r, 400, "invalid_request", "domain");
    let r = call(&s, "GET", "/organizations/bad id/domains", &token, None).await;
    assert_eq!(r.status, 400, "{}", r.body);
    let r = call(&s, "GET", &path, &token, None).await;
    assert_eq!(r.json(), json!([]), "nothing stored");
}

async fn callers_need_the_scope_and_their_own_tenant(b: Backend) {
    let s = TestServer::start(b).await;
    let token = s.mgmt_token("default", MANAGEMENT_SCOPES).await;
    let fx = s.fixtures("default");
    let a = fx.org("org-a", &[]).await.id.to_string();
    let b_org = fx.org("org-b", &[]).await.id.to_string();
    for org in [&a, &b_org] {
        let r = call(
            &s,
            "POST",
            &format!("/organizations/{org}/domains"),
            &token,
            Some(json!({"domain": format!("{org}.example").to_lowercase().replace('_', "-")})),
        )
        .await;
        assert_eq!(r.status, 201, "{}", r.body);
    }
    let pa = format!("/organizations/{a}/domains");

    let none = s.mgmt_token("default", &["read:users"]).await;
    for (m, p, body, scope) in [
        ("GET", pa.clone(), None, "read:organization_domains"),
        (
            "POST",
            pa.clone(),
            Some(json!({"domain": "x.example"})),
            "create:organization_domains",
        ),
        (
            "DELETE",
            format!("{pa}/x.example"),
            None,
            "delete:organization_domains",
        ),
    ] {
        let r = call(&s, m, &p, &none, body).await;
        assert_error(&r, 403, "insufficient_scope", scope);
    }

    // An organization's administrator reads its own organization's domains, nothing more:
    // a domain routes logins of the whole tenant.
    let r = call(
        &s,
        "POST",
        "/api-keys",
        &token,
        Some(json!({ "name": "org admin", "scopes": ORG_LEVEL_SCOPES, "org_id": a })),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let key = r.json()["key"].as_str().unwrap().to_owned();
    let r = call(&s, "GET", &pa, &key, None).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json().as_array().unwrap().len(), 1);
    let pb = format!("/organizations/{b_org}/domains");
    for (m, p, body) in [
        ("GET", pb.clone(), None),
        ("POST", pa.clone(), Some(json!({"domain": "gmail.com"}))),
        ("POST", pb.clone(), Some(json!({"domain": "gmail.com"}))),
        ("DELETE", format!("{pb}/x.example"), None),
    ] {
        let r = call(&s, m, &p, &key, body).await;
        assert_eq!(r.status, 403, "{m} {p}: {}", r.body);
    }
    let t = fx.tenant().await;
    assert!(
        s.core
            .home_realm(&t, "someone@gmail.com")
            .await
            .unwrap()
            .is_none()
    );

    // Another tenant: its token is refused here; its organizations are not found here.
    let other = s.fixtures("other");
    let their_org = other.org("theirs", &[]).await.id.to_string();
    let theirs = s.mgmt_token("other", MANAGEMENT_SCOPES).await;
    let r = call(&s, "GET", &pa, &theirs, None).await;
    assert_eq!(r.status, 401, "{}", r.body);
    let tp = format!("/organizations/{their_org}/domains");
    for (m, p, body) in [
        ("GET", tp.clone(), None),
        (
            "POST",
            tp.clone(),
            Some(json!({"domain": "theirs.example"})),
        ),
        ("DELETE", format!("{tp}/theirs.example"), None),
    ] {
        let r = call(&s, m, &p, &token, body).await;
        assert_error(&r, 404, "not_found", "organization");
    }
    // The same domain may be registered in another tenant; discovery stays per tenant.
    let mine = format!("{a}.example").to_lowercase().replace('_', "-");
    let r = s
        .client
        .send(
            "POST",
            &format!("/t/other/api/v2/organizations/{their_org}/domains"),
            &theirs,
            Some(&json!({"domain": mine})),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let r = s
        .client
        .send(
            "DELETE",
            &format!("/t/other/api/v2/organizations/{a}/domains/{mine}"),
            &theirs,
            None,
        )
        .await;
    assert_eq!(r.status, 404, "{}", r.body);
    let ot = other.tenant().await;
    assert!(
        s.core
            .home_realm(&ot, &format!("x@{mine}"))
            .await
            .unwrap()
            .is_none(),
        "no enabled connection there"
    );
    assert!(
        s.core
            .home_realm(&t, &format!("x@{mine}"))
            .await
            .unwrap()
            .is_none(),
        "none enabled here either"
    );
    let r = call(&s, "GET", &pa, &token, None).await;
    assert_eq!(r.json()[0]["domain"], mine.as_str());
}

//! Client grants: life cycle, validation, and their effect on existing tokens; and
//! organization credentials refused.

use clavis_testkit::{Backend, MGMT_SCOPES, TestServer};
use serde_json::json;

use super::{
    API, CLIENT_SCOPES, CLIENTS, GRANT_SCOPES, GRANTS, assert_400_naming, client_of, created,
    error_of, events, send,
};

pub(super) async fn client_grants_lifecycle(b: Backend) {
    let s = TestServer::start(b).await;
    let fx = s.fixtures("default");
    fx.api(API, &["read:invoices", "write:invoices", "delete:invoices"])
        .await;
    fx.api("https://other.example.com", &["read:other"]).await;
    let mut scopes = CLIENT_SCOPES.to_vec();
    scopes.extend(GRANT_SCOPES);
    let admin = s.mgmt_token("default", &scopes).await;
    let caller = client_of(&admin);
    let job = created(
        &s,
        CLIENTS,
        &admin,
        json!({"name": "Job", "app_type": "m2m"}),
    )
    .await;
    let job_id = job["client_id"].as_str().unwrap().to_owned();
    let g = created(
        &s,
        GRANTS,
        &admin,
        json!({"client_id": job_id, "audience": API, "scope": ["write:invoices", "read:invoices"]}),
    )
    .await;
    let gid = g["id"].as_str().unwrap().to_owned();
    assert!(gid.starts_with("cgr_"), "{g}");
    assert_eq!(g["client_id"], job_id.as_str());
    assert_eq!(g["audience"], API);
    assert_eq!(g["scope"], json!(["read:invoices", "write:invoices"]));
    created(
        &s,
        GRANTS,
        &admin,
        json!({"client_id": job_id, "audience": "https://other.example.com", "scope": []}),
    )
    .await;

    // Duplicate (client, Api): 409.
    let r = send(
        &s,
        "POST",
        GRANTS,
        &admin,
        Some(json!({"client_id": job_id, "audience": API, "scope": []})),
    )
    .await;
    assert_eq!(r.status, 409, "{}", r.body);
    assert_eq!(error_of(&r), "conflict");

    // An application holding grants stays m2m until they are deleted.
    let r = send(
        &s,
        "PATCH",
        &format!("{CLIENTS}/{job_id}"),
        &admin,
        Some(json!({"app_type": "web", "callbacks": ["https://job.example.com/cb"]})),
    )
    .await;
    assert_eq!(r.status, 409, "{}", r.body);
    assert!(r.body.contains("client grants"), "{}", r.body);
    let r = send(&s, "GET", &format!("{CLIENTS}/{job_id}"), &admin, None).await;
    assert_eq!(r.json()["app_type"], "m2m", "{}", r.body);

    // Read and list, with filters and totals (the caller's own grant is listed too).
    let r = send(&s, "GET", &format!("{GRANTS}/{gid}"), &admin, None).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        r.json()["scope"],
        json!(["read:invoices", "write:invoices"])
    );
    let r = send(
        &s,
        "GET",
        &format!("{GRANTS}?include_totals=true&per_page=2"),
        &admin,
        None,
    )
    .await;
    assert_eq!(r.json()["total"], 3, "{}", r.body);
    assert_eq!(r.json()["client_grants"].as_array().unwrap().len(), 2);
    let r = send(
        &s,
        "GET",
        &format!("{GRANTS}?client_id={job_id}&include_totals=true"),
        &admin,
        None,
    )
    .await;
    assert_eq!(r.json()["total"], 2, "{}", r.body);
    let r = send(
        &s,
        "GET",
        &format!(
            "{GRANTS}?client_id={job_id}&audience={}",
            clavis_testkit::urlencode(API)
        ),
        &admin,
        None,
    )
    .await;
    let list = r.json();
    assert_eq!(list.as_array().unwrap().len(), 1, "{list}");
    assert_eq!(list[0]["id"], gid.as_str());
    let r = send(
        &s,
        "GET",
        &format!("{GRANTS}?client_id={caller}"),
        &admin,
        None,
    )
    .await;
    assert_eq!(
        r.json()[0]["audience"],
        format!("{}/api/v2/", s.issuer("default"))
    );
    let r = send(
        &s,
        "GET",
        &format!("{GRANTS}?audience=https%3A%2F%2Fnowhere.example.com&include_totals=true"),
        &admin,
        None,
    )
    .await;
    assert_eq!(r.json()["total"], 0, "{}", r.body);

    // Update the scope.
    let r = send(
        &s,
        "PATCH",
        &format!("{GRANTS}/{gid}"),
        &admin,
        Some(json!({"scope": ["delete:invoices"]})),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["scope"], json!(["delete:invoices"]));
    let r = send(&s, "GET", &format!("{GRANTS}/{gid}"), &admin, None).await;
    assert_eq!(r.json()["scope"], json!(["delete:invoices"]));

    // Delete, then 404.
    let r = send(&s, "DELETE", &format!("{GRANTS}/{gid}"), &admin, None).await;
    assert_eq!(r.status, 204, "{}", r.body);
    for (method, body) in [
        ("GET", None),
        ("PATCH", Some(json!({"scope": []}))),
        ("DELETE", None),
    ] {
        let r = send(&s, method, &format!("{GRANTS}/{gid}"), &admin, body).await;
        assert_eq!(r.status, 404, "{method}: {}", r.body);
    }

    // Audit.
    let evs = events(&s, &["client_grant.*"]).await;
    let kinds: Vec<&str> = evs
        .iter()
        .map(|e| e["event_type"].as_str().unwrap())
        .collect();
    assert_eq!(
        kinds,
        [
            "client_grant.created",
            "client_grant.created",
            "client_grant.updated",
            "client_grant.deleted"
        ]
    );
    for e in &evs {
        assert_eq!(e["actor"]["client_id"], caller.as_str(), "{e}");
    }
    assert_eq!(
        evs[2]["context"]["changes"]["scope"]["to"],
        json!(["delete:invoices"])
    );
    assert_eq!(evs[3]["context"]["client_grant_id"], gid.as_str());

    // Deleting the application deletes its grants.
    let r = send(&s, "DELETE", &format!("{CLIENTS}/{job_id}"), &admin, None).await;
    assert_eq!(r.status, 204);
    let r = send(
        &s,
        "GET",
        &format!("{GRANTS}?client_id={job_id}&include_totals=true"),
        &admin,
        None,
    )
    .await;
    assert_eq!(r.json()["total"], 0, "{}", r.body);

    // Scopes, and another tenant's grants.
    let weak = s.mgmt_token("default", &["read:clients"]).await;
    for (method, path, body, scope) in [
        ("GET", GRANTS.to_owned(), None, "read:client_grants"),
        (
            "POST",
            GRANTS.to_owned(),
            Some(json!({"client_id": "x", "audience": API, "scope": []})),
            "create:client_grants",
        ),
        ("GET", format!("{GRANTS}/{gid}"), None, "read:client_grants"),
        (
            "PATCH",
            format!("{GRANTS}/{gid}"),
            Some(json!({"scope": []})),
            "update:client_grants",
        ),
        (
            "DELETE",
            format!("{GRANTS}/{gid}"),
            None,
            "delete:client_grants",
        ),
    ] {
        let r = send(&s, method, &path, &weak, body).await;
        assert_eq!(r.status, 403, "{method} {path}: {}", r.body);
        assert!(r.body.contains(scope), "{}", r.body);
    }
    let foreign_token = s.mgmt_token("other", GRANT_SCOPES).await;
    let r = send(&s, "GET", GRANTS, &foreign_token, None).await;
    assert_eq!(r.status, 401, "{}", r.body);
    let r = send(
        &s,
        "GET",
        "/t/other/api/v2/client-grants?include_totals=true",
        &foreign_token,
        None,
    )
    .await;
    let theirs = r.json()["client_grants"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    for (method, body) in [
        ("GET", None),
        ("PATCH", Some(json!({"scope": []}))),
        ("DELETE", None),
    ] {
        let r = send(&s, method, &format!("{GRANTS}/{theirs}"), &admin, body).await;
        assert_eq!(r.status, 404, "{method}: {}", r.body);
    }
    // Their client cannot be granted through this tenant either.
    let r = send(
        &s,
        "POST",
        GRANTS,
        &admin,
        Some(json!({"client_id": client_of(&foreign_token), "audience": API, "scope": []})),
    )
    .await;
    assert_eq!(r.status, 404, "{}", r.body);
}

pub(super) async fn client_grant_input_is_validated(b: Backend) {
    let s = TestServer::start(b).await;
    s.fixtures("default")
        .api(API, &["read:invoices", "write:invoices"])
        .await;
    let mut scopes = CLIENT_SCOPES.to_vec();
    scopes.extend(GRANT_SCOPES);
    let admin = s.mgmt_token("default", &scopes).await;
    let job = created(
        &s,
        CLIENTS,
        &admin,
        json!({"name": "Job", "app_type": "m2m"}),
    )
    .await;
    let job_id = job["client_id"].as_str().unwrap().to_owned();
    let web = created(
        &s,
        CLIENTS,
        &admin,
        json!({"name": "Web", "app_type": "web"}),
    )
    .await;
    let web_id = web["client_id"].as_str().unwrap().to_owned();
    for (body, field) in [
        (
            json!({"client_id": job_id, "audience": API, "scope": ["read:invoices", "fly:invoices"]}),
            "scope[1]",
        ),
        (
            json!({"client_id": job_id, "audience": API, "scope": ["read:invoices", "read:invoices"]}),
            "scope[1]",
        ),
        (
            json!({"client_id": web_id, "audience": API, "scope": ["read:invoices"]}),
            "client_id",
        ),
        (
            json!({"client_id": "no", "audience": API, "scope": []}),
            "client_id",
        ),
        (
            json!({"client_id": job_id, "audience": "", "scope": []}),
            "audience",
        ),
        (
            json!({"client_id": job_id, "audience": API, "scope": [], "organization_usage": "allow"}),
            "organization_usage",
        ),
        (json!({"client_id": job_id, "audience": API}), "scope"),
    ] {
        let r = send(&s, "POST", GRANTS, &admin, Some(body)).await;
        assert_400_naming(&r, field);
    }
    let r = send(
        &s,
        "POST",
        GRANTS,
        &admin,
        Some(json!({"client_id": job_id, "audience": API, "scope": ["fly:invoices"]})),
    )
    .await;
    assert!(
        r.body.contains("fly:invoices"),
        "names the permission: {}",
        r.body
    );
    // Unknown client or Api: 404.
    let r = send(
        &s,
        "POST",
        GRANTS,
        &admin,
        Some(json!({"client_id": "a".repeat(32), "audience": API, "scope": []})),
    )
    .await;
    assert_eq!(r.status, 404, "{}", r.body);
    let r = send(
        &s,
        "POST",
        GRANTS,
        &admin,
        Some(json!({"client_id": job_id, "audience": "https://nowhere.example.com", "scope": []})),
    )
    .await;
    assert_eq!(r.status, 404, "{}", r.body);

    let g = created(
        &s,
        GRANTS,
        &admin,
        json!({"client_id": job_id, "audience": API, "scope": ["read:invoices"]}),
    )
    .await;
    let gid = g["id"].as_str().unwrap();
    let r = send(
        &s,
        "PATCH",
        &format!("{GRANTS}/{gid}"),
        &admin,
        Some(json!({"scope": ["nope"]})),
    )
    .await;
    assert_400_naming(&r, "scope[0]");
    let r = send(
        &s,
        "PATCH",
        &format!("{GRANTS}/{gid}"),
        &admin,
        Some(json!({"audience": "x"})),
    )
    .await;
    assert_400_naming(&r, "audience");
    let r = send(&s, "GET", &format!("{GRANTS}/{gid}"), &admin, None).await;
    assert_eq!(r.json()["scope"], json!(["read:invoices"]), "unchanged");
    for bad in ["cgr_bad.id", "api_01jd0000000000000000000000", "x"] {
        let r = send(&s, "GET", &format!("{GRANTS}/{bad}"), &admin, None).await;
        assert_400_naming(&r, "id");
    }
    let r = send(
        &s,
        "GET",
        &format!("{GRANTS}/cgr_01jd0000000000000000000000"),
        &admin,
        None,
    )
    .await;
    assert_eq!(r.status, 404, "{}", r.body);
    let r = send(&s, "GET", &format!("{GRANTS}?client=1"), &admin, None).await;
    assert_400_naming(&r, "client");
    let r = send(
        &s,
        "GET",
        &format!("{GRANTS}?client_id=a%20b"),
        &admin,
        None,
    )
    .await;
    assert_400_naming(&r, "client_id");
}

pub(super) async fn narrowing_a_grant_narrows_an_existing_token_at_once(b: Backend) {
    let s = TestServer::start(b).await;
    let admin = s.mgmt_token("default", MGMT_SCOPES).await;
    let token = s
        .mgmt_token(
            "default",
            &["read:clients", "read:client_grants", "read:signing_keys"],
        )
        .await;
    let client = client_of(&token);
    let r = send(&s, "GET", CLIENTS, &token, None).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let r = send(
        &s,
        "GET",
        &format!("{GRANTS}?client_id={client}"),
        &admin,
        None,
    )
    .await;
    let gid = r.json()[0]["id"].as_str().unwrap().to_owned();

    // Narrow the grant: the same token loses `read:clients` on its very next call.
    let r = send(
        &s,
        "PATCH",
        &format!("{GRANTS}/{gid}"),
        &admin,
        Some(json!({"scope": ["read:client_grants", "read:signing_keys"]})),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let r = send(&s, "GET", CLIENTS, &token, None).await;
    assert_eq!(r.status, 403, "{}", r.body);
    assert_eq!(error_of(&r), "insufficient_scope");
    let r = send(&s, "GET", GRANTS, &token, None).await;
    assert_eq!(r.status, 200, "{}", r.body);
    // Widening the grant does not widen the token beyond what it was issued with.
    let r = send(&s, "PATCH", &format!("{GRANTS}/{gid}"), &admin, Some(json!({"scope": ["read:client_grants", "read:signing_keys", "read:clients", "delete:clients"]}))).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let r = send(&s, "GET", CLIENTS, &token, None).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let r = send(
        &s,
        "DELETE",
        &format!("{CLIENTS}/{}", "a".repeat(32)),
        &token,
        None,
    )
    .await;
    assert_eq!(r.status, 403, "not in the token: {}", r.body);

    // Remove the grant: the token is refused outright.
    let r = send(&s, "DELETE", &format!("{GRANTS}/{gid}"), &admin, None).await;
    assert_eq!(r.status, 204);
    let r = send(&s, "GET", GRANTS, &token, None).await;
    assert_eq!(r.status, 401, "{}", r.body);

    // Deleting a client stops its tokens at once too.
    let other = s.mgmt_token("default", &["read:clients"]).await;
    let r = send(&s, "GET", CLIENTS, &other, None).await;
    assert_eq!(r.status, 200);
    let r = send(
        &s,
        "DELETE",
        &format!("{CLIENTS}/{}", client_of(&other)),
        &admin,
        None,
    )
    .await;
    assert_eq!(r.status, 204, "{}", r.body);
    let r = send(&s, "GET", CLIENTS, &other, None).await;
    assert_eq!(r.status, 401, "{}", r.body);
}

pub(super) async fn organization_credentials_are_refused(b: Backend) {
    let s = TestServer::start(b).await;
    let admin = s.mgmt_token("default", MGMT_SCOPES).await;
    let acme = s.fixtures("default").org("acme", &[]).await;
    let r = send(
        &s,
        "POST",
        "/t/default/api/v2/api-keys",
        &admin,
        Some(json!({"name": "acme", "org_id": acme.id.to_string(), "scopes": ["read:api_keys", "read:organization_members"]})),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let key = r.json()["key"].as_str().unwrap().to_owned();
    for (method, path) in [
        ("GET", CLIENTS.to_owned()),
        ("POST", CLIENTS.to_owned()),
        ("GET", GRANTS.to_owned()),
        ("GET", format!("{CLIENTS}/{}", client_of(&admin))),
        ("GET", "/t/default/api/v2/keys/signing".to_owned()),
        ("POST", "/t/default/api/v2/keys/signing/rotate".to_owned()),
    ] {
        let r = send(
            &s,
            method,
            &path,
            &key,
            Some(json!({"name": "x", "app_type": "spa"})),
        )
        .await;
        assert_eq!(r.status, 403, "{method} {path}: {}", r.body);
    }
}

pub(super) async fn no_privilege_escalation_through_clients_or_grants(b: Backend) {
    let s = TestServer::start(b).await;
    let admin = s.mgmt_token("default", MGMT_SCOPES).await;
    let mut scopes = CLIENT_SCOPES.to_vec();
    scopes.extend(GRANT_SCOPES);
    let limited = s.mgmt_token("default", &scopes).await;
    let mgmt = format!("{}/api/v2/", s.issuer("default"));
    let job = created(
        &s,
        CLIENTS,
        &limited,
        json!({"name": "Job", "app_type": "m2m"}),
    )
    .await;
    let job_id = job["client_id"].as_str().unwrap().to_owned();

    // A grant on the Management API may hold only scopes the caller holds.
    let r = send(
        &s,
        "POST",
        GRANTS,
        &limited,
        Some(json!({"client_id": job_id, "audience": mgmt, "scope": ["read:clients", "delete:users"]})),
    )
    .await;
    assert_eq!(r.status, 403, "{}", r.body);
    assert_eq!(error_of(&r), "access_denied");
    assert!(r.body.contains("delete:users"), "{}", r.body);
    let g = created(
        &s,
        GRANTS,
        &limited,
        json!({"client_id": job_id, "audience": mgmt, "scope": ["read:clients"]}),
    )
    .await;
    let gid = g["id"].as_str().unwrap();
    let r = send(
        &s,
        "PATCH",
        &format!("{GRANTS}/{gid}"),
        &limited,
        Some(json!({"scope": ["read:clients", "read:users"]})),
    )
    .await;
    assert_eq!(r.status, 403, "{}", r.body);
    // Nor change a grant holding more than the caller.
    let r = send(
        &s,
        "GET",
        &format!("{GRANTS}?client_id={}", client_of(&admin)),
        &limited,
        None,
    )
    .await;
    let admin_grant = r.json()[0]["id"].as_str().unwrap().to_owned();
    let r = send(
        &s,
        "PATCH",
        &format!("{GRANTS}/{admin_grant}"),
        &limited,
        Some(json!({"scope": ["read:clients"]})),
    )
    .await;
    assert_eq!(r.status, 403, "{}", r.body);

    // Nor take over a more powerful application's credentials.
    let admin_client = client_of(&admin);
    let r = send(
        &s,
        "POST",
        &format!("{CLIENTS}/{admin_client}/rotate-secret"),
        &limited,
        None,
    )
    .await;
    assert_eq!(r.status, 403, "{}", r.body);
    assert_eq!(error_of(&r), "access_denied");
    let r = send(
        &s,
        "PATCH",
        &format!("{CLIENTS}/{admin_client}"),
        &limited,
        Some(json!({"token_endpoint_auth_method": "client_secret_basic"})),
    )
    .await;
    assert_eq!(r.status, 403, "{}", r.body);
    let r = send(
        &s,
        "GET",
        &format!("{CLIENTS}/{admin_client}"),
        &limited,
        None,
    )
    .await;
    assert_eq!(
        r.json()["token_endpoint_auth_method"],
        "client_secret_post",
        "unchanged"
    );

    // What it holds itself it may manage; a caller holding everything may do the rest.
    let r = send(
        &s,
        "POST",
        &format!("{CLIENTS}/{job_id}/rotate-secret"),
        &limited,
        None,
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let r = send(
        &s,
        "PATCH",
        &format!("{GRANTS}/{gid}"),
        &admin,
        Some(json!({"scope": ["read:clients", "read:users"]})),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let r = send(
        &s,
        "POST",
        &format!("{CLIENTS}/{job_id}/rotate-secret"),
        &limited,
        None,
    )
    .await;
    assert_eq!(r.status, 403, "now holds read:users: {}", r.body);
    let r = send(
        &s,
        "POST",
        &format!("{CLIENTS}/{job_id}/rotate-secret"),
        &admin,
        None,
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
}

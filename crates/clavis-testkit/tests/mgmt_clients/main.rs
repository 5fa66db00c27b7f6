//! Applications (`/clients`) and client grants (`/client-grants`) of the Management API
//! over HTTP: the life cycle with pagination, secrets shown once and rotated with
//! immediate effect at the token endpoint, validation naming the field (the rules of
//! declarative configuration), scopes, other tenants and organization credentials
//! refused, audit events naming the caller without secrets, and a narrowed or removed
//! grant narrowing what an existing token can do at once, no privilege escalation through
//! another application's credentials or a Management API grant, and a second node
//! following within the cache lifetime — against a real server, on SQLite and PostgreSQL.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use clavis_core::model::AuditQuery;
use clavis_testkit::{Reply, TestServer};
use serde_json::Value;

mod clients;
mod grants;
mod nodes;

use clients::{
    client_input_is_validated_naming_the_field, client_scopes_tenants_and_audit,
    clients_lifecycle_with_pagination, secrets_are_shown_once_and_rotation_is_immediate,
};
use grants::{
    client_grant_input_is_validated, client_grants_lifecycle,
    narrowing_a_grant_narrows_an_existing_token_at_once,
    no_privilege_escalation_through_clients_or_grants, organization_credentials_are_refused,
};
use nodes::another_node_follows_within_the_cache_lifetime;

clavis_testkit::on_both!(
    clients_lifecycle_with_pagination,
    secrets_are_shown_once_and_rotation_is_immediate,
    client_input_is_validated_naming_the_field,
    client_scopes_tenants_and_audit,
    client_grants_lifecycle,
    client_grant_input_is_validated,
    narrowing_a_grant_narrows_an_existing_token_at_once,
    organization_credentials_are_refused,
    another_node_follows_within_the_cache_lifetime,
    no_privilege_escalation_through_clients_or_grants,
);

const CLIENTS: &str = "/t/default/api/v2/clients";
const GRANTS: &str = "/t/default/api/v2/client-grants";
const API: &str = "https://billing.example.com";
const CLIENT_SCOPES: &[&str] = &[
    "read:clients",
    "create:clients",
    "update:clients",
    "delete:clients",
    "update:client_keys",
];
const GRANT_SCOPES: &[&str] = &[
    "read:client_grants",
    "create:client_grants",
    "update:client_grants",
    "delete:client_grants",
];

async fn send(
    s: &TestServer,
    method: &str,
    path: &str,
    bearer: &str,
    body: Option<Value>,
) -> Reply {
    s.client.send(method, path, bearer, body.as_ref()).await
}

/// POST and expect 201.
async fn created(s: &TestServer, path: &str, bearer: &str, body: Value) -> Value {
    let r = send(s, "POST", path, bearer, Some(body)).await;
    assert_eq!(r.status, 201, "{}", r.body);
    r.json()
}

fn error_of(r: &Reply) -> String {
    r.json()["error"].as_str().unwrap_or_default().to_owned()
}

/// 400 whose description names `what`.
fn assert_400_naming(r: &Reply, what: &str) {
    assert_eq!(r.status, 400, "{what}: {}", r.body);
    assert_eq!(error_of(r), "invalid_request", "{}", r.body);
    let d = r.json()["error_description"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(d.contains(what), "`{what}` not named in: {d}");
}

/// The client id a Management API token was issued to.
fn client_of(token: &str) -> String {
    let payload = token.split('.').nth(1).unwrap();
    let v: Value = serde_json::from_slice(&clavis_crypto::b64url_decode(payload).unwrap()).unwrap();
    v["client_id"].as_str().unwrap().to_owned()
}

/// A client-credentials token request with `client_secret_post`.
async fn token_request(s: &TestServer, client_id: &str, secret: &str, audience: &str) -> Reply {
    s.client
        .post_form(
            "/t/default/oauth/token",
            &[
                ("grant_type", "client_credentials"),
                ("client_id", client_id),
                ("client_secret", secret),
                ("audience", audience),
            ],
            &[],
        )
        .await
}

/// Events of `types` in the default tenant, oldest first.
async fn events(s: &TestServer, types: &[&str]) -> Vec<Value> {
    let t = s.fixtures("default").tenant().await;
    let q = AuditQuery {
        event_types: types.iter().map(|t| (*t).to_owned()).collect(),
        ..AuditQuery::default()
    };
    let page = s
        .core
        .audit_search(&t, &q, None, None, None, 100)
        .await
        .unwrap();
    page.events
        .iter()
        .map(|e| serde_json::to_value(e).unwrap())
        .collect()
}

//! Applications: life cycle, secrets, validation, scopes, tenants and audit.

use clavis_testkit::{Backend, TestServer};
use serde_json::{Value, json};

use super::{
    API, CLIENT_SCOPES, CLIENTS, GRANT_SCOPES, GRANTS, assert_400_naming, client_of, created,
    error_of, events, send, token_request,
};

pub(super) async fn clients_lifecycle_with_pagination(b: Backend) {
    let s = TestServer::start(b).await;
    let admin = s.mgmt_token("default", CLIENT_SCOPES).await;
    let web = created(
        &s,
        CLIENTS,
        &admin,
        json!({"name": "Storefront", "app_type": "regular_web",
               "callbacks": ["https://shop.example.com/callback"],
               "allowed_logout_urls": ["https://shop.example.com/"],
               "web_origins": ["https://shop.example.com"],
               "jwt_configuration": {"lifetime_in_seconds": 3600},
               "refresh_token": {"rotation_type": "non-rotating", "expiration_type": "expiring",
                                 "token_lifetime": 86400, "idle_token_lifetime": 3600},
               "organization_usage": "allow"}),
    )
    .await;
    let id = web["client_id"].as_str().unwrap().to_owned();
    assert_eq!(
        web["app_type"], "web",
        "Auth0's regular_web is our web: {web}"
    );
    assert_eq!(web["name"], "Storefront");
    assert_eq!(
        web["callbacks"],
        json!(["https://shop.example.com/callback"])
    );
    assert_eq!(
        web["allowed_logout_urls"],
        json!(["https://shop.example.com/"])
    );
    assert_eq!(
        web["grant_types"],
        json!(["authorization_code", "refresh_token"])
    );
    assert_eq!(web["token_endpoint_auth_method"], "client_secret_basic");
    assert_eq!(web["jwt_configuration"]["lifetime_in_seconds"], 3600);
    assert_eq!(web["refresh_token"]["rotation_type"], "non-rotating");
    assert_eq!(web["refresh_token"]["token_lifetime"], 86400);
    assert_eq!(web["refresh_token"]["idle_token_lifetime"], 3600);
    assert_eq!(web["organization_usage"], "allow");
    assert!(
        web["client_secret"].as_str().is_some_and(|s| s.len() >= 40),
        "{web}"
    );
    let spa = created(
        &s,
        CLIENTS,
        &admin,
        json!({"name": "Dashboard", "app_type": "spa", "callbacks": ["https://app.example.com/cb"]}),
    )
    .await;
    assert_eq!(spa["token_endpoint_auth_method"], "none");
    assert!(
        spa.get("client_secret").is_none(),
        "public clients have no secret: {spa}"
    );
    let m2m = created(
        &s,
        CLIENTS,
        &admin,
        json!({"name": "Cron", "app_type": "non_interactive"}),
    )
    .await;
    assert_eq!(m2m["app_type"], "m2m");
    assert_eq!(m2m["grant_types"], json!(["client_credentials"]));

    // Read: never the secret.
    let r = send(&s, "GET", &format!("{CLIENTS}/{id}"), &admin, None).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r.json().get("client_secret").is_none(), "{}", r.body);
    assert_eq!(r.json()["name"], "Storefront");

    // List: the caller's own application plus three, in pages of two.
    let r = send(
        &s,
        "GET",
        &format!("{CLIENTS}?per_page=2&include_totals=true"),
        &admin,
        None,
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let page0 = r.json();
    assert_eq!(page0["total"], 4, "{page0}");
    assert_eq!(page0["length"], 2);
    assert_eq!(page0["start"], 0);
    assert_eq!(page0["limit"], 2);
    let r = send(
        &s,
        "GET",
        &format!("{CLIENTS}?per_page=2&page=1"),
        &admin,
        None,
    )
    .await;
    let page1 = r.json();
    assert_eq!(page1.as_array().unwrap().len(), 2, "{page1}");
    let all: Vec<String> = page0["clients"]
        .as_array()
        .unwrap()
        .iter()
        .chain(page1.as_array().unwrap())
        .map(|c| c["client_id"].as_str().unwrap().to_owned())
        .collect();
    for c in [
        &id,
        m2m["client_id"].as_str().unwrap(),
        spa["client_id"].as_str().unwrap(),
    ] {
        assert!(all.iter().any(|x| x == c), "{c} listed");
    }
    assert!(!r.body.contains("\"client_secret\""), "{}", r.body);
    let r = send(
        &s,
        "GET",
        &format!("{CLIENTS}?page=2&per_page=2"),
        &admin,
        None,
    )
    .await;
    assert_eq!(r.json(), json!([]));

    // Update.
    let r = send(
        &s,
        "PATCH",
        &format!("{CLIENTS}/{id}"),
        &admin,
        Some(
            json!({"name": "Storefront 2", "callbacks": ["https://shop.example.com/cb2"],
                    "refresh_token": {"rotation_type": "rotating"}}),
        ),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let changed = r.json();
    assert_eq!(changed["name"], "Storefront 2");
    assert_eq!(
        changed["callbacks"],
        json!(["https://shop.example.com/cb2"])
    );
    assert_eq!(changed["refresh_token"]["rotation_type"], "rotating");
    assert_eq!(changed["refresh_token"]["token_lifetime"], 86400, "kept");
    assert_eq!(
        changed["allowed_logout_urls"],
        json!(["https://shop.example.com/"]),
        "kept"
    );
    assert!(
        changed.get("client_secret").is_none(),
        "no new secret: {changed}"
    );
    let r = send(&s, "GET", &format!("{CLIENTS}/{id}"), &admin, None).await;
    assert_eq!(r.json()["name"], "Storefront 2");

    // Delete, then 404.
    let r = send(&s, "DELETE", &format!("{CLIENTS}/{id}"), &admin, None).await;
    assert_eq!(r.status, 204, "{}", r.body);
    for method in ["GET", "DELETE"] {
        let r = send(&s, method, &format!("{CLIENTS}/{id}"), &admin, None).await;
        assert_eq!(r.status, 404, "{method}: {}", r.body);
    }
    let r = send(
        &s,
        "PATCH",
        &format!("{CLIENTS}/{id}"),
        &admin,
        Some(json!({"name": "x"})),
    )
    .await;
    assert_eq!(r.status, 404, "{}", r.body);
    let r = send(
        &s,
        "POST",
        &format!("{CLIENTS}/{id}/rotate-secret"),
        &admin,
        None,
    )
    .await;
    assert_eq!(r.status, 404, "{}", r.body);
}

pub(super) async fn secrets_are_shown_once_and_rotation_is_immediate(b: Backend) {
    let s = TestServer::start(b).await;
    let api = s
        .fixtures("default")
        .api(API, &["read:invoices", "write:invoices"])
        .await;
    let mut scopes = CLIENT_SCOPES.to_vec();
    scopes.extend(GRANT_SCOPES);
    let admin = s.mgmt_token("default", &scopes).await;
    let app = created(
        &s,
        CLIENTS,
        &admin,
        json!({"name": "Billing job", "app_type": "m2m", "token_endpoint_auth_method": "client_secret_post"}),
    )
    .await;
    let id = app["client_id"].as_str().unwrap().to_owned();
    let first = app["client_secret"].as_str().unwrap().to_owned();
    created(
        &s,
        GRANTS,
        &admin,
        json!({"client_id": id, "audience": API, "scope": ["read:invoices"]}),
    )
    .await;

    // The secret issued by POST works at the token endpoint.
    let r = token_request(&s, &id, &first, &api.identifier).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["scope"], "read:invoices");

    // Rotation: a new secret, shown once; the old one fails at once (the token endpoint
    // has just cached the application).
    let r = send(
        &s,
        "POST",
        &format!("{CLIENTS}/{id}/rotate-secret"),
        &admin,
        None,
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let second = r.json()["client_secret"].as_str().unwrap().to_owned();
    assert_ne!(first, second);
    let r = token_request(&s, &id, &first, &api.identifier).await;
    assert_eq!(r.status, 401, "old secret: {}", r.body);
    assert_eq!(error_of(&r), "invalid_client");
    let r = token_request(&s, &id, &second, &api.identifier).await;
    assert_eq!(r.status, 200, "new secret: {}", r.body);
    let r = send(&s, "GET", &format!("{CLIENTS}/{id}"), &admin, None).await;
    assert!(!r.body.contains(&second) && r.json().get("client_secret").is_none());

    // A public application has no secret to rotate.
    let spa = created(
        &s,
        CLIENTS,
        &admin,
        json!({"name": "SPA", "app_type": "spa"}),
    )
    .await;
    let r = send(
        &s,
        "POST",
        &format!(
            "{CLIENTS}/{}/rotate-secret",
            spa["client_id"].as_str().unwrap()
        ),
        &admin,
        None,
    )
    .await;
    assert_400_naming(&r, "client");

    // Switching public -> confidential issues a secret in that response only.
    let spa_id = spa["client_id"].as_str().unwrap();
    let r = send(
        &s,
        "PATCH",
        &format!("{CLIENTS}/{spa_id}"),
        &admin,
        Some(json!({"app_type": "web"})),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        r.json()["token_endpoint_auth_method"],
        "client_secret_basic"
    );
    assert!(r.json()["client_secret"].as_str().is_some(), "{}", r.body);

    // A deleted application stops authenticating at once.
    let r = send(&s, "DELETE", &format!("{CLIENTS}/{id}"), &admin, None).await;
    assert_eq!(r.status, 204);
    let r = token_request(&s, &id, &second, &api.identifier).await;
    assert_eq!(r.status, 401, "deleted client: {}", r.body);

    // Rotation scope.
    let reader = s
        .mgmt_token("default", &["read:clients", "update:clients"])
        .await;
    let r = send(
        &s,
        "POST",
        &format!("{CLIENTS}/{spa_id}/rotate-secret"),
        &reader,
        None,
    )
    .await;
    assert_eq!(r.status, 403, "{}", r.body);
    assert_eq!(error_of(&r), "insufficient_scope");
    assert!(r.body.contains("update:client_keys"), "{}", r.body);
}

pub(super) async fn client_input_is_validated_naming_the_field(b: Backend) {
    let s = TestServer::start(b).await;
    let admin = s.mgmt_token("default", CLIENT_SCOPES).await;
    let base = |extra: Value| {
        let mut v = json!({"name": "App", "app_type": "regular_web"});
        for (k, x) in extra.as_object().unwrap() {
            v[k] = x.clone();
        }
        v
    };
    let signer =
        clavis_crypto::generate_signing_key(clavis_types::SigningAlg::EdDsa, "k1").unwrap();
    let jwk = serde_json::to_value(&signer.public_jwk).unwrap();
    let mut private_jwk = jwk.clone();
    private_jwk["d"] = json!("c2VjcmV0");
    let cases = [
        (
            json!({"name": "App", "app_type": "web", "colour": "red"}),
            "colour",
        ),
        (json!({"name": "App"}), "app_type"),
        (base(json!({"app_type": "desktop"})), "app_type"),
        (base(json!({"name": "  "})), "name"),
        (base(json!({"name": "x".repeat(256)})), "name"),
        (
            base(
                json!({"callbacks": ["https://ok.example.com/cb", "https://a.example.com/#frag"]}),
            ),
            "callbacks[1]",
        ),
        (base(json!({"callbacks": ["/relative"]})), "callbacks[0]"),
        (
            base(json!({"allowed_logout_urls": ["https://*.example.com/"]})),
            "allowed_logout_urls[0]",
        ),
        (
            base(json!({"web_origins": ["https://example.com/path"]})),
            "web_origins[0]",
        ),
        (base(json!({"grant_types": ["password"]})), "grant_types[0]"),
        (
            base(json!({"grant_types": ["authorization_code", "authorization_code"]})),
            "grant_types[1]",
        ),
        (
            json!({"name": "S", "app_type": "spa", "grant_types": ["client_credentials"]}),
            "grant_types[0]",
        ),
        (
            json!({"name": "S", "app_type": "spa", "token_endpoint_auth_method": "client_secret_basic"}),
            "token_endpoint_auth_method",
        ),
        (
            base(json!({"token_endpoint_auth_method": "none"})),
            "token_endpoint_auth_method",
        ),
        (
            base(json!({"token_endpoint_auth_method": "private_key_jwt"})),
            "jwks",
        ),
        (
            json!({"name": "S", "app_type": "spa", "token_endpoint_auth_method": "private_key_jwt", "jwks": {"keys": [jwk]}}),
            "token_endpoint_auth_method",
        ),
        (
            base(
                json!({"token_endpoint_auth_method": "private_key_jwt", "jwks": {"keys": [private_jwk]}}),
            ),
            "jwks.keys[0]",
        ),
        (
            base(
                json!({"jwks": {"keys": [{"kty": "RSA", "use": "sig", "alg": "RS256", "kid": "x", "n": "AQAB", "e": "AQAB"}]}}),
            ),
            "jwks.keys[0]",
        ),
        (
            base(json!({"jwt_configuration": {"lifetime_in_seconds": 0}})),
            "jwt_configuration.lifetime_in_seconds",
        ),
        (
            base(json!({"jwt_configuration": {"lifetime_in_seconds": 10_000_000}})),
            "jwt_configuration.lifetime_in_seconds",
        ),
        (base(json!({"jwt_configuration": {"alg": "HS256"}})), "alg"),
        (
            base(json!({"refresh_token": {"idle_token_lifetime": 7200, "token_lifetime": 3600}})),
            "refresh_token.idle_token_lifetime",
        ),
        (
            base(json!({"refresh_token": {"token_lifetime": -1}})),
            "refresh_token.token_lifetime",
        ),
        (
            base(json!({"refresh_token": {"rotation_type": "sometimes"}})),
            "refresh_token.rotation_type",
        ),
        (
            base(json!({"refresh_token": {"expiration_type": "non-expiring"}})),
            "refresh_token.expiration_type",
        ),
        (
            base(json!({"refresh_token": {"infinite_token_lifetime": true}})),
            "refresh_token.infinite_token_lifetime",
        ),
        (base(json!({"refresh_token": {"leeway": 0}})), "leeway"),
        (
            base(json!({"organization_usage": "maybe"})),
            "organization_usage",
        ),
        (base(json!({"client_secret": "mine"})), "client_secret"),
        (base(json!({"client_id": "chosen-by-caller"})), "client_id"),
    ];
    for (body, field) in cases {
        let r = send(&s, "POST", CLIENTS, &admin, Some(body.clone())).await;
        assert_400_naming(&r, field);
    }
    // A valid private_key_jwt application: keys stored and shown, no secret.
    let app = created(
        &s,
        CLIENTS,
        &admin,
        base(json!({"app_type": "m2m", "token_endpoint_auth_method": "private_key_jwt", "jwks": {"keys": [jwk]}})),
    )
    .await;
    assert!(app.get("client_secret").is_none(), "{app}");
    assert_eq!(app["jwks"]["keys"][0]["kid"], "k1");
    let id = app["client_id"].as_str().unwrap().to_owned();

    // Patches are checked the same way, and an invalid one changes nothing.
    let r = send(
        &s,
        "PATCH",
        &format!("{CLIENTS}/{id}"),
        &admin,
        Some(json!({"callbacks": ["nope"]})),
    )
    .await;
    assert_400_naming(&r, "callbacks[0]");
    let r = send(
        &s,
        "PATCH",
        &format!("{CLIENTS}/{id}"),
        &admin,
        Some(json!({"jwks": {"keys": []}})),
    )
    .await;
    assert_400_naming(&r, "jwks");
    let r = send(
        &s,
        "PATCH",
        &format!("{CLIENTS}/{id}"),
        &admin,
        Some(json!({"secret": 1})),
    )
    .await;
    assert_400_naming(&r, "secret");
    let r = send(
        &s,
        "PATCH",
        &format!("{CLIENTS}/{id}"),
        &admin,
        Some(json!({"name": "bad\u{0007}"})),
    )
    .await;
    assert_400_naming(&r, "name");
    let r = send(&s, "GET", &format!("{CLIENTS}/{id}"), &admin, None).await;
    assert_eq!(r.json()["name"], "App");
    // Switching to a secret method issues a secret and drops nothing else.
    let r = send(
        &s,
        "PATCH",
        &format!("{CLIENTS}/{id}"),
        &admin,
        Some(json!({"token_endpoint_auth_method": "client_secret_basic"})),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r.json()["client_secret"].as_str().is_some(), "{}", r.body);

    // Query parameters, ids, bodies.
    let r = send(&s, "GET", &format!("{CLIENTS}?app_type=spa"), &admin, None).await;
    assert_400_naming(&r, "app_type");
    let r = send(&s, "GET", &format!("{CLIENTS}?per_page=101"), &admin, None).await;
    assert_400_naming(&r, "per_page");
    let r = send(&s, "GET", &format!("{CLIENTS}?page=1&page=2"), &admin, None).await;
    assert_400_naming(&r, "page");
    for bad in ["short", "has%20space", "a.b.c.d.e.f.g"] {
        let r = send(&s, "GET", &format!("{CLIENTS}/{bad}"), &admin, None).await;
        assert_400_naming(&r, "id");
    }
    let r = send(
        &s,
        "GET",
        &format!("{CLIENTS}/{}", "a".repeat(32)),
        &admin,
        None,
    )
    .await;
    assert_eq!(r.status, 404, "{}", r.body);
    let r = s
        .client
        .http
        .post(s.client.url(CLIENTS))
        .bearer_auth(&admin)
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
}

pub(super) async fn client_scopes_tenants_and_audit(b: Backend) {
    let s = TestServer::start(b).await;
    let admin = s.mgmt_token("default", CLIENT_SCOPES).await;
    let caller = client_of(&admin);
    let app = created(
        &s,
        CLIENTS,
        &admin,
        json!({"name": "Audited", "app_type": "web", "callbacks": ["https://a.example.com/cb"]}),
    )
    .await;
    let id = app["client_id"].as_str().unwrap().to_owned();
    let secret = app["client_secret"].as_str().unwrap().to_owned();
    send(
        &s,
        "PATCH",
        &format!("{CLIENTS}/{id}"),
        &admin,
        Some(json!({"name": "Audited 2"})),
    )
    .await;
    let r = send(
        &s,
        "POST",
        &format!("{CLIENTS}/{id}/rotate-secret"),
        &admin,
        None,
    )
    .await;
    let rotated = r.json()["client_secret"].as_str().unwrap().to_owned();
    let r = send(&s, "DELETE", &format!("{CLIENTS}/{id}"), &admin, None).await;
    assert_eq!(r.status, 204);
    let evs = events(&s, &["client.*"]).await;
    let kinds: Vec<&str> = evs
        .iter()
        .map(|e| e["event_type"].as_str().unwrap())
        .collect();
    assert_eq!(
        kinds,
        [
            "client.created",
            "client.updated",
            "client.secret.rotated",
            "client.deleted"
        ],
        "{evs:#?}"
    );
    for e in &evs {
        assert_eq!(e["actor"]["client_id"], caller.as_str(), "{e}");
        assert_eq!(e["context"]["client_id"], id.as_str(), "{e}");
        let text = e.to_string();
        assert!(
            !text.contains(&secret) && !text.contains(&rotated),
            "secret in {text}"
        );
        assert!(!text.contains("digest"), "{text}");
    }
    assert_eq!(
        evs[1]["context"]["changes"]["name"],
        json!({"from": "Audited", "to": "Audited 2"})
    );

    // Each operation needs its scope.
    let weak = s.mgmt_token("default", &["read:users"]).await;
    let other = created(
        &s,
        CLIENTS,
        &admin,
        json!({"name": "Target", "app_type": "spa"}),
    )
    .await;
    let oid = other["client_id"].as_str().unwrap().to_owned();
    for (method, path, body, scope) in [
        ("GET", CLIENTS.to_owned(), None, "read:clients"),
        (
            "POST",
            CLIENTS.to_owned(),
            Some(json!({"name": "x", "app_type": "spa"})),
            "create:clients",
        ),
        ("GET", format!("{CLIENTS}/{oid}"), None, "read:clients"),
        (
            "PATCH",
            format!("{CLIENTS}/{oid}"),
            Some(json!({"name": "x"})),
            "update:clients",
        ),
        ("DELETE", format!("{CLIENTS}/{oid}"), None, "delete:clients"),
        (
            "POST",
            format!("{CLIENTS}/{oid}/rotate-secret"),
            None,
            "update:client_keys",
        ),
    ] {
        let r = send(&s, method, &path, &weak, body).await;
        assert_eq!(r.status, 403, "{method} {path}: {}", r.body);
        assert_eq!(error_of(&r), "insufficient_scope");
        assert!(r.body.contains(scope), "{}", r.body);
    }

    // Another tenant: its token is refused here, and its applications are not reachable
    // by id through this tenant.
    let foreign_token = s.mgmt_token("other", CLIENT_SCOPES).await;
    let r = send(&s, "GET", CLIENTS, &foreign_token, None).await;
    assert_eq!(r.status, 401, "{}", r.body);
    let r = send(&s, "GET", &format!("{CLIENTS}/{oid}"), &foreign_token, None).await;
    assert_eq!(r.status, 401, "{}", r.body);
    let foreign = created(
        &s,
        "/t/other/api/v2/clients",
        &foreign_token,
        json!({"name": "Theirs", "app_type": "web"}),
    )
    .await;
    let fid = foreign["client_id"].as_str().unwrap();
    for (method, path, body) in [
        ("GET", format!("{CLIENTS}/{fid}"), None),
        (
            "PATCH",
            format!("{CLIENTS}/{fid}"),
            Some(json!({"name": "mine now"})),
        ),
        ("POST", format!("{CLIENTS}/{fid}/rotate-secret"), None),
        ("DELETE", format!("{CLIENTS}/{fid}"), None),
    ] {
        let r = send(&s, method, &path, &admin, body).await;
        assert_eq!(r.status, 404, "{method} {path}: {}", r.body);
    }
    let r = send(&s, "GET", CLIENTS, &admin, None).await;
    assert!(!r.body.contains(fid), "listed another tenant's client");
    let r = send(
        &s,
        "GET",
        &format!("/t/other/api/v2/clients/{fid}"),
        &foreign_token,
        None,
    )
    .await;
    assert_eq!(r.json()["name"], "Theirs", "untouched");
    let r = send(&s, "GET", CLIENTS, "", None).await;
    assert_eq!(r.status, 401);
}

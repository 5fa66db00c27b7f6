//! Branding through the Management API, against a real server on SQLite and PostgreSQL:
//! the tenant's and organizations' settings and logos (stored as given, read back, seen by
//! the login pages through `Core::branding`), hostile CSS, text and images refused with a
//! 400 naming the field, the logo routes' own body limit, scopes, an organization
//! administrator's key confined to its organization, other tenants' ids, audit events.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use clavis_core::service::management::MANAGEMENT_SCOPES;
use clavis_core::service::management::api_keys::ORG_LEVEL_SCOPES;
use clavis_testkit::{Backend, Reply, TestServer};
use clavis_types::OrgId;
use serde_json::{Value, json};

clavis_testkit::on_both!(
    tenant_branding_life_cycle,
    logos_are_checked_by_content_and_size,
    hostile_settings_are_refused,
    organization_branding_and_its_administrator,
    callers_need_the_scope_and_their_own_tenant,
);

const V2: &str = "/t/default/api/v2";

async fn call(s: &TestServer, method: &str, path: &str, token: &str, body: Option<Value>) -> Reply {
    s.client
        .send(method, &format!("{V2}{path}"), token, body.as_ref())
        .await
}

/// `PUT {path}` with a raw body and a content type (none when `None`).
async fn put_raw(
    s: &TestServer,
    path: &str,
    token: &str,
    content_type: Option<&str>,
    body: Vec<u8>,
) -> Reply {
    let mut req = s
        .client
        .http
        .put(s.client.url(&format!("{V2}{path}")))
        .bearer_auth(token)
        .body(body);
    if let Some(ct) = content_type {
        req = req.header("content-type", ct);
    }
    let resp = req.send().await.unwrap();
    Reply {
        status: resp.status().as_u16(),
        headers: resp.headers().clone(),
        body: resp.text().await.unwrap(),
    }
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

/// A PNG as far as its header goes (what the upload checks), padded to `len` bytes.
fn png(w: u32, h: u32, len: usize) -> Vec<u8> {
    let mut v = b"\x89PNG\r\n\x1a\n\x00\x00\x00\x0dIHDR".to_vec();
    v.extend_from_slice(&w.to_be_bytes());
    v.extend_from_slice(&h.to_be_bytes());
    v.extend_from_slice(&[8, 6, 0, 0, 0]);
    v.resize(len.max(v.len()), 0);
    v
}

fn gif(w: u16, h: u16) -> Vec<u8> {
    let mut v = b"GIF89a".to_vec();
    v.extend_from_slice(&w.to_le_bytes());
    v.extend_from_slice(&h.to_le_bytes());
    v.extend_from_slice(&[0, 0, 0, 0x3b]);
    v
}

async fn tenant_branding_life_cycle(b: Backend) {
    let s = TestServer::start(b).await;
    let token = s.mgmt_token("default", MANAGEMENT_SCOPES).await;
    let tenant = s.fixtures("default").tenant().await;

    // Nothing stored yet.
    let r = call(&s, "GET", "/branding", &token, None).await;
    assert_error(&r, 404, "not_found", "branding");
    assert!(s.core.branding(&tenant, None).await.unwrap().is_none());

    let patch = json!({
        "display_name": " Acme Login ",
        "primary_color": "#1A2B3C",
        "page_background": "#ffffff",
        "custom_text": {"fr": {"login.title": "Bienvenue chez Acme"}, "en": {"login.title": "Welcome"}},
        "custom_css": ".card { border-radius: 0 } h1 { background: url(data:image/png;base64,iVBORw0KGgo=) }",
    });
    let r = call(&s, "PATCH", "/branding", &token, Some(patch)).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let v = r.json();
    assert_eq!(v["display_name"], "Acme Login");
    assert_eq!(v["primary_color"], "#1a2b3c");
    assert_eq!(v["custom_text"]["fr"]["login.title"], "Bienvenue chez Acme");
    assert!(v["logo"].is_null());
    assert!(v.get("organization_id").is_none());
    let r = call(&s, "GET", "/branding", &token, None).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json(), v);

    // What the login pages read.
    let stored = s.core.branding(&tenant, None).await.unwrap().unwrap();
    assert_eq!(stored.settings.display_name.as_deref(), Some("Acme Login"));
    assert_eq!(stored.settings.primary_color.as_deref(), Some("#1a2b3c"));

    // Absent fields stay, null removes.
    let r = call(
        &s,
        "PATCH",
        "/branding",
        &token,
        Some(json!({"page_background": null, "custom_css": null})),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let v = r.json();
    assert!(v["page_background"].is_null());
    assert!(v["custom_css"].is_null());
    assert_eq!(v["display_name"], "Acme Login");

    // A logo; the other settings stay.
    let r = put_raw(
        &s,
        "/branding/logo",
        &token,
        Some("image/png"),
        png(200, 80, 500),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let v = r.json();
    assert_eq!(v["logo"], json!({"content_type": "image/png", "size": 500}));
    assert_eq!(v["display_name"], "Acme Login");
    let logo = s
        .core
        .branding(&tenant, None)
        .await
        .unwrap()
        .unwrap()
        .logo
        .unwrap();
    assert_eq!(logo.bytes, png(200, 80, 500));
    assert_eq!(logo.content_type, "image/png");

    // Removing the logo keeps the settings; removing the branding removes everything.
    let r = call(&s, "DELETE", "/branding/logo", &token, None).await;
    assert_eq!(r.status, 204, "{}", r.body);
    let r = call(&s, "GET", "/branding", &token, None).await;
    assert!(r.json()["logo"].is_null());
    assert_eq!(r.json()["display_name"], "Acme Login");
    let r = call(&s, "DELETE", "/branding/logo", &token, None).await;
    assert_eq!(r.status, 204, "nothing to remove is fine");
    let r = call(&s, "DELETE", "/branding", &token, None).await;
    assert_eq!(r.status, 204);
    let r = call(&s, "GET", "/branding", &token, None).await;
    assert_eq!(r.status, 404);
    assert!(s.core.branding(&tenant, None).await.unwrap().is_none());

    // Each change is audited, naming what changed but not the values.
    let updated = events(&s, "branding.updated").await;
    assert_eq!(updated.len(), 2, "{updated:?}");
    let changed = &updated[0]["context"]["changed"];
    assert_eq!(
        changed,
        &json!([
            "display_name",
            "primary_color",
            "page_background",
            "custom_text",
            "custom_css"
        ]),
        "{updated:?}"
    );
    assert!(!updated[0].to_string().contains("Bienvenue"));
    let logo_events = events(&s, "branding.logo.updated").await;
    assert_eq!(logo_events.len(), 1);
    assert_eq!(logo_events[0]["context"]["width"], 200);
    assert_eq!(events(&s, "branding.logo.deleted").await.len(), 1);
    assert_eq!(events(&s, "branding.deleted").await.len(), 1);
}

async fn logos_are_checked_by_content_and_size(b: Backend) {
    let s = TestServer::start(b).await;
    let token = s.mgmt_token("default", MANAGEMENT_SCOPES).await;

    // Larger than the API's 64 KiB body limit, within the logo's 256 KiB.
    let big = png(1024, 1024, 200 * 1024);
    let r = put_raw(&s, "/branding/logo", &token, Some("image/png"), big).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["logo"]["size"], 200 * 1024);
    // Over 256 KiB: 413 with the API's error body.
    let huge = png(10, 10, 256 * 1024 + 1);
    let r = put_raw(&s, "/branding/logo", &token, Some("image/png"), huge).await;
    assert_error(&r, 413, "invalid_request", "256 KiB");
    // Other JSON routes keep the 64 KiB limit.
    let long = "a".repeat(70 * 1024);
    let r = call(
        &s,
        "PATCH",
        "/branding",
        &token,
        Some(json!({"custom_css": long})),
    )
    .await;
    // Refused before the handler runs, still in the documented JSON error shape.
    assert_error(&r, 413, "invalid_request", "64 KiB");

    // GIF and JPEG and WebP by their headers.
    let r = put_raw(&s, "/branding/logo", &token, Some("image/gif"), gif(64, 64)).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["logo"]["content_type"], "image/gif");

    let svg = br#"<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"><script>alert(document.cookie)</script></svg>"#.to_vec();
    let refused: Vec<(Option<&str>, Vec<u8>, &str)> = vec![
        // SVG, however it is declared
        (Some("image/svg+xml"), svg.clone(), "SVG"),
        (Some("image/png"), svg.clone(), "SVG"),
        (Some("application/octet-stream"), svg, "SVG"),
        // HTML posing as an image
        (
            Some("image/png"),
            b"<html><script>alert(1)</script></html>".to_vec(),
            "PNG, JPEG, GIF or WebP",
        ),
        // dimensions from the header
        (Some("image/png"), png(4096, 10, 100), "1024"),
        (Some("image/gif"), gif(10, 2000), "1024"),
        (Some("image/png"), png(0, 10, 100), "size"),
        // the declared type must match the content
        (Some("image/gif"), png(10, 10, 100), "image/png"),
        (Some("text/html"), png(10, 10, 100), "image/png"),
        // truncated header, empty body, no content type
        (
            Some("image/png"),
            png(10, 10, 100)[..18].to_vec(),
            "truncated",
        ),
        (Some("image/png"), Vec::new(), "empty"),
        (None, png(10, 10, 100), "Content-Type"),
    ];
    for (ct, body, mentions) in refused {
        let r = put_raw(&s, "/branding/logo", &token, ct, body).await;
        assert_eq!(r.status, 400, "{ct:?}: {}", r.body);
        assert_error(&r, 400, "invalid_request", mentions);
    }
    // The GIF is still the logo.
    let r = call(&s, "GET", "/branding", &token, None).await;
    assert_eq!(r.json()["logo"]["content_type"], "image/gif");
}

async fn hostile_settings_are_refused(b: Backend) {
    let s = TestServer::start(b).await;
    let token = s.mgmt_token("default", MANAGEMENT_SCOPES).await;
    let cases: Vec<(Value, &str)> = vec![
        (
            json!({"custom_css": "</style><script>alert(1)</script>"}),
            "custom_css",
        ),
        (
            json!({"custom_css": "@import url(https://evil.test/x.css);"}),
            "@import",
        ),
        (
            json!({"custom_css": "@IMPORT 'https://evil.test/x.css';"}),
            "@import",
        ),
        (
            json!({"custom_css": "body { background: url(https://evil.test/t.png) }"}),
            "url(",
        ),
        (
            json!({"custom_css": "body { background: URL( 'https://evil.test/t.png' ) }"}),
            "url(",
        ),
        (
            json!({"custom_css": "body { background: url(data:image/svg+xml,x) }"}),
            "url(",
        ),
        (
            json!({"custom_css": "body { width: expression(alert(1)) }"}),
            "expression(",
        ),
        (
            json!({"custom_css": "a { b: javascript:alert(1) }"}),
            "javascript:",
        ),
        (
            json!({"custom_css": "a { background: u\\72l(https://evil.test) }"}),
            "\\",
        ),
        (json!({"custom_css": "} body { display: none"}), "}"),
        (
            json!({"custom_css": ".a { color: red } } .b { color: red }"}),
            "}",
        ),
        (json!({"custom_css": ".a { color: red"}), "{"),
        (json!({"custom_css": "a{}".repeat(6000)}), "16384"),
        (
            json!({"display_name": "<img src=x onerror=alert(1)>"}),
            "display_name",
        ),
        (json!({"display_name": "a".repeat(201)}), "display_name"),
        (json!({"display_name": "  "}), "display_name"),
        (
            json!({"custom_text": {"fr": {"login.title": "<b>hi</b>"}}}),
            "custom_text.fr.login.title",
        ),
        (
            json!({"custom_text": {"fr": {"login.title": "x".repeat(201)}}}),
            "custom_text.fr.login.title",
        ),
        (json!({"custom_text": {"<script>": {"a": "b"}}}), "locale"),
        (
            json!({"custom_text": {"fr": {"Login Title": "b"}}}),
            "message key",
        ),
        (
            json!({"custom_text": {"fr": "not an object"}}),
            "custom_text",
        ),
        (json!({"primary_color": "red"}), "primary_color"),
        (json!({"primary_color": "#fff"}), "primary_color"),
        (json!({"page_background": "#12345g"}), "page_background"),
        (
            json!({"page_background": "#123456; background: url(x)"}),
            "page_background",
        ),
        (json!({"logo": "https://evil.test/x.png"}), "logo"),
        (json!({"display_name": 5}), "display_name"),
    ];
    for (body, mentions) in cases {
        let r = call(&s, "PATCH", "/branding", &token, Some(body.clone())).await;
        assert_error(&r, 400, "invalid_request", mentions);
    }
    let r = s
        .client
        .send(
            "PATCH",
            &format!("{V2}/branding"),
            &token,
            Some(&json!(["x"])),
        )
        .await;
    assert_eq!(r.status, 400, "{}", r.body);
    // Nothing was stored, and nothing audited.
    let r = call(&s, "GET", "/branding", &token, None).await;
    assert_eq!(r.status, 404, "{}", r.body);
    assert!(events(&s, "branding.updated").await.is_empty());
}

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
    r.json()["key"].as_str().unwrap().to_owned()
}

async fn organization_branding_and_its_administrator(b: Backend) {
    let s = TestServer::start(b).await;
    let token = s.mgmt_token("default", MANAGEMENT_SCOPES).await;
    let fx = s.fixtures("default");
    let tenant = fx.tenant().await;
    let a = fx.org("org-a", &[]).await;
    let b_org = fx.org("org-b", &[]).await;
    let (pa, pb) = (
        format!("/organizations/{}/branding", a.id),
        format!("/organizations/{}/branding", b_org.id),
    );

    // Tenant and organization branding are separate.
    let r = call(
        &s,
        "PATCH",
        "/branding",
        &token,
        Some(json!({"display_name": "Tenant"})),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let r = call(&s, "GET", &pa, &token, None).await;
    assert_eq!(r.status, 404, "{}", r.body);
    let r = call(
        &s,
        "PATCH",
        &pa,
        &token,
        Some(json!({"primary_color": "#aa0000"})),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["organization_id"], a.id.to_string());
    assert!(
        r.json()["display_name"].is_null(),
        "the tenant's is not copied"
    );
    let org_b = s
        .core
        .branding(&tenant, Some(&a.id))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(org_b.settings.primary_color.as_deref(), Some("#aa0000"));
    let t = s.core.branding(&tenant, None).await.unwrap().unwrap();
    assert_eq!(t.settings.display_name.as_deref(), Some("Tenant"));
    assert!(t.settings.primary_color.is_none());

    // The organization's administrator: its own organization's branding, nothing else.
    let key = org_admin_key(&s, &token, &a.id.to_string()).await;
    let r = call(&s, "GET", &pa, &key, None).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let r = call(
        &s,
        "PATCH",
        &pa,
        &key,
        Some(json!({"display_name": "A corp"})),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let r = put_raw(
        &s,
        &format!("{pa}/logo"),
        &key,
        Some("image/png"),
        png(10, 10, 64),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    // Hostile input is refused for organizations too.
    let r = call(
        &s,
        "PATCH",
        &pa,
        &key,
        Some(json!({"custom_css": "@import 'x';"})),
    )
    .await;
    assert_error(&r, 400, "invalid_request", "@import");
    for (m, p, body) in [
        ("GET", pb.clone(), None),
        ("PATCH", pb.clone(), Some(json!({"display_name": "pwned"}))),
        ("DELETE", pb.clone(), None),
        ("DELETE", format!("{pb}/logo"), None),
        ("GET", "/branding".to_owned(), None),
        (
            "PATCH",
            "/branding".to_owned(),
            Some(json!({"display_name": "pwned"})),
        ),
        ("DELETE", "/branding".to_owned(), None),
        ("DELETE", "/branding/logo".to_owned(), None),
    ] {
        let r = call(&s, m, &p, &key, body).await;
        assert_eq!(r.status, 403, "{m} {p}: {}", r.body);
        assert_eq!(r.json()["error"], "access_denied", "{m} {p}");
    }
    for p in [format!("{pb}/logo"), "/branding/logo".to_owned()] {
        let r = put_raw(&s, &p, &key, Some("image/png"), png(10, 10, 64)).await;
        assert_eq!(r.status, 403, "{p}: {}", r.body);
    }
    assert_eq!(
        s.core
            .branding(&tenant, None)
            .await
            .unwrap()
            .unwrap()
            .settings
            .display_name
            .as_deref(),
        Some("Tenant")
    );
    assert!(
        s.core
            .branding(&tenant, Some(&b_org.id))
            .await
            .unwrap()
            .is_none()
    );

    // Organization events name the organization.
    let ev = events(&s, "branding.logo.updated").await;
    assert_eq!(ev.len(), 1);
    assert_eq!(ev[0]["organization"]["org_id"], a.id.to_string(), "{ev:?}");

    // Deleting the organization deletes its branding.
    let r = call(&s, "DELETE", &pa, &key, None).await;
    assert_eq!(r.status, 204);
    assert!(
        s.core
            .branding(&tenant, Some(&a.id))
            .await
            .unwrap()
            .is_none()
    );
    let r = call(&s, "PATCH", &pb, &token, Some(json!({"display_name": "B"}))).await;
    assert_eq!(r.status, 200);
    let r = call(
        &s,
        "DELETE",
        &format!("/organizations/{}", b_org.id),
        &token,
        None,
    )
    .await;
    assert_eq!(r.status, 204, "{}", r.body);
    let r = call(&s, "GET", &pb, &token, None).await;
    assert_error(&r, 404, "not_found", "organization");
    assert!(
        s.core
            .branding(&tenant, Some(&b_org.id))
            .await
            .unwrap()
            .is_none()
    );
    let r = call(&s, "PATCH", &pb, &token, Some(json!({"display_name": "B"}))).await;
    assert_error(&r, 404, "not_found", "organization");
}

async fn callers_need_the_scope_and_their_own_tenant(b: Backend) {
    let s = TestServer::start(b).await;
    let token = s.mgmt_token("default", MANAGEMENT_SCOPES).await;
    let a = s.fixtures("default").org("org-a", &[]).await;
    let pa = format!("/organizations/{}/branding", a.id);
    let none = s.mgmt_token("default", &["read:users"]).await;
    for (m, p, body, scope) in [
        ("GET", "/branding".to_owned(), None, "read:branding"),
        (
            "PATCH",
            "/branding".to_owned(),
            Some(json!({})),
            "update:branding",
        ),
        ("DELETE", "/branding".to_owned(), None, "delete:branding"),
        (
            "DELETE",
            "/branding/logo".to_owned(),
            None,
            "delete:branding",
        ),
        ("GET", pa.clone(), None, "read:branding"),
        ("PATCH", pa.clone(), Some(json!({})), "update:branding"),
        ("DELETE", pa.clone(), None, "delete:branding"),
        ("DELETE", format!("{pa}/logo"), None, "delete:branding"),
    ] {
        let r = call(&s, m, &p, &none, body).await;
        assert_error(&r, 403, "insufficient_scope", scope);
    }
    for p in ["/branding/logo".to_owned(), format!("{pa}/logo")] {
        let r = put_raw(&s, &p, &none, Some("image/png"), png(10, 10, 64)).await;
        assert_error(&r, 403, "insufficient_scope", "update:branding");
        let r = put_raw(&s, &p, "", Some("image/png"), png(10, 10, 64)).await;
        assert_eq!(r.status, 401);
    }
    let r = call(&s, "GET", "/branding", "", None).await;
    assert_eq!(r.status, 401);

    // Another tenant: its token is refused here, its organizations do not exist here, and
    // it cannot reach ours.
    let other = s.fixtures("other");
    let other_tenant = other.tenant().await;
    let theirs = s.mgmt_token("other", MANAGEMENT_SCOPES).await;
    let their_org = other.org("theirs", &[]).await;
    let r = call(&s, "GET", "/branding", &theirs, None).await;
    assert_eq!(r.status, 401, "{}", r.body);
    let tp = format!("/organizations/{}/branding", their_org.id);
    for (m, body) in [
        ("GET", None),
        ("PATCH", Some(json!({"display_name": "x"}))),
        ("DELETE", None),
    ] {
        let r = call(&s, m, &tp, &token, body).await;
        assert_error(&r, 404, "not_found", "organization");
    }
    let r = put_raw(
        &s,
        &format!("{tp}/logo"),
        &token,
        Some("image/png"),
        png(1, 1, 64),
    )
    .await;
    assert_error(&r, 404, "not_found", "organization");
    assert!(
        s.core
            .branding(&other_tenant, Some(&their_org.id))
            .await
            .unwrap()
            .is_none()
    );
    let r = s
        .client
        .send(
            "PATCH",
            &format!("/t/other/api/v2/organizations/{}/branding", a.id),
            &theirs,
            Some(&json!({"display_name": "x"})),
        )
        .await;
    assert_error(&r, 404, "not_found", "organization");
    // Malformed organization ids.
    let r = call(
        &s,
        "GET",
        "/organizations/not-an-id!/branding",
        &token,
        None,
    )
    .await;
    assert_eq!(r.status, 400, "{}", r.body);
    let bogus = OrgId::parse("org_00000000000000000000000000").unwrap();
    let r = call(
        &s,
        "GET",
        &format!("/organizations/{bogus}/branding"),
        &token,
        None,
    )
    .await;
    assert_eq!(r.status, 404, "{}", r.body);
}

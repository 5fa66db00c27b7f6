//! The email outbox and email templates through the Management API, against a real server
//! on SQLite and PostgreSQL: listing (newest first, by address, paged), reading one
//! message, templates validated by rendering them (syntax errors and runaway templates
//! refused), used by the emails Clavis sends, scopes, organization credentials refused,
//! other tenants' messages unreachable, audit events.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use clavis_core::service::lifecycle::EmailKind;
use clavis_core::service::management::MANAGEMENT_SCOPES;
use clavis_core::service::management::api_keys::ORG_LEVEL_SCOPES;
use clavis_testkit::{Backend, Reply, TestServer};
use serde_json::{Value, json};

clavis_testkit::on_both!(
    outbox_lists_and_reads_messages,
    templates_are_validated_and_used,
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

/// Queue one email of `tenant` the way the account lifecycle does.
async fn queue(s: &TestServer, tenant: &str, kind: EmailKind, to: &str) {
    let t = s.fixtures(tenant).tenant().await;
    let mut tx = s.core.store.begin().await.unwrap();
    s.core
        .queue_email(
            &mut *tx,
            &t,
            kind,
            to,
            "en",
            json!({"link": "https://id.test/t/default/x?ticket=secret-ticket", "code": "424242", "expires_minutes": 15}),
        )
        .await
        .unwrap();
    tx.commit().await.unwrap();
    s.clock.advance_secs(1);
}

async fn outbox_lists_and_reads_messages(b: Backend) {
    let s = TestServer::start(b).await;
    let token = s.mgmt_token("default", MANAGEMENT_SCOPES).await;
    let r = call(&s, "GET", "/emails/outbox", &token, None).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json(), json!([]));

    queue(&s, "default", EmailKind::VerifyEmail, "alice@example.com").await;
    queue(&s, "default", EmailKind::ResetEmail, "bob@example.com").await;
    queue(&s, "default", EmailKind::ResetEmail, "alice@example.com").await;
    queue(&s, "other", EmailKind::VerifyEmail, "alice@example.com").await;

    let r = call(&s, "GET", "/emails/outbox", &token, None).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let all = r.json();
    let all = all.as_array().unwrap();
    assert_eq!(all.len(), 3, "only this tenant's messages: {all:?}");
    let order: Vec<(&str, &str)> = all
        .iter()
        .map(|m| (m["to"].as_str().unwrap(), m["template"].as_str().unwrap()))
        .collect();
    assert_eq!(
        order,
        [
            ("alice@example.com", "reset_email"),
            ("bob@example.com", "reset_email"),
            ("alice@example.com", "verify_email"),
        ],
        "newest first"
    );
    let m = &all[2];
    assert!(m["id"].as_str().unwrap().starts_with("msg_"));
    assert_eq!(m["state"], "stored", "no SMTP server: kept for development");
    assert!(
        m["text_body"].as_str().unwrap().contains("secret-ticket"),
        "{m}"
    );
    assert!(m["text_body"].as_str().unwrap().contains("424242"), "{m}");
    assert!(!m["subject"].as_str().unwrap().is_empty());

    // By address (normalised as user addresses are), with totals and pages.
    let r = call(
        &s,
        "GET",
        "/emails/outbox?to=Alice@Example.com&include_totals=true&per_page=1&page=1",
        &token,
        None,
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let page = r.json();
    assert_eq!(page["total"], 2, "{page}");
    assert_eq!(page["emails"].as_array().unwrap().len(), 1);
    assert_eq!(page["emails"][0]["template"], "verify_email");
    let r = call(
        &s,
        "GET",
        "/emails/outbox?to=nobody@example.com",
        &token,
        None,
    )
    .await;
    assert_eq!(r.json(), json!([]));

    // One message.
    let id = m["id"].as_str().unwrap();
    let r = call(&s, "GET", &format!("/emails/outbox/{id}"), &token, None).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(&r.json(), m);

    // Malformed input.
    let r = call(&s, "GET", "/emails/outbox?to=not-an-address", &token, None).await;
    assert_error(&r, 400, "invalid_request", "to");
    let r = call(&s, "GET", "/emails/outbox?recipient=x", &token, None).await;
    assert_error(&r, 400, "invalid_request", "recipient");
    let r = call(
        &s,
        "GET",
        "/emails/outbox?to=a@example.com&to=b@example.com",
        &token,
        None,
    )
    .await;
    assert_error(&r, 400, "invalid_request", "to");
    let r = call(&s, "GET", "/emails/outbox/usr_123", &token, None).await;
    assert_error(&r, 400, "invalid_request", "id");
    let r = call(
        &s,
        "GET",
        "/emails/outbox/msg_00000000000000000000000000",
        &token,
        None,
    )
    .await;
    assert_error(&r, 404, "not_found", "email");
}

async fn templates_are_validated_and_used(b: Backend) {
    let s = TestServer::start(b).await;
    let token = s.mgmt_token("default", MANAGEMENT_SCOPES).await;
    let path = "/email-templates/verify_email";
    let r = call(&s, "GET", path, &token, None).await;
    assert_error(&r, 404, "not_found", "email template");

    let tpl = json!({
        "subject": "Confirm your {{ tenant_name }} address",
        "text_body": "Hi {{ email }}, open {{ link }} or type {{ code }}.",
        "html_body": "<p>Hi {{ email }}, <a href=\"{{ link }}\">confirm</a> or type <b>{{ code }}</b>.</p>",
    });
    let r = call(&s, "PUT", path, &token, Some(tpl.clone())).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let v = r.json();
    assert_eq!(v["name"], "verify_email");
    assert_eq!(v["enabled"], true);
    assert_eq!(v["subject"], tpl["subject"]);
    let r = call(&s, "GET", path, &token, None).await;
    assert_eq!(r.json(), v);

    // The emails Clavis sends use it, variables escaped in the HTML body.
    queue(
        &s,
        "default",
        EmailKind::VerifyEmail,
        "<script>@example.com",
    )
    .await;
    let r = call(&s, "GET", "/emails/outbox", &token, None).await;
    let m = &r.json()[0];
    assert!(
        m["subject"].as_str().unwrap().starts_with("Confirm your"),
        "{m}"
    );
    assert!(m["text_body"].as_str().unwrap().contains("424242"));
    let html = m["html_body"].as_str().unwrap();
    assert!(
        html.contains("&lt;script&gt;") && !html.contains("<script>"),
        "{html}"
    );

    // Refused: templates that do not render, or never stop, or are empty.
    let bad = [
        (
            json!({"subject": "{{ broken", "text_body": "x", "html_body": "x"}),
            "subject",
        ),
        (
            json!({"subject": "x", "text_body": "{% for %}", "html_body": "x"}),
            "text",
        ),
        (
            json!({"subject": "x", "text_body": "x", "html_body": "{% if %}"}),
            "html",
        ),
        (
            json!({"subject": "x", "text_body": "{% for i in range(100000) %}{% for j in range(100000) %}x{% endfor %}{% endfor %}", "html_body": "x"}),
            "template",
        ),
        (
            json!({"subject": "{{ '' }}", "text_body": "x", "html_body": "x"}),
            "subject",
        ),
        (
            json!({"subject": "x", "text_body": "x".repeat(70_000), "html_body": "x"}),
            "",
        ),
        (json!({"subject": "x", "text_body": "x"}), "html_body"),
        (
            json!({"subject": "x", "text_body": "x", "html_body": "x", "from": "ceo@evil.test"}),
            "from",
        ),
    ];
    for (body, mentions) in bad {
        let r = call(&s, "PUT", path, &token, Some(body)).await;
        assert!(r.status == 400 || r.status == 413, "{}", r.body);
        if r.status == 400 {
            assert_error(&r, 400, "invalid_request", mentions);
        }
    }
    let r = call(
        &s,
        "PATCH",
        path,
        &token,
        Some(json!({"html_body": "{% include 'x' %}"})),
    )
    .await;
    assert_error(&r, 400, "invalid_request", "template");
    let r = call(&s, "GET", path, &token, None).await;
    assert_eq!(r.json(), v, "unchanged");

    // Disabled: the email is not sent at all.
    let r = call(&s, "PATCH", path, &token, Some(json!({"enabled": false}))).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["enabled"], false);
    assert_eq!(r.json()["subject"], tpl["subject"]);
    let before = call(
        &s,
        "GET",
        "/emails/outbox?include_totals=true",
        &token,
        None,
    )
    .await
    .json()["total"]
        .clone();
    queue(&s, "default", EmailKind::VerifyEmail, "carol@example.com").await;
    let after = call(
        &s,
        "GET",
        "/emails/outbox?include_totals=true",
        &token,
        None,
    )
    .await
    .json()["total"]
        .clone();
    assert_eq!(before, after);

    // Unknown names; PATCH of a template never set.
    let r = call(&s, "GET", "/email-templates/welcome", &token, None).await;
    assert_error(&r, 400, "invalid_request", "verify_email");
    let r = call(
        &s,
        "PATCH",
        "/email-templates/reset_email",
        &token,
        Some(json!({"enabled": false})),
    )
    .await;
    assert_error(&r, 404, "not_found", "email template");

    // Removed: the built-in template is used again.
    let r = call(&s, "DELETE", path, &token, None).await;
    assert_eq!(r.status, 204, "{}", r.body);
    let r = call(&s, "DELETE", path, &token, None).await;
    assert_error(&r, 404, "not_found", "email template");
    queue(&s, "default", EmailKind::VerifyEmail, "dave@example.com").await;
    let r = call(
        &s,
        "GET",
        "/emails/outbox?to=dave@example.com",
        &token,
        None,
    )
    .await;
    assert!(
        !r.json()[0]["subject"]
            .as_str()
            .unwrap()
            .starts_with("Confirm your")
    );

    // Audited without the sources.
    let updated = events(&s, "email_template.updated").await;
    assert_eq!(updated.len(), 2, "{updated:?}");
    assert_eq!(updated[0]["context"]["template"], "verify_email");
    assert_eq!(updated[1]["context"]["changed"], json!(["enabled"]));
    assert!(!updated[0].to_string().contains("Confirm your"));
    assert_eq!(events(&s, "email_template.deleted").await.len(), 1);
}

async fn callers_need_the_scope_and_their_own_tenant(b: Backend) {
    let s = TestServer::start(b).await;
    let token = s.mgmt_token("default", MANAGEMENT_SCOPES).await;
    queue(&s, "other", EmailKind::VerifyEmail, "alice@example.com").await;
    let theirs = s.mgmt_token("other", MANAGEMENT_SCOPES).await;
    let r = s
        .client
        .send("GET", "/t/other/api/v2/emails/outbox", &theirs, None)
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let their_id = r.json()[0]["id"].as_str().unwrap().to_owned();

    let none = s.mgmt_token("default", &["read:users"]).await;
    let tpl = json!({"subject": "s", "text_body": "t", "html_body": "h"});
    for (m, p, body, scope) in [
        (
            "GET",
            "/emails/outbox".to_owned(),
            None,
            "read:email_outbox",
        ),
        (
            "GET",
            format!("/emails/outbox/{their_id}"),
            None,
            "read:email_outbox",
        ),
        (
            "GET",
            "/email-templates/verify_email".to_owned(),
            None,
            "read:email_templates",
        ),
        (
            "PUT",
            "/email-templates/verify_email".to_owned(),
            Some(tpl.clone()),
            "update:email_templates",
        ),
        (
            "PATCH",
            "/email-templates/verify_email".to_owned(),
            Some(json!({})),
            "update:email_templates",
        ),
        (
            "DELETE",
            "/email-templates/verify_email".to_owned(),
            None,
            "update:email_templates",
        ),
    ] {
        let r = call(&s, m, &p, &none, body).await;
        assert_error(&r, 403, "insufficient_scope", scope);
    }
    // The templates' read scope does not read the outbox (one-time links).
    let templates_only = s
        .mgmt_token(
            "default",
            &["read:email_templates", "update:email_templates"],
        )
        .await;
    let r = call(&s, "GET", "/emails/outbox", &templates_only, None).await;
    assert_error(&r, 403, "insufficient_scope", "read:email_outbox");

    // An organization's administrator reaches none of it.
    let org = s.fixtures("default").org("acme", &[]).await;
    let r = call(
        &s,
        "POST",
        "/api-keys",
        &token,
        Some(json!({ "name": "org admin", "scopes": ORG_LEVEL_SCOPES, "org_id": org.id.to_string() })),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let key = r.json()["key"].as_str().unwrap().to_owned();
    for (m, p) in [
        ("GET", "/emails/outbox"),
        ("GET", "/email-templates/verify_email"),
        ("DELETE", "/email-templates/verify_email"),
    ] {
        let r = call(&s, m, p, &key, None).await;
        assert_eq!(r.status, 403, "{m} {p}: {}", r.body);
    }
    let r = call(
        &s,
        "POST",
        "/api-keys",
        &key,
        Some(json!({"name": "x", "scopes": ["read:email_outbox"]})),
    )
    .await;
    assert!(
        r.status == 400 || r.status == 403,
        "an organization's key cannot hold the outbox scope: {}",
        r.body
    );

    // Another tenant's token is refused here, and its messages are not found here.
    let r = call(&s, "GET", "/emails/outbox", &theirs, None).await;
    assert_eq!(r.status, 401, "{}", r.body);
    let r = call(
        &s,
        "GET",
        &format!("/emails/outbox/{their_id}"),
        &token,
        None,
    )
    .await;
    assert_error(&r, 404, "not_found", "email");
    let r = call(&s, "GET", "/emails/outbox", &token, None).await;
    assert_eq!(r.json(), json!([]));
    // Their template is theirs.
    let r = s
        .client
        .send(
            "PUT",
            "/t/other/api/v2/email-templates/reset_email",
            &theirs,
            Some(&tpl),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let r = call(&s, "GET", "/email-templates/reset_email", &token, None).await;
    assert_eq!(r.status, 404, "{}", r.body);
    let r = call(&s, "DELETE", "/email-templates/reset_email", &token, None).await;
    assert_eq!(r.status, 404, "{}", r.body);
    let r = s
        .client
        .send(
            "GET",
            "/t/other/api/v2/email-templates/reset_email",
            &theirs,
            None,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
}

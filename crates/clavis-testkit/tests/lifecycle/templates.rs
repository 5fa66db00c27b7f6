//! Tenants' email templates: an override replaces the built-in one, a broken override
//! falls back to it, a disabled one sends nothing.

use clavis_core::model::EmailTemplate;
use clavis_core::service::lifecycle::EmailKind;
use clavis_testkit::Backend;
use serde_json::json;

use crate::{last_email, meta, outbox, signup_ok, start};

pub async fn tenant_templates_override_fall_back_and_can_be_disabled(b: Backend) {
    let (s, t) = start(b).await;
    let put = |subject: &str, text: &str, html: &str, enabled: bool| EmailTemplate {
        tenant_id: t.id.clone(),
        name: "verify_email".into(),
        subject: subject.into(),
        text_body: text.into(),
        html_body: html.into(),
        enabled,
        updated_at: s.core.now(),
    };
    let save = async |e: EmailTemplate| {
        let mut tx = s.core.store.begin().await.unwrap();
        tx.email_template_put(&e).await.unwrap();
        tx.commit().await.unwrap();
    };
    save(put(
        "Welcome to {{ tenant_name }}",
        "Your code: {{ code }} ({{ locale }})",
        "<p>{{ email }}</p><a href=\"{{ link }}\">go</a>",
        true,
    ))
    .await;
    signup_ok(&s.core, &t, "ada@example.com", "fr").await;
    let m = last_email(&s.core, &t, "ada@example.com", "verify_email").await;
    assert_eq!(m.subject, "Welcome to Default");
    assert!(m.text_body.starts_with("Your code: ") && m.text_body.ends_with(" (fr)"));
    assert!(
        m.html_body
            .starts_with("<p>ada@example.com</p><a href=\"http")
    );

    // A template that fails at run time (out of fuel): the built-in one is sent.
    save(put(
        "x",
        "{% for a in range(100000) %}{% for b in range(100000) %}.{% endfor %}{% endfor %}",
        "x",
        true,
    ))
    .await;
    signup_ok(&s.core, &t, "bob@example.com", "en").await;
    let m = last_email(&s.core, &t, "bob@example.com", "verify_email").await;
    assert_eq!(m.subject, "Verify your email address for Default");

    // Disabled: nothing is sent (queue_email answers Ok all the same).
    save(put("x", "x", "x", false)).await;
    signup_ok(&s.core, &t, "cy@example.com", "en").await;
    assert!(outbox(&s.core, &t, "cy@example.com").await.is_empty());
    let mut tx = s.core.store.begin().await.unwrap();
    s.core
        .queue_email(
            &mut *tx,
            &t,
            EmailKind::VerifyEmail,
            "cy@example.com",
            "en",
            json!({}),
        )
        .await
        .unwrap();
    tx.commit().await.unwrap();
    assert!(outbox(&s.core, &t, "cy@example.com").await.is_empty());
    // Other kinds are unaffected.
    s.core
        .request_password_reset(&t, "cy@example.com", "en", &meta())
        .await
        .unwrap();
    last_email(&s.core, &t, "cy@example.com", "reset_email").await;

    // SMTP configured: messages wait for the delivery worker instead of being stored.
    s.core.set_smtp_enabled(true);
    let mut tx = s.core.store.begin().await.unwrap();
    s.core
        .queue_email(
            &mut *tx,
            &t,
            EmailKind::NewDevice,
            "dee@example.com",
            "en",
            json!({"user_agent": "Firefox", "ip_address": "203.0.113.9"}),
        )
        .await
        .unwrap();
    tx.commit().await.unwrap();
    let m = last_email(&s.core, &t, "dee@example.com", "new_device").await;
    assert_eq!(m.state, clavis_core::model::EmailState::Pending);
    assert!(m.text_body.contains("Firefox") && m.text_body.contains("203.0.113.9"));
    s.core.set_smtp_enabled(false);
}

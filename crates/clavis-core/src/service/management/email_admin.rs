//! The email outbox and the tenant's email templates through the Management API.
//!
//! - The outbox is read-only here: the newest messages first, optionally those to one
//!   address (normalised as user addresses are). Bodies of pending or stored messages
//!   hold one-time links, so the read scope is as sensitive as a password reset; sent and
//!   failed messages have their bodies emptied by the store.
//! - A template overrides one built-in email (`verify_email`, `reset_email`, …). It is
//!   validated by rendering it once, untrusted (fuel, size caps, HTML autoescaped), with
//!   sample values of every variable the emails use; a template that does not render is
//!   refused naming the part and the error. A disabled template sends nothing.
//! - Every template change appends `email_template.updated|deleted` in the same
//!   transaction (the name and the changed fields, never the sources).

use clavis_types::{Email, EmailId};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::CoreError;
use crate::model::{EmailTemplate, JsonMap, OutboxEmail, Page, Tenant};
use crate::service::lifecycle::{EmailKind, render_custom};
use crate::service::{Core, RequestMeta};

/// A message of the outbox as the API shows it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct OutboxEmailView {
    /// `msg_…`.
    pub id: String,
    pub to: String,
    /// The template that produced it (`verify_email`, `reset_email`, …).
    pub template: String,
    pub subject: String,
    /// Empty once sent or given up (it may have held a one-time link).
    pub text_body: String,
    pub html_body: String,
    /// `pending`, `sent`, `failed` or `stored` (no SMTP server: kept for development).
    pub state: String,
    pub attempts: i64,
    /// RFC 3339.
    pub next_attempt_at: String,
    pub last_error: Option<String>,
    /// RFC 3339.
    pub created_at: String,
    /// RFC 3339.
    pub sent_at: Option<String>,
}

impl From<&OutboxEmail> for OutboxEmailView {
    fn from(e: &OutboxEmail) -> Self {
        Self {
            id: e.id.to_string(),
            to: e.to_address.clone(),
            template: e.template.clone(),
            subject: e.subject.clone(),
            text_body: e.text_body.clone(),
            html_body: e.html_body.clone(),
            state: e.state.as_str().to_owned(),
            attempts: e.attempts,
            next_attempt_at: e.next_attempt_at.to_rfc3339(),
            last_error: e.last_error.clone(),
            created_at: e.created_at.to_rfc3339(),
            sent_at: e.sent_at.map(|t| t.to_rfc3339()),
        }
    }
}

/// A whole template (`PUT`).
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EmailTemplateInput {
    /// minijinja source of the subject line.
    pub subject: String,
    /// minijinja source of the plain-text body.
    pub text_body: String,
    /// minijinja source of the HTML body (variables are HTML-escaped).
    pub html_body: String,
    /// A disabled template sends nothing; default `true`.
    #[serde(default = "yes")]
    pub enabled: bool,
}

fn yes() -> bool {
    true
}

/// A change to a template: absent fields stay as they are.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EmailTemplatePatch {
    pub subject: Option<String>,
    pub text_body: Option<String>,
    pub html_body: Option<String>,
    pub enabled: Option<bool>,
}

/// A template as the API shows it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct EmailTemplateView {
    pub name: String,
    pub subject: String,
    pub text_body: String,
    pub html_body: String,
    pub enabled: bool,
    /// RFC 3339.
    pub updated_at: String,
}

impl From<&EmailTemplate> for EmailTemplateView {
    fn from(t: &EmailTemplate) -> Self {
        Self {
            name: t.name.clone(),
            subject: t.subject.clone(),
            text_body: t.text_body.clone(),
            html_body: t.html_body.clone(),
            enabled: t.enabled,
            updated_at: t.updated_at.to_rfc3339(),
        }
    }
}

/// The template name of a path: one of the built-in emails.
pub fn template_name(raw: &str) -> Result<EmailKind, CoreError> {
    EmailKind::parse(raw).ok_or_else(|| {
        CoreError::invalid(
            "name",
            format!(
                "expected one of: {}",
                EmailKind::ALL.map(EmailKind::as_str).join(", ")
            ),
        )
    })
}

/// Sample values of every variable an email may use, to render a template once.
fn sample_vars(tenant: &Tenant) -> Value {
    let link = format!(
        "https://login.example/t/{}/sample?ticket=sample",
        tenant.slug
    );
    json!({
        "tenant_name": tenant.display_name,
        "locale": "en",
        "email": "user@example.com",
        "name": "Sample User",
        "link": link,
        "unlock_link": link,
        "code": "123456",
        "expires_minutes": 15,
        "ip_address": "203.0.113.7",
        "user_agent": "Mozilla/5.0 (sample)",
        "login_link": link,
    })
}

/// Refuse a template that does not render, or renders an empty subject.
fn check_renders(tenant: &Tenant, t: &EmailTemplate) -> Result<(), CoreError> {
    let out = render_custom(t, &sample_vars(tenant))
        .map_err(|e| CoreError::invalid("template", format!("does not render: {e}")))?;
    if out.subject.trim().is_empty() {
        return Err(CoreError::invalid("subject", "renders empty"));
    }
    Ok(())
}

impl Core {
    /// A page of the outbox, newest first, optionally only the messages to `to`.
    pub async fn mgmt_outbox_list(
        &self,
        tenant: &Tenant,
        to: Option<&str>,
        page: Page,
        with_total: bool,
    ) -> Result<(Vec<OutboxEmail>, i64), CoreError> {
        let to = to
            .map(|t| Email::parse(t).map_err(|e| CoreError::invalid("to", e.reason)))
            .transpose()?;
        let to = to.as_ref().map(Email::as_str);
        let mut tx = self.store.read().await?;
        let list = tx.outbox_list(&tenant.id, to, page).await?;
        let total = if with_total {
            tx.outbox_count(&tenant.id, to).await?
        } else {
            0
        };
        Ok((list, total))
    }

    /// One message of the outbox.
    pub async fn mgmt_outbox_get(
        &self,
        tenant: &Tenant,
        id: &EmailId,
    ) -> Result<OutboxEmail, CoreError> {
        let mut tx = self.store.read().await?;
        tx.outbox_get(&tenant.id, id)
            .await?
            .ok_or(CoreError::NotFound("email"))
    }

    /// The tenant's override of one email, if any (404 otherwise: the built-in one is used).
    pub async fn mgmt_email_template_get(
        &self,
        tenant: &Tenant,
        kind: EmailKind,
    ) -> Result<EmailTemplate, CoreError> {
        let mut tx = self.store.read().await?;
        tx.email_template_get(&tenant.id, kind.as_str())
            .await?
            .ok_or(CoreError::NotFound("email template"))
    }

    /// Create or replace the override of one email.
    pub async fn mgmt_email_template_put(
        &self,
        tenant: &Tenant,
        kind: EmailKind,
        input: EmailTemplateInput,
        meta: &RequestMeta,
    ) -> Result<EmailTemplate, CoreError> {
        let t = EmailTemplate {
            tenant_id: tenant.id.clone(),
            name: kind.as_str().to_owned(),
            subject: input.subject,
            text_body: input.text_body,
            html_body: input.html_body,
            enabled: input.enabled,
            updated_at: self.now(),
        };
        check_renders(tenant, &t)?;
        let mut tx = self.store.begin().await?;
        let before = tx.email_template_get(&tenant.id, &t.name).await?;
        tx.email_template_put(&t).await?;
        let changed: Vec<&str> = match &before {
            None => vec!["subject", "text_body", "html_body", "enabled"],
            Some(b) => changed_fields(b, &t),
        };
        self.template_audit(
            &mut *tx,
            tenant,
            "email_template.updated",
            &t,
            &changed,
            meta,
        )
        .await?;
        tx.commit().await?;
        Ok(t)
    }

    /// Change parts of the override of one email (404 when there is none).
    pub async fn mgmt_email_template_update(
        &self,
        tenant: &Tenant,
        kind: EmailKind,
        patch: EmailTemplatePatch,
        meta: &RequestMeta,
    ) -> Result<EmailTemplate, CoreError> {
        let mut tx = self.store.begin().await?;
        let before = tx
            .email_template_get(&tenant.id, kind.as_str())
            .await?
            .ok_or(CoreError::NotFound("email template"))?;
        let mut t = before.clone();
        if let Some(v) = patch.subject {
            t.subject = v;
        }
        if let Some(v) = patch.text_body {
            t.text_body = v;
        }
        if let Some(v) = patch.html_body {
            t.html_body = v;
        }
        if let Some(v) = patch.enabled {
            t.enabled = v;
        }
        let changed = changed_fields(&before, &t);
        if changed.is_empty() {
            return Ok(before);
        }
        check_renders(tenant, &t)?;
        t.updated_at = self.now();
        tx.email_template_put(&t).await?;
        self.template_audit(
            &mut *tx,
            tenant,
            "email_template.updated",
            &t,
            &changed,
            meta,
        )
        .await?;
        tx.commit().await?;
        Ok(t)
    }

    /// Remove the override of one email: the built-in one is used again.
    pub async fn mgmt_email_template_delete(
        &self,
        tenant: &Tenant,
        kind: EmailKind,
        meta: &RequestMeta,
    ) -> Result<(), CoreError> {
        let mut tx = self.store.begin().await?;
        let t = tx
            .email_template_get(&tenant.id, kind.as_str())
            .await?
            .ok_or(CoreError::NotFound("email template"))?;
        if !tx.email_template_delete(&tenant.id, kind.as_str()).await? {
            return Err(CoreError::NotFound("email template"));
        }
        self.template_audit(&mut *tx, tenant, "email_template.deleted", &t, &[], meta)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn template_audit(
        &self,
        tx: &mut dyn crate::ports::Tx,
        tenant: &Tenant,
        event_type: &str,
        t: &EmailTemplate,
        changed: &[&str],
        meta: &RequestMeta,
    ) -> Result<(), CoreError> {
        let mut ctx = JsonMap::from_iter([
            ("template".to_owned(), json!(t.name)),
            ("enabled".to_owned(), json!(t.enabled)),
        ]);
        if !changed.is_empty() {
            ctx.insert("changed".into(), json!(changed));
        }
        let event = self.audit_event(&tenant.id, event_type, Default::default(), None, ctx, meta);
        self.audit_in(tx, event).await
    }
}

fn changed_fields(a: &EmailTemplate, b: &EmailTemplate) -> Vec<&'static str> {
    let mut out = Vec::new();
    if a.subject != b.subject {
        out.push("subject");
    }
    if a.text_body != b.text_body {
        out.push("text_body");
    }
    if a.html_body != b.html_body {
        out.push("html_body");
    }
    if a.enabled != b.enabled {
        out.push("enabled");
    }
    out
}

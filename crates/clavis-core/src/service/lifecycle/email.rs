//! Email composition: the built-in templates (English and French; subject, text and HTML
//! bodies, embedded at build time) and tenants' overrides from `email_templates`, rendered
//! with minijinja and queued in the outbox inside the caller's transaction. Delivery is the
//! mail worker's business (`clavis-server`), never this module's.
//!
//! Tenant overrides are untrusted: they render with a fuel budget and a size cap, the HTML
//! body autoescaped; an override that fails to render falls back to the built-in template
//! (and is logged) so a broken template never fails the request that sends the email.

use clavis_types::EmailId;
use minijinja::syntax::SyntaxConfig;
use minijinja::value::Serde;
use minijinja::{AutoEscape, Environment, Output, State, Value as JinjaValue};
use serde_json::{Map, Value};

use crate::CoreError;
use crate::model::{EmailState, EmailTemplate, OutboxEmail, Tenant};
use crate::ports::Tx;
use crate::service::Core;

/// Fuel given to one render of a tenant's template (roughly: instructions executed).
pub const TEMPLATE_FUEL: u64 = 50_000;
/// Longest source of one part (subject, text or HTML body) of a tenant's template.
pub const TEMPLATE_MAX_SOURCE: usize = 64 * 1024;
/// Longest rendered body accepted from a tenant's template.
pub const TEMPLATE_MAX_OUTPUT: usize = 256 * 1024;
/// Longest subject line; longer ones are cut.
const SUBJECT_MAX_CHARS: usize = 200;

/// The emails Clavis sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EmailKind {
    /// Verify the address (link + 6-digit code).
    VerifyEmail,
    /// Password reset link.
    ResetEmail,
    /// The account was locked after failed logins (with an unlock link).
    BlockedAccount,
    /// The password was changed or reset.
    PasswordChanged,
    /// A login from a device not seen recently.
    NewDevice,
    /// Someone tried to sign up with an address that already has an account.
    AlreadyRegistered,
    /// A one-time login code (passwordless `email` connections).
    LoginCode,
}

impl EmailKind {
    /// Every kind, in a stable order.
    pub const ALL: [Self; 7] = [
        Self::VerifyEmail,
        Self::ResetEmail,
        Self::BlockedAccount,
        Self::PasswordChanged,
        Self::NewDevice,
        Self::AlreadyRegistered,
        Self::LoginCode,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::VerifyEmail => "verify_email",
            Self::ResetEmail => "reset_email",
            Self::BlockedAccount => "blocked_account",
            Self::PasswordChanged => "password_changed",
            Self::NewDevice => "new_device",
            Self::AlreadyRegistered => "already_registered",
            Self::LoginCode => "login_code",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

/// One email ready for the outbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RenderedEmail {
    pub subject: String,
    pub text_body: String,
    pub html_body: String,
}

/// The locales built-in templates exist in; anything else falls back to English
/// (`fr-CA` → `fr`).
pub fn email_locale(locale: &str) -> &'static str {
    let lang = locale
        .split(['-', '_'])
        .next()
        .unwrap_or_default()
        .to_ascii_lowercase();
    if lang == "fr" { "fr" } else { "en" }
}

impl Core {
    /// Render the tenant's template (its override in `email_templates`, else the built-in
    /// one in `locale` — `en` or `fr`) with `vars` and insert it into the outbox inside `tx`:
    /// state `pending` when `smtp_enabled`, else `stored`. A disabled override sends nothing.
    /// Tenant-editable templates render under minijinja fuel and autoescape (HTML body).
    pub async fn queue_email(
        &self,
        tx: &mut dyn Tx,
        tenant: &Tenant,
        kind: EmailKind,
        to: &str,
        locale: &str,
        vars: Value,
    ) -> Result<(), CoreError> {
        let locale = email_locale(locale);
        let ctx = email_context(tenant, locale, to, vars);
        let custom = tx.email_template_get(&tenant.id, kind.as_str()).await?;
        let rendered = match custom {
            Some(t) if !t.enabled => return Ok(()),
            Some(t) => match render_custom(&t, &ctx) {
                Ok(r) => r,
                Err(e) => {
                    tracing::warn!(
                        tenant = %tenant.id,
                        template = kind.as_str(),
                        error = %e,
                        "the tenant's email template failed to render; sending the built-in one"
                    );
                    render_builtin(kind, locale, &ctx)?
                }
            },
            None => render_builtin(kind, locale, &ctx)?,
        };
        let now = self.now();
        let state = if self.smtp_enabled.load(std::sync::atomic::Ordering::Relaxed) {
            EmailState::Pending
        } else {
            EmailState::Stored
        };
        tx.outbox_insert(&OutboxEmail {
            tenant_id: tenant.id.clone(),
            id: EmailId::generate(now, &*self.rng),
            to_address: to.to_owned(),
            template: kind.as_str().to_owned(),
            subject: rendered.subject,
            text_body: rendered.text_body,
            html_body: rendered.html_body,
            state,
            attempts: 0,
            next_attempt_at: now,
            last_error: None,
            created_at: now,
            sent_at: None,
        })
        .await?;
        Ok(())
    }
}

/// The variables every template sees: the caller's, `tenant_name` (the tenant's display
/// name unless the caller gives one, e.g. a branded name), and `locale` and `email`, which
/// are always the message's own.
fn email_context(tenant: &Tenant, locale: &str, to: &str, vars: Value) -> Value {
    let mut ctx = Map::new();
    ctx.insert(
        "tenant_name".into(),
        Value::from(tenant.display_name.clone()),
    );
    if let Value::Object(extra) = vars {
        ctx.extend(extra);
    }
    ctx.insert("locale".into(), Value::from(locale));
    ctx.insert("email".into(), Value::from(to));
    Value::Object(ctx)
}

/// Render a tenant's template, untrusted: fuel, source and output caps, HTML autoescaped.
/// Also what the Management API uses to validate a template before storing it.
pub fn render_custom(t: &EmailTemplate, ctx: &Value) -> Result<RenderedEmail, String> {
    for (part, src) in [
        ("subject", &t.subject),
        ("text_body", &t.text_body),
        ("html_body", &t.html_body),
    ] {
        if src.len() > TEMPLATE_MAX_SOURCE {
            return Err(format!("{part} is longer than {TEMPLATE_MAX_SOURCE} bytes"));
        }
    }
    let mut env = Environment::new();
    env.set_fuel(Some(TEMPLATE_FUEL));
    env.set_formatter(html_formatter);
    env.set_auto_escape_callback(|name| {
        if name == "html" {
            AutoEscape::Html
        } else {
            AutoEscape::None
        }
    });
    for (name, src) in [
        ("subject", &t.subject),
        ("text", &t.text_body),
        ("html", &t.html_body),
    ] {
        env.add_template_owned(name.to_owned(), src.clone())
            .map_err(|e| format!("{name}: {e}"))?;
    }
    let render = |name: &str, ctx: &JinjaValue| -> Result<String, String> {
        let out = env
            .get_template(name)
            .and_then(|tpl| tpl.render(ctx))
            .map_err(|e| format!("{name}: {e}"))?;
        if out.len() > TEMPLATE_MAX_OUTPUT {
            return Err(format!(
                "{name}: renders longer than {TEMPLATE_MAX_OUTPUT} bytes"
            ));
        }
        Ok(out)
    };
    let subject = subject_line(&render("subject", &JinjaValue::from(Serde(ctx)))?);
    let ctx = with_subject(ctx, &subject);
    Ok(RenderedEmail {
        text_body: render("text", &ctx)?,
        html_body: render("html", &ctx)?,
        subject,
    })
}

/// Render a built-in template (trusted; HTML autoescaped); `locale` in the context is
/// set to the language rendered.
pub fn render_builtin(
    kind: EmailKind,
    locale: &str,
    ctx: &Value,
) -> Result<RenderedEmail, CoreError> {
    let locale = email_locale(locale);
    let mut ctx = ctx.clone();
    if let Value::Object(m) = &mut ctx {
        m.insert("locale".into(), Value::from(locale));
    }
    let ctx = &ctx;
    let parts = builtin(kind, locale);
    let mut env = Environment::new();
    let internal = |e: minijinja::Error| {
        CoreError::invalid("email template", format!("built-in {}: {e}", kind.as_str()))
    };
    env.set_syntax(
        SyntaxConfig::builder()
            .trim_blocks(true)
            .lstrip_blocks(true)
            .build()
            .map_err(internal)?,
    );
    env.set_formatter(html_formatter);
    env.set_auto_escape_callback(|name| {
        if name.ends_with(".html") {
            AutoEscape::Html
        } else {
            AutoEscape::None
        }
    });
    for (name, src) in [
        ("layout.html", LAYOUT_HTML),
        ("layout.txt", LAYOUT_TXT),
        ("subject.txt", parts.subject),
        ("body.txt", parts.text),
        ("body.html", parts.html),
    ] {
        env.add_template(name, src).map_err(internal)?;
    }
    let render = |name: &str, ctx: &JinjaValue| {
        env.get_template(name)
            .and_then(|tpl| tpl.render(ctx))
            .map_err(internal)
    };
    let subject = subject_line(&render("subject.txt", &JinjaValue::from(Serde(ctx)))?);
    let ctx = with_subject(ctx, &subject);
    Ok(RenderedEmail {
        text_body: render("body.txt", &ctx)?,
        html_body: render("body.html", &ctx)?,
        subject,
    })
}

/// Autoescape for HTML that leaves `/` alone (minijinja's default writes `&#x2f;`, which
/// is correct but makes every link in an email unreadable): `& < > " '` are escaped,
/// which is enough in text and in quoted attributes.
fn html_formatter(
    out: &mut Output,
    state: &mut State,
    value: &JinjaValue,
) -> Result<(), minijinja::Error> {
    if !matches!(state.auto_escape(), AutoEscape::Html)
        || value.is_safe()
        || value.is_undefined()
        || value.is_none()
    {
        return minijinja::escape_formatter(out, state, value);
    }
    let text = value.to_string();
    let mut escaped = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => escaped.push_str("&amp;"),
            '<' => escaped.push_str("&lt;"),
            '>' => escaped.push_str("&gt;"),
            '"' => escaped.push_str("&quot;"),
            '\'' => escaped.push_str("&#39;"),
            c => escaped.push(c),
        }
    }
    out.write_str(&escaped)
        .map_err(|_| minijinja::Error::new(minijinja::ErrorKind::WriteFailure, "write failed"))
}

/// The context of the bodies: the variables plus the rendered `subject`.
fn with_subject(ctx: &Value, subject: &str) -> JinjaValue {
    let mut ctx = ctx.clone();
    if let Value::Object(m) = &mut ctx {
        m.insert("subject".into(), Value::from(subject));
    }
    JinjaValue::from(Serde(&ctx))
}

/// One line, no control characters (no header injection), at most 200 characters.
fn subject_line(s: &str) -> String {
    let one: String = s
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    let words: Vec<&str> = one.split_whitespace().collect();
    words.join(" ").chars().take(SUBJECT_MAX_CHARS).collect()
}

/// The three parts of a built-in template.
struct Builtin {
    subject: &'static str,
    text: &'static str,
    html: &'static str,
}

const LAYOUT_HTML: &str = include_str!("templates/layout.html");
const LAYOUT_TXT: &str = include_str!("templates/layout.txt");

macro_rules! builtin {
    ($locale:literal, $name:literal) => {
        Builtin {
            subject: include_str!(concat!("templates/", $locale, "/", $name, ".subject.txt")),
            text: include_str!(concat!("templates/", $locale, "/", $name, ".txt")),
            html: include_str!(concat!("templates/", $locale, "/", $name, ".html")),
        }
    };
}

fn builtin(kind: EmailKind, locale: &str) -> Builtin {
    match (locale, kind) {
        ("fr", EmailKind::VerifyEmail) => builtin!("fr", "verify_email"),
        ("fr", EmailKind::ResetEmail) => builtin!("fr", "reset_email"),
        ("fr", EmailKind::BlockedAccount) => builtin!("fr", "blocked_account"),
        ("fr", EmailKind::PasswordChanged) => builtin!("fr", "password_changed"),
        ("fr", EmailKind::NewDevice) => builtin!("fr", "new_device"),
        ("fr", EmailKind::AlreadyRegistered) => builtin!("fr", "already_registered"),
        ("fr", EmailKind::LoginCode) => builtin!("fr", "login_code"),
        (_, EmailKind::VerifyEmail) => builtin!("en", "verify_email"),
        (_, EmailKind::ResetEmail) => builtin!("en", "reset_email"),
        (_, EmailKind::BlockedAccount) => builtin!("en", "blocked_account"),
        (_, EmailKind::PasswordChanged) => builtin!("en", "password_changed"),
        (_, EmailKind::NewDevice) => builtin!("en", "new_device"),
        (_, EmailKind::AlreadyRegistered) => builtin!("en", "already_registered"),
        (_, EmailKind::LoginCode) => builtin!("en", "login_code"),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;
    use clavis_types::TenantId;
    use serde_json::json;

    fn template(subject: &str, text: &str, html: &str) -> EmailTemplate {
        EmailTemplate {
            tenant_id: TenantId::generate(clavis_types::Timestamp::from_millis(0), &Zero),
            name: "verify_email".into(),
            subject: subject.into(),
            text_body: text.into(),
            html_body: html.into(),
            enabled: true,
            updated_at: clavis_types::Timestamp::from_millis(0),
        }
    }

    #[derive(Debug)]
    struct Zero;
    impl clavis_types::Rng for Zero {
        fn fill(&self, buf: &mut [u8]) {
            buf.fill(0);
        }
    }

    fn vars() -> Value {
        json!({
            "tenant_name": "Acme <Corp>",
            "locale": "en",
            "email": "ada@example.com",
            "link": "https://id.example/t/acme/verify-email/confirm?ticket=abc&x=1",
            "unlock_link": "https://id.example/t/acme/unlock?ticket=abc",
            "login_link": "https://id.example/t/acme/login",
            "forgot_link": "https://id.example/t/acme/password/forgot",
            "code": "012345",
            "expires_minutes": 1440,
            "ip_address": "203.0.113.7",
            "user_agent": "Firefox <script>",
        })
    }

    #[test]
    fn every_builtin_renders_in_both_languages() {
        for kind in EmailKind::ALL {
            for locale in ["en", "fr"] {
                let r = render_builtin(kind, locale, &vars()).unwrap();
                assert!(!r.subject.is_empty() && !r.subject.contains('\n'));
                assert!(r.subject.contains("Acme <Corp>"), "{}", r.subject);
                assert!(r.text_body.contains("ada@example.com"));
                assert!(r.html_body.contains(&format!("<html lang=\"{locale}\">")));
                // Autoescaped: the tenant name and user agent cannot inject markup.
                assert!(r.html_body.contains("Acme &lt;Corp&gt;"), "{}", r.html_body);
                assert!(!r.html_body.contains("<script"));
                assert!(!r.html_body.contains("<img") && !r.html_body.contains("src="));
                // No stray template syntax, no runs of blank lines in the text.
                assert!(!r.text_body.contains("{%") && !r.html_body.contains("{{"));
                assert!(
                    !r.text_body.contains("\n\n\n"),
                    "{kind:?} {locale}:\n{}",
                    r.text_body
                );
            }
        }
        let fr = render_builtin(EmailKind::VerifyEmail, "fr", &vars()).unwrap();
        assert!(fr.text_body.contains("24 heures") && fr.text_body.contains("012345"));
        assert!(fr.html_body.contains("ticket=abc&amp;x=1"));
        let code = render_builtin(EmailKind::LoginCode, "fr", &vars()).unwrap();
        assert!(code.text_body.contains("012345"), "{}", code.text_body);
    }

    #[test]
    fn locales_fall_back_to_english() {
        assert_eq!(email_locale("fr"), "fr");
        assert_eq!(email_locale("fr-CA"), "fr");
        assert_eq!(email_locale("FR_be"), "fr");
        assert_eq!(email_locale("de"), "en");
        assert_eq!(email_locale(""), "en");
        assert_eq!(EmailKind::parse("new_device"), Some(EmailKind::NewDevice));
        assert_eq!(EmailKind::parse("nope"), None);
    }

    #[test]
    fn custom_templates_are_escaped_and_bounded() {
        let t = template(
            "Hi {{ tenant_name }}\r\nBcc: evil@example.com",
            "Code: {{ code }}",
            "<p>{{ tenant_name }} {{ link }}</p>",
        );
        let r = render_custom(&t, &vars()).unwrap();
        assert_eq!(r.subject, "Hi Acme <Corp> Bcc: evil@example.com");
        assert_eq!(r.text_body, "Code: 012345");
        assert_eq!(
            r.html_body,
            "<p>Acme &lt;Corp&gt; https://id.example/t/acme/verify-email/confirm?ticket=abc&amp;x=1</p>"
        );

        // A template that would run forever runs out of fuel.
        let looping = template(
            "x",
            "{% for a in range(100000) %}{% for b in range(100000) %}.{% endfor %}{% endfor %}",
            "x",
        );
        assert!(render_custom(&looping, &vars()).is_err());
        // Too large a source, too large an output, a syntax error.
        let big = template("x", &"a".repeat(TEMPLATE_MAX_SOURCE + 1), "x");
        assert!(render_custom(&big, &vars()).is_err());
        let wide = template("x", "{{ 'a' * 300000 }}", "x");
        assert!(render_custom(&wide, &vars()).is_err());
        let broken = template("x", "{% if %}", "x");
        assert!(render_custom(&broken, &vars()).is_err());
        // No access to other templates or the file system.
        let include = template("x", "{% include 'layout.html' %}", "x");
        assert!(render_custom(&include, &vars()).is_err());
    }

    #[test]
    fn subjects_are_one_short_line() {
        assert_eq!(subject_line("  a\n\tb  "), "a b");
        assert_eq!(
            subject_line(&"é".repeat(500)).chars().count(),
            SUBJECT_MAX_CHARS
        );
    }
}

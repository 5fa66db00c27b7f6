//! The account lifecycle driven through `Core` against a real server's store, on SQLite
//! and PostgreSQL: signup (and its verification email in English and French), email
//! verification by code (burnt after five wrong codes) and by link (single use, expiring),
//! password reset and change (sessions revoked, the last five passwords refused), the
//! password policy, signup with an address that already has an account, consent for
//! third-party applications, the login hooks, and tenants' email templates. Emails are
//! read from the development outbox; time moves with the server's `ManualClock`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod lifecycle {
    pub mod consent;
    pub mod hooks;
    pub mod reset;
    pub mod signup;
    pub mod templates;
    pub mod verify;
}

use clavis_core::Core;
use clavis_core::model::{AuditQuery, OutboxEmail, Page, Session, Tenant, User};
use clavis_core::service::RequestMeta;
use clavis_core::service::lifecycle::{SignupError, SignupOutcome};
use clavis_testkit::{Backend, TestServer};
use serde_json::Value;

use lifecycle::consent::{
    api_scopes_are_described_and_agreed_per_api,
    consent_is_asked_only_for_third_party_apps_and_new_scopes,
};
use lifecycle::hooks::{
    hooks_can_add_metadata_and_failures_refuse, hooks_can_deny_a_signup_and_a_login,
};
use lifecycle::reset::{
    change_password_checks_the_current_one_and_keeps_this_session,
    reset_flow_revokes_sessions_and_refuses_the_last_five_passwords,
    reset_links_are_single_use_expire_and_reveal_nothing,
};
use lifecycle::signup::{
    already_registered_signup_creates_nothing_and_emails_the_owner,
    common_personal_and_long_passwords_are_refused, signup_can_be_disabled_or_skip_verification,
    signup_sends_the_verification_email_in_english_and_french,
};
use lifecycle::templates::tenant_templates_override_fall_back_and_can_be_disabled;
use lifecycle::verify::{
    code_verifies_once_and_wrong_codes_burn_it, link_is_single_use_and_expires,
    resends_are_limited_and_replace_the_previous_code,
};

clavis_testkit::on_both!(
    signup_sends_the_verification_email_in_english_and_french,
    common_personal_and_long_passwords_are_refused,
    already_registered_signup_creates_nothing_and_emails_the_owner,
    signup_can_be_disabled_or_skip_verification,
    code_verifies_once_and_wrong_codes_burn_it,
    link_is_single_use_and_expires,
    resends_are_limited_and_replace_the_previous_code,
    reset_flow_revokes_sessions_and_refuses_the_last_five_passwords,
    reset_links_are_single_use_expire_and_reveal_nothing,
    change_password_checks_the_current_one_and_keeps_this_session,
    consent_is_asked_only_for_third_party_apps_and_new_scopes,
    api_scopes_are_described_and_agreed_per_api,
    hooks_can_deny_a_signup_and_a_login,
    hooks_can_add_metadata_and_failures_refuse,
    tenant_templates_override_fall_back_and_can_be_disabled,
);

/// A password the default policy accepts.
pub(crate) const GOOD: &str = "vL7#pQ2x-Kd9";
pub(crate) const IP: &str = "198.51.100.23";

pub(crate) fn meta() -> RequestMeta {
    RequestMeta {
        ip_address: Some(IP.to_owned()),
        user_agent: Some("lifecycle-test/1.0".to_owned()),
        caller: None,
    }
}

/// Sign up and expect a new account: the session, cookie and user.
pub(crate) async fn signup_ok(
    core: &Core,
    t: &Tenant,
    email: &str,
    locale: &str,
) -> (Session, String, User) {
    match core
        .signup(t, email, GOOD, Some("Test Person"), locale, &meta())
        .await
    {
        Ok(SignupOutcome::Created {
            session,
            cookie,
            user,
        }) => (session, cookie, user),
        other => panic!("signup of {email}: {other:?}"),
    }
}

/// The problems of a refused signup password (panics on anything else).
pub(crate) fn password_problems(
    r: Result<SignupOutcome, SignupError>,
) -> Vec<clavis_core::service::lifecycle::PasswordProblem> {
    match r {
        Err(SignupError::Password(p)) => p,
        other => panic!("expected a password refusal, got {other:?}"),
    }
}

/// Messages of the development outbox to `to`, newest first.
pub(crate) async fn outbox(core: &Core, t: &Tenant, to: &str) -> Vec<OutboxEmail> {
    let mut tx = core.store.read().await.unwrap();
    tx.outbox_list(&t.id, Some(to), Page::first())
        .await
        .unwrap()
}

/// The newest message to `to` made from `template` (panics when there is none).
pub(crate) async fn last_email(core: &Core, t: &Tenant, to: &str, template: &str) -> OutboxEmail {
    outbox(core, t, to)
        .await
        .into_iter()
        .find(|e| e.template == template)
        .unwrap_or_else(|| panic!("no {template} email to {to}"))
}

/// The `ticket` parameter of the first link in `text`.
pub(crate) fn ticket_in(text: &str) -> String {
    let at = text
        .find("ticket=")
        .unwrap_or_else(|| panic!("no ticket in {text}"));
    text[at + "ticket=".len()..]
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
        .collect()
}

/// The 6-digit code in a verification email's text.
pub(crate) fn code_in(text: &str) -> String {
    let words = text.split(|c: char| !c.is_ascii_digit());
    words
        .rev()
        .find(|w| w.len() == 6)
        .unwrap_or_else(|| panic!("no code in {text}"))
        .to_owned()
}

/// Audit events of the tenant of these types, newest first, as JSON.
pub(crate) async fn events(core: &Core, t: &Tenant, types: &[&str]) -> Vec<Value> {
    let q = AuditQuery {
        event_types: types.iter().map(|x| (*x).to_owned()).collect(),
        newest_first: true,
        ..AuditQuery::default()
    };
    let page = core
        .audit_search(t, &q, None, None, None, 100)
        .await
        .unwrap();
    page.events
        .iter()
        .map(|e| serde_json::to_value(e).unwrap())
        .collect()
}

/// Every audit event of the tenant as one JSON text (to look for leaked secrets).
pub(crate) async fn all_events_text(core: &Core, t: &Tenant) -> String {
    let page = core
        .audit_search(
            t,
            &AuditQuery {
                newest_first: true,
                ..AuditQuery::default()
            },
            None,
            None,
            None,
            100,
        )
        .await
        .unwrap();
    serde_json::to_string(&page.events).unwrap()
}

/// The live user with this address, if any.
pub(crate) async fn user_by_email(core: &Core, t: &Tenant, email: &str) -> Option<User> {
    let mut tx = core.store.read().await.unwrap();
    let e = clavis_types::Email::parse(email).unwrap();
    tx.user_get_by_email(&t.id, &e).await.unwrap()
}

/// A server and its default tenant.
pub(crate) async fn start(b: Backend) -> (TestServer, Tenant) {
    let s = TestServer::start(b).await;
    let t = s.fixtures("default").tenant().await;
    (s, t)
}

//! The hosted pages (Universal Login) in a real browser: Debian's Chromium driven by
//! `playwright-core` scripts in `tests/browser/`, against a real server on SQLite (one
//! server per flow, so rate limits of one flow never reach another). Each flow runs in
//! English and in French; every page visited passes axe-core (no serious or critical
//! violation) and the hosted-page contract (lang, main, one h1, language switcher, CSP, no
//! inline script or style, alerts tied to fields), and is saved as a screenshot under
//! `target/browser-artifacts/`. The Rust side sets up the tenant, hands the script its JSON
//! input and redeems the authorization code the script brings back (PKCE, ID token).
//!
//! Missing Chromium, node or npm packages fail the tests with a message saying to run
//! `scripts/test` (which installs them); they are never skipped.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod branding;
#[path = "../common/mod.rs"]
mod common;
mod kit;

use clavis_core::model::{OrgConnection, OrgDomain};
use clavis_types::ConnectionId;
use kit::{Request, callback_of, run_flow, setup};
use serde_json::json;

/// Words the consent page must show for the requested scopes (the Api permission's
/// description; OIDC scopes are described by the catalogue).
const SCOPE_WORDS: &[&str] = &["Read your documents"];
const APP_NAME: &str = "Partner Docs";

macro_rules! both_languages {
    ($($name:ident => $flow:ident $(($arg:expr))?),* $(,)?) => {
        mod en {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                super::$flow("en" $(, $arg)?).await
            })*
        }
        mod fr {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                super::$flow("fr" $(, $arg)?).await
            })*
        }
    };
}

both_languages!(
    signup_verify_by_code_login_consent => signup("code"),
    signup_verify_by_link_login_consent => signup("link"),
    forgot_password_reset_login => reset,
    lockout_unlock_by_email_login => lockout,
    passwordless_code_consent => passwordless,
    error_pages => errors,
);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_branding_runs_no_script_and_stays_in_its_organization() {
    branding::hostile("en").await;
}

/// (a) Signup → verification (code or link) → login → consent → callback; the ID token
/// names the new, verified address.
async fn signup(locale: &str, mode: &str) {
    let su = setup(false, true).await;
    let email = format!("new.{mode}.{locale}@example.com");
    let req = Request::new();
    let input = su.input(
        &req,
        locale,
        json!({
            "email": email,
            "password": "Quiet-Harbour-Lantern-71",
            "name": "Camille Martin",
            "mode": mode,
            "app_name": APP_NAME,
            "scope_words": SCOPE_WORDS,
        }),
    );
    let result = run_flow("signup.mjs", &input).await;
    if mode == "code" {
        let denied = common::query_of(result["denied"].as_str().expect("denied callback"));
        assert_eq!(
            denied.get("error").map(String::as_str),
            Some("access_denied")
        );
        assert_eq!(denied.get("state"), Some(&req.state));
    }
    let claims = su.redeem(&callback_of(&result), req).await;
    assert_eq!(claims.email().map(|e| e.as_str()), Some(email.as_str()));
    assert_eq!(claims.email_verified(), Some(true), "verified by {mode}");
}

/// (b) Forgot password → reset email → new password → login with it.
async fn reset(locale: &str) {
    let su = setup(false, true).await;
    let email = format!("forgetful.{locale}@example.com");
    let old = "Old-Garden-Trellis-58";
    let user = su.s.fixtures(kit::TENANT).user(&email, old).await;
    let before = su.s.fixtures(kit::TENANT).password_hash(&user).await;
    let req = Request::new();
    let input = su.input(
        &req,
        locale,
        json!({
            "email": email,
            "password": old,
            "new_password": "Fresh-Meadow-Compass-42",
            "app_name": APP_NAME,
            "scope_words": SCOPE_WORDS,
        }),
    );
    let result = run_flow("reset.mjs", &input).await;
    let claims = su.redeem(&callback_of(&result), req).await;
    assert_eq!(claims.subject().as_str(), user.id.as_str());
    assert_eq!(claims.email().map(|e| e.as_str()), Some(email.as_str()));
    let after = su.s.fixtures(kit::TENANT).password_hash(&user).await;
    assert_ne!(before, after, "the stored password changed");
}

/// (c) Five wrong passwords lock the account (429 page, Retry-After); the unlock email
/// opens it again; the right password then logs in.
async fn lockout(locale: &str) {
    let su = setup(false, true).await;
    let email = format!("unlucky.{locale}@example.com");
    let password = "Steady-River-Beacon-19";
    let user = su.s.fixtures(kit::TENANT).user(&email, password).await;
    let limit =
        su.s.core
            .tenant_by_slug(kit::TENANT)
            .await
            .unwrap()
            .settings
            .attack_protection
            .failed_logins_per_hour;
    assert_eq!(limit, 5, "the seed's default");
    let req = Request::new();
    let input = su.input(
        &req,
        locale,
        json!({
            "email": email,
            "password": password,
            "max_failures": limit,
            "app_name": APP_NAME,
            "scope_words": SCOPE_WORDS,
        }),
    );
    let result = run_flow("lockout.mjs", &input).await;
    // The limit-th wrong password locks the account: that answer or the next is the
    // locked page.
    let locked_at = result["failures"].as_u64().expect("failures");
    assert!(
        locked_at == u64::from(limit) || locked_at == u64::from(limit) + 1,
        "locked page at attempt {locked_at}, limit {limit}"
    );
    assert_eq!(result["locked_status"], json!(429));
    let claims = su.redeem(&callback_of(&result), req).await;
    assert_eq!(claims.subject().as_str(), user.id.as_str());
}

/// (e) Home-realm discovery to a passwordless `email` connection: identifier → code page
/// (wrong code, new code) → the emailed code → consent → callback; the ID token names the
/// user, whose address is now verified.
async fn passwordless(locale: &str) {
    let su = setup(false, true).await;
    let email = format!("dana.{locale}@acme.example");
    let token =
        su.s.mgmt_token(kit::TENANT, &["create:connections", "create:users"])
            .await;
    let conns = format!("/t/{}/api/v2/connections", kit::TENANT);
    let r =
        su.s.client
            .send(
                "POST",
                &conns,
                &token,
                Some(&json!({"name": "acme-email", "strategy": "email"})),
            )
            .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let conn = ConnectionId::parse(r.json()["id"].as_str().unwrap()).unwrap();
    let users = format!("/t/{}/api/v2/users", kit::TENANT);
    let r =
        su.s.client
            .send(
                "POST",
                &users,
                &token,
                Some(&json!({"email": email, "connection": "acme-email"})),
            )
            .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let user_id = r.json()["user_id"].as_str().unwrap().to_owned();
    let fx = su.s.fixtures(kit::TENANT);
    let acme = fx.org("acme", &[]).await;
    let tenant = fx.tenant().await;
    let mut tx = su.s.core.store.begin().await.unwrap();
    tx.org_connection_insert(&OrgConnection {
        tenant_id: tenant.id.clone(),
        org_id: acme.id.clone(),
        connection_id: conn.clone(),
        assign_membership_on_login: true,
        show_as_button: false,
        created_at: su.s.core.now(),
    })
    .await
    .unwrap();
    tx.org_domain_insert(&OrgDomain {
        tenant_id: tenant.id.clone(),
        domain: "acme.example".into(),
        org_id: acme.id.clone(),
        connection_id: Some(conn),
        created_at: su.s.core.now(),
    })
    .await
    .unwrap();
    tx.commit().await.unwrap();
    let req = Request::new();
    let input = su.input(
        &req,
        locale,
        json!({ "email": email, "app_name": APP_NAME, "scope_words": SCOPE_WORDS }),
    );
    let result = run_flow("passwordless.mjs", &input).await;
    let claims = su.redeem(&callback_of(&result), req).await;
    assert_eq!(claims.subject().as_str(), user_id);
    assert_eq!(claims.email().map(|e| e.as_str()), Some(email.as_str()));
    assert_eq!(claims.email_verified(), Some(true), "verified by the code");
}

/// Error pages in the chosen language: 4xx, what happened, what to do, no internals.
async fn errors(locale: &str) {
    let su = setup(false, false).await;
    let req = Request::new();
    run_flow("errors.mjs", &su.input(&req, locale, json!({}))).await;
}

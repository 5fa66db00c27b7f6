//! Consent for third-party applications.

use clavis_core::Core;
use clavis_core::model::Tenant;
use clavis_core::oauth::{AuthorizeParams, ValidAuthorize};
use clavis_core::service::lifecycle::ScopeWords;
use clavis_testkit::{Backend, TestServer};
use clavis_types::OrganizationUsage;

use crate::{GOOD, events, meta, start};

const CALLBACK: &str = "https://app.example/callback";

async fn request(
    s: &TestServer,
    t: &Tenant,
    client_id: &str,
    scope: &str,
    audience: Option<&str>,
    prompt: Option<&str>,
) -> ValidAuthorize {
    let p = AuthorizeParams {
        response_type: Some("code".into()),
        client_id: Some(client_id.into()),
        redirect_uri: Some(CALLBACK.into()),
        scope: Some(scope.into()),
        code_challenge: Some("E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM".into()),
        code_challenge_method: Some("S256".into()),
        audience: audience.map(str::to_owned),
        prompt: prompt.map(str::to_owned),
        ..AuthorizeParams::default()
    };
    s.core.validate_authorize(t, &p).await.unwrap()
}

async fn needed(
    core: &Core,
    t: &Tenant,
    v: &ValidAuthorize,
    u: &clavis_core::model::User,
) -> Option<Vec<String>> {
    core.consent_needed(t, v, u).await.unwrap()
}

fn strings(v: &[&str]) -> Option<Vec<String>> {
    Some(v.iter().map(|s| (*s).to_owned()).collect())
}

pub async fn consent_is_asked_only_for_third_party_apps_and_new_scopes(b: Backend) {
    let (s, t) = start(b).await;
    let fx = s.fixtures("default");
    let user = fx.user("ada@example.com", GOOD).await;
    let first = fx.spa_app(&[CALLBACK], OrganizationUsage::Allow).await;
    let third = fx.spa_app(&[CALLBACK], OrganizationUsage::Allow).await;
    fx.edit_app(&third, |a| a.is_first_party = false).await;

    // First party: never asked, even with prompt=consent.
    let v = request(&s, &t, &first, "openid profile email", None, None).await;
    assert_eq!(needed(&s.core, &t, &v, &user).await, None);
    let v = request(&s, &t, &first, "openid profile", None, Some("consent")).await;
    assert_eq!(needed(&s.core, &t, &v, &user).await, None);

    // Third party: `openid` alone never asks; other scopes do until agreed.
    let v = request(&s, &t, &third, "openid", None, None).await;
    assert_eq!(needed(&s.core, &t, &v, &user).await, None);
    let v = request(&s, &t, &third, "openid profile email", None, None).await;
    assert_eq!(
        needed(&s.core, &t, &v, &user).await,
        strings(&["profile", "email"])
    );
    s.core.grant_consent(&t, &v, &user, &meta()).await.unwrap();
    assert_eq!(needed(&s.core, &t, &v, &user).await, None);
    // A subset is covered; only a new scope is asked about, and agreeing merges.
    let v = request(&s, &t, &third, "openid email", None, None).await;
    assert_eq!(needed(&s.core, &t, &v, &user).await, None);
    let v = request(&s, &t, &third, "openid profile offline_access", None, None).await;
    assert_eq!(
        needed(&s.core, &t, &v, &user).await,
        strings(&["offline_access"])
    );
    s.core.grant_consent(&t, &v, &user, &meta()).await.unwrap();
    let v = request(
        &s,
        &t,
        &third,
        "openid profile email offline_access",
        None,
        None,
    )
    .await;
    assert_eq!(needed(&s.core, &t, &v, &user).await, None);
    // prompt=consent asks again about everything requested.
    let v = request(&s, &t, &third, "openid email", None, Some("consent")).await;
    assert_eq!(
        needed(&s.core, &t, &v, &user).await,
        strings(&["openid", "email"])
    );

    // Consent is per user and per application.
    let bob = fx.user("bob@example.com", GOOD).await;
    let v = request(&s, &t, &third, "openid profile", None, None).await;
    assert_eq!(needed(&s.core, &t, &v, &bob).await, strings(&["profile"]));
    let another = fx.spa_app(&[CALLBACK], OrganizationUsage::Allow).await;
    fx.edit_app(&another, |a| a.is_first_party = false).await;
    let v = request(&s, &t, &another, "openid profile", None, None).await;
    assert_eq!(needed(&s.core, &t, &v, &user).await, strings(&["profile"]));

    let e = events(&s.core, &t, &["user.consent.granted"]).await;
    assert_eq!(e.len(), 2);
    assert_eq!(e[1]["context"]["client_id"], third.as_str());
    assert_eq!(e[1]["context"]["scope"], "openid profile email");
    assert_eq!(e[1]["context"]["user_id"], user.id.as_str());
}

pub async fn api_scopes_are_described_and_agreed_per_api(b: Backend) {
    let (s, t) = start(b).await;
    let fx = s.fixtures("default");
    let user = fx.user("ada@example.com", GOOD).await;
    let app = fx.spa_app(&[CALLBACK], OrganizationUsage::Allow).await;
    fx.edit_app(&app, |a| a.is_first_party = false).await;
    let api = fx
        .api("https://orders.example", &["read:orders", "write:orders"])
        .await;
    {
        let mut perms = api.permissions.clone();
        perms[0].description = "See your orders".into();
        let mut tx = s.core.store.begin().await.unwrap();
        tx.api_permissions_set(&t.id, &api.id, &perms)
            .await
            .unwrap();
        tx.commit().await.unwrap();
    }
    let v = request(
        &s,
        &t,
        &app,
        "openid profile read:orders",
        Some("https://orders.example"),
        None,
    )
    .await;
    assert_eq!(
        needed(&s.core, &t, &v, &user).await,
        strings(&["profile", "read:orders"])
    );
    assert_eq!(
        Core::describe_scope(&v, "openid"),
        ScopeWords::Key("scope.openid")
    );
    assert_eq!(
        Core::describe_scope(&v, "profile"),
        ScopeWords::Key("scope.profile")
    );
    assert_eq!(
        Core::describe_scope(&v, "email"),
        ScopeWords::Key("scope.email")
    );
    assert_eq!(
        Core::describe_scope(&v, "offline_access"),
        ScopeWords::Key("scope.offline_access")
    );
    assert_eq!(
        Core::describe_scope(&v, "read:orders"),
        ScopeWords::Text("See your orders".into())
    );
    assert_eq!(
        Core::describe_scope(&v, "write:orders"),
        ScopeWords::Text("write:orders".into())
    );
    s.core.grant_consent(&t, &v, &user, &meta()).await.unwrap();
    assert_eq!(needed(&s.core, &t, &v, &user).await, None);
    // OpenID Connect scopes agreed with one Api cover requests without it…
    let plain = request(&s, &t, &app, "openid profile", None, None).await;
    assert_eq!(needed(&s.core, &t, &plain, &user).await, None);
    // …while a new permission of the Api is asked about.
    let more = request(
        &s,
        &t,
        &app,
        "openid read:orders write:orders",
        Some("https://orders.example"),
        None,
    )
    .await;
    assert_eq!(
        needed(&s.core, &t, &more, &user).await,
        strings(&["write:orders"])
    );
    let e = events(&s.core, &t, &["user.consent.granted"]).await;
    assert_eq!(e[0]["context"]["audience"], "https://orders.example");
}

//! The login hooks: a `pre-user-registration` hook refusing or enriching signups, a
//! `post-login` hook refusing a login, and a failing hook refusing the signup.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use clavis_core::CoreError;
use clavis_core::oauth::AuthorizeParams;
use clavis_core::service::lifecycle::{
    LoginContext, LoginHooks, PostLoginDecision, RegistrationAttempt, RegistrationDecision,
    SignupError, SignupOutcome,
};
use clavis_testkit::Backend;
use clavis_types::OrganizationUsage;
use serde_json::{Map, json};

use crate::{GOOD, events, meta, outbox, start, user_by_email};

type Boxed<'a, T> = Pin<Box<dyn Future<Output = Result<T, CoreError>> + Send + 'a>>;

/// Refuses signups from `blocked.example`, tags the others, fails for `broken.example`,
/// and refuses logins of users named "Mallory".
#[derive(Debug)]
struct TestHooks;

// Written out as `#[async_trait]` expands it (the test crate does not depend on the macro).
impl LoginHooks for TestHooks {
    fn pre_user_registration<'life0, 'life1, 'life2, 'async_trait>(
        &'life0 self,
        attempt: &'life1 RegistrationAttempt<'life2>,
    ) -> Boxed<'async_trait, RegistrationDecision>
    where
        'life0: 'async_trait,
        'life1: 'async_trait,
        'life2: 'async_trait,
        Self: 'async_trait,
    {
        Box::pin(async move {
            if attempt.email.ends_with("@blocked.example") {
                return Ok(RegistrationDecision::Deny {
                    reason: "Signups from this domain are closed.".into(),
                });
            }
            if attempt.email.ends_with("@broken.example") {
                return Err(CoreError::Conflict("the hook crashed".into()));
            }
            Ok(RegistrationDecision::AllowWith {
                user_metadata: Map::from_iter([("plan".to_owned(), json!("free"))]),
                app_metadata: Map::from_iter([
                    ("signup_ip".to_owned(), json!(attempt.ip_address)),
                    ("locale".to_owned(), json!(attempt.locale)),
                ]),
            })
        })
    }

    fn post_login<'life0, 'life1, 'life2, 'async_trait>(
        &'life0 self,
        login: &'life1 LoginContext<'life2>,
    ) -> Boxed<'async_trait, PostLoginDecision>
    where
        'life0: 'async_trait,
        'life1: 'async_trait,
        'life2: 'async_trait,
        Self: 'async_trait,
    {
        Box::pin(async move {
            if login.user.profile.name.as_deref() == Some("Mallory") {
                return Ok(PostLoginDecision::Deny {
                    reason: format!("{} may not use {}", "Mallory", login.application.name),
                });
            }
            Ok(PostLoginDecision::Allow)
        })
    }
}

pub async fn hooks_can_deny_a_signup_and_a_login(b: Backend) {
    let (s, t) = start(b).await;
    let core = s.core.clone().with_hooks(Arc::new(TestHooks));
    let m = meta();
    let r = core
        .signup(&t, "eve@blocked.example", GOOD, None, "en", &m)
        .await;
    match r {
        Err(SignupError::Denied { reason }) => {
            assert_eq!(reason, "Signups from this domain are closed.");
        }
        other => panic!("expected Denied, got {other:?}"),
    }
    assert!(
        user_by_email(&s.core, &t, "eve@blocked.example")
            .await
            .is_none()
    );
    assert!(outbox(&s.core, &t, "eve@blocked.example").await.is_empty());

    // post-login: Mallory is refused, others pass; the refusal is audited.
    let fx = s.fixtures("default");
    let app = fx
        .spa_app(&["https://app.example/cb"], OrganizationUsage::Allow)
        .await;
    let p = AuthorizeParams {
        response_type: Some("code".into()),
        client_id: Some(app),
        redirect_uri: Some("https://app.example/cb".into()),
        scope: Some("openid".into()),
        code_challenge: Some("E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM".into()),
        code_challenge_method: Some("S256".into()),
        ..AuthorizeParams::default()
    };
    let v = core.validate_authorize(&t, &p).await.unwrap();
    let ada = fx.user("ada@example.com", GOOD).await;
    let mallory = fx.user("mallory@example.com", GOOD).await;
    fx.edit_user(&mallory, |u| u.profile.name = Some("Mallory".into()))
        .await;
    let mallory = user_by_email(&s.core, &t, "mallory@example.com")
        .await
        .unwrap();
    assert_eq!(
        core.run_post_login(&t, &v, &ada, &m).await.unwrap(),
        PostLoginDecision::Allow
    );
    assert_eq!(
        core.run_post_login(&t, &v, &mallory, &m).await.unwrap(),
        PostLoginDecision::Deny {
            reason: "Mallory may not use SPA".into()
        }
    );
    let e = events(&s.core, &t, &["user.login.denied"]).await;
    assert_eq!(e.len(), 1);
    assert_eq!(e[0]["context"]["user_id"], mallory.id.as_str());
    // Without hooks (the server's own core), everything is allowed.
    assert_eq!(
        s.core.run_post_login(&t, &v, &mallory, &m).await.unwrap(),
        PostLoginDecision::Allow
    );
}

pub async fn hooks_can_add_metadata_and_failures_refuse(b: Backend) {
    let (s, t) = start(b).await;
    let core = s.core.clone().with_hooks(Arc::new(TestHooks));
    let m = meta();
    let r = core
        .signup(&t, "ann@example.com", GOOD, None, "fr", &m)
        .await
        .unwrap();
    let SignupOutcome::Created { user, .. } = r else {
        panic!("expected Created, got {r:?}");
    };
    assert_eq!(user.user_metadata.get("plan"), Some(&json!("free")));
    assert_eq!(user.app_metadata.get("signup_ip"), Some(&json!(crate::IP)));
    assert_eq!(user.app_metadata.get("locale"), Some(&json!("fr")));
    let stored = user_by_email(&s.core, &t, "ann@example.com").await.unwrap();
    assert_eq!(stored.user_metadata, user.user_metadata);
    assert_eq!(stored.app_metadata, user.app_metadata);

    // A failing hook refuses the signup with a generic reason (its error is only logged).
    match core
        .signup(&t, "bo@broken.example", GOOD, None, "en", &m)
        .await
    {
        Err(SignupError::Denied { reason }) => assert!(!reason.contains("crashed"), "{reason}"),
        other => panic!("expected Denied, got {other:?}"),
    }
    assert!(
        user_by_email(&s.core, &t, "bo@broken.example")
            .await
            .is_none()
    );
}

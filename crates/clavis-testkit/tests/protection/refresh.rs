//! The refresh-token limit per user and application over HTTP: `429 Too Many Requests`
//! with `Retry-After` and an OAuth-shaped body, the refused token still usable once the
//! hour has passed; one application using up its allowance does not limit another.

use base64::Engine;
use clavis_core::model::{RefreshToken, TokenFamily, User};
use clavis_crypto::{b64url, sha256};
use clavis_testkit::{Backend, Client, Confidential, Reply, TestServer};
use clavis_types::FamilyId;

use crate::{EMAIL, PASSWORD, align, left_in_window};

/// A refresh token of a new token family of `user` at `app`, stored directly (the login
/// and code steps are covered elsewhere).
pub(crate) async fn refresh_token_for(s: &TestServer, app: &Confidential, user: &User) -> String {
    let now = s.core.now();
    let mut raw = [0u8; 32];
    s.core.rng.fill(&mut raw);
    let token = b64url(&raw);
    let family = TokenFamily {
        tenant_id: user.tenant_id.clone(),
        id: FamilyId::generate(now, &*s.core.rng),
        client_id: clavis_types::ClientId::parse(&app.client_id).unwrap(),
        user_id: user.id.clone(),
        org_id: None,
        session_id: None,
        scope: "openid offline_access".to_owned(),
        audience: None,
        auth_time: now,
        amr: vec!["pwd".to_owned()],
        created_at: now,
        absolute_expires_at: now.plus_secs(30 * 86_400),
        revoked_at: None,
        revoked_reason: None,
    };
    let mut tx = s.core.store.begin().await.unwrap();
    tx.family_insert(&family).await.unwrap();
    tx.refresh_insert(&RefreshToken {
        tenant_id: user.tenant_id.clone(),
        token_digest: sha256(token.as_bytes()).to_vec(),
        family_id: family.id.clone(),
        created_at: now,
        idle_expires_at: now.plus_secs(7 * 86_400),
        used_at: None,
    })
    .await
    .unwrap();
    tx.commit().await.unwrap();
    token
}

/// One refresh grant at the server behind `client`, as the confidential `app`.
pub(crate) async fn refresh(client: &Client, app: &Confidential, rt: &str) -> Reply {
    let basic = base64::engine::general_purpose::STANDARD
        .encode(format!("{}:{}", app.client_id, app.secret));
    client
        .post_form(
            "/t/default/oauth/token",
            &[("grant_type", "refresh_token"), ("refresh_token", rt)],
            &[("authorization", &format!("Basic {basic}"))],
        )
        .await
}

/// Refresh `n` times, rotating; returns the newest refresh token.
pub(crate) async fn refresh_times(
    client: &Client,
    app: &Confidential,
    mut rt: String,
    n: usize,
) -> String {
    for i in 0..n {
        let r = refresh(client, app, &rt).await;
        assert_eq!(r.status, 200, "refresh {i}: {}", r.body);
        rt = r.json()["refresh_token"].as_str().unwrap().to_owned();
    }
    rt
}

/// A 429 answer: `Retry-After` (returned), the OAuth-shaped body, no caching.
pub(crate) fn assert_too_many(r: &Reply) -> i64 {
    assert_eq!(r.status, 429, "{}", r.body);
    assert_eq!(r.json()["error"], "too_many_requests", "{}", r.body);
    assert!(
        r.json()["error_description"]
            .as_str()
            .unwrap()
            .contains("too many token refreshes"),
        "{}",
        r.body
    );
    assert_eq!(r.header("cache-control"), Some("no-store"));
    r.header("retry-after")
        .expect("Retry-After")
        .parse()
        .unwrap()
}

pub(crate) async fn refresh_limit_answers_429_with_retry_after(b: Backend) {
    let s = TestServer::start(b).await;
    let fx = s.fixtures("default");
    let alice = fx.user(EMAIL, PASSWORD).await;
    let bob = fx.user("bob@example.com", PASSWORD).await;
    let app = fx.web_app(&["https://rp.example.com/callback"], &[]).await;
    align(&[&s.clock], 3_600, 60);
    // Two families of alice share her limit of 30 per hour.
    let first = refresh_token_for(&s, &app, &alice).await;
    let second = refresh_token_for(&s, &app, &alice).await;
    refresh_times(&s.client, &app, first, 20).await;
    let rt = refresh_times(&s.client, &app, second, 10).await;
    let refused = refresh(&s.client, &app, &rt).await;
    assert_eq!(assert_too_many(&refused), 3_540);
    assert_eq!(left_in_window(&s.core, 3_600), 3_540);
    // Bob is not affected; an unknown token is still the usual invalid_grant.
    let bob_rt = refresh_token_for(&s, &app, &bob).await;
    refresh_times(&s.client, &app, bob_rt, 1).await;
    let r = refresh(&s.client, &app, "made-up-token").await;
    assert_eq!(r.status, 400, "{}", r.body);
    assert_eq!(r.json()["error"], "invalid_grant");
    // Later in the hour: still refused, with a shorter wait.
    s.clock.advance_secs(3_000);
    assert_eq!(assert_too_many(&refresh(&s.client, &app, &rt).await), 540);
    // The refused token was not spent: it works once the hour is over.
    s.clock.advance_secs(540);
    refresh_times(&s.client, &app, rt, 1).await;
}

pub(crate) async fn refresh_limit_is_per_application(backend: Backend) {
    let s = TestServer::start(backend).await;
    let fx = s.fixtures("default");
    let alice = fx.user(EMAIL, PASSWORD).await;
    let a = fx.web_app(&["https://a.example.com/callback"], &[]).await;
    let b = fx.web_app(&["https://b.example.com/callback"], &[]).await;
    align(&[&s.clock], 3_600, 60);
    // Application A uses up alice's 30 refreshes an hour at A…
    let rt_a = refresh_token_for(&s, &a, &alice).await;
    let rt_a = refresh_times(&s.client, &a, rt_a, 30).await;
    assert_eq!(assert_too_many(&refresh(&s.client, &a, &rt_a).await), 3_540);
    // …and application B still has all of its own.
    let rt_b = refresh_token_for(&s, &b, &alice).await;
    let rt_b = refresh_times(&s.client, &b, rt_b, 30).await;
    assert_too_many(&refresh(&s.client, &b, &rt_b).await);
    // A is still refused; both work again the next hour.
    assert_too_many(&refresh(&s.client, &a, &rt_a).await);
    s.clock.advance_secs(3_540);
    refresh_times(&s.client, &a, rt_a, 1).await;
    refresh_times(&s.client, &b, rt_b, 1).await;
}

//! Regressions for problems found in review: nested pool use under concurrent
//! introspection, stale RBAC scope after refresh, introspection limited to the token's
//! client or its resource servers, control characters in `return_to`, request objects,
//! and logout requested by POST.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use clavis_testkit::{Backend, Landing, TestServer};
use common::*;

clavis_testkit::on_both!(
    concurrent_introspection_does_not_exhaust_the_pool,
    refresh_drops_scopes_whose_permission_was_removed,
    introspection_only_for_the_token_client_or_its_resource_server,
    control_characters_in_return_to_are_refused,
    request_objects_are_refused_not_ignored,
    authorization_requests_may_be_posted,
);

const CB: &str = "https://rp.example.com/cb";
const API: &str = "https://api.example.com";

fn pkce() -> (String, String) {
    let verifier = "v".repeat(43) + "0123456789";
    let challenge = clavis_crypto::b64url(&clavis_crypto::sha256(verifier.as_bytes()));
    (verifier, challenge)
}

/// Log in through the browser and exchange the code; returns the token response JSON.
async fn code_tokens(
    s: &TestServer,
    client_id: &str,
    secret: &str,
    scope: &str,
) -> serde_json::Value {
    let (verifier, challenge) = pkce();
    let url = format!(
        "/t/default/authorize?response_type=code&client_id={client_id}&redirect_uri={}&scope={}&state=s&code_challenge={challenge}&code_challenge_method=S256&audience={}",
        clavis_testkit::urlencode(CB),
        clavis_testkit::urlencode(scope),
        clavis_testkit::urlencode(API)
    );
    let mut b = s.browser();
    let Landing::Left(back) = b
        .authorize(&url, "alice@example.com", "correct horse battery")
        .await
    else {
        panic!("no redirect")
    };
    let code = query_of(&back)["code"].clone();
    let basic = format!("Basic {}", base64_basic(client_id, secret));
    let r = s
        .client
        .post_form(
            "/t/default/oauth/token",
            &[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", CB),
                ("code_verifier", &verifier),
            ],
            &[("authorization", &basic)],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    r.json()
}

fn base64_basic(id: &str, secret: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(format!("{id}:{secret}"))
}

async fn concurrent_introspection_does_not_exhaust_the_pool(b: Backend) {
    let s = TestServer::start(b).await;
    let fx = s.fixtures("default");
    let api = fx.api(API, &["read:docs"]).await;
    let m2m = fx
        .m2m_app(&api, &["read:docs"], "client_secret_basic", None)
        .await;
    let basic = format!("Basic {}", base64_basic(&m2m.client_id, &m2m.secret));
    let t = s
        .client
        .post_form(
            "/t/default/oauth/token",
            &[("grant_type", "client_credentials"), ("audience", API)],
            &[("authorization", &basic)],
        )
        .await
        .json();
    let token = t["access_token"].as_str().unwrap().to_owned();
    let started = std::time::Instant::now();
    let calls: Vec<_> = (0..40)
        .map(|_| {
            let c = s.client.clone();
            let (token, basic) = (token.clone(), basic.clone());
            tokio::spawn(async move {
                c.post_form(
                    "/t/default/oauth/introspect",
                    &[("token", &token)],
                    &[("authorization", &basic)],
                )
                .await
            })
        })
        .collect();
    for c in calls {
        let r = c.await.unwrap();
        assert_eq!(r.status, 200, "{}", r.body);
        assert_eq!(r.json()["active"], true);
    }
    assert!(
        started.elapsed() < std::time::Duration::from_secs(8),
        "introspection stalled: {:?}",
        started.elapsed()
    );
}

async fn refresh_drops_scopes_whose_permission_was_removed(b: Backend) {
    let s = TestServer::start(b).await;
    let fx = s.fixtures("default");
    let api = fx.api(API, &["read:docs"]).await;
    let user = fx.user("alice@example.com", "correct horse battery").await;
    let role = fx.role("reader", &api, &["read:docs"], &user, None).await;
    let web = fx.web_app(&[CB], &[]).await;
    let t = code_tokens(
        &s,
        &web.client_id,
        &web.secret,
        "openid offline_access read:docs",
    )
    .await;
    assert!(
        payload(t["access_token"].as_str().unwrap())["scope"]
            .as_str()
            .unwrap()
            .contains("read:docs")
    );
    // the role is taken away
    let tenant = s.core.tenant_by_slug("default").await.unwrap();
    let mut tx = s.core.store.begin().await.unwrap();
    assert!(
        tx.user_role_remove(&tenant.id, &user.id, &role.id)
            .await
            .unwrap()
    );
    tx.commit().await.unwrap();
    let basic = format!("Basic {}", base64_basic(&web.client_id, &web.secret));
    let r = s
        .client
        .post_form(
            "/t/default/oauth/token",
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", t["refresh_token"].as_str().unwrap()),
            ],
            &[("authorization", &basic)],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let at = payload(r.json()["access_token"].as_str().unwrap());
    assert!(!at["scope"].as_str().unwrap().contains("read:docs"), "{at}");
    assert_eq!(at["permissions"], serde_json::json!([]));
    assert!(!r.json()["scope"].as_str().unwrap().contains("read:docs"));
}

async fn introspection_only_for_the_token_client_or_its_resource_server(b: Backend) {
    let s = TestServer::start(b).await;
    let fx = s.fixtures("default");
    let api = fx.api(API, &["read:docs"]).await;
    let other_api = fx.api("https://other.example.com", &["x"]).await;
    let owner = fx
        .m2m_app(&api, &["read:docs"], "client_secret_basic", None)
        .await;
    let resource_server = fx.m2m_app(&api, &[], "client_secret_basic", None).await;
    let stranger = fx
        .m2m_app(&other_api, &["x"], "client_secret_basic", None)
        .await;
    let basic = |c: &clavis_testkit::Confidential| {
        format!("Basic {}", base64_basic(&c.client_id, &c.secret))
    };
    let t = s
        .client
        .post_form(
            "/t/default/oauth/token",
            &[("grant_type", "client_credentials"), ("audience", API)],
            &[("authorization", &basic(&owner))],
        )
        .await
        .json();
    let token = t["access_token"].as_str().unwrap().to_owned();
    for (who, active) in [(&owner, true), (&resource_server, true), (&stranger, false)] {
        let r = s
            .client
            .post_form(
                "/t/default/oauth/introspect",
                &[("token", &token)],
                &[("authorization", &basic(who))],
            )
            .await;
        assert_eq!(r.status, 200);
        assert_eq!(r.json()["active"], active, "{}", r.body);
        if !active {
            assert!(r.json().get("sub").is_none(), "nothing leaks: {}", r.body);
        }
    }
}

async fn control_characters_in_return_to_are_refused(b: Backend) {
    let s = TestServer::start(b).await;
    let fx = s.fixtures("default");
    fx.user("alice@example.com", "correct horse battery").await;
    let page = s
        .client
        .get(&format!(
            "/t/default/login?return_to={}",
            clavis_testkit::urlencode("/t/default/authorize?a=b")
        ))
        .await;
    let cookie = page
        .header("set-cookie")
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    let csrf = clavis_testkit::hidden(&page.body, "csrf");
    let r = s
        .client
        .post_form(
            "/t/default/login",
            &[
                ("csrf", &csrf),
                ("return_to", "/t/default/authorize?a=\u{1}"),
                ("email", "alice@example.com"),
                ("password", "correct horse battery"),
            ],
            &[("cookie", &cookie)],
        )
        .await;
    assert_eq!(r.status, 400, "{}", r.body);
}

async fn request_objects_are_refused_not_ignored(b: Backend) {
    let s = TestServer::start(b).await;
    let fx = s.fixtures("default");
    let web = fx.web_app(&[CB], &[]).await;
    let (_, challenge) = pkce();
    let r = s
        .client
        .get(&format!(
            "/t/default/authorize?response_type=code&client_id={}&redirect_uri={}&state=st&code_challenge={challenge}&code_challenge_method=S256&request=eyJhbGciOiJub25lIn0.e30.",
            web.client_id,
            clavis_testkit::urlencode(CB)
        ))
        .await;
    assert!(r.status == 302 || r.status == 303, "{}", r.status);
    let q = query_of(r.header("location").unwrap());
    assert_eq!(q["error"], "request_not_supported");
    assert_eq!(q["state"], "st");
}

async fn authorization_requests_may_be_posted(b: Backend) {
    let s = TestServer::start(b).await;
    let fx = s.fixtures("default");
    let web = fx.web_app(&[CB], &[]).await;
    let (_, challenge) = pkce();
    let form = |prompt: &'static str| {
        vec![
            ("response_type", "code".to_owned()),
            ("client_id", web.client_id.clone()),
            ("redirect_uri", CB.to_owned()),
            ("state", "st".to_owned()),
            ("code_challenge", challenge.clone()),
            ("code_challenge_method", "S256".to_owned()),
            ("prompt", prompt.to_owned()),
        ]
    };
    let post = |f: Vec<(&'static str, String)>| {
        let c = s.client.clone();
        async move {
            let pairs: Vec<(&str, &str)> = f.iter().map(|(k, v)| (*k, v.as_str())).collect();
            c.post_form("/t/default/authorize", &pairs, &[]).await
        }
    };
    // prompt=none without a session: the same error redirect as for GET
    let r = post(form("none")).await;
    let q = query_of(r.header("location").unwrap());
    assert_eq!(
        (q["error"].as_str(), q["state"].as_str()),
        ("login_required", "st")
    );
    // otherwise: to the login page, which returns to an equivalent GET request
    let r = post(form("login")).await;
    let loc = r.header("location").unwrap();
    assert!(loc.starts_with("/t/default/login?return_to="), "{loc}");
    let rt = query_of(loc)["return_to"].clone();
    assert!(
        rt.starts_with("/t/default/authorize?")
            && rt.contains(&web.client_id)
            && !rt.contains("prompt"),
        "{rt}"
    );
}

//! The OpenID Provider end to end with an independent client library (the `openidconnect`
//! crate): discovery, authorization code + PKCE with a real login, ID token validation,
//! userinfo, refresh rotation, client credentials — on SQLite and on PostgreSQL.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use clavis_testkit::{Backend, Landing, TestServer};
use common::*;
use openidconnect::core::{
    CoreAuthenticationFlow, CoreClient, CoreProviderMetadata, CoreUserInfoClaims,
};
use openidconnect::{
    AuthorizationCode, ClientId, ClientSecret, CsrfToken, IssuerUrl, Nonce, OAuth2TokenResponse,
    PkceCodeChallenge, RedirectUrl, Scope, TokenResponse,
};

clavis_testkit::on_both!(
    code_flow_with_pkce_refresh_and_userinfo,
    client_credentials_with_an_independent_client,
    discovery_is_complete_and_truthful,
);

const CB: &str = "https://rp.example.com/callback";
const API: &str = "https://api.example.com";

async fn code_flow_with_pkce_refresh_and_userinfo(b: Backend) {
    let s = TestServer::start(b).await;
    let fx = s.fixtures("default");
    let api = fx.api(API, &["read:docs", "write:docs"]).await;
    let user = fx.user("alice@example.com", "correct horse battery").await;
    fx.role("reader", &api, &["read:docs"], &user, None).await;
    let app = fx.web_app(&[CB], &[]).await;
    let issuer = s.issuer("default");

    let meta = CoreProviderMetadata::discover_async(IssuerUrl::new(issuer.clone()).unwrap(), &http)
        .await
        .unwrap();
    let client = CoreClient::from_provider_metadata(
        meta,
        ClientId::new(app.client_id.clone()),
        Some(ClientSecret::new(app.secret.clone())),
    )
    .set_redirect_uri(RedirectUrl::new(CB.into()).unwrap());
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let (url, csrf, nonce) = client
        .authorize_url(
            CoreAuthenticationFlow::AuthorizationCode,
            CsrfToken::new_random,
            Nonce::new_random,
        )
        .add_scope(Scope::new("profile".into()))
        .add_scope(Scope::new("email".into()))
        .add_scope(Scope::new("offline_access".into()))
        .add_scope(Scope::new("read:docs".into()))
        .add_scope(Scope::new("write:docs".into()))
        .add_extra_param("audience", API)
        .set_pkce_challenge(challenge)
        .url();

    let mut browser = s.browser();
    let Landing::Left(back) = browser
        .authorize(url.as_str(), "alice@example.com", "correct horse battery")
        .await
    else {
        panic!("the flow did not return to the client")
    };
    let q = query_of(&back);
    assert!(back.starts_with(CB), "{back}");
    assert_eq!(
        q.get("state").map(String::as_str),
        Some(csrf.secret().as_str())
    );
    assert_eq!(
        q.get("iss"),
        Some(&issuer),
        "RFC 9207 iss in the authorization response"
    );
    let code = q["code"].clone();

    let tokens = client
        .exchange_code(AuthorizationCode::new(code))
        .unwrap()
        .set_pkce_verifier(verifier)
        .request_async(&http)
        .await
        .unwrap();
    // The ID token verifies with the library: signature from the JWKS, iss, aud, exp, nonce.
    let id_token = tokens.id_token().expect("id token");
    let claims = id_token
        .claims(&client.id_token_verifier(), &nonce)
        .unwrap();
    assert_eq!(claims.subject().as_str(), user.id.as_str());
    assert_eq!(
        claims.email().map(|e| e.as_str()),
        Some("alice@example.com")
    );
    let raw_id = payload(&id_token.to_string());
    assert!(raw_id["auth_time"].is_i64() && raw_id["sid"].is_string());
    assert_eq!(raw_id["amr"], serde_json::json!(["pwd"]));
    // The access token: RFC 9068 shape, RBAC permissions, only the held Api scope.
    let at = tokens.access_token().secret().clone();
    assert_eq!(header(&at)["typ"], "at+jwt");
    let atc = payload(&at);
    assert_eq!(atc["iss"], issuer.as_str());
    assert_eq!(atc["sub"], user.id.as_str());
    assert_eq!(atc["client_id"], app.client_id.as_str());
    assert_eq!(
        atc["aud"],
        serde_json::json!([API, format!("{issuer}/userinfo")])
    );
    assert_eq!(atc["permissions"], serde_json::json!(["read:docs"]));
    let scope: Vec<&str> = atc["scope"].as_str().unwrap().split(' ').collect();
    assert!(
        scope.contains(&"read:docs") && !scope.contains(&"write:docs"),
        "{scope:?}"
    );
    assert!(
        atc["jti"].is_string()
            && atc["exp"].as_i64().unwrap() - atc["iat"].as_i64().unwrap() == 3600
    );

    let info: CoreUserInfoClaims = client
        .user_info(tokens.access_token().clone(), None)
        .unwrap()
        .request_async(&http)
        .await
        .unwrap();
    assert_eq!(info.subject().as_str(), user.id.as_str());
    assert_eq!(info.email().map(|e| e.as_str()), Some("alice@example.com"));

    // Refresh rotation: a new refresh token each time; the old one is dead.
    let rt1 = tokens
        .refresh_token()
        .expect("offline_access gives a refresh token")
        .clone();
    let t2 = client
        .exchange_refresh_token(&rt1)
        .unwrap()
        .request_async(&http)
        .await
        .unwrap();
    let rt2 = t2.refresh_token().expect("rotated").clone();
    assert_ne!(rt1.secret(), rt2.secret());
    assert!(t2.id_token().is_some());
    let t3 = client
        .exchange_refresh_token(&rt2)
        .unwrap()
        .request_async(&http)
        .await
        .unwrap();
    assert!(t3.refresh_token().is_some());

    // A second login-free authorization uses the session.
    let (challenge, _) = PkceCodeChallenge::new_random_sha256();
    let (url, _, _) = client
        .authorize_url(
            CoreAuthenticationFlow::AuthorizationCode,
            CsrfToken::new_random,
            Nonce::new_random,
        )
        .set_pkce_challenge(challenge)
        .url();
    assert!(
        matches!(browser.navigate(url.as_str()).await, Landing::Left(u) if u.contains("code="))
    );
}

async fn client_credentials_with_an_independent_client(b: Backend) {
    let s = TestServer::start(b).await;
    let fx = s.fixtures("default");
    let api = fx.api(API, &["read:reports", "write:reports"]).await;
    let m2m = fx
        .m2m_app(&api, &["read:reports"], "client_secret_basic", None)
        .await;
    let issuer = s.issuer("default");
    let meta = CoreProviderMetadata::discover_async(IssuerUrl::new(issuer.clone()).unwrap(), &http)
        .await
        .unwrap();
    let client = CoreClient::from_provider_metadata(
        meta,
        ClientId::new(m2m.client_id.clone()),
        Some(ClientSecret::new(m2m.secret.clone())),
    );
    let tokens = client
        .exchange_client_credentials()
        .unwrap()
        .add_extra_param("audience", API)
        .request_async(&http)
        .await
        .unwrap();
    let at = tokens.access_token().secret().clone();
    let c = payload(&at);
    assert_eq!(c["sub"], format!("{}@clients", m2m.client_id));
    assert_eq!(c["aud"], API);
    assert_eq!(c["scope"], "read:reports");
    assert_eq!(c["permissions"], serde_json::json!(["read:reports"]));
    assert_eq!(c["gty"], "client-credentials");
    assert_eq!(tokens.expires_in().map(|d| d.as_secs()), Some(3600));
    assert!(
        verify_with_jwks(&s, "default", &at).await,
        "the token verifies against the tenant's JWKS"
    );
    // client_secret_post works too when the client registered it
    let post = fx
        .m2m_app(&api, &["read:reports"], "client_secret_post", None)
        .await;
    let r = s
        .client
        .post_form(
            "/t/default/oauth/token",
            &[
                ("grant_type", "client_credentials"),
                ("audience", API),
                ("client_id", &post.client_id),
                ("client_secret", &post.secret),
            ],
            &[],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.header("cache-control"), Some("no-store"));
}

async fn discovery_is_complete_and_truthful(b: Backend) {
    let s = TestServer::start(b).await;
    let issuer = s.issuer("default");
    let d = s
        .client
        .get("/t/default/.well-known/openid-configuration")
        .await
        .json();
    assert_eq!(d["issuer"], issuer.as_str());
    for (k, path) in [
        ("authorization_endpoint", "/authorize"),
        ("token_endpoint", "/oauth/token"),
        ("userinfo_endpoint", "/userinfo"),
        ("jwks_uri", "/.well-known/jwks.json"),
        ("revocation_endpoint", "/oauth/revoke"),
        ("introspection_endpoint", "/oauth/introspect"),
        ("end_session_endpoint", "/oidc/logout"),
    ] {
        let url = d[k].as_str().unwrap_or_else(|| panic!("{k} missing"));
        assert_eq!(url, format!("{issuer}{path}"));
        // every advertised endpoint exists on the server (405/400/401 are fine, 404 is not)
        let rel = url.strip_prefix(&s.base_url).unwrap();
        assert_ne!(
            s.client.get(rel).await.status,
            404,
            "{k} is advertised but missing"
        );
    }
    assert_eq!(
        d["code_challenge_methods_supported"],
        serde_json::json!(["S256"])
    );
    assert_eq!(
        d["id_token_signing_alg_values_supported"],
        serde_json::json!(["RS256"])
    );
    assert_eq!(d["authorization_response_iss_parameter_supported"], true);
}

//! Custom domains end to end, on SQLite and PostgreSQL: registration through the
//! Management API, ownership proven by a TXT record served by the testkit's real DNS
//! server, then the tenant served at its domain (requests reach the server as through the
//! operator's proxy, carrying `Host: {domain}`): discovery, a full code + PKCE flow with
//! the `openidconnect` crate, `prompt=none` on the session set there. Adversarial: an
//! unverified domain is not routed, a custom domain never reaches another tenant, a tenant
//! registers a domain once, organization callers are refused, bad domains are 400, and a
//! token issued at another tenant's domain is refused. The rules around these (squatting,
//! `Host` headers, lengths, deleted domains) are in `custom_domains_rules.rs`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use clavis_core::service::management::api_keys::ORG_LEVEL_SCOPES;
use clavis_testkit::{Backend, DnsServer, Landing, MGMT_SCOPES, TestServer, proxied_client};
use common::*;
use openidconnect::core::{CoreAuthenticationFlow, CoreClient, CoreProviderMetadata};
use openidconnect::{
    AuthorizationCode, ClientId, ClientSecret, CsrfToken, IssuerUrl, Nonce, OAuth2TokenResponse,
    PkceCodeChallenge, RedirectUrl, Scope, TokenResponse,
};
mod custom_domains_kit;

use custom_domains_kit::*;
use serde_json::{Value, json};

clavis_testkit::on_both!(
    register_verify_and_serve_discovery,
    code_flow_and_prompt_none_at_the_custom_domain,
    a_custom_domain_reaches_only_its_tenant,
    registration_is_refused_for_bad_input_and_other_callers,
);

const CB: &str = "https://rp.example.com/callback";

/// Register `domain` for `tenant`, publish its TXT record and verify it: a ready domain.
async fn ready_domain(s: &TestServer, dns: &DnsServer, tenant: &str, domain: &str) -> Value {
    let token = s.mgmt_token(tenant, MGMT_SCOPES).await;
    let body = json!({ "domain": domain, "type": "self_managed_certs" });
    let r = call(s, tenant, "POST", "/custom-domains", &token, Some(body)).await;
    assert_eq!(r.status, 201, "{}", r.body);
    let d = r.json();
    let m = &d["verification"]["methods"][0];
    dns.add_txt(m["domain"].as_str().unwrap(), m["record"].as_str().unwrap());
    let id = d["custom_domain_id"].as_str().unwrap();
    let r = call(
        s,
        tenant,
        "POST",
        &format!("/custom-domains/{id}/verify"),
        &token,
        None,
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["status"], "ready", "{}", r.body);
    r.json()
}

async fn events(s: &TestServer, event_type: &str) -> Vec<Value> {
    let token = s.mgmt_token("default", &["read:logs"]).await;
    let r = call(
        s,
        "default",
        "GET",
        &format!("/logs?type={event_type}&order=asc"),
        &token,
        None,
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    r.json()["logs"].as_array().unwrap().clone()
}

async fn register_verify_and_serve_discovery(b: Backend) {
    let (s, dns) = start(b).await;
    let token = s.mgmt_token("default", MGMT_SCOPES).await;
    let at = s.client_at(DOMAIN);
    let body = json!({ "domain": "Login.ACME.example", "type": "self_managed_certs" });
    let r = call(&s, "default", "POST", "/custom-domains", &token, Some(body)).await;
    assert_eq!(r.status, 201, "{}", r.body);
    let d = r.json();
    let id = d["custom_domain_id"].as_str().unwrap().to_owned();
    assert!(id.starts_with("cd_"), "{id}");
    assert_eq!(d["domain"], DOMAIN, "stored lower case");
    assert_eq!(d["primary"], false);
    assert_eq!(d["status"], "pending_verification");
    assert_eq!(d["type"], "self_managed_certs");
    let m = &d["verification"]["methods"][0];
    assert_eq!(m["name"], "txt");
    assert_eq!(m["domain"], "_clavis-challenge.login.acme.example");
    let record = m["record"].as_str().unwrap().to_owned();
    let token_part = record.strip_prefix("clavis-domain-verification=").unwrap();
    assert!(token_part.len() >= 20, "{record}");

    // Pending: the host is not routed (the path has no route without the tenant prefix).
    let r = at.get("/.well-known/openid-configuration").await;
    assert_eq!(r.status, 404, "{}", r.body);

    // No TXT record yet.
    let verify = format!("/custom-domains/{id}/verify");
    let r = call(&s, "default", "POST", &verify, &token, None).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["status"], "pending_verification");
    let e = r.json()["error"].as_str().unwrap().to_owned();
    assert!(
        e.contains("no TXT record") && e.contains("_clavis-challenge.login.acme.example"),
        "{e}"
    );
    // A wrong record, and the right token with one character changed.
    dns.add_txt(
        "_clavis-challenge.login.acme.example",
        "clavis-domain-verification=wrong",
    );
    let mut near = record.clone();
    let last = near.pop().unwrap();
    near.push(if last == 'a' { 'b' } else { 'a' });
    dns.add_txt("_clavis-challenge.login.acme.example", &near);
    let r = call(&s, "default", "POST", &verify, &token, None).await;
    assert_eq!(r.json()["status"], "pending_verification", "{}", r.body);
    assert!(
        r.json()["error"]
            .as_str()
            .unwrap()
            .contains("2 TXT record(s) found"),
        "{}",
        r.body
    );
    assert!(events(&s, "custom_domain.verified").await.is_empty());
    let r = at.get("/.well-known/openid-configuration").await;
    assert_eq!(r.status, 404, "still not routed: {}", r.body);

    // The right record beside them: ready.
    dns.add_txt("_clavis-challenge.login.acme.example", &record);
    let r = call(&s, "default", "POST", &verify, &token, None).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let v = r.json();
    assert_eq!(v["status"], "ready", "{}", r.body);
    assert!(
        v["verified_at"].is_string() && v.get("error").is_none(),
        "{v}"
    );
    let r = call(
        &s,
        "default",
        "GET",
        &format!("/custom-domains/{id}"),
        &token,
        None,
    )
    .await;
    assert_eq!(r.json()["status"], "ready");
    let r = call(&s, "default", "GET", "/custom-domains", &token, None).await;
    assert_eq!(r.json().as_array().unwrap().len(), 1);
    for (kind, n) in [("custom_domain.created", 1), ("custom_domain.verified", 1)] {
        let ev = events(&s, kind).await;
        assert_eq!(ev.len(), n, "{kind}: {ev:?}");
        assert_eq!(ev[0]["context"]["domain"], DOMAIN, "{ev:?}");
    }

    // Discovery at the custom host names the custom issuer and its endpoints.
    let r = at.get("/.well-known/openid-configuration").await;
    assert_eq!(r.status, 200, "{}", r.body);
    let doc = r.json();
    assert_eq!(doc["issuer"], ISSUER);
    assert_eq!(doc["authorization_endpoint"], format!("{ISSUER}/authorize"));
    assert_eq!(doc["token_endpoint"], format!("{ISSUER}/oauth/token"));
    assert_eq!(doc["jwks_uri"], format!("{ISSUER}/.well-known/jwks.json"));
    assert_eq!(doc["end_session_endpoint"], format!("{ISSUER}/oidc/logout"));
    let r = at.get("/.well-known/jwks.json").await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        r.json(),
        serde_json::to_value(s.client.jwks("default").await).unwrap()
    );
    // The tenant's own prefix works at the domain too (the hosted pages' links use it).
    let r = at.get("/t/default/.well-known/openid-configuration").await;
    assert_eq!(r.json()["issuer"], ISSUER);
    // The canonical issuer is unchanged.
    let r = s
        .client
        .get("/t/default/.well-known/openid-configuration")
        .await;
    assert_eq!(r.json()["issuer"], s.issuer("default"));
    // `X-Forwarded-Host` does not route (only `Host` does).
    let r = s
        .client
        .get_with(
            "/.well-known/openid-configuration",
            &[("x-forwarded-host", DOMAIN)],
        )
        .await;
    assert_eq!(r.status, 404, "{}", r.body);
    let r = s
        .client
        .get_with(
            "/t/default/.well-known/openid-configuration",
            &[("x-forwarded-host", DOMAIN)],
        )
        .await;
    assert_eq!(r.json()["issuer"], s.issuer("default"));

    // Deleted: no longer served, audited.
    let r = call(
        &s,
        "default",
        "DELETE",
        &format!("/custom-domains/{id}"),
        &token,
        None,
    )
    .await;
    assert_eq!(r.status, 204, "{}", r.body);
    let r = at.get("/.well-known/openid-configuration").await;
    assert_eq!(r.status, 404, "{}", r.body);
    let r = call(
        &s,
        "default",
        "GET",
        &format!("/custom-domains/{id}"),
        &token,
        None,
    )
    .await;
    assert_eq!(r.status, 404, "{}", r.body);
    assert_eq!(events(&s, "custom_domain.deleted").await.len(), 1);
}

/// The `openidconnect` transport, reaching the server as its proxy.
async fn proxied(
    server: String,
    req: openidconnect::HttpRequest,
) -> Result<openidconnect::HttpResponse, HttpError> {
    let client = proxied_client(&server);
    let (parts, body) = req.into_parts();
    let mut rb = client
        .request(parts.method, parts.uri.to_string())
        .body(body);
    for (k, v) in &parts.headers {
        rb = rb.header(k, v);
    }
    let resp = rb.send().await.map_err(|e| HttpError(e.to_string()))?;
    let mut out = openidconnect::http::Response::builder().status(resp.status());
    for (k, v) in resp.headers() {
        out = out.header(k, v);
    }
    let bytes = resp.bytes().await.map_err(|e| HttpError(e.to_string()))?;
    out.body(bytes.to_vec())
        .map_err(|e| HttpError(e.to_string()))
}

async fn code_flow_and_prompt_none_at_the_custom_domain(b: Backend) {
    let (s, dns) = start(b).await;
    ready_domain(&s, &dns, "default", DOMAIN).await;
    let fx = s.fixtures("default");
    let user = fx.user("alice@example.com", "correct horse battery").await;
    let app = fx.web_app(&[CB], &[]).await;
    let server = s.base_url.clone();
    let http = move |req| proxied(server.clone(), req);

    let meta = CoreProviderMetadata::discover_async(IssuerUrl::new(ISSUER.into()).unwrap(), &http)
        .await
        .unwrap();
    let client = CoreClient::from_provider_metadata(
        meta,
        ClientId::new(app.client_id.clone()),
        Some(ClientSecret::new(app.secret.clone())),
    )
    .set_redirect_uri(RedirectUrl::new(CB.into()).unwrap());
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let (url, _csrf, nonce) = client
        .authorize_url(
            CoreAuthenticationFlow::AuthorizationCode,
            CsrfToken::new_random,
            Nonce::new_random,
        )
        .add_scope(Scope::new("email".into()))
        .set_pkce_challenge(challenge)
        .url();
    assert!(
        url.as_str().starts_with(&format!("{ISSUER}/authorize?")),
        "{url}"
    );

    let mut browser = s.browser_at(DOMAIN);
    // The login page at the domain: its CSRF cookie is scoped to the whole host, and its
    // form posts back to the same host (a relative path under the tenant's own prefix).
    let Landing::Page(login) = browser.navigate(url.as_str()).await else {
        panic!("the login page")
    };
    assert_eq!(login.status, 200, "{}", login.body);
    let csrf_cookie = login.header("set-cookie").unwrap().to_owned();
    assert!(csrf_cookie.contains("; Path=/;"), "{csrf_cookie}");
    assert!(
        login.body.contains("action=\"/t/default/login\""),
        "{}",
        login.body
    );
    let Landing::Left(back) = browser
        .authorize(url.as_str(), "alice@example.com", "correct horse battery")
        .await
    else {
        panic!("the flow did not return to the client")
    };
    let q = query_of(&back);
    assert!(back.starts_with(CB), "{back}");
    assert_eq!(
        q.get("iss").map(String::as_str),
        Some(ISSUER),
        "RFC 9207 iss"
    );

    let tokens = client
        .exchange_code(AuthorizationCode::new(q["code"].clone()))
        .unwrap()
        .set_pkce_verifier(verifier)
        .request_async(&http)
        .await
        .unwrap();
    // The library checks the ID token's signature (JWKS at the domain), iss, aud, nonce.
    let claims = tokens
        .id_token()
        .unwrap()
        .claims(&client.id_token_verifier(), &nonce)
        .unwrap();
    assert_eq!(claims.issuer().as_str(), ISSUER);
    assert_eq!(claims.subject().as_str(), user.id.as_str());
    let at = tokens.access_token().secret().clone();
    assert_eq!(payload(&at)["iss"], ISSUER);
    // The tenant accepts its token at the domain and at the canonical issuer.
    let bearer = format!("Bearer {at}");
    let r = s
        .client_at(DOMAIN)
        .get_with("/userinfo", &[("authorization", &bearer)])
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["sub"], user.id.as_str());
    let r = s
        .client
        .get_with("/t/default/userinfo", &[("authorization", &bearer)])
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    // A session: prompt=none at the domain sees the login made there.
    let (url, _, _) = client
        .authorize_url(
            CoreAuthenticationFlow::AuthorizationCode,
            CsrfToken::new_random,
            Nonce::new_random,
        )
        .add_extra_param("prompt", "none")
        .set_pkce_challenge(PkceCodeChallenge::new_random_sha256().0)
        .url();
    let Landing::Left(back) = browser.navigate(url.as_str()).await else {
        panic!("prompt=none did not return to the client")
    };
    let q = query_of(&back);
    assert!(q.contains_key("code") && !q.contains_key("error"), "{back}");
    assert_eq!(q.get("iss").map(String::as_str), Some(ISSUER));
    // Without the session, prompt=none answers login_required.
    let mut stranger = s.browser_at(DOMAIN);
    let Landing::Left(back) = stranger.navigate(url.as_str()).await else {
        panic!("prompt=none did not return to the client")
    };
    assert_eq!(
        query_of(&back).get("error").map(String::as_str),
        Some("login_required")
    );
    // The same request at the canonical issuer: cookies stay under the tenant's path.
    let canonical = url.as_str().replacen(ISSUER, &s.issuer("default"), 1);
    let Landing::Page(p) = s
        .browser()
        .navigate(&canonical.replace("prompt=none", "prompt=login"))
        .await
    else {
        panic!("the canonical login page")
    };
    let c = p.header("set-cookie").unwrap();
    assert!(c.contains("; Path=/t/default/;"), "{c}");
}

async fn a_custom_domain_reaches_only_its_tenant(b: Backend) {
    let (s, dns) = start(b).await;
    ready_domain(&s, &dns, "default", DOMAIN).await;
    s.fixtures("other").tenant().await;
    ready_domain(&s, &dns, "other", "id.other.example").await;
    let ours = s.client_at(DOMAIN);

    // Another tenant's paths through our domain: 404, whatever the spelling.
    assert_eq!(
        s.client
            .get("/t/other/.well-known/openid-configuration")
            .await
            .status,
        200
    );
    for p in [
        "/t/other/.well-known/openid-configuration",
        "/t/other/authorize?client_id=x",
        "/t/other/api/v2/custom-domains",
        "/t/%6Fther/.well-known/openid-configuration",
        "/t//other/.well-known/openid-configuration",
    ] {
        let r = ours.get(p).await;
        assert_eq!(r.status, 404, "{p}: {}", r.body);
    }
    // The installation's own pages are not under a tenant's domain either.
    assert_eq!(ours.get("/metrics").await.status, 404);
    assert_eq!(ours.get("/bootstrap").await.status, 404);

    // A token issued at tenant B's domain is refused at tenant A, canonical and custom.
    let fx = s.fixtures("other");
    let api = fx.api("https://api.other.example", &["read:x"]).await;
    let m2m = fx
        .m2m_app(&api, &["read:x"], "client_secret_post", None)
        .await;
    let r = s
        .client_at("id.other.example")
        .post_form(
            "/oauth/token",
            &[
                ("grant_type", "client_credentials"),
                ("client_id", &m2m.client_id),
                ("client_secret", &m2m.secret),
                ("audience", "https://api.other.example"),
            ],
            &[],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let theirs = r.json()["access_token"].as_str().unwrap().to_owned();
    assert_eq!(payload(&theirs)["iss"], "http://id.other.example");
    let bearer = format!("Bearer {theirs}");
    for (client, path) in [(&s.client, "/t/default/userinfo"), (&ours, "/userinfo")] {
        let r = client.get_with(path, &[("authorization", &bearer)]).await;
        assert_eq!(r.status, 401, "{path}: {}", r.body);
        assert_eq!(r.json()["error"], "invalid_token");
    }
    // Core's issuer check itself: only the tenant's own ready domains.
    let a = s.fixtures("default").tenant().await;
    let canonical = s.issuer("default");
    let core = &s.core;
    assert!(core.accepts_issuer(&a, &canonical, ISSUER).await.unwrap());
    assert!(core.accepts_issuer(&a, ISSUER, &canonical).await.unwrap());
    assert!(
        !core
            .accepts_issuer(&a, &canonical, "http://id.other.example")
            .await
            .unwrap()
    );
    assert!(
        !core
            .accepts_issuer(&a, ISSUER, &s.issuer("other"))
            .await
            .unwrap()
    );
    assert!(
        !core
            .accepts_issuer(&a, &canonical, "https://login.acme.example")
            .await
            .unwrap()
    );
    assert!(
        !core
            .accepts_issuer(&a, &canonical, "http://login.acme.example/")
            .await
            .unwrap()
    );
    // A domain registered but never verified is no issuer of the tenant.
    let token = s.mgmt_token("default", MGMT_SCOPES).await;
    let body = json!({ "domain": "pending.acme.example", "type": "self_managed_certs" });
    assert_eq!(
        call(&s, "default", "POST", "/custom-domains", &token, Some(body))
            .await
            .status,
        201
    );
    assert!(
        !core
            .accepts_issuer(&a, &canonical, "http://pending.acme.example")
            .await
            .unwrap()
    );
    assert_eq!(
        s.client_at("pending.acme.example")
            .get("/.well-known/jwks.json")
            .await
            .status,
        404
    );
}

async fn registration_is_refused_for_bad_input_and_other_callers(b: Backend) {
    let (s, _dns) = start(b).await;
    let token = s.mgmt_token("default", MGMT_SCOPES).await;
    let post = |d: Value| {
        let s = &s;
        let token = token.clone();
        async move { call(s, "default", "POST", "/custom-domains", &token, Some(d)).await }
    };
    let long = format!("{}.example", vec!["a".repeat(63); 4].join("."));
    for bad in [
        "10.0.0.1",
        "[::1]",
        "login.acme.example:8443",
        "*.acme.example",
        "127.0.0.1",
        "localhost",
        "acme..example",
        "-acme.example",
        "acme_x.example",
        long.as_str(),
        "",
    ] {
        let r = post(json!({ "domain": bad, "type": "self_managed_certs" })).await;
        assert_eq!(r.status, 400, "{bad}: {}", r.body);
        assert_eq!(r.json()["error"], "invalid_request", "{bad}");
        assert!(
            r.json()["error_description"]
                .as_str()
                .unwrap()
                .contains("domain"),
            "{bad}"
        );
    }
    let r = post(json!({ "domain": "a.acme.example", "type": "auth0_managed_certs" })).await;
    assert_eq!(r.status, 400, "{}", r.body);
    let r =
        post(json!({ "domain": "a.acme.example", "type": "self_managed_certs", "primary": true }))
            .await;
    assert_eq!(r.status, 400, "{}", r.body);
    let r = post(json!({ "domain": "A.Acme.Example.", "type": "self_managed_certs" })).await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(r.json()["domain"], "a.acme.example");
    // A tenant registers a domain once (other tenants may hold it pending too: see
    // `custom_domains_rules.rs`).
    let r = post(json!({ "domain": "a.acme.example", "type": "self_managed_certs" })).await;
    assert_eq!(r.status, 409, "{}", r.body);
    s.fixtures("other").tenant().await;
    let theirs = s.mgmt_token("other", MGMT_SCOPES).await;
    // Another tenant sees, verifies and deletes nothing of ours.
    let ours = call(&s, "default", "GET", "/custom-domains", &token, None)
        .await
        .json();
    let id = ours[0]["custom_domain_id"].as_str().unwrap().to_owned();
    for (m, p) in [
        ("GET", format!("/custom-domains/{id}")),
        ("POST", format!("/custom-domains/{id}/verify")),
        ("DELETE", format!("/custom-domains/{id}")),
    ] {
        let r = call(&s, "other", m, &p, &theirs, None).await;
        assert_eq!(r.status, 404, "{m} {p}: {}", r.body);
    }
    assert!(
        call(&s, "other", "GET", "/custom-domains", &theirs, None)
            .await
            .json()
            .as_array()
            .unwrap()
            .is_empty()
    );
    // Bad ids.
    let r = call(&s, "default", "GET", "/custom-domains/org_x", &token, None).await;
    assert_eq!(r.status, 400, "{}", r.body);
    // At most 20 per tenant.
    for i in 1..20 {
        let r =
            post(json!({ "domain": format!("d{i}.acme.example"), "type": "self_managed_certs" }))
                .await;
        assert_eq!(r.status, 201, "{i}: {}", r.body);
    }
    let r = post(json!({ "domain": "d20.acme.example", "type": "self_managed_certs" })).await;
    assert_eq!(r.status, 409, "{}", r.body);
    assert!(
        r.json()["error_description"]
            .as_str()
            .unwrap()
            .contains("20")
    );

    // Scopes, and organization callers: refused (a domain serves the whole tenant).
    let reader = s.mgmt_token("default", &["read:custom_domains"]).await;
    let body = json!({ "domain": "x.acme.example", "type": "self_managed_certs" });
    let r = call(
        &s,
        "default",
        "POST",
        "/custom-domains",
        &reader,
        Some(body.clone()),
    )
    .await;
    assert_eq!(r.status, 403, "{}", r.body);
    assert_eq!(
        call(&s, "default", "GET", "/custom-domains", &reader, None)
            .await
            .status,
        200
    );
    let org = s.fixtures("default").org("acme", &[]).await.id.to_string();
    let r = call(
        &s,
        "default",
        "POST",
        "/api-keys",
        &token,
        Some(json!({ "name": "org admin", "scopes": ORG_LEVEL_SCOPES, "org_id": org })),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let key = r.json()["key"].as_str().unwrap().to_owned();
    for (m, p, body) in [
        ("GET", "/custom-domains".to_owned(), None),
        ("POST", "/custom-domains".to_owned(), Some(body)),
        ("GET", format!("/custom-domains/{id}"), None),
        ("POST", format!("/custom-domains/{id}/verify"), None),
        ("DELETE", format!("/custom-domains/{id}"), None),
    ] {
        let r = call(&s, "default", m, &p, &key, body).await;
        assert_eq!(r.status, 403, "{m} {p}: {}", r.body);
    }
    let r = call(&s, "default", "GET", "/custom-domains", &token, None).await;
    assert_eq!(r.json().as_array().unwrap().len(), 20);
}

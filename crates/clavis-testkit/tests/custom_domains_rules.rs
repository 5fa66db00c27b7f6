//! Custom domains, the rules around the happy path, on SQLite and PostgreSQL: registering
//! claims nothing (a tenant cannot squat another's domain, and learns nothing of what
//! others registered; only verification, after proving DNS control, is refused while
//! another tenant holds the domain ready); the Management API at a domain without the
//! `/t/{slug}` prefix; the host read from origin-form requests' `Host` header (port, case
//! and a final dot normalised, several or invalid `Host` headers 400, the absolute-form
//! target winning); the domain length that still fits the TXT record's name; a token
//! minted at a domain refused once the domain is deleted; TXT records under the wrong
//! name; DNS failures reported without the resolver's detail.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use clavis_testkit::{Backend, DnsServer, MGMT_SCOPES, Reply, TestServer};
mod custom_domains_kit;

use custom_domains_kit::*;
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

clavis_testkit::on_both!(
    a_pending_registration_claims_nothing,
    the_management_api_at_a_custom_domain,
    the_host_header_of_origin_form_requests,
    several_or_invalid_host_headers_are_refused,
    domains_too_long_for_the_txt_record_are_refused,
    a_token_minted_at_a_deleted_domain_is_refused,
    txt_records_under_the_wrong_name_and_dns_failures,
);

/// Register `domain` for `tenant`: (id, TXT name, TXT value).
async fn register(s: &TestServer, tenant: &str, domain: &str) -> (String, String, String) {
    let token = s.mgmt_token(tenant, MGMT_SCOPES).await;
    let body = json!({ "domain": domain, "type": "self_managed_certs" });
    let r = call(s, tenant, "POST", "/custom-domains", &token, Some(body)).await;
    assert_eq!(r.status, 201, "{}", r.body);
    let d = r.json();
    let m = &d["verification"]["methods"][0];
    (
        d["custom_domain_id"].as_str().unwrap().to_owned(),
        m["domain"].as_str().unwrap().to_owned(),
        m["record"].as_str().unwrap().to_owned(),
    )
}

async fn verify(s: &TestServer, tenant: &str, id: &str) -> Reply {
    let token = s.mgmt_token(tenant, MGMT_SCOPES).await;
    let path = format!("/custom-domains/{id}/verify");
    call(s, tenant, "POST", &path, &token, None).await
}

/// Register, publish and verify: the domain's id.
async fn ready_domain(s: &TestServer, dns: &DnsServer, tenant: &str, domain: &str) -> String {
    let (id, name, record) = register(s, tenant, domain).await;
    dns.add_txt(&name, &record);
    let r = verify(s, tenant, &id).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["status"], "ready", "{}", r.body);
    id
}

/// Send `head` (request line and headers, without the final empty line) on a new
/// connection to the server; the status and the whole response text.
async fn raw(s: &TestServer, head: &str) -> (u16, String) {
    let addr = s.base_url.strip_prefix("http://").unwrap();
    let mut conn = tokio::net::TcpStream::connect(addr).await.unwrap();
    let req = format!("{head}\r\nConnection: close\r\n\r\n");
    conn.write_all(req.as_bytes()).await.unwrap();
    let mut buf = Vec::new();
    conn.read_to_end(&mut buf).await.unwrap();
    let text = String::from_utf8_lossy(&buf).into_owned();
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or_else(|| panic!("no status line: {text:?}"));
    (status, text)
}

async fn a_pending_registration_claims_nothing(b: Backend) {
    let (s, dns) = start(b).await;
    s.fixtures("other").tenant().await;
    // Tenant B registers A's domain first (and cannot verify it: no DNS control).
    let (squat, _, _) = register(&s, "other", DOMAIN).await;
    let r = verify(&s, "other", &squat).await;
    assert_eq!(r.json()["status"], "pending_verification", "{}", r.body);
    // A registers it anyway — no 409 telling A what B registered — and verifies it.
    ready_domain(&s, &dns, "default", DOMAIN).await;
    let at = s.client_at(DOMAIN);
    let r = at.get("/.well-known/openid-configuration").await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["issuer"], ISSUER);
    // B later proves DNS control too (the operator's record is public): still refused,
    // and the domain keeps serving A.
    let token = s.mgmt_token("other", MGMT_SCOPES).await;
    let theirs = call(
        &s,
        "other",
        "GET",
        &format!("/custom-domains/{squat}"),
        &token,
        None,
    )
    .await
    .json();
    let m = &theirs["verification"]["methods"][0];
    dns.add_txt(m["domain"].as_str().unwrap(), m["record"].as_str().unwrap());
    let r = verify(&s, "other", &squat).await;
    assert_eq!(r.status, 409, "{}", r.body);
    assert!(
        r.json()["error_description"]
            .as_str()
            .unwrap()
            .contains("already in use by another tenant"),
        "{}",
        r.body
    );
    let r = call(
        &s,
        "other",
        "GET",
        &format!("/custom-domains/{squat}"),
        &token,
        None,
    )
    .await;
    assert_eq!(r.json()["status"], "pending_verification", "{}", r.body);
    assert_eq!(
        at.get("/.well-known/openid-configuration").await.json()["issuer"],
        ISSUER
    );
    assert_eq!(
        at.get("/.well-known/jwks.json").await.json(),
        serde_json::to_value(s.client.jwks("default").await).unwrap()
    );
    // A tenant registers a domain once.
    let mine = s.mgmt_token("default", MGMT_SCOPES).await;
    let body = json!({ "domain": DOMAIN, "type": "self_managed_certs" });
    let r = call(&s, "default", "POST", "/custom-domains", &mine, Some(body)).await;
    assert_eq!(r.status, 409, "{}", r.body);
    // Once A deletes it, B's verification succeeds and the domain serves B.
    let a_id = call(&s, "default", "GET", "/custom-domains", &mine, None)
        .await
        .json()[0]["custom_domain_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let r = call(
        &s,
        "default",
        "DELETE",
        &format!("/custom-domains/{a_id}"),
        &mine,
        None,
    )
    .await;
    assert_eq!(r.status, 204, "{}", r.body);
    let r = verify(&s, "other", &squat).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["status"], "ready", "{}", r.body);
    assert_eq!(
        at.get("/.well-known/jwks.json").await.json(),
        serde_json::to_value(s.client.jwks("other").await).unwrap()
    );
}

async fn the_management_api_at_a_custom_domain(b: Backend) {
    let (s, dns) = start(b).await;
    let id = ready_domain(&s, &dns, "default", DOMAIN).await;
    let token = s.mgmt_token("default", MGMT_SCOPES).await;
    let at = s.client_at(DOMAIN);
    let r = at.send("GET", "/api/v2/custom-domains", &token, None).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()[0]["custom_domain_id"], id.as_str());
    let r = at
        .send("GET", &format!("/api/v2/custom-domains/{id}"), &token, None)
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["domain"], DOMAIN);
    // With the tenant's own prefix too; another tenant's token is refused here.
    let r = at
        .send("GET", "/t/default/api/v2/custom-domains", &token, None)
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    s.fixtures("other").tenant().await;
    let theirs = s.mgmt_token("other", MGMT_SCOPES).await;
    let r = at
        .send("GET", "/api/v2/custom-domains", &theirs, None)
        .await;
    assert_eq!(r.status, 401, "{}", r.body);
}

async fn the_host_header_of_origin_form_requests(b: Backend) {
    let (s, dns) = start(b).await;
    ready_domain(&s, &dns, "default", DOMAIN).await;
    let server = s.base_url.strip_prefix("http://").unwrap().to_owned();
    let disco = "/.well-known/openid-configuration";
    for host in [
        DOMAIN,
        "login.acme.example:8080",
        "LOGIN.Acme.EXAMPLE",
        "login.acme.example.",
        "Login.Acme.Example.:443",
    ] {
        let (status, text) = raw(&s, &format!("GET {disco} HTTP/1.1\r\nHost: {host}")).await;
        assert_eq!(status, 200, "{host}: {text}");
        assert!(
            text.contains(&format!("\"issuer\":\"{ISSUER}\"")),
            "{host}: {text}"
        );
    }
    // Not the domain: the canonical surface (no route without the tenant prefix).
    for host in ["login.acme.example.evil", "acme.example", server.as_str()] {
        let (status, text) = raw(&s, &format!("GET {disco} HTTP/1.1\r\nHost: {host}")).await;
        assert_eq!(status, 404, "{host}: {text}");
    }
    // The absolute-form target wins over `Host` (RFC 9112 §3.2.2), both ways.
    let (status, text) = raw(
        &s,
        &format!("GET http://{DOMAIN}{disco} HTTP/1.1\r\nHost: {server}"),
    )
    .await;
    assert_eq!(status, 200, "{text}");
    assert!(text.contains(&format!("\"issuer\":\"{ISSUER}\"")), "{text}");
    let (status, text) = raw(
        &s,
        &format!("GET http://{server}{disco} HTTP/1.1\r\nHost: {DOMAIN}"),
    )
    .await;
    assert_eq!(status, 404, "{text}");
    // `X-Forwarded-Host` never routes.
    let (status, text) = raw(
        &s,
        &format!("GET {disco} HTTP/1.1\r\nHost: {server}\r\nX-Forwarded-Host: {DOMAIN}"),
    )
    .await;
    assert_eq!(status, 404, "{text}");
}

async fn several_or_invalid_host_headers_are_refused(b: Backend) {
    let (s, dns) = start(b).await;
    ready_domain(&s, &dns, "default", DOMAIN).await;
    let server = s.base_url.strip_prefix("http://").unwrap().to_owned();
    let disco = "/t/default/.well-known/openid-configuration";
    // Sanity: one Host of the server's address is served.
    let (status, text) = raw(&s, &format!("GET {disco} HTTP/1.1\r\nHost: {server}")).await;
    assert_eq!(status, 200, "{text}");
    for hosts in [
        vec![DOMAIN, server.as_str()],
        vec![server.as_str(), DOMAIN],
        vec![DOMAIN, DOMAIN],
        vec!["user@login.acme.example"],
        vec!["login.acme.example/x"],
        vec!["login.acme.example:port"],
    ] {
        let head: String = hosts.iter().map(|h| format!("\r\nHost: {h}")).collect();
        let (status, text) = raw(&s, &format!("GET {disco} HTTP/1.1{head}")).await;
        assert_eq!(status, 400, "{hosts:?}: {text}");
    }
    let (status, text) = raw(
        &s,
        &format!("GET http://{DOMAIN}{disco} HTTP/1.1\r\nHost: {DOMAIN}\r\nHost: {server}"),
    )
    .await;
    assert_eq!(status, 400, "{text}");
}

async fn domains_too_long_for_the_txt_record_are_refused(b: Backend) {
    let (s, dns) = start(b).await;
    let token = s.mgmt_token("default", MGMT_SCOPES).await;
    let labels = |n: usize| {
        // `n` characters: labels of 63 and the rest, ending in `.example`.
        let mut d = String::from("example");
        while d.len() < n {
            let room = (n - d.len() - 1).min(63);
            d = format!("{}.{d}", "a".repeat(room));
        }
        assert_eq!(d.len(), n);
        d
    };
    let too_long = labels(236);
    let body = json!({ "domain": too_long, "type": "self_managed_certs" });
    let r = call(&s, "default", "POST", "/custom-domains", &token, Some(body)).await;
    assert_eq!(r.status, 400, "{}", r.body);
    let e = r.json()["error_description"].as_str().unwrap().to_owned();
    assert!(e.contains("235") && e.contains("_clavis-challenge"), "{e}");
    // 235 characters: the TXT record's name is 253, and the domain verifies.
    let longest = labels(235);
    let id = ready_domain(&s, &dns, "default", &longest).await;
    assert!(id.starts_with("cd_"));
}

async fn a_token_minted_at_a_deleted_domain_is_refused(b: Backend) {
    let (s, dns) = start(b).await;
    let id = ready_domain(&s, &dns, "default", DOMAIN).await;
    let fx = s.fixtures("default");
    let api = fx.api("https://api.acme.example", &["read:x"]).await;
    let m2m = fx
        .m2m_app(&api, &["read:x"], "client_secret_post", None)
        .await;
    let r = s
        .client_at(DOMAIN)
        .post_form(
            "/oauth/token",
            &[
                ("grant_type", "client_credentials"),
                ("client_id", &m2m.client_id),
                ("client_secret", &m2m.secret),
                ("audience", "https://api.acme.example"),
            ],
            &[],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let minted = r.json()["access_token"].as_str().unwrap().to_owned();
    let bearer = format!("Bearer {minted}");
    // While the domain is ready the canonical surface takes the token (it has no `openid`
    // scope, so userinfo answers 403 insufficient_scope, past the token's verification).
    let r = s
        .client
        .get_with("/t/default/userinfo", &[("authorization", &bearer)])
        .await;
    assert_eq!(r.status, 403, "{}", r.body);
    assert_eq!(r.json()["error"], "insufficient_scope", "{}", r.body);
    let token = s.mgmt_token("default", MGMT_SCOPES).await;
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
    // Same signing key, same tenant: only the issuer check refuses it now.
    let r = s
        .client
        .get_with("/t/default/userinfo", &[("authorization", &bearer)])
        .await;
    assert_eq!(r.status, 401, "{}", r.body);
    assert_eq!(r.json()["error"], "invalid_token", "{}", r.body);
}

async fn txt_records_under_the_wrong_name_and_dns_failures(b: Backend) {
    let (s, dns) = start(b).await;
    let (id, name, record) = register(&s, "default", DOMAIN).await;
    assert_eq!(name, "_clavis-challenge.login.acme.example");
    // The right value under the domain itself and under the parent's challenge name.
    dns.add_txt(DOMAIN, &record);
    dns.add_txt("_clavis-challenge.acme.example", &record);
    dns.add_txt("acme.example", &record);
    let r = verify(&s, "default", &id).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["status"], "pending_verification", "{}", r.body);
    assert!(
        r.json()["error"]
            .as_str()
            .unwrap()
            .contains("no TXT record"),
        "{}",
        r.body
    );
    assert_eq!(
        s.client_at(DOMAIN)
            .get("/.well-known/openid-configuration")
            .await
            .status,
        404
    );
    // The DNS server stops answering: a generic error, without the resolver's detail
    // (its nameserver's address).
    let dns_addr = dns.addr.to_string();
    drop(dns);
    let r = verify(&s, "default", &id).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let v = r.json();
    assert_eq!(v["status"], "pending_verification", "{v}");
    assert_eq!(v["error"], "the DNS lookup failed; try again later", "{v}");
    assert!(!r.body.contains(&dns_addr), "{}", r.body);
}

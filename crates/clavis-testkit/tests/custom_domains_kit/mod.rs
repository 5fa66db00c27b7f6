//! What the custom-domain tests share: a server whose TXT lookups go to a testkit DNS
//! server, the domain they register, and Management API calls by tenant.

use clavis_testkit::{Backend, DnsServer, Reply, TestServer};
use serde_json::Value;

pub const DOMAIN: &str = "login.acme.example";
pub const ISSUER: &str = "http://login.acme.example";

/// A server asking `DnsServer` for TXT records (`dns_nameserver`).
pub async fn start(b: Backend) -> (TestServer, DnsServer) {
    let dns = DnsServer::start().await;
    let addr = dns.addr.to_string();
    let s = TestServer::start_with(b, |c| c.dns_nameserver = Some(addr)).await;
    (s, dns)
}

/// `method {issuer of tenant}/api/v2{path}` with a bearer token.
pub async fn call(
    s: &TestServer,
    tenant: &str,
    method: &str,
    path: &str,
    token: &str,
    body: Option<Value>,
) -> Reply {
    s.client
        .send(
            method,
            &format!("/t/{tenant}/api/v2{path}"),
            token,
            body.as_ref(),
        )
        .await
}

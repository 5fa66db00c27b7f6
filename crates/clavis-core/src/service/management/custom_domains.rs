//! Custom domains mapped to a tenant (Auth0's "self-managed certificates": TLS terminates
//! at the operator's proxy, which passes the `Host` header). Once its ownership is proven
//! by a DNS TXT record, a domain serves the tenant with the issuer `{scheme}://{domain}`.
//!
//! Rules enforced here:
//! - a domain is a lower-cased DNS host name (letters, digits and hyphens in labels of
//!   1–63 characters, at least two labels, at most [`MAX_DOMAIN_LEN`] characters so that
//!   `_clavis-challenge.{domain}` is a valid DNS name), never an IP literal, a wildcard, a
//!   name with a port, or the host of the public URL;
//! - registering claims nothing: several tenants may hold the same domain pending (so no
//!   tenant can squat a domain, nor learn what others registered); a domain is `ready` for
//!   at most one tenant, checked when it is verified, after the caller proved control of
//!   its DNS (409 then); a tenant registers a domain once and has at most
//!   [`MAX_CUSTOM_DOMAINS_PER_TENANT`];
//! - verification looks up `_clavis-challenge.{domain}` and compares each TXT record with
//!   `clavis-domain-verification={token}` in constant time; only then is the domain
//!   `ready`, and only `ready` domains are routed ([`Core::custom_domain_route`]), from an
//!   install-wide in-memory snapshot refreshed at most every [`CUSTOM_DOMAIN_CACHE_SECS`]
//!   by one request at a time and reloaded at once on the node that changes a domain (an
//!   unknown host costs no database query, and a failed refresh keeps the last snapshot);
//! - a token verified by this tenant names an issuer this tenant accepts only when it is
//!   the canonical issuer or one of *this* tenant's ready domains
//!   ([`Core::accepts_issuer`]);
//! - every change appends `custom_domain.created|verified|deleted` in the same transaction.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, RwLock};

use clavis_types::{Clock, CustomDomainId, CustomDomainStatus, Timestamp, random_base32};
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::CoreError;
pub use crate::model::DomainRoute;
use crate::model::{CustomDomain, JsonMap, Tenant};
use crate::ports::{MarkReady, Tx};
use crate::service::{Core, RequestMeta};

/// Most custom domains one tenant may register.
pub const MAX_CUSTOM_DOMAINS_PER_TENANT: usize = 20;
/// How long the routing snapshot of `ready` domains is reused before a refresh: a change
/// made on another node is seen within this time.
pub const CUSTOM_DOMAIN_CACHE_SECS: i64 = 5;
/// The label in front of the domain where the TXT record is published.
pub const CHALLENGE_LABEL: &str = "_clavis-challenge";
/// The longest domain: `_clavis-challenge.{domain}` must fit in a DNS name's 253.
pub const MAX_DOMAIN_LEN: usize = 253 - CHALLENGE_LABEL.len() - 1;
/// The start of the TXT record's value.
pub const RECORD_PREFIX: &str = "clavis-domain-verification=";
/// The only kind of custom domain: TLS terminates at the operator's proxy.
pub const SELF_MANAGED: &str = "self_managed_certs";

type Routes = Arc<HashMap<String, Arc<DomainRoute>>>;

/// The install-wide routing snapshot: every `ready` domain → its tenant.
#[derive(Debug, Default)]
pub struct DomainSnapshot {
    routes: RwLock<Routes>,
    /// When a refresh was last tried (successful or not); `None` before the first one and
    /// after a failed reload following a change on this node.
    tried_at: Mutex<Option<Timestamp>>,
    /// Held by the one request that refreshes.
    refresh: tokio::sync::Mutex<()>,
}

impl DomainSnapshot {
    fn current(&self) -> Routes {
        self.routes.read().map(|r| r.clone()).unwrap_or_default()
    }

    fn tried_at(&self) -> Option<Timestamp> {
        self.tried_at.lock().ok().and_then(|t| *t)
    }

    fn fresh(&self, clock: &dyn Clock) -> bool {
        let now = clock.now().as_millis();
        self.tried_at().is_some_and(|at| {
            let at = at.as_millis();
            now >= at && now - at < CUSTOM_DOMAIN_CACHE_SECS * 1000
        })
    }

    fn set_tried(&self, at: Option<Timestamp>) {
        if let Ok(mut t) = self.tried_at.lock() {
            *t = at;
        }
    }
}

/// A custom domain to register.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CustomDomainInput {
    /// A host name such as `login.acme.example` (stored lower case).
    #[schema(max_length = 235)]
    pub domain: String,
    /// `self_managed_certs`: TLS terminates at your proxy, which passes the `Host` header.
    #[serde(rename = "type")]
    pub kind: String,
}

/// One way to prove ownership: publish `record` as a TXT record at `domain`.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct VerificationMethod {
    /// `txt`.
    pub name: String,
    /// The DNS name of the record, `_clavis-challenge.{domain}`.
    pub domain: String,
    /// The record's value.
    pub record: String,
}

/// How ownership of the domain is proven.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Verification {
    pub methods: Vec<VerificationMethod>,
}

/// A custom domain as the API shows it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct CustomDomainView {
    pub custom_domain_id: String,
    pub domain: String,
    /// Always `false`: the canonical issuer stays the tenant's primary one.
    pub primary: bool,
    /// `pending_verification` or `ready`.
    pub status: String,
    /// `self_managed_certs`.
    #[serde(rename = "type")]
    pub kind: String,
    pub verification: Verification,
    /// RFC 3339.
    pub created_at: String,
    /// RFC 3339, once ready.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub verified_at: Option<String>,
    /// After a verification attempt that failed: what the DNS lookup found.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl From<&CustomDomain> for CustomDomainView {
    fn from(d: &CustomDomain) -> Self {
        Self {
            custom_domain_id: d.id.to_string(),
            domain: d.domain.clone(),
            primary: false,
            status: d.status.as_str().to_owned(),
            kind: SELF_MANAGED.to_owned(),
            verification: Verification {
                methods: vec![VerificationMethod {
                    name: "txt".to_owned(),
                    domain: challenge_name(&d.domain),
                    record: expected_record(d),
                }],
            },
            created_at: d.created_at.to_rfc3339(),
            verified_at: d.verified_at.map(|t| t.to_rfc3339()),
            error: None,
        }
    }
}

/// The DNS name holding the TXT record of a domain.
pub fn challenge_name(domain: &str) -> String {
    format!("{CHALLENGE_LABEL}.{domain}")
}

fn expected_record(d: &CustomDomain) -> String {
    format!("{RECORD_PREFIX}{}", d.verification_token)
}

/// The host of a URL such as `https://id.example.com:8443/x` (`id.example.com`).
pub fn url_host(url: &str) -> Option<String> {
    let rest = url.split_once("://")?.1;
    let authority = rest.split(['/', '?', '#']).next()?;
    let host = match authority.strip_prefix('[') {
        Some(v6) => v6.split(']').next()?,
        None => authority.rsplit_once(':').map_or(authority, |(h, _)| h),
    };
    Some(host.to_ascii_lowercase())
}

/// A custom domain as registered: a lower-cased DNS host name (see the module rules);
/// `public_host` is the host of the server's public URL.
pub fn parse_custom_domain(raw: &str, public_host: Option<&str>) -> Result<String, CoreError> {
    let bad = |why: &str| CoreError::invalid("domain", why.to_owned());
    let d = raw.trim().to_ascii_lowercase();
    let d = d.strip_suffix('.').unwrap_or(&d);
    if d.is_empty() {
        return Err(bad("must be a host name such as `login.acme.example`"));
    }
    if d.len() > MAX_DOMAIN_LEN {
        return Err(bad(&format!(
            "must be at most {MAX_DOMAIN_LEN} characters: the TXT record's name \
             `{CHALLENGE_LABEL}.{{domain}}` must fit in the 253 characters of a DNS name"
        )));
    }
    if d.contains('*') {
        return Err(bad("must not be a wildcard"));
    }
    let unbracketed = d.trim_start_matches('[').trim_end_matches(']');
    if unbracketed.parse::<IpAddr>().is_ok() {
        return Err(bad("must be a host name, not an IP address"));
    }
    if d.contains(':') {
        return Err(bad("must be a host name without a port"));
    }
    let labels: Vec<&str> = d.split('.').collect();
    if labels.len() < 2 {
        return Err(bad(
            "must have at least two labels, such as `login.acme.example`",
        ));
    }
    let ldh = |l: &str| {
        (1..=63).contains(&l.len())
            && l.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            && !l.starts_with('-')
            && !l.ends_with('-')
    };
    if !labels.iter().all(|l| ldh(l)) {
        return Err(bad(
            "must be a host name of letters, digits and hyphens, such as `login.acme.example`",
        ));
    }
    if labels
        .last()
        .is_some_and(|tld| tld.bytes().all(|b| b.is_ascii_digit()))
    {
        return Err(bad("must be a host name, not an IP address"));
    }
    if public_host.is_some_and(|p| p == d) {
        return Err(bad("is the host of the server's public URL"));
    }
    Ok(d.to_owned())
}

impl Core {
    /// The host of the public URL, once known.
    fn public_host(&self) -> Option<String> {
        self.public_url.get().and_then(|u| url_host(u))
    }

    /// The issuer of a tenant served at a custom domain: `{scheme of public_url}://{domain}`.
    pub fn custom_issuer(&self, domain: &str) -> String {
        let scheme = self
            .public_url
            .get()
            .and_then(|u| u.split_once("://"))
            .map_or("https", |(s, _)| s);
        format!("{scheme}://{domain}")
    }

    /// The tenant a request's host serves as a `ready` custom domain; `None` for any other
    /// host. Read from the routing snapshot: never a database query per host, never an
    /// error (a failed refresh keeps the last snapshot).
    pub async fn custom_domain_route(&self, host: &str) -> Option<Arc<DomainRoute>> {
        let snap = &self.caches.custom_domains;
        if !snap.fresh(&*self.clock) {
            if snap.tried_at().is_none() {
                // No snapshot yet (or a reload after a change failed): wait for one.
                let _one = snap.refresh.lock().await;
                if snap.tried_at().is_none() {
                    self.refresh_domains().await;
                }
            } else if let Ok(_one) = snap.refresh.try_lock() {
                // Stale: this request refreshes; the others use the current snapshot.
                if !snap.fresh(&*self.clock) {
                    self.refresh_domains().await;
                }
            }
        }
        snap.current().get(host).cloned()
    }

    /// Reload the snapshot (the caller holds the refresh lock). On failure the last
    /// snapshot stays; the next try comes after [`CUSTOM_DOMAIN_CACHE_SECS`].
    async fn refresh_domains(&self) -> bool {
        let snap = &self.caches.custom_domains;
        let loaded = async {
            let mut tx = self.store.read().await?;
            Ok::<_, CoreError>(tx.custom_domain_routes().await?)
        }
        .await;
        snap.set_tried(Some(self.clock.now()));
        match loaded {
            Ok(list) => {
                let map: HashMap<_, _> = list
                    .into_iter()
                    .map(|r| (r.domain.clone(), Arc::new(r)))
                    .collect();
                if let Ok(mut routes) = snap.routes.write() {
                    *routes = Arc::new(map);
                }
                true
            }
            Err(e) => {
                tracing::warn!(error = %e, "custom domains: refresh failed; the last snapshot stays");
                false
            }
        }
    }

    /// After a change on this node: reload the snapshot now (after any refresh already
    /// running); when that fails, the next request tries again.
    async fn reload_domains(&self) {
        let snap = &self.caches.custom_domains;
        let _one = snap.refresh.lock().await;
        if !self.refresh_domains().await {
            snap.set_tried(None);
        }
    }

    /// Whether `iss`, found in a token this tenant verifies, names this tenant: the issuer
    /// of the request, the tenant's canonical issuer, or one of the tenant's own `ready`
    /// custom domains — never another tenant's.
    pub async fn accepts_issuer(
        &self,
        tenant: &Tenant,
        request_issuer: &str,
        iss: &str,
    ) -> Result<bool, CoreError> {
        if iss == request_issuer {
            return Ok(true);
        }
        if let Some(public) = self.public_url.get()
            && iss == format!("{public}/t/{}", tenant.slug.as_str())
        {
            return Ok(true);
        }
        let Some(host) = iss.split_once("://").map(|(_, h)| h) else {
            return Ok(false);
        };
        if iss != self.custom_issuer(host) {
            return Ok(false);
        }
        Ok(self
            .custom_domain_route(host)
            .await
            .is_some_and(|r| r.tenant_id == tenant.id))
    }

    /// The tenant's custom domains, in name order.
    pub async fn mgmt_custom_domain_list(
        &self,
        tenant: &Tenant,
    ) -> Result<Vec<CustomDomain>, CoreError> {
        let mut tx = self.store.read().await?;
        Ok(tx.custom_domain_list(&tenant.id).await?)
    }

    /// One custom domain of the tenant (404 for another tenant's).
    pub async fn mgmt_custom_domain_get(
        &self,
        tenant: &Tenant,
        id: &CustomDomainId,
    ) -> Result<CustomDomain, CoreError> {
        let mut tx = self.store.read().await?;
        tx.custom_domain_get(&tenant.id, id)
            .await?
            .ok_or(CoreError::NotFound("custom domain"))
    }

    /// Register a custom domain, pending verification; 409 when this tenant already has it
    /// (other tenants' registrations are neither checked nor revealed here).
    pub async fn mgmt_custom_domain_create(
        &self,
        tenant: &Tenant,
        input: CustomDomainInput,
        meta: &RequestMeta,
    ) -> Result<CustomDomain, CoreError> {
        let domain = parse_custom_domain(&input.domain, self.public_host().as_deref())?;
        if input.kind != SELF_MANAGED {
            return Err(CoreError::invalid(
                "type",
                format!("must be `{SELF_MANAGED}` (TLS terminates at your proxy)"),
            ));
        }
        let now = self.now();
        let d = CustomDomain {
            tenant_id: tenant.id.clone(),
            id: CustomDomainId::generate(now, &*self.rng),
            domain,
            status: CustomDomainStatus::PendingVerification,
            verification_token: random_base32(&*self.rng, 20),
            created_at: now,
            verified_at: None,
        };
        let mut tx = self.store.begin().await?;
        if tx.custom_domain_list(&tenant.id).await?.len() >= MAX_CUSTOM_DOMAINS_PER_TENANT {
            return Err(CoreError::Conflict(format!(
                "a tenant may register at most {MAX_CUSTOM_DOMAINS_PER_TENANT} custom domains"
            )));
        }
        if !tx.custom_domain_insert(&d).await? {
            return Err(CoreError::Conflict(format!(
                "this tenant already registered the domain `{}`",
                d.domain
            )));
        }
        self.custom_domain_audit(&mut *tx, tenant, "custom_domain.created", &d, meta)
            .await?;
        tx.commit().await?;
        Ok(d)
    }

    /// Remove a custom domain of the tenant: it stops serving at once on this node, and on
    /// every node within [`CUSTOM_DOMAIN_CACHE_SECS`].
    pub async fn mgmt_custom_domain_delete(
        &self,
        tenant: &Tenant,
        id: &CustomDomainId,
        meta: &RequestMeta,
    ) -> Result<(), CoreError> {
        let mut tx = self.store.begin().await?;
        let d = tx
            .custom_domain_get(&tenant.id, id)
            .await?
            .ok_or(CoreError::NotFound("custom domain"))?;
        if !tx.custom_domain_delete(&tenant.id, id).await? {
            return Err(CoreError::NotFound("custom domain"));
        }
        self.custom_domain_audit(&mut *tx, tenant, "custom_domain.deleted", &d, meta)
            .await?;
        tx.commit().await?;
        self.reload_domains().await;
        Ok(())
    }

    /// Look up the domain's TXT record; when one equals the expected record the domain
    /// becomes `ready`. Otherwise the view carries `error`, saying what was found.
    pub async fn mgmt_custom_domain_verify(
        &self,
        tenant: &Tenant,
        id: &CustomDomainId,
        meta: &RequestMeta,
    ) -> Result<CustomDomainView, CoreError> {
        let d = self.mgmt_custom_domain_get(tenant, id).await?;
        if d.status == CustomDomainStatus::Ready {
            return Ok(CustomDomainView::from(&d));
        }
        let name = challenge_name(&d.domain);
        let want = expected_record(&d);
        // The lookup runs before any transaction opens (no connection held during DNS).
        let found = match self.dns.txt(&name).await {
            Ok(found) => found,
            Err(e) => {
                // The resolver's error names its nameservers: logged, not shown.
                tracing::warn!(lookup = %name, error = %e, "custom domain: DNS lookup failed");
                let mut view = CustomDomainView::from(&d);
                view.error = Some("the DNS lookup failed; try again later".to_owned());
                return Ok(view);
            }
        };
        let matched = found
            .iter()
            .any(|r| clavis_crypto::constant_time_eq(r.trim().as_bytes(), want.as_bytes()));
        if !matched {
            let mut view = CustomDomainView::from(&d);
            view.error = Some(if found.is_empty() {
                format!("no TXT record found at `{name}`")
            } else {
                format!(
                    "{} TXT record(s) found at `{name}`, none equal to the expected record",
                    found.len()
                )
            });
            return Ok(view);
        }
        let now = self.now();
        let mut tx = self.store.begin().await?;
        match tx.custom_domain_mark_ready(&tenant.id, id, now).await? {
            MarkReady::Ready => {
                let ready = CustomDomain {
                    status: CustomDomainStatus::Ready,
                    verified_at: Some(now),
                    ..d
                };
                self.custom_domain_audit(&mut *tx, tenant, "custom_domain.verified", &ready, meta)
                    .await?;
            }
            MarkReady::NotPending => {}
            MarkReady::TakenElsewhere => {
                return Err(CoreError::Conflict(format!(
                    "the domain `{}` is already in use by another tenant",
                    d.domain
                )));
            }
        }
        let current = tx
            .custom_domain_get(&tenant.id, id)
            .await?
            .ok_or(CoreError::NotFound("custom domain"))?;
        tx.commit().await?;
        self.reload_domains().await;
        Ok(CustomDomainView::from(&current))
    }

    async fn custom_domain_audit(
        &self,
        tx: &mut dyn Tx,
        tenant: &Tenant,
        event_type: &str,
        d: &CustomDomain,
        meta: &RequestMeta,
    ) -> Result<(), CoreError> {
        let ctx = JsonMap::from_iter([
            ("custom_domain_id".to_owned(), json!(d.id.as_str())),
            ("domain".to_owned(), json!(d.domain)),
            ("status".to_owned(), json!(d.status.as_str())),
        ]);
        let event = self.audit_event(&tenant.id, event_type, Default::default(), None, ctx, meta);
        self.audit_in(tx, event).await
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn custom_domains_are_lower_case_host_names() {
        let p = |s: &str| parse_custom_domain(s, Some("id.example.com"));
        assert_eq!(p(" Login.Acme.Example. ").unwrap(), "login.acme.example");
        assert_eq!(p("a-b.co.uk").unwrap(), "a-b.co.uk");
        assert_eq!(p("xn--bcher-kva.example").unwrap(), "xn--bcher-kva.example");
        let long = format!("{}.example", vec!["a".repeat(63); 4].join("."));
        // 235 characters verify (the TXT record's name is 253); 236 cannot.
        let at_most = format!(
            "{}.{}.example",
            "a".repeat(63),
            vec!["b".repeat(63); 2].join(".")
        );
        let at_most = format!("{}{at_most}", "c".repeat(235 - at_most.len() - 1) + ".");
        assert_eq!(at_most.len(), 235);
        assert_eq!(p(&at_most).unwrap(), at_most);
        assert_eq!(challenge_name(&at_most).len(), 253);
        let over = format!("d{at_most}");
        let e = p(&over).unwrap_err().to_string();
        assert!(e.contains("235") && e.contains("_clavis-challenge"), "{e}");
        for bad in [
            "",
            "localhost",
            "id.example.com",
            "ID.Example.Com",
            "127.0.0.1",
            "[::1]",
            "::1",
            "10.0.0.1:443",
            "login.acme.example:8443",
            "*.acme.example",
            "-acme.example",
            "acme-.example",
            "acme..example",
            "a b.example",
            "x@acme.example",
            "acme.example/x",
            "acme_x.example",
            "bücher.example",
            "1.2.3.999",
            long.as_str(),
        ] {
            assert!(p(bad).is_err(), "{bad}");
        }
        assert!(p(&format!("{}.example", "a".repeat(64))).is_err());
    }

    #[test]
    fn hosts_of_urls() {
        assert_eq!(
            url_host("https://id.example.com").unwrap(),
            "id.example.com"
        );
        assert_eq!(url_host("http://127.0.0.1:8080/x").unwrap(), "127.0.0.1");
        assert_eq!(url_host("http://[::1]:80").unwrap(), "::1");
        assert_eq!(
            url_host("https://ID.example.com:443/").unwrap(),
            "id.example.com"
        );
        assert_eq!(url_host("nope"), None);
    }
}

//! Email domains of organizations, and home-realm discovery: the login page's identifier
//! step sends `someone@acme.example` to the organization that registered `acme.example`,
//! through that organization's connection.
//!
//! Rules enforced here:
//! - a domain is a lower-case host name with at least one dot (the same rule as the domain
//!   part of user addresses), and belongs to at most one organization of a tenant (409);
//! - the optional connection must be enabled for the organization when the domain is
//!   added (400 otherwise); without one, the organization's first enabled connection is
//!   used;
//! - discovery answers only while the organization exists and the connection is still
//!   enabled for it;
//! - every change appends `organization.domain.added|removed` in the same transaction.
//!
//! Registering a domain routes every login of that domain in the tenant, so adding and
//! removing domains spans the tenant (the API refuses an organization's own credential);
//! the organization's administrator may read them.

use clavis_types::{ConnectionId, Email, OrgId};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::organizations::{audit_org, load_org};
use crate::CoreError;
use crate::model::{Connection, JsonMap, OrgDomain, Organization, Page, Tenant};
use crate::ports::Tx;
use crate::service::{Core, RequestMeta};

/// Most domains one organization may register.
pub const MAX_DOMAINS_PER_ORG: usize = 50;

/// Where an email address's domain routes the login.
#[derive(Debug, Clone, PartialEq)]
pub struct HomeRealm {
    pub org: Organization,
    pub connection: Connection,
    /// The organization enabled the connection with `assign_membership_on_login`: a user
    /// who logs in through it becomes a member.
    pub assign_membership_on_login: bool,
}

/// A domain to register for an organization.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OrgDomainInput {
    /// A host name such as `acme.example` (stored lower case).
    #[schema(max_length = 253)]
    pub domain: String,
    /// A connection enabled for the organization (`con_…`); absent: its first enabled one.
    #[serde(default)]
    pub connection_id: Option<String>,
}

/// A registered domain as the API shows it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct OrgDomainView {
    pub domain: String,
    pub organization_id: String,
    pub connection_id: Option<String>,
    /// RFC 3339.
    pub created_at: String,
}

impl From<&OrgDomain> for OrgDomainView {
    fn from(d: &OrgDomain) -> Self {
        Self {
            domain: d.domain.clone(),
            organization_id: d.org_id.to_string(),
            connection_id: d.connection_id.as_ref().map(ToString::to_string),
            created_at: d.created_at.to_rfc3339(),
        }
    }
}

/// A domain as registered: the host-name rule of user addresses, lower case.
pub fn parse_domain(field: &str, raw: &str) -> Result<String, CoreError> {
    let raw = raw.trim().trim_end_matches('.');
    if raw.is_empty() || raw.len() > 253 || raw.contains('@') {
        return Err(CoreError::invalid(
            field,
            "must be a host name such as `acme.example`",
        ));
    }
    Email::parse(&format!("x@{raw}"))
        .map(|e| e.domain().to_owned())
        .map_err(|_| CoreError::invalid(field, "must be a host name such as `acme.example`"))
}

impl Core {
    /// The organization and connection an email address's domain routes to, if its
    /// domain is registered for an organization (`org_domains`) whose connection is enabled.
    pub async fn home_realm(
        &self,
        tenant: &Tenant,
        email: &str,
    ) -> Result<Option<HomeRealm>, CoreError> {
        let Ok(email) = Email::parse(email) else {
            return Ok(None);
        };
        let mut tx = self.store.read().await?;
        let Some(d) = tx.org_domain_get(&tenant.id, email.domain()).await? else {
            return Ok(None);
        };
        let Some(org) = tx.org_get(&tenant.id, &d.org_id).await? else {
            return Ok(None);
        };
        let enabled = match &d.connection_id {
            Some(c) => tx.org_connection_get(&tenant.id, &org.id, c).await?,
            None => tx
                .org_connection_list(&tenant.id, &org.id, Page::new(0, 1))
                .await?
                .into_iter()
                .next(),
        };
        let Some(enabled) = enabled else {
            return Ok(None);
        };
        let connection = tx
            .connection_get(&tenant.id, &enabled.connection_id)
            .await?;
        Ok(connection.map(|connection| HomeRealm {
            org,
            connection,
            assign_membership_on_login: enabled.assign_membership_on_login,
        }))
    }

    /// The domains of an organization.
    pub async fn mgmt_org_domain_list(
        &self,
        tenant: &Tenant,
        org: &OrgId,
    ) -> Result<Vec<OrgDomain>, CoreError> {
        let mut tx = self.store.read().await?;
        load_org(&mut *tx, tenant, org).await?;
        Ok(tx.org_domain_list(&tenant.id, org).await?)
    }

    /// Register a domain for an organization; 409 when an organization of the tenant
    /// already has it.
    pub async fn mgmt_org_domain_add(
        &self,
        tenant: &Tenant,
        org: &OrgId,
        input: OrgDomainInput,
        meta: &RequestMeta,
    ) -> Result<OrgDomain, CoreError> {
        let domain = parse_domain("domain", &input.domain)?;
        let connection_id = input
            .connection_id
            .as_deref()
            .map(|c| {
                ConnectionId::parse(c.trim())
                    .map_err(|e| CoreError::invalid("connection_id", e.reason))
            })
            .transpose()?;
        let mut tx = self.store.begin().await?;
        let o = load_org(&mut *tx, tenant, org).await?;
        if let Some(c) = &connection_id
            && tx.org_connection_get(&tenant.id, org, c).await?.is_none()
        {
            return Err(CoreError::invalid(
                "connection_id",
                "is not a connection enabled for this organization",
            ));
        }
        if tx.org_domain_list(&tenant.id, org).await?.len() >= MAX_DOMAINS_PER_ORG {
            return Err(CoreError::Conflict(format!(
                "an organization may register at most {MAX_DOMAINS_PER_ORG} domains"
            )));
        }
        let d = OrgDomain {
            tenant_id: tenant.id.clone(),
            domain,
            org_id: org.clone(),
            connection_id,
            created_at: self.now(),
        };
        if !tx.org_domain_insert(&d).await? {
            return Err(CoreError::Conflict(format!(
                "the domain `{}` is already registered for an organization",
                d.domain
            )));
        }
        self.domain_audit(&mut *tx, tenant, "organization.domain.added", &o, &d, meta)
            .await?;
        tx.commit().await?;
        Ok(d)
    }

    /// Remove a domain of an organization (404 when the organization does not have it).
    pub async fn mgmt_org_domain_remove(
        &self,
        tenant: &Tenant,
        org: &OrgId,
        domain: &str,
        meta: &RequestMeta,
    ) -> Result<(), CoreError> {
        let domain = parse_domain("domain", domain)?;
        let mut tx = self.store.begin().await?;
        let o = load_org(&mut *tx, tenant, org).await?;
        let d = tx
            .org_domain_get(&tenant.id, &domain)
            .await?
            .filter(|d| d.org_id == *org)
            .ok_or(CoreError::NotFound("domain"))?;
        if !tx.org_domain_delete(&tenant.id, org, &domain).await? {
            return Err(CoreError::NotFound("domain"));
        }
        self.domain_audit(
            &mut *tx,
            tenant,
            "organization.domain.removed",
            &o,
            &d,
            meta,
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn domain_audit(
        &self,
        tx: &mut dyn Tx,
        tenant: &Tenant,
        event_type: &str,
        org: &Organization,
        d: &OrgDomain,
        meta: &RequestMeta,
    ) -> Result<(), CoreError> {
        let mut ctx = JsonMap::from_iter([("domain".to_owned(), json!(d.domain))]);
        if let Some(c) = &d.connection_id {
            ctx.insert("connection_id".into(), json!(c.as_str()));
        }
        let event = self.audit_event(
            &tenant.id,
            event_type,
            Default::default(),
            Some(audit_org(org)),
            ctx,
            meta,
        );
        self.audit_in(tx, event).await
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn domains_are_host_names() {
        assert_eq!(
            parse_domain("d", " Acme.Example. ").unwrap(),
            "acme.example"
        );
        assert_eq!(parse_domain("d", "a-b.co.uk").unwrap(), "a-b.co.uk");
        for bad in [
            "",
            "acme",
            "-acme.example",
            "acme..example",
            "a b.example",
            "x@acme.example",
            "acme.example/x",
            "*.acme.example",
        ] {
            assert!(parse_domain("d", bad).is_err(), "{bad}");
        }
        assert!(parse_domain("d", &format!("{}.example", "a".repeat(64))).is_err());
    }
}

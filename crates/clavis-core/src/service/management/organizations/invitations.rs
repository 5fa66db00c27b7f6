//! Invitations to join an organization, shaped after Auth0's organization invitations.
//!
//! The ticket in the invitation link is 32 random bytes (base64url); only its keyed digest
//! (HMAC-SHA256 under the tenant data key's digest subkey, as for client secrets) is
//! stored, so the link is shown once, when the invitation is created. Clavis does not send
//! invitation emails: `send_invitation_email` must be false or absent, and the caller
//! delivers the link. The invitation's connection, when named, must be enabled for the
//! organization; its roles are granted on acceptance (by the login flow, not here).

use serde::{Deserialize, Serialize};
use serde_json::json;

use clavis_crypto::b64url;
use clavis_types::{ClientId, ConnectionId, Email, InvitationId, OrgId};

use super::{Listed, audit_org, load_org, resolve_roles, small_json, text};
use crate::CoreError;
use crate::model::{AuditActor, Invitation, JsonMap, Organization, Page, Tenant};
use crate::service::{Core, RequestMeta};

/// Lifetime of an invitation when `ttl_sec` is absent or 0 (7 days).
pub const DEFAULT_INVITATION_TTL: i64 = 604_800;
/// Longest lifetime of an invitation (30 days).
pub const MAX_INVITATION_TTL: i64 = 2_592_000;

/// Who invites (shown to the invitee).
#[derive(Debug, Clone, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct InvitationInviter {
    /// 1–300 characters.
    pub name: String,
}

/// Who is invited.
#[derive(Debug, Clone, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct InvitationInvitee {
    pub email: String,
}

/// What an administrator submits to invite someone.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct InvitationInput {
    pub inviter: InvitationInviter,
    pub invitee: InvitationInvitee,
    /// The application whose login the invitation link opens.
    pub client_id: String,
    /// A connection enabled for the organization to sign up with.
    #[serde(default)]
    pub connection_id: Option<String>,
    /// Seconds until the invitation expires: 0 or absent for 604800 (7 days), at most
    /// 2592000 (30 days).
    #[serde(default)]
    #[schema(minimum = 0, maximum = 2_592_000)]
    pub ttl_sec: Option<i64>,
    /// Role ids granted in the organization on acceptance.
    #[serde(default)]
    pub roles: Vec<String>,
    #[serde(default)]
    #[schema(value_type = Object)]
    pub app_metadata: JsonMap,
    #[serde(default)]
    #[schema(value_type = Object)]
    pub user_metadata: JsonMap,
    /// Must be false or absent: Clavis does not deliver invitation emails; send
    /// `invitation_url` yourself.
    #[serde(default)]
    pub send_invitation_email: Option<bool>,
}

/// An invitation as the API shows it. `invitation_url` appears only in the answer to its
/// creation.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct InvitationView {
    pub id: String,
    pub organization_id: String,
    pub inviter: InvitationInviter,
    pub invitee: InvitationInvitee,
    pub client_id: String,
    pub connection_id: Option<String>,
    pub roles: Vec<String>,
    #[schema(value_type = Object)]
    pub app_metadata: JsonMap,
    #[schema(value_type = Object)]
    pub user_metadata: JsonMap,
    pub created_at: String,
    pub expires_at: String,
    /// The link to send to the invitee; shown once.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub invitation_url: Option<String>,
}

impl From<&Invitation> for InvitationView {
    fn from(i: &Invitation) -> Self {
        Self {
            id: i.id.to_string(),
            organization_id: i.org_id.to_string(),
            inviter: InvitationInviter {
                name: i.inviter_name.clone(),
            },
            invitee: InvitationInvitee {
                email: i.invitee_email.to_string(),
            },
            client_id: i.client_id.to_string(),
            connection_id: i.connection_id.as_ref().map(ToString::to_string),
            roles: i.roles.iter().map(ToString::to_string).collect(),
            app_metadata: i.app_metadata.clone(),
            user_metadata: i.user_metadata.clone(),
            created_at: i.created_at.to_rfc3339(),
            expires_at: i.expires_at.to_rfc3339(),
            invitation_url: None,
        }
    }
}

/// A new invitation and the ticket of its link (shown once; never printed by `Debug`).
#[derive(Clone)]
pub struct InvitationCreated {
    pub invitation: Invitation,
    pub ticket: String,
}

impl std::fmt::Debug for InvitationCreated {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InvitationCreated")
            .field("invitation", &self.invitation.id)
            .field("ticket", &"**redacted**")
            .finish()
    }
}

fn invitation_context(org: &Organization, i: &Invitation) -> JsonMap {
    let mut c = JsonMap::new();
    c.insert("org_id".into(), json!(org.id.to_string()));
    c.insert("invitation_id".into(), json!(i.id.to_string()));
    c.insert("client_id".into(), json!(i.client_id.to_string()));
    c.insert(
        "connection_id".into(),
        json!(i.connection_id.as_ref().map(ToString::to_string)),
    );
    c.insert(
        "roles".into(),
        json!(i.roles.iter().map(ToString::to_string).collect::<Vec<_>>()),
    );
    c.insert("expires_at".into(), json!(i.expires_at.to_rfc3339()));
    c
}

impl Core {
    /// Create an invitation; the answer carries the ticket for the invitation link.
    pub async fn org_invitation_create(
        &self,
        tenant: &Tenant,
        org: &OrgId,
        input: InvitationInput,
        meta: &RequestMeta,
    ) -> Result<InvitationCreated, CoreError> {
        if input.send_invitation_email == Some(true) {
            return Err(CoreError::invalid(
                "send_invitation_email",
                "Clavis does not send invitation emails yet; set it to false (or leave it \
                 out) and deliver `invitation_url` yourself",
            ));
        }
        let inviter_name = text("inviter.name", &input.inviter.name, 300)?;
        let invitee_email = Email::parse(&input.invitee.email)
            .map_err(|e| CoreError::invalid("invitee.email", e.reason))?;
        let client_id = ClientId::parse(input.client_id.trim())
            .map_err(|e| CoreError::invalid("client_id", e.reason))?;
        let ttl = match input.ttl_sec {
            None | Some(0) => DEFAULT_INVITATION_TTL,
            Some(n) if (1..=MAX_INVITATION_TTL).contains(&n) => n,
            Some(_) => {
                return Err(CoreError::invalid(
                    "ttl_sec",
                    format!("must be between 0 and {MAX_INVITATION_TTL} seconds"),
                ));
            }
        };
        small_json("app_metadata", &input.app_metadata)?;
        small_json("user_metadata", &input.user_metadata)?;
        let connection_id = input
            .connection_id
            .as_deref()
            .map(|c| {
                ConnectionId::parse(c.trim())
                    .map_err(|e| CoreError::invalid("connection_id", e.reason))
            })
            .transpose()?;
        let mut tx = self.store.begin().await?;
        let org = load_org(&mut *tx, tenant, org).await?;
        if tx.app_get(&tenant.id, &client_id).await?.is_none() {
            return Err(CoreError::invalid("client_id", "no such application"));
        }
        if let Some(c) = &connection_id
            && tx
                .org_connection_get(&tenant.id, &org.id, c)
                .await?
                .is_none()
        {
            return Err(CoreError::invalid(
                "connection_id",
                "is not a connection enabled for this organization",
            ));
        }
        let roles = resolve_roles(&mut *tx, tenant, &input.roles, true).await?;
        let now = self.now();
        let mut raw = [0u8; 32];
        self.rng.fill(&mut raw);
        let ticket = b64url(&raw);
        let dk = self.keyring.data_key(&mut *tx, &tenant.id).await?;
        let invitation = Invitation {
            tenant_id: tenant.id.clone(),
            id: InvitationId::generate(now, &*self.rng),
            org_id: org.id.clone(),
            invitee_email,
            inviter_name,
            client_id,
            connection_id,
            roles: roles.into_iter().map(|r| r.id).collect(),
            app_metadata: input.app_metadata,
            user_metadata: input.user_metadata,
            ticket_digest: dk.secret_digest(ticket.as_bytes()).to_vec(),
            created_at: now,
            expires_at: now.plus_secs(ttl),
        };
        tx.invitation_insert(&invitation).await?;
        let event = self.audit_event(
            &tenant.id,
            "organization.invitation.created",
            AuditActor::default(),
            Some(audit_org(&org)),
            invitation_context(&org, &invitation),
            meta,
        );
        self.audit_in(&mut *tx, event).await?;
        tx.commit().await?;
        Ok(InvitationCreated { invitation, ticket })
    }

    /// One page of an organization's invitations, newest first (expired ones included).
    pub async fn org_invitation_list(
        &self,
        tenant: &Tenant,
        org: &OrgId,
        page: Page,
    ) -> Result<Listed<Invitation>, CoreError> {
        let mut tx = self.store.read().await?;
        let org = load_org(&mut *tx, tenant, org).await?;
        let items = tx.invitation_list(&tenant.id, &org.id, page).await?;
        let total = tx.invitation_count(&tenant.id, &org.id).await?;
        Ok(Listed { items, total })
    }

    /// One invitation of the organization.
    pub async fn org_invitation_get(
        &self,
        tenant: &Tenant,
        org: &OrgId,
        id: &InvitationId,
    ) -> Result<Invitation, CoreError> {
        let mut tx = self.store.read().await?;
        let org = load_org(&mut *tx, tenant, org).await?;
        tx.invitation_get(&tenant.id, &org.id, id)
            .await?
            .ok_or(CoreError::NotFound("invitation"))
    }

    /// Delete (revoke) an invitation: its link stops working.
    pub async fn org_invitation_delete(
        &self,
        tenant: &Tenant,
        org: &OrgId,
        id: &InvitationId,
        meta: &RequestMeta,
    ) -> Result<(), CoreError> {
        let mut tx = self.store.begin().await?;
        let org = load_org(&mut *tx, tenant, org).await?;
        let invitation = tx
            .invitation_get(&tenant.id, &org.id, id)
            .await?
            .ok_or(CoreError::NotFound("invitation"))?;
        if !tx.invitation_delete(&tenant.id, &org.id, id).await? {
            return Err(CoreError::NotFound("invitation"));
        }
        let event = self.audit_event(
            &tenant.id,
            "organization.invitation.deleted",
            AuditActor::default(),
            Some(audit_org(&org)),
            invitation_context(&org, &invitation),
            meta,
        );
        self.audit_in(&mut *tx, event).await?;
        tx.commit().await?;
        Ok(())
    }
}

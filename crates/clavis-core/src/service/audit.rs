//! Recording audit events through the store's audit port, in the caller's transaction
//! when the event describes a change made in it. Personal data is sealed under the subject
//! user's key before the store sees it ([`super::audit_subjects`]).

use clavis_types::TenantId;

use super::Core;
use crate::CoreError;
use crate::model::{AuditActor, AuditEvent, AuditOrganization, JsonMap};
use crate::ports::Tx;

/// Where a request came from, for audit events.
#[derive(Debug, Clone, Default)]
pub struct RequestMeta {
    pub ip_address: Option<String>,
    pub user_agent: Option<String>,
    /// The authenticated caller (a Management API client or user), recorded as the actor
    /// of events whose service names no actor of its own.
    pub caller: Option<AuditActor>,
}

impl Core {
    /// A new event with a fresh id and the current time.
    pub fn audit_event(
        &self,
        tenant: &TenantId,
        event_type: &str,
        mut actor: AuditActor,
        organization: Option<AuditOrganization>,
        context: JsonMap,
        meta: &RequestMeta,
    ) -> AuditEvent {
        let now = self.now();
        if let Some(caller) = &meta.caller
            && actor.user_id.is_none()
            && actor.client_id.is_none()
            && actor.email.is_none()
        {
            actor.user_id.clone_from(&caller.user_id);
            actor.client_id.clone_from(&caller.client_id);
            actor.email.clone_from(&caller.email);
        }
        actor.ip_address = actor.ip_address.or_else(|| meta.ip_address.clone());
        actor.user_agent = actor.user_agent.or_else(|| meta.user_agent.clone());
        AuditEvent {
            tenant_id: tenant.clone(),
            seq: 0,
            event_id: format!("evt_{}", clavis_types::encode_id(now, &*self.rng)),
            timestamp: now,
            event_type: event_type.to_owned(),
            actor,
            organization,
            context,
        }
    }

    /// Append inside the transaction that made the change, personal data sealed (a
    /// missing subject key is created in this transaction).
    pub async fn audit_in(&self, tx: &mut dyn Tx, mut event: AuditEvent) -> Result<(), CoreError> {
        self.audit_seal_in(tx, &mut event).await?;
        let tenant = event.tenant_id.clone();
        tx.audit_append(&tenant, &mut [event]).await?;
        Ok(())
    }

    /// Append outside any other write, waiting until it is committed (group commit when
    /// the writer task runs). Personal data is sealed first; a missing subject key is
    /// created in its own short transaction.
    pub async fn audit_now(&self, mut event: AuditEvent) -> Result<(), CoreError> {
        self.audit_seal_detached(&mut event).await?;
        if let Some(w) = &self.audit_writer {
            return w.append(event).await.map_err(|e| {
                CoreError::Store(crate::StoreError::Unavailable(format!("audit log: {e}")))
            });
        }
        let mut tx = self.store.begin().await?;
        let tenant = event.tenant_id.clone();
        tx.audit_append(&tenant, &mut [event]).await?;
        tx.commit().await?;
        Ok(())
    }
}

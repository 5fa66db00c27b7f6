//! Audit events in the shape of seed 000: `event_id`, `timestamp`, `event_type`,
//! `actor{user_id,email,ip_address,user_agent}`, `organization{org_id,name}`, `context`.

use clavis_types::{TenantId, Timestamp};
use serde::{Deserialize, Serialize};

use super::JsonMap;

/// Who did it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct AuditActor {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ip_address: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_agent: Option<String>,
}

/// In which organization.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditOrganization {
    pub org_id: String,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub name: Option<String>,
}

/// One event. `seq` is assigned by the store when appended (gap-free per tenant).
#[derive(Debug, Clone, PartialEq)]
pub struct AuditEvent {
    pub tenant_id: TenantId,
    pub seq: i64,
    pub event_id: String,
    pub timestamp: Timestamp,
    pub event_type: String,
    pub actor: AuditActor,
    pub organization: Option<AuditOrganization>,
    pub context: JsonMap,
}

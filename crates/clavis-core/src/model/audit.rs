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

/// An event as stored in its tenant's hash chain. `body` is the canonical JSON the hash
/// covers (see [`crate::chain`]); the other fields index it for search and must agree with
/// it. Personal data inside `body` is sealed under the subject user's key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainedEvent {
    pub tenant_id: TenantId,
    pub seq: i64,
    pub event_id: String,
    pub timestamp: Timestamp,
    pub event_type: String,
    pub actor_user_id: Option<String>,
    pub actor_client_id: Option<String>,
    pub org_id: Option<String>,
    pub body: String,
    pub prev_hash: String,
    pub hash: String,
}

/// The head of a tenant's chain: the last sequence number and its hash
/// ([`crate::chain::GENESIS`] and 0 for an empty log).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainHead {
    pub seq: i64,
    pub hash: String,
}

/// Filters of an audit search. Every filter is optional; results come in `seq` order
/// (ascending, or descending with `newest_first`) starting after the cursor `after_seq`
/// (`before_seq` when newest first).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditQuery {
    /// Inclusive lower bound of `timestamp`.
    pub from: Option<Timestamp>,
    /// Exclusive upper bound of `timestamp`.
    pub to: Option<Timestamp>,
    /// Any of these event types (exact), or a prefix when a value ends in `.*`.
    pub event_types: Vec<String>,
    pub actor_user_id: Option<String>,
    pub actor_client_id: Option<String>,
    pub org_id: Option<String>,
    /// Cursor: only events with `seq > after_seq` (ascending order).
    pub after_seq: Option<i64>,
    /// Cursor: only events with `seq < before_seq` (descending order).
    pub before_seq: Option<i64>,
    pub newest_first: bool,
}

/// A signed statement that a tenant's chain had `hash` at `seq`: a compact JWS made with
/// the tenant's signing key (verifiable with its JWKS alone).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditCheckpoint {
    pub tenant_id: TenantId,
    pub seq: i64,
    pub hash: String,
    pub kid: String,
    pub jws: String,
    pub created_at: Timestamp,
}

/// Where a retention purge cut a tenant's chain: events up to and including `seq` are
/// gone, and the first remaining event's `prev_hash` equals `hash`. `jws` is the signed
/// record of the purge (`typ` `audit-anchor+jwt`, [`crate::chain_verify::AnchorClaims`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditAnchor {
    pub tenant_id: TenantId,
    pub seq: i64,
    pub hash: String,
    pub events_purged: i64,
    pub jws: String,
    pub purged_at: Timestamp,
}

/// A user's key for personal data inside audit events; `sealed_key` is `None` once the
/// user was erased (crypto-shredding).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubjectKey {
    pub tenant_id: TenantId,
    pub user_id: String,
    pub sealed_key: Option<Vec<u8>>,
    pub created_at: Timestamp,
    pub erased_at: Option<Timestamp>,
}

/// A legal hold on an organization's audit events: while active (`released_at` is
/// `None`), retention purge stops before the organization's oldest event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LegalHold {
    #[serde(skip)]
    pub tenant_id: TenantId,
    pub id: String,
    pub org_id: String,
    pub reason: String,
    pub created_at: Timestamp,
    pub released_at: Option<Timestamp>,
}

/// The format a streaming sink delivers in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SinkKind {
    /// `POST` of a JSON array of events to an HTTPS endpoint.
    Https,
    /// Splunk HTTP Event Collector (`/services/collector/event`).
    SplunkHec,
    /// Datadog logs intake (`/api/v2/logs`).
    Datadog,
    /// Syslog (RFC 5424) over TCP with octet counting (RFC 6587), optionally TLS.
    Syslog,
}

impl SinkKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Https => "https",
            Self::SplunkHec => "splunk_hec",
            Self::Datadog => "datadog",
            Self::Syslog => "syslog",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [Self::Https, Self::SplunkHec, Self::Datadog, Self::Syslog]
            .into_iter()
            .find(|k| k.as_str() == s)
    }
}

/// Delivery state of a sink.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SinkStatus {
    /// Nothing delivered yet.
    Pending,
    /// The last attempt succeeded.
    Ok,
    /// The last attempt failed; retrying with backoff.
    Retrying,
    /// Disabled by an administrator.
    Paused,
}

impl SinkStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Ok => "ok",
            Self::Retrying => "retrying",
            Self::Paused => "paused",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [Self::Pending, Self::Ok, Self::Retrying, Self::Paused]
            .into_iter()
            .find(|k| k.as_str() == s)
    }
}

/// A streaming destination for a tenant's audit events (at-least-once, in `seq` order).
#[derive(Debug, Clone, PartialEq)]
pub struct AuditSink {
    pub tenant_id: TenantId,
    pub id: String,
    pub name: String,
    pub kind: SinkKind,
    /// URL (`https://…`) or, for syslog, `tcp://host:port` / `tls://host:port`.
    pub endpoint: String,
    /// Token or API key, sealed under the tenant's data key.
    pub sealed_secret: Option<Vec<u8>>,
    /// Kind-specific options (index, source, hostname, event type filter, batch size…).
    pub options: JsonMap,
    pub enabled: bool,
    /// Last delivered sequence number.
    pub cursor: i64,
    pub status: SinkStatus,
    pub last_error: Option<String>,
    /// Consecutive failed attempts.
    pub attempts: i64,
    pub next_attempt_at: Timestamp,
    pub delivered_total: i64,
    pub last_delivered_at: Option<Timestamp>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

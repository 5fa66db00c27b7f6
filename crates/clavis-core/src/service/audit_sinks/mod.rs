//! Streaming sinks of a tenant's audit log: create, list, read, change, pause, resume and
//! delete them. Delivery itself (HTTP, syslog, retries) belongs to the server's worker; this
//! module owns what a sink may be configured as.
//!
//! Rules enforced here:
//! - the endpoint matches the kind: `https://…` for `https`, `splunk_hec` and `datadog`
//!   (`http://` is accepted only for a loopback host — `127.0.0.0/8`, `[::1]`, `localhost` —
//!   and the delivery worker refuses even that unless it was started with its
//!   insecure-test-endpoints option), `tls://host:port` for `syslog`, or `tcp://host:port`
//!   to a loopback or private-network address only (plain TCP carries personal data
//!   unencrypted; the worker also refuses it to any public address a name resolves to);
//!   never credentials in the URL, never a fragment;
//! - the API shows the endpoint without user info, query string or fragment
//!   ([`endpoint_for_log`]), as the audit events of sink changes do;
//! - options are checked per kind, and an unknown option is an error naming it;
//! - the secret (bearer token, HEC token, Datadog API key) is sealed with the tenant's data
//!   key (AAD `audit-sink:{tenant_id}:{sink_id}`), is never returned and never written to an
//!   audit event;
//! - every change appends `audit.sink.created|updated|deleted` in the same transaction.

use serde::{Deserialize, Serialize};
use serde_json::json;

use super::{Core, RequestMeta};
use crate::CoreError;
use crate::StoreError;
use crate::declarative::Secret;
use crate::model::{AuditActor, AuditSink, JsonMap, SinkKind, SinkStatus, Tenant};
use crate::ports::Tx;

mod validate;

pub use validate::{
    endpoint_for_log, is_loopback_host, is_loopback_or_private, sink_accepts, validate_endpoint,
    validate_options,
};
use validate::{validate_name, validate_secret, validate_secret_presence};

/// Most sinks one tenant may have.
pub const MAX_SINKS_PER_TENANT: usize = 20;
/// Most events one delivery may carry (the `batch_size` option's upper bound).
pub const MAX_SINK_BATCH: u32 = 1000;
/// Prefix of sink ids.
pub const SINK_ID_PREFIX: &str = "snk_";

/// What an administrator submits to create a sink.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SinkInput {
    /// Unique within the tenant, 1–100 characters.
    pub name: String,
    /// `https`, `splunk_hec`, `datadog` or `syslog`.
    pub kind: String,
    /// See the module documentation for what each kind accepts.
    pub endpoint: String,
    /// Bearer token (`https`, optional; also the HMAC key when `signature` is on), HEC token
    /// (`splunk_hec`, required) or API key (`datadog`, required). `syslog` takes none.
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub secret: Option<Secret>,
    /// Kind-specific options; see [`validate_options`].
    #[serde(default)]
    #[schema(value_type = Object)]
    pub options: JsonMap,
    /// Create the sink paused (`false`); default `true`.
    #[serde(default = "default_true")]
    pub enabled: bool,
    /// `"now"` (default: deliver events appended from now on, starting with this sink's own
    /// `audit.sink.created`) or `"beginning"` (the whole retained log).
    #[serde(default)]
    pub start_from: Option<String>,
}

fn default_true() -> bool {
    true
}

/// A change to a sink: absent fields stay as they are. The kind cannot change (delete
/// and create instead).
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SinkPatch {
    pub name: Option<String>,
    pub endpoint: Option<String>,
    /// A new secret; an empty string removes it.
    #[schema(value_type = Option<String>)]
    pub secret: Option<Secret>,
    /// Replaces all options.
    #[schema(value_type = Option<Object>)]
    pub options: Option<JsonMap>,
}

/// A sink as the API shows it: no secret (only whether one is set), the endpoint without
/// user info, query string or fragment (they may carry a token), and `status` reads
/// `paused` while the sink is disabled whatever the last delivery did.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct SinkView {
    pub id: String,
    pub name: String,
    pub kind: SinkKind,
    /// Scheme, host, port and path only (see [`endpoint_for_log`]).
    pub endpoint: String,
    pub has_secret: bool,
    #[schema(value_type = Object)]
    pub options: JsonMap,
    pub enabled: bool,
    pub status: SinkStatus,
    pub last_error: Option<String>,
    /// Consecutive failed attempts.
    pub attempts: i64,
    /// Last delivered sequence number.
    pub cursor: i64,
    pub next_attempt_at: String,
    pub delivered_total: i64,
    pub last_delivered_at: Option<String>,
    pub created_at: String,
    pub updated_at: String,
}

impl From<&AuditSink> for SinkView {
    fn from(s: &AuditSink) -> Self {
        Self {
            id: s.id.clone(),
            name: s.name.clone(),
            kind: s.kind,
            endpoint: endpoint_for_log(&s.endpoint),
            has_secret: s.sealed_secret.is_some(),
            options: s.options.clone(),
            enabled: s.enabled,
            status: effective_status(s),
            last_error: s.last_error.clone(),
            attempts: s.attempts,
            cursor: s.cursor,
            next_attempt_at: s.next_attempt_at.to_rfc3339(),
            delivered_total: s.delivered_total,
            last_delivered_at: s.last_delivered_at.map(|t| t.to_rfc3339()),
            created_at: s.created_at.to_rfc3339(),
            updated_at: s.updated_at.to_rfc3339(),
        }
    }
}

/// The status to show: `paused` while disabled, else what the last delivery recorded.
pub fn effective_status(s: &AuditSink) -> SinkStatus {
    if s.enabled {
        s.status
    } else {
        SinkStatus::Paused
    }
}

/// Additional authenticated data of a sink's sealed secret.
pub fn sink_secret_aad(s: &AuditSink) -> Vec<u8> {
    format!("audit-sink:{}:{}", s.tenant_id, s.id).into_bytes()
}

impl Core {
    /// Create a sink; it starts at the current head of the log unless `start_from` is
    /// `"beginning"`.
    pub async fn audit_sink_create(
        &self,
        tenant: &Tenant,
        input: SinkInput,
        actor: AuditActor,
        meta: &RequestMeta,
    ) -> Result<AuditSink, CoreError> {
        let kind = SinkKind::parse(input.kind.trim()).ok_or_else(|| {
            CoreError::invalid("kind", "expected https, splunk_hec, datadog or syslog")
        })?;
        let name = validate_name(&input.name)?;
        let endpoint = validate_endpoint(kind, &input.endpoint)?;
        let secret = input
            .secret
            .as_ref()
            .map(Secret::expose)
            .filter(|s| !s.is_empty());
        validate_secret(kind, secret)?;
        let options = validate_options(kind, &input.options, secret.is_some())?;
        let from_beginning = match input.start_from.as_deref().map(str::trim) {
            None | Some("" | "now") => false,
            Some("beginning") => true,
            Some(_) => {
                return Err(CoreError::invalid(
                    "start_from",
                    "expected \"now\" or \"beginning\"",
                ));
            }
        };
        let now = self.now();
        let mut tx = self.store.begin().await?;
        if tx.sink_list(&tenant.id).await?.len() >= MAX_SINKS_PER_TENANT {
            return Err(CoreError::Conflict(format!(
                "a tenant can have at most {MAX_SINKS_PER_TENANT} audit sinks"
            )));
        }
        let cursor = if from_beginning {
            0
        } else {
            tx.audit_head(&tenant.id).await?.seq
        };
        let mut sink = AuditSink {
            tenant_id: tenant.id.clone(),
            id: format!(
                "{SINK_ID_PREFIX}{}",
                clavis_types::encode_id(now, &*self.rng)
            ),
            name,
            kind,
            endpoint,
            sealed_secret: None,
            options,
            enabled: input.enabled,
            cursor,
            status: SinkStatus::Pending,
            last_error: None,
            attempts: 0,
            next_attempt_at: now,
            delivered_total: 0,
            last_delivered_at: None,
            created_at: now,
            updated_at: now,
        };
        if let Some(secret) = secret {
            let dk = self.keyring.data_key(&mut *tx, &tenant.id).await?;
            sink.sealed_secret =
                Some(dk.seal(secret.as_bytes(), &sink_secret_aad(&sink), &*self.rng));
        }
        tx.sink_insert(&sink)
            .await
            .map_err(|e| name_conflict(e, &sink.name))?;
        let mut context = sink_context(&sink);
        context.insert(
            "start_from".to_owned(),
            json!(if from_beginning { "beginning" } else { "now" }),
        );
        context.insert("cursor".to_owned(), json!(sink.cursor));
        let event = self.audit_event(&tenant.id, "audit.sink.created", actor, None, context, meta);
        self.audit_in(&mut *tx, event).await?;
        tx.commit().await?;
        Ok(sink)
    }

    /// The tenant's sinks by name.
    pub async fn audit_sink_list(&self, tenant: &Tenant) -> Result<Vec<AuditSink>, CoreError> {
        let mut tx = self.store.read().await?;
        Ok(tx.sink_list(&tenant.id).await?)
    }

    /// One sink.
    pub async fn audit_sink_get(&self, tenant: &Tenant, id: &str) -> Result<AuditSink, CoreError> {
        let mut tx = self.store.read().await?;
        tx.sink_get(&tenant.id, id)
            .await?
            .ok_or(CoreError::NotFound("audit sink"))
    }

    /// Change name, endpoint, secret or options. The delivery position and status are kept.
    pub async fn audit_sink_update(
        &self,
        tenant: &Tenant,
        id: &str,
        patch: SinkPatch,
        actor: AuditActor,
        meta: &RequestMeta,
    ) -> Result<AuditSink, CoreError> {
        let mut tx = self.store.begin().await?;
        let mut sink = load(&mut *tx, tenant, id).await?;
        let mut changed = Vec::new();
        if let Some(name) = &patch.name {
            let name = validate_name(name)?;
            if name != sink.name {
                sink.name = name;
                changed.push("name");
            }
        }
        if let Some(endpoint) = &patch.endpoint {
            let endpoint = validate_endpoint(sink.kind, endpoint)?;
            if endpoint != sink.endpoint {
                sink.endpoint = endpoint;
                changed.push("endpoint");
            }
        }
        let mut has_secret = sink.sealed_secret.is_some();
        if let Some(secret) = &patch.secret {
            let secret = Some(secret.expose()).filter(|s| !s.is_empty());
            validate_secret(sink.kind, secret)?;
            sink.sealed_secret = match secret {
                Some(s) => {
                    let dk = self.keyring.data_key(&mut *tx, &tenant.id).await?;
                    Some(dk.seal(s.as_bytes(), &sink_secret_aad(&sink), &*self.rng))
                }
                None => None,
            };
            has_secret = secret.is_some();
            changed.push("secret");
        } else {
            // The kind's secret requirement still holds (it cannot change without a patch).
            validate_secret_presence(sink.kind, has_secret)?;
        }
        let options = patch.options.as_ref().unwrap_or(&sink.options);
        let options = validate_options(sink.kind, options, has_secret)?;
        if options != sink.options {
            sink.options = options;
            changed.push("options");
        }
        if changed.is_empty() {
            return Ok(sink);
        }
        sink.updated_at = self.now();
        self.save(&mut *tx, &sink, &changed, actor, meta).await?;
        tx.commit().await?;
        Ok(sink)
    }

    /// Stop delivering to a sink (its position is kept; it reads `paused`).
    pub async fn audit_sink_pause(
        &self,
        tenant: &Tenant,
        id: &str,
        actor: AuditActor,
        meta: &RequestMeta,
    ) -> Result<AuditSink, CoreError> {
        self.audit_sink_set_enabled(tenant, id, false, actor, meta)
            .await
    }

    /// Resume delivering to a paused sink from where it stopped.
    pub async fn audit_sink_resume(
        &self,
        tenant: &Tenant,
        id: &str,
        actor: AuditActor,
        meta: &RequestMeta,
    ) -> Result<AuditSink, CoreError> {
        self.audit_sink_set_enabled(tenant, id, true, actor, meta)
            .await
    }

    async fn audit_sink_set_enabled(
        &self,
        tenant: &Tenant,
        id: &str,
        enabled: bool,
        actor: AuditActor,
        meta: &RequestMeta,
    ) -> Result<AuditSink, CoreError> {
        let mut tx = self.store.begin().await?;
        let mut sink = load(&mut *tx, tenant, id).await?;
        if sink.enabled == enabled {
            return Ok(sink);
        }
        sink.enabled = enabled;
        sink.updated_at = self.now();
        self.save(&mut *tx, &sink, &["enabled"], actor, meta)
            .await?;
        tx.commit().await?;
        Ok(sink)
    }

    /// Delete a sink; events already delivered stay where they are.
    pub async fn audit_sink_delete(
        &self,
        tenant: &Tenant,
        id: &str,
        actor: AuditActor,
        meta: &RequestMeta,
    ) -> Result<(), CoreError> {
        let mut tx = self.store.begin().await?;
        let sink = load(&mut *tx, tenant, id).await?;
        if !tx.sink_delete(&tenant.id, id).await? {
            return Err(CoreError::NotFound("audit sink"));
        }
        let mut context = sink_context(&sink);
        context.insert("delivered_total".to_owned(), json!(sink.delivered_total));
        context.insert("cursor".to_owned(), json!(sink.cursor));
        let event = self.audit_event(&tenant.id, "audit.sink.deleted", actor, None, context, meta);
        self.audit_in(&mut *tx, event).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn save(
        &self,
        tx: &mut dyn Tx,
        sink: &AuditSink,
        changed: &[&str],
        actor: AuditActor,
        meta: &RequestMeta,
    ) -> Result<(), CoreError> {
        if !tx
            .sink_update_config(sink)
            .await
            .map_err(|e| name_conflict(e, &sink.name))?
        {
            return Err(CoreError::NotFound("audit sink"));
        }
        let mut context = sink_context(sink);
        context.insert("changed".to_owned(), json!(changed));
        let event = self.audit_event(
            &sink.tenant_id,
            "audit.sink.updated",
            actor,
            None,
            context,
            meta,
        );
        self.audit_in(tx, event).await
    }
}

async fn load(tx: &mut dyn Tx, tenant: &Tenant, id: &str) -> Result<AuditSink, CoreError> {
    tx.sink_get(&tenant.id, id)
        .await?
        .ok_or(CoreError::NotFound("audit sink"))
}

fn name_conflict(e: StoreError, name: &str) -> CoreError {
    match e {
        StoreError::Conflict(_) => {
            CoreError::Conflict(format!("an audit sink named `{name}` already exists"))
        }
        other => other.into(),
    }
}

/// What the audit events of a sink say about it: never the secret, and the endpoint
/// without its query (which may carry a key).
fn sink_context(s: &AuditSink) -> JsonMap {
    JsonMap::from_iter([
        ("sink_id".to_owned(), json!(s.id)),
        ("name".to_owned(), json!(s.name)),
        ("kind".to_owned(), json!(s.kind.as_str())),
        ("endpoint".to_owned(), json!(endpoint_for_log(&s.endpoint))),
        ("enabled".to_owned(), json!(s.enabled)),
    ])
}

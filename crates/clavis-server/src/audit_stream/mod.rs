//! Streaming of every tenant's audit log to its configured sinks (generic HTTPS JSON
//! batches, Splunk HEC, Datadog logs, syslog RFC 5424 over TCP or TLS).
//!
//! Delivery is **at least once, in `seq` order**. Each node runs one worker. A worker
//! claims due sinks with a lease (`AuditSinkRepo::sink_claim_due`), so a sink is served by
//! one node at a time; for each it reads one batch after the sink's cursor, sends it, and
//! records the outcome with the lease (`sink_record`): success moves the cursor, resets the
//! attempts and adds to `delivered_total`; failure keeps the cursor, sets status
//! `retrying`, a `last_error` free of secrets, and the next attempt after an exponential
//! backoff with jitter (1 s doubling to 5 min). Non-2xx answers are failures, including
//! 4xx: the sink keeps retrying (with backoff) and its status shows why. A batch sent but
//! not recorded (crash, lost lease, shutdown in between) is sent again: receivers
//! deduplicate on `event_id`.
//!
//! Network safety (SSRF): HTTP kinds require `https://`; redirects are never followed; no
//! proxy from the environment is used; every address a host name resolves to (and every
//! IP literal) is checked before connecting, and loopback, private (RFC 1918, CGNAT,
//! unique-local), link-local (cloud metadata), multicast and unspecified addresses are
//! refused. [`AuditStreamOptions::allow_private_networks`] admits private ranges (a SIEM on
//! the same private network); [`AuditStreamOptions::allow_insecure_loopback`] admits
//! loopback addresses *and* plain `http://` to them — for tests and single-machine
//! set-ups only. Every network call has a timeout; time comes from `Core`'s clock.

mod http;
mod net;
mod syslog;

use std::sync::Arc;
use std::time::Duration;

use clavis_core::Core;
use clavis_core::model::{AuditSink, ChainedEvent, SinkKind, SinkStatus, Tenant};
use clavis_core::service::audit_sinks::{MAX_SINK_BATCH, sink_accepts, sink_secret_aad};
use clavis_types::Timestamp;
use serde_json::Value;
use tokio::sync::{Notify, watch};
use tokio::task::{JoinHandle, JoinSet};
use zeroize::Zeroizing;

pub(crate) use net::NetPolicy;

/// Shortest and longest wait after a failed delivery.
const BACKOFF_FIRST_MS: i64 = 1_000;
const BACKOFF_CAP_MS: i64 = 300_000;
/// Longest `last_error` kept.
const MAX_ERROR_LEN: usize = 500;

/// How the delivery worker runs. `Default` is what production uses.
#[derive(Debug, Clone)]
pub struct AuditStreamOptions {
    /// How often the worker looks for due sinks (it also runs at once after
    /// [`AuditStreaming::wake`], and again at once while a sink has a backlog).
    pub poll_interval: Duration,
    /// Events per delivery unless a sink's `batch_size` option says otherwise (1–1000).
    pub batch_size: u32,
    /// Sinks one node delivers to at the same time.
    pub concurrency: u32,
    /// How long a claimed sink stays leased to this node, in seconds of the `Core` clock;
    /// must exceed the longest delivery (timeouts below), or another node may deliver the
    /// same batch again (harmless, but wasted).
    pub lease_secs: i64,
    /// Connecting (TCP, and TLS handshake for syslog) to a sink.
    pub connect_timeout: Duration,
    /// A whole delivery: connect, send, and read the answer.
    pub request_timeout: Duration,
    /// Admit private addresses (RFC 1918, CGNAT, IPv6 unique-local).
    pub allow_private_networks: bool,
    /// Admit loopback addresses and plain `http://` to a loopback host. Tests only.
    pub allow_insecure_loopback: bool,
    /// Extra trust anchors (DER) for HTTPS and syslog over TLS, besides the platform's.
    pub extra_root_certs: Vec<Vec<u8>>,
    /// The host name this installation reports (syslog HOSTNAME, Splunk `host`, Datadog
    /// `hostname`) unless a sink's options name another.
    pub hostname: String,
}

impl Default for AuditStreamOptions {
    fn default() -> Self {
        Self {
            poll_interval: Duration::from_secs(1),
            batch_size: 100,
            concurrency: 8,
            lease_secs: 120,
            connect_timeout: Duration::from_secs(5),
            request_timeout: Duration::from_secs(20),
            allow_private_networks: false,
            allow_insecure_loopback: false,
            extra_root_certs: Vec::new(),
            hostname: "clavis".to_owned(),
        }
    }
}

/// Why the worker could not start.
#[derive(Debug, thiserror::Error)]
pub enum AuditStreamError {
    /// An option is out of range (batch size, concurrency, lease shorter than timeouts).
    #[error("invalid audit streaming option: {0}")]
    Options(String),
    /// The TLS client (trust store, extra roots) could not be built.
    #[error("cannot set up TLS for audit streaming: {0}")]
    Tls(String),
}

/// Handle to a running delivery worker. Dropping it stops the worker.
#[derive(Debug)]
pub struct AuditStreaming {
    node_id: String,
    wake: Arc<Notify>,
    stop: watch::Sender<bool>,
    task: Option<JoinHandle<()>>,
}

impl AuditStreaming {
    /// Look for due sinks now rather than at the next poll (e.g. after an append).
    pub fn wake(&self) {
        self.wake.notify_one();
    }

    /// The lease owner name this worker claims sinks under.
    pub fn node_id(&self) -> &str {
        &self.node_id
    }

    /// Stop the worker and wait for it. Deliveries in flight are abandoned; their sinks
    /// are delivered again (from the recorded cursor) once the lease runs out.
    pub async fn stop(mut self) {
        let _ = self.stop.send(true);
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for AuditStreaming {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
    }
}

/// Start the delivery worker of this node on the current runtime. `Server` starts one
/// next to the HTTP listener and calls [`AuditStreaming::stop`] when it shuts down.
pub fn spawn_audit_streaming(
    core: Core,
    opts: AuditStreamOptions,
) -> Result<AuditStreaming, AuditStreamError> {
    if opts.batch_size == 0 || opts.batch_size > MAX_SINK_BATCH {
        return Err(AuditStreamError::Options(format!(
            "batch_size must be 1 to {MAX_SINK_BATCH}"
        )));
    }
    if opts.concurrency == 0 || opts.poll_interval.is_zero() {
        return Err(AuditStreamError::Options(
            "concurrency and poll_interval must be positive".to_owned(),
        ));
    }
    let longest = opts.connect_timeout + opts.request_timeout;
    if i128::from(opts.lease_secs) * 1000
        <= i128::try_from(longest.as_millis()).unwrap_or(i128::MAX)
    {
        return Err(AuditStreamError::Options(
            "lease_secs must exceed connect_timeout + request_timeout".to_owned(),
        ));
    }
    let policy = NetPolicy {
        allow_private: opts.allow_private_networks,
        allow_loopback: opts.allow_insecure_loopback,
    };
    let node_id = format!("node_{}", clavis_types::random_base32(&*core.rng, 20));
    let worker = Arc::new(Worker {
        http: http::client(&opts, policy)?,
        tls: syslog::tls_config(&opts.extra_root_certs)?,
        policy,
        node_id: node_id.clone(),
        core,
        opts,
    });
    let wake = Arc::new(Notify::new());
    let (stop, stopped) = watch::channel(false);
    let task = tokio::spawn(run(worker, wake.clone(), stopped));
    Ok(AuditStreaming {
        node_id,
        wake,
        stop,
        task: Some(task),
    })
}

struct Worker {
    core: Core,
    opts: AuditStreamOptions,
    policy: NetPolicy,
    node_id: String,
    http: reqwest::Client,
    tls: Arc<tokio_rustls::rustls::ClientConfig>,
}

async fn run(worker: Arc<Worker>, wake: Arc<Notify>, mut stop: watch::Receiver<bool>) {
    let mut tick = tokio::time::interval(worker.opts.poll_interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            () = wake.notified() => {}
            _ = stop.changed() => return,
        }
        // Keep going while some sink has a backlog (a full batch was delivered).
        loop {
            if *stop.borrow() {
                return;
            }
            let round = worker.clone().round();
            let more = tokio::select! {
                more = round => more,
                _ = stop.changed() => return,
            };
            if !more {
                break;
            }
        }
    }
}

impl Worker {
    /// Claim due sinks and deliver one batch to each; true when any had more waiting.
    async fn round(self: Arc<Self>) -> bool {
        let now = self.core.now();
        let lease_until = now.plus_secs(self.opts.lease_secs);
        let claimed = match self.claim(now, lease_until).await {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!(error = %e, "claiming audit sinks failed; retrying at the next poll");
                return false;
            }
        };
        let mut tasks = JoinSet::new();
        for sink in claimed {
            let w = self.clone();
            tasks.spawn(async move { w.serve(sink).await });
        }
        let mut more = false;
        while let Some(r) = tasks.join_next().await {
            more |= r.unwrap_or(false);
        }
        more
    }

    async fn claim(
        &self,
        now: Timestamp,
        lease_until: Timestamp,
    ) -> Result<Vec<AuditSink>, clavis_core::CoreError> {
        let mut tx = self.core.store.begin().await?;
        let claimed = tx
            .sink_claim_due(&self.node_id, now, lease_until, self.opts.concurrency)
            .await?;
        tx.commit().await?;
        Ok(claimed)
    }

    /// Deliver one batch to `sink` and record the outcome; true when a full batch went out
    /// (there may be more).
    async fn serve(&self, mut sink: AuditSink) -> bool {
        let limit = batch_limit(&sink, self.opts.batch_size);
        let outcome = self.deliver(&sink, limit).await;
        let now = self.core.now();
        let more = match outcome {
            Ok(done) => {
                if let Some(last) = done.last_seq {
                    sink.cursor = last;
                }
                if done.sent > 0 {
                    sink.delivered_total = sink.delivered_total.saturating_add(done.sent);
                    sink.last_delivered_at = Some(now);
                }
                if done.sent > 0 || sink.status == SinkStatus::Retrying {
                    sink.status = SinkStatus::Ok;
                }
                sink.attempts = 0;
                sink.last_error = None;
                sink.next_attempt_at = now;
                done.read >= limit
            }
            Err(e) => {
                sink.attempts = sink.attempts.saturating_add(1);
                sink.status = SinkStatus::Retrying;
                sink.last_error = Some(truncate(&e.0, MAX_ERROR_LEN));
                sink.next_attempt_at = Timestamp::from_millis(
                    now.as_millis()
                        .saturating_add(backoff_ms(sink.attempts, &*self.core.rng)),
                );
                tracing::info!(
                    tenant = %sink.tenant_id,
                    sink = %sink.id,
                    attempts = sink.attempts,
                    error = %e.0,
                    "audit sink delivery failed; will retry"
                );
                false
            }
        };
        match self.record(&sink).await {
            Ok(true) => more,
            Ok(false) => {
                tracing::warn!(sink = %sink.id, "lost the lease of an audit sink before recording its delivery");
                false
            }
            Err(e) => {
                tracing::warn!(sink = %sink.id, error = %e, "recording an audit sink delivery failed");
                false
            }
        }
    }

    async fn record(&self, sink: &AuditSink) -> Result<bool, clavis_core::CoreError> {
        let mut tx = self.core.store.begin().await?;
        let held = tx.sink_record(sink, &self.node_id).await?;
        tx.commit().await?;
        Ok(held)
    }

    /// Read the next batch after the sink's cursor and send it.
    async fn deliver(&self, sink: &AuditSink, limit: u32) -> Result<Delivered, DeliveryError> {
        let (tenant, events, secret) = self.read(sink, limit).await?;
        let Some(last) = events.last().map(|e| e.seq) else {
            return Ok(Delivered::default());
        };
        let read = u32::try_from(events.len()).unwrap_or(u32::MAX);
        let wanted: Vec<ChainedEvent> = events
            .into_iter()
            .filter(|e| sink_accepts(&sink.options, &e.event_type))
            .collect();
        if !wanted.is_empty() {
            let views = self
                .core
                .audit_views(&tenant, &wanted)
                .await
                .map_err(|e| DeliveryError(format!("reading events failed: {e}")))?;
            if views.len() != wanted.len() {
                return Err(DeliveryError(
                    "reading events failed: views do not match".into(),
                ));
            }
            let mut items = Vec::with_capacity(wanted.len());
            for (e, v) in wanted.into_iter().zip(views) {
                let view = serde_json::to_value(&v)
                    .map_err(|e| DeliveryError(format!("encoding an event failed: {e}")))?;
                items.push(Item { event: e, view });
            }
            let batch = Batch {
                tenant: &tenant,
                sink,
                secret: secret.as_deref().map(String::as_str),
                items: &items,
                now: self.core.now(),
                hostname: &self.opts.hostname,
            };
            let sent = match sink.kind {
                SinkKind::Https | SinkKind::SplunkHec | SinkKind::Datadog => {
                    http::send(&self.http, self.policy, &batch).await
                }
                SinkKind::Syslog => {
                    let t = syslog::Transport {
                        policy: self.policy,
                        tls: self.tls.clone(),
                        connect_timeout: self.opts.connect_timeout,
                        timeout: self.opts.request_timeout,
                    };
                    syslog::send(&t, &batch).await
                }
            };
            sent.map_err(|e| e.scrub(secret.as_deref().map(String::as_str)))?;
            return Ok(Delivered {
                last_seq: Some(last),
                read,
                sent: i64::try_from(items.len()).unwrap_or(i64::MAX),
            });
        }
        Ok(Delivered {
            last_seq: Some(last),
            read,
            sent: 0,
        })
    }

    /// The tenant, the next events, and the sink's secret (opened).
    async fn read(
        &self,
        sink: &AuditSink,
        limit: u32,
    ) -> Result<(Tenant, Vec<ChainedEvent>, Option<Zeroizing<String>>), DeliveryError> {
        let db = |e: clavis_core::StoreError| {
            DeliveryError(format!("reading the audit log failed: {e}"))
        };
        let mut tx = self.core.store.read().await.map_err(db)?;
        let tenant = tx
            .tenant_get(&sink.tenant_id)
            .await
            .map_err(db)?
            .ok_or_else(|| DeliveryError("the tenant no longer exists".into()))?;
        let events = tx
            .audit_range(&sink.tenant_id, sink.cursor, None, limit)
            .await
            .map_err(db)?;
        let secret = match &sink.sealed_secret {
            Some(sealed) if !events.is_empty() => {
                let dk = self
                    .core
                    .keyring
                    .data_key(&mut *tx, &sink.tenant_id)
                    .await
                    .map_err(|e| DeliveryError(format!("opening the sink's secret failed: {e}")))?;
                let plain = dk
                    .open(sealed, &sink_secret_aad(sink))
                    .map_err(|_| DeliveryError("the sink's secret cannot be opened".into()))?;
                let text = String::from_utf8(plain.to_vec())
                    .map_err(|_| DeliveryError("the sink's secret is not text".into()))?;
                Some(Zeroizing::new(text))
            }
            _ => None,
        };
        Ok((tenant, events, secret))
    }
}

/// What one delivery did.
#[derive(Debug, Default)]
struct Delivered {
    /// The newest sequence number read (the new cursor), if any event was read.
    last_seq: Option<i64>,
    /// Events read (delivered or skipped by the sink's filter).
    read: u32,
    /// Events sent.
    sent: i64,
}

/// A failed delivery, described without secrets.
#[derive(Debug)]
pub(crate) struct DeliveryError(pub(crate) String);

impl DeliveryError {
    /// Remove any occurrence of the secret (a receiver may echo it back).
    fn scrub(self, secret: Option<&str>) -> Self {
        match secret {
            Some(s) if !s.is_empty() => Self(self.0.replace(s, "**redacted**")),
            _ => self,
        }
    }
}

/// One event to send: the stored record (seq, id, type, time) and its readable view.
pub(crate) struct Item {
    pub(crate) event: ChainedEvent,
    pub(crate) view: Value,
}

/// Everything a format needs to encode and send one batch.
pub(crate) struct Batch<'a> {
    pub(crate) tenant: &'a Tenant,
    pub(crate) sink: &'a AuditSink,
    pub(crate) secret: Option<&'a str>,
    pub(crate) items: &'a [Item],
    pub(crate) now: Timestamp,
    pub(crate) hostname: &'a str,
}

impl Batch<'_> {
    /// A string option of the sink.
    pub(crate) fn option(&self, key: &str) -> Option<&str> {
        self.sink.options.get(key).and_then(Value::as_str)
    }
}

fn batch_limit(sink: &AuditSink, default: u32) -> u32 {
    sink.options
        .get("batch_size")
        .and_then(Value::as_u64)
        .and_then(|n| u32::try_from(n).ok())
        .unwrap_or(default)
        .clamp(1, MAX_SINK_BATCH)
}

/// Wait before attempt `attempts + 1`: 1 s doubling per failure up to 5 min, less a
/// random quarter so nodes and sinks that failed together do not retry together.
fn backoff_ms(attempts: i64, rng: &dyn clavis_types::Rng) -> i64 {
    let doublings = u32::try_from(attempts.saturating_sub(1).clamp(0, 20)).unwrap_or(20);
    let full = BACKOFF_FIRST_MS
        .saturating_mul(1_i64 << doublings)
        .min(BACKOFF_CAP_MS);
    let mut b = [0u8; 8];
    rng.fill(&mut b);
    let r = i64::try_from(u64::from_le_bytes(b) >> 2).unwrap_or(0);
    full - r % (full / 4 + 1)
}

fn truncate(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_owned();
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &s[..end])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug)]
    struct Fixed(u8);
    impl clavis_types::Rng for Fixed {
        fn fill(&self, buf: &mut [u8]) {
            buf.fill(self.0);
        }
    }

    #[test]
    fn backoff_doubles_from_one_second_to_five_minutes_with_bounded_jitter() {
        for rng in [Fixed(0), Fixed(0x5a), Fixed(0xff)] {
            let mut last_full = 0;
            for attempts in 1..=30 {
                let full = (1000_i64 << (attempts - 1).min(20)).min(300_000);
                let d = backoff_ms(attempts, &rng);
                assert!(
                    d <= full && d >= full - full / 4,
                    "attempt {attempts}: {d} vs {full}"
                );
                assert!(full >= last_full);
                last_full = full;
            }
        }
        assert_eq!(backoff_ms(1, &Fixed(0)), 1000);
        assert_eq!(backoff_ms(2, &Fixed(0)), 2000);
        assert_eq!(backoff_ms(30, &Fixed(0)), 300_000);
    }

    #[test]
    fn errors_lose_the_secret_and_stay_short() {
        let e = DeliveryError("HTTP 401: bad token s3cr3t".into()).scrub(Some("s3cr3t"));
        assert_eq!(e.0, "HTTP 401: bad token **redacted**");
        assert_eq!(truncate("ééé", 3), "é…");
    }
}

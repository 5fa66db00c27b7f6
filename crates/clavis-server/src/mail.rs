//! Email delivery: the worker that sends the outbox over SMTP, and the outbox's retention.
//!
//! Requests never send email: they insert a message into the outbox (`Core::queue_email`,
//! state `pending` when an SMTP server is configured, else `stored` — the development
//! outbox, read through the Management API). Each node runs one worker. Promptly after
//! start and then every `smtp_poll_interval_ms`, it claims the messages due
//! (`outbox_claim_due`: their next attempt moves to the end of a lease, so no other node
//! takes them meanwhile; PostgreSQL skips rows another node holds) and sends them one by
//! one. A delivered message becomes `sent` and its bodies are emptied (they may hold
//! one-time links). A failed attempt is retried after 1 min, 5 min, 30 min, 2 h and 6 h;
//! the sixth failure gives up (`failed`). A message that cannot be built (an invalid
//! recipient address) fails at once. Delivery is at least once: a message sent but not
//! recorded (a crash in between) is sent again after its lease, with the same
//! `Message-ID`.
//!
//! Every node also deletes messages older than [`OUTBOX_RETENTION_DAYS`] once a day (first
//! a few minutes after start), whether or not SMTP is configured.
//!
//! Time comes from `Core`'s clock (tests move it); only the polling cadence is real time.

mod smtp;

pub use smtp::{SmtpSecurity, SmtpSettings};

use std::sync::Arc;
use std::time::Duration;

use clavis_api::Metrics;
use clavis_core::model::OutboxEmail;
use clavis_core::{Core, CoreError};
use clavis_types::Timestamp;
use lettre::{AsyncSmtpTransport, Tokio1Executor};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::config::ConfigError;

/// Messages claimed per round.
const BATCH: i64 = 10;
/// Wait before each retry: after the first failed attempt, the second, …
const BACKOFF_SECS: [i64; 5] = [60, 300, 1_800, 7_200, 21_600];
/// Attempts before a message is given up (`failed`).
pub const MAX_ATTEMPTS: i64 = 6;
/// Messages older than this are deleted, whatever their state.
pub const OUTBOX_RETENTION_DAYS: i64 = 30;
/// How often retention is enforced, and the delay of the first purge after start.
const PURGE_EVERY: Duration = Duration::from_secs(24 * 3600);
const FIRST_PURGE_AFTER: Duration = Duration::from_secs(300);
/// How long shutdown waits for a message being sent.
const STOP_GRACE: Duration = Duration::from_secs(10);

/// When a failed message is tried again, or `None` to give up; `attempts` counts the
/// attempts made, the failed one included.
pub fn retry_delay_secs(attempts: i64) -> Option<i64> {
    if attempts >= MAX_ATTEMPTS {
        return None;
    }
    let i = usize::try_from(attempts.saturating_sub(1)).unwrap_or(0);
    BACKOFF_SECS.get(i).or(BACKOFF_SECS.last()).copied()
}

/// Delete messages of every tenant queued more than [`OUTBOX_RETENTION_DAYS`] ago;
/// returns how many.
pub async fn purge_outbox(core: &Core) -> Result<u64, CoreError> {
    let before = core.now().plus_secs(-OUTBOX_RETENTION_DAYS * 86_400);
    let mut tx = core.store.begin().await?;
    let n = tx.outbox_purge(before).await?;
    tx.commit().await?;
    Ok(n)
}

/// The SMTP side of the worker, built at start from the configuration.
pub(crate) struct Sender {
    settings: SmtpSettings,
    transport: AsyncSmtpTransport<Tokio1Executor>,
}

impl Sender {
    /// `None` when no SMTP server is configured.
    pub(crate) fn from_config(cfg: &crate::Config) -> Result<Option<Self>, ConfigError> {
        let Some(settings) = SmtpSettings::from_config(cfg)? else {
            return Ok(None);
        };
        let transport = settings.transport()?;
        Ok(Some(Self {
            settings,
            transport,
        }))
    }

    /// Where email goes, for the start-up log (never the credentials).
    pub(crate) fn describe(&self) -> String {
        let s = &self.settings;
        let how = match s.security {
            SmtpSecurity::StartTls => "STARTTLS",
            SmtpSecurity::Implicit => "TLS",
            SmtpSecurity::None => "no TLS",
        };
        format!("SMTP {}:{} ({how})", s.host, s.port)
    }

    /// The longest one message may take, every step included.
    fn send_limit(&self) -> Duration {
        self.settings.timeout.saturating_mul(3)
    }

    /// How long claimed messages stay leased: longer than a whole batch can take.
    fn lease_secs(&self) -> i64 {
        let batch = u32::try_from(BATCH).unwrap_or(10);
        i64::try_from(self.send_limit().saturating_mul(batch).as_secs())
            .unwrap_or(i64::MAX / 2_000)
            .saturating_add(60)
    }
}

/// Handle to the running worker.
pub(crate) struct MailWorker {
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
}

impl MailWorker {
    /// Stop the worker: a message being sent may finish (briefly), then the task ends.
    pub(crate) async fn stop(self) {
        let _ = self.stop.send(true);
        let mut task = self.task;
        if tokio::time::timeout(STOP_GRACE, &mut task).await.is_err() {
            task.abort();
        }
    }
}

/// Start the worker: delivery when `sender` is given, retention always.
pub(crate) fn spawn(core: Core, sender: Option<Sender>, metrics: Arc<Metrics>) -> MailWorker {
    let (stop, stopped) = watch::channel(false);
    let worker = Worker {
        core,
        sender,
        metrics,
    };
    let task = tokio::spawn(worker.run(stopped));
    MailWorker { stop, task }
}

struct Worker {
    core: Core,
    sender: Option<Sender>,
    metrics: Arc<Metrics>,
}

impl Worker {
    async fn run(self, mut stop: watch::Receiver<bool>) {
        let every = self
            .sender
            .as_ref()
            .map_or(PURGE_EVERY, |s| s.settings.poll_interval);
        // The first tick fires at once: messages queued before a restart go out promptly.
        let mut poll = tokio::time::interval(every);
        poll.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut purges =
            tokio::time::interval_at(tokio::time::Instant::now() + FIRST_PURGE_AFTER, PURGE_EVERY);
        purges.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = poll.tick(), if self.sender.is_some() => self.deliver_due(&stop).await,
                _ = purges.tick() => match purge_outbox(&self.core).await {
                    Ok(0) => {}
                    Ok(n) => tracing::info!(messages = n, "purged old messages from the email outbox"),
                    Err(e) => tracing::warn!(error = %e, "email outbox purge failed; retrying tomorrow"),
                },
                _ = stop.changed() => return,
            }
            if *stop.borrow() {
                return;
            }
        }
    }

    /// Claim and send due messages until none are left or the worker is stopped.
    async fn deliver_due(&self, stop: &watch::Receiver<bool>) {
        let Some(sender) = &self.sender else { return };
        loop {
            let now = self.core.now();
            let claimed = match self.claim(now, now.plus_secs(sender.lease_secs())).await {
                Ok(c) => c,
                Err(e) => {
                    tracing::warn!(error = %e, "claiming due email failed; retrying at the next poll");
                    return;
                }
            };
            let full = i64::try_from(claimed.len()).unwrap_or(0) >= BATCH;
            for email in claimed {
                // Messages claimed but not sent stay leased and go out after the lease.
                if *stop.borrow() {
                    return;
                }
                self.deliver(sender, &email).await;
            }
            if !full {
                return;
            }
        }
    }

    async fn claim(
        &self,
        now: Timestamp,
        lease_until: Timestamp,
    ) -> Result<Vec<OutboxEmail>, CoreError> {
        let mut tx = self.core.store.begin().await?;
        let claimed = tx.outbox_claim_due(now, lease_until, BATCH).await?;
        tx.commit().await?;
        Ok(claimed)
    }

    /// Send one message and record the outcome.
    async fn deliver(&self, sender: &Sender, email: &OutboxEmail) {
        let outcome = match smtp::build_message(&sender.settings.from, email) {
            Ok(message) => smtp::send(&sender.transport, &message, sender.send_limit())
                .await
                .map_err(|e| (sender.settings.scrub(&e), false)),
            Err(e) => Err((sender.settings.scrub(&e.0), true)),
        };
        let recorded = match &outcome {
            Ok(()) => {
                self.metrics.email_sent();
                tracing::info!(tenant = %email.tenant_id, email = %email.id, template = %email.template, "email sent");
                self.record_sent(email).await
            }
            Err((error, permanent)) => {
                let attempts = email.attempts.saturating_add(1);
                let delay = if *permanent {
                    None
                } else {
                    retry_delay_secs(attempts)
                };
                let next = self.core.now().plus_secs(delay.unwrap_or(0));
                match delay {
                    Some(d) => {
                        self.metrics.email_retry();
                        tracing::warn!(tenant = %email.tenant_id, email = %email.id, attempts, retry_in_secs = d, %error, "email delivery failed; will retry");
                    }
                    None => {
                        self.metrics.email_failed();
                        tracing::warn!(tenant = %email.tenant_id, email = %email.id, attempts, %error, "email delivery failed; giving up");
                    }
                }
                self.record_failed(email, next, error, delay.is_none())
                    .await
            }
        };
        if let Err(e) = recorded {
            tracing::warn!(email = %email.id, error = %e, "recording an email delivery failed; the message may be sent again after its lease");
        }
    }

    async fn record_sent(&self, email: &OutboxEmail) -> Result<(), CoreError> {
        let mut tx = self.core.store.begin().await?;
        tx.outbox_mark_sent(&email.tenant_id, &email.id, self.core.now())
            .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn record_failed(
        &self,
        email: &OutboxEmail,
        next: Timestamp,
        error: &str,
        give_up: bool,
    ) -> Result<(), CoreError> {
        let mut tx = self.core.store.begin().await?;
        tx.outbox_mark_failed(&email.tenant_id, &email.id, next, error, give_up)
            .await?;
        tx.commit().await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_schedule() {
        let delays: Vec<_> = (1..=7).map(retry_delay_secs).collect();
        assert_eq!(
            delays,
            [
                Some(60),
                Some(300),
                Some(1_800),
                Some(7_200),
                Some(21_600),
                None,
                None
            ]
        );
    }
}

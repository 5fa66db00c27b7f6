//! Background upkeep of the audit log on a running server: signed checkpoints of every
//! chain whose head moved, at a fixed interval, and the daily retention purge. Every node
//! may run them: checkpoints at one sequence number are stored once, and a purge that
//! finds nothing older than the retention does nothing. The same task deletes old
//! attack-protection counting windows hourly (`Core::purge_rate_counters`).

use std::time::Duration;

use clavis_core::Core;
use clavis_core::service::RequestMeta;

/// How often retention is enforced.
const PURGE_EVERY: Duration = Duration::from_secs(24 * 3600);
/// Delay of the first purge after start.
const FIRST_PURGE_AFTER: Duration = Duration::from_secs(300);
/// How often old rate-limit windows are deleted.
const RATE_PURGE_EVERY: Duration = Duration::from_secs(3600);

/// Start the upkeep task; abort the handle to stop it.
pub(crate) fn spawn(core: Core, checkpoint_every_secs: u64) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let checkpoint_every = Duration::from_secs(checkpoint_every_secs.max(1));
        let mut checkpoints = tokio::time::interval(checkpoint_every);
        // The first purge runs soon after start (so nodes restarted more often than daily
        // still purge), then daily.
        let mut purges =
            tokio::time::interval_at(tokio::time::Instant::now() + FIRST_PURGE_AFTER, PURGE_EVERY);
        let mut rate_purges = tokio::time::interval_at(
            tokio::time::Instant::now() + FIRST_PURGE_AFTER,
            RATE_PURGE_EVERY,
        );
        checkpoints.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        purges.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        rate_purges.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        // The first tick of an interval fires at once; skip it so start-up stays fast.
        checkpoints.tick().await;
        loop {
            tokio::select! {
                _ = checkpoints.tick(), if checkpoint_every_secs > 0 => {
                    match core.audit_checkpoint_all().await {
                        Ok(n) if n > 0 => tracing::info!(tenants = n, "signed audit checkpoints"),
                        Ok(_) => {}
                        Err(e) => tracing::warn!(error = %e, "audit checkpoints failed; retrying at the next interval"),
                    }
                }
                _ = purges.tick() => {
                    let meta = RequestMeta { ip_address: None, user_agent: Some("clavis-retention".into()), caller: None };
                    if let Err(e) = core.audit_purge_all(&meta).await {
                        tracing::warn!(error = %e, "audit retention purge failed; retrying tomorrow");
                    }
                }
                _ = rate_purges.tick() => {
                    if let Err(e) = core.purge_rate_counters().await {
                        tracing::warn!(error = %e, "purging old rate-limit windows failed; retrying in an hour");
                    }
                }
            }
        }
    })
}

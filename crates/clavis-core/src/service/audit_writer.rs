//! Group commit for audit events that accompany no other write (token issuance, failed
//! logins): requests hand their event to one writer task and wait until the transaction
//! holding it has committed, so no event is lost, while many events share one commit.

use std::collections::BTreeMap;
use std::sync::Arc;
use tokio::sync::{mpsc, oneshot};

use crate::model::AuditEvent;
use crate::ports::Store;

/// Most events written in one transaction.
const MAX_BATCH: usize = 1024;
/// Times the writer yields to gather more events before a commit ([`linger`]). Every
/// yield lets the requests already running hand in their events, and keeps every request
/// of the batch waiting: with 64 connections on 2 cores, 2 yields gave 10–15 % more
/// tokens per second than 4 (medians of alternated runs, the method of `bench/token.sh`).
const LINGER_YIELDS: usize = 2;
/// A batch this large is written without lingering: its commit cost is already shared, and
/// the clients waiting for it do nothing meanwhile.
const LINGER_UNTIL: usize = 32;

type Ack = oneshot::Sender<Result<(), String>>;

/// Handle to the writer task.
#[derive(Debug, Clone)]
pub struct AuditWriter {
    tx: mpsc::Sender<(AuditEvent, Ack)>,
}

impl AuditWriter {
    /// Start the writer on the current runtime (`None` outside one).
    pub fn spawn(store: Arc<dyn Store>) -> Option<Self> {
        let handle = tokio::runtime::Handle::try_current().ok()?;
        let (tx, rx) = mpsc::channel(8192);
        handle.spawn(run(store, rx));
        Some(Self { tx })
    }

    /// Append `event` and wait until it is committed.
    pub async fn append(&self, event: AuditEvent) -> Result<(), String> {
        let (ack, done) = oneshot::channel();
        self.tx
            .send((event, ack))
            .await
            .map_err(|_| "the audit writer has stopped".to_owned())?;
        done.await
            .map_err(|_| "the audit writer has stopped".to_owned())?
    }
}

async fn run(store: Arc<dyn Store>, mut rx: mpsc::Receiver<(AuditEvent, Ack)>) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    let mut last_len = 0;
    while rx.recv_many(&mut batch, MAX_BATCH).await > 0 {
        // Only under load (the last commit was shared): a lone request is not delayed.
        if last_len > 1 || batch.len() > 1 {
            linger(&mut rx, &mut batch).await;
        }
        last_len = batch.len();
        let (events, acks): (Vec<AuditEvent>, Vec<Ack>) = batch.drain(..).unzip();
        let result = write(&*store, events).await;
        for ack in acks {
            let _ = ack.send(result.clone());
        }
    }
}

/// Under load, let the requests already running on this runtime hand in their events
/// before the commit, so that more of them share it (each commit rewrites the pages it
/// touches, whatever the number of events).
async fn linger(rx: &mut mpsc::Receiver<(AuditEvent, Ack)>, batch: &mut Vec<(AuditEvent, Ack)>) {
    for _ in 0..LINGER_YIELDS {
        if batch.len() >= LINGER_UNTIL {
            return;
        }
        tokio::task::yield_now().await;
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(item) => batch.push(item),
                Err(_) => break,
            }
        }
    }
}

async fn write(store: &dyn Store, events: Vec<AuditEvent>) -> Result<(), String> {
    let mut by_tenant: BTreeMap<clavis_types::TenantId, Vec<AuditEvent>> = BTreeMap::new();
    for e in events {
        by_tenant.entry(e.tenant_id.clone()).or_default().push(e);
    }
    let mut tx = store.begin().await.map_err(|e| e.to_string())?;
    for (tenant, mut events) in by_tenant {
        tx.audit_append(&tenant, &mut events)
            .await
            .map_err(|e| e.to_string())?;
    }
    tx.commit().await.map_err(|e| e.to_string())
}

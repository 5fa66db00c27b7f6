//! Export of a tenant's audit events as JSONL (verifiable offline) or CSV, page by page.
//!
//! JSONL: one line per event, `{"seq","prev_hash","hash","body","event"}` where `body` is
//! the stored canonical body verbatim (what the chain hashes) and `event` its readable view
//! (personal data decrypted, or `"[erased]"`), then one final line
//! `{"checkpoint":{"seq","hash","jws"}}` signing the last exported event (signed and
//! stored now if need be: see [`Core::audit_export`]). The format and what its verification
//! proves are described in [`crate::chain_verify`]; a filtered export (not every `seq` of
//! its range) does not verify.
//!
//! CSV (RFC 4180, CRLF line ends): a header and one row per event; cells that a
//! spreadsheet would run as a formula (starting with `=`, `+`, `-`, `@`, tab or CR) are
//! prefixed with `'`.
//!
//! Events are exported oldest first whatever `newest_first` says (the chain's order).

use std::io::Write;

use serde::Serialize;
use serde_json::{Value, json};

use super::Core;
use super::audit_chain::{CheckpointInfo, PAGE};
use crate::chain_verify::verify_checkpoint_jws;
use crate::model::{AuditCheckpoint, AuditQuery, ChainedEvent, Tenant};
use crate::{CoreError, StoreError};

/// Output format of [`Core::audit_export`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExportFormat {
    /// JSON Lines with the hashed bodies and a closing signed checkpoint.
    Jsonl,
    /// Comma-separated values for spreadsheets (not verifiable offline).
    Csv,
}

/// What an export wrote.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ExportSummary {
    pub events: u64,
    pub first_seq: Option<i64>,
    pub last_seq: Option<i64>,
    /// Every `seq` from `first_seq` to `last_seq` was exported (an unfiltered range): only
    /// then does the JSONL verify offline.
    pub contiguous: bool,
    /// The signed checkpoint of the last exported event (also the JSONL's last line).
    pub checkpoint: Option<CheckpointInfo>,
}

/// CSV columns, in order.
const CSV_HEADER: [&str; 14] = [
    "seq",
    "event_id",
    "timestamp",
    "event_type",
    "actor_user_id",
    "actor_email",
    "actor_client_id",
    "ip_address",
    "user_agent",
    "org_id",
    "org_name",
    "context",
    "prev_hash",
    "hash",
];

fn io_error(e: std::io::Error) -> CoreError {
    CoreError::Store(StoreError::Unavailable(format!(
        "writing the audit export: {e}"
    )))
}

impl Core {
    /// Write the events matching `q` (oldest first) to `out` in `format`, a page at a
    /// time, and the checkpoint covering the last one.
    ///
    /// **This read can write**: when no checkpoint is stored at exactly the last exported
    /// `seq` with a key of the current JWKS, one is signed now — after verifying the chain
    /// up to that event from the nearest verified checkpoint — and stored (in its own
    /// transaction, as any checkpoint; a second export of the same range reuses it). So an
    /// export needs the tenant's active signing key, and a broken chain makes it fail
    /// (`Conflict`) rather than sign it.
    ///
    /// Only an unfiltered range ([`ExportSummary::contiguous`]) can be verified offline
    /// ([`crate::chain_verify::verify_export`] refuses a filtered one).
    pub async fn audit_export(
        &self,
        tenant: &Tenant,
        q: &AuditQuery,
        format: ExportFormat,
        out: &mut (dyn Write + Send),
    ) -> Result<ExportSummary, CoreError> {
        let mut q = q.clone();
        q.newest_first = false;
        let mut summary = ExportSummary {
            events: 0,
            first_seq: None,
            last_seq: None,
            contiguous: true,
            checkpoint: None,
        };
        if format == ExportFormat::Csv {
            write_csv_row(out, CSV_HEADER.iter().map(|h| (*h).to_owned()))?;
        }
        let mut last: Option<(i64, String)> = None;
        loop {
            let page = {
                let mut tx = self.store.read().await?;
                tx.audit_search(&tenant.id, &q, PAGE).await?
            };
            let Some(tail) = page.last() else { break };
            q.after_seq = Some(tail.seq);
            let views = self.audit_views(tenant, &page).await?;
            for (e, view) in page.iter().zip(views) {
                let view = serde_json::to_value(&view)
                    .map_err(|err| CoreError::invalid("audit view", err.to_string()))?;
                match format {
                    ExportFormat::Jsonl => write_jsonl_event(out, e, view)?,
                    ExportFormat::Csv => write_csv_row(out, csv_cells(e, &view))?,
                }
                if let Some((prev, _)) = &last
                    && e.seq != prev + 1
                {
                    summary.contiguous = false;
                }
                summary.first_seq.get_or_insert(e.seq);
                summary.events += 1;
                last = Some((e.seq, e.hash.clone()));
            }
            if page.len() < PAGE as usize {
                break;
            }
        }
        let Some((last_seq, last_hash)) = last else {
            return Ok(summary);
        };
        summary.last_seq = Some(last_seq);
        let c = self.export_checkpoint(tenant, last_seq, &last_hash).await?;
        if format == ExportFormat::Jsonl {
            let line = json!({"checkpoint": {"seq": c.seq, "hash": c.hash, "jws": c.jws}});
            serde_json::to_writer(&mut *out, &line)
                .map_err(|err| io_error(std::io::Error::other(err)))?;
            out.write_all(b"\n").map_err(io_error)?;
        }
        summary.checkpoint = Some(CheckpointInfo::from(&c));
        Ok(summary)
    }

    /// A checkpoint at exactly `(seq, hash)` that verifies with the tenant's published
    /// JWKS: the stored one if it does, else a new one (stored unless one exists there).
    async fn export_checkpoint(
        &self,
        tenant: &Tenant,
        seq: i64,
        hash: &str,
    ) -> Result<AuditCheckpoint, CoreError> {
        let published = self.jwks(tenant).await?;
        let mut tx = self.store.read().await?;
        if let Some(c) = tx.audit_checkpoint_covering(&tenant.id, seq).await?
            && c.seq == seq
            && c.hash == hash
            && verify_checkpoint_jws(&c.jws, &published)
                .is_ok_and(|claims| claims.seq == seq && claims.hash == hash)
        {
            return Ok(c);
        }
        let attested = self.attested_hash(&mut *tx, &tenant.id, seq).await?;
        drop(tx);
        if attested != hash {
            return Err(CoreError::Conflict(format!(
                "the exported event at seq {seq} has hash {hash}, the chain has {attested}"
            )));
        }
        let mut tx = self.store.begin().await?;
        let c = self.sign_checkpoint(&mut *tx, tenant, seq, hash).await?;
        tx.audit_checkpoint_insert(&c).await?;
        tx.commit().await?;
        Ok(c)
    }
}

fn write_jsonl_event(
    out: &mut (dyn Write + Send),
    e: &ChainedEvent,
    view: Value,
) -> Result<(), CoreError> {
    let line = json!({
        "seq": e.seq,
        "prev_hash": e.prev_hash,
        "hash": e.hash,
        "body": e.body,
        "event": view,
    });
    serde_json::to_writer(&mut *out, &line).map_err(|err| io_error(std::io::Error::other(err)))?;
    out.write_all(b"\n").map_err(io_error)
}

/// The text at `path` of a readable view (empty when absent or null).
fn text_at(view: &Value, path: &[&str]) -> String {
    let mut v = view;
    for k in path {
        match v.get(k) {
            Some(next) => v = next,
            None => return String::new(),
        }
    }
    match v {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn csv_cells(e: &ChainedEvent, view: &Value) -> impl Iterator<Item = String> {
    let context = view
        .get("context")
        .map_or_else(|| "{}".to_owned(), Value::to_string);
    [
        e.seq.to_string(),
        e.event_id.clone(),
        e.timestamp.to_rfc3339(),
        e.event_type.clone(),
        e.actor_user_id.clone().unwrap_or_default(),
        text_at(view, &["actor", "email"]),
        e.actor_client_id.clone().unwrap_or_default(),
        text_at(view, &["actor", "ip_address"]),
        text_at(view, &["actor", "user_agent"]),
        e.org_id.clone().unwrap_or_default(),
        text_at(view, &["organization", "name"]),
        context,
        e.prev_hash.clone(),
        e.hash.clone(),
    ]
    .into_iter()
}

/// One CSV cell: formula-like text neutralised, then RFC 4180 quoting where needed.
pub(crate) fn csv_cell(raw: &str) -> String {
    let text = if raw.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{raw}")
    } else {
        raw.to_owned()
    };
    if text.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text
    }
}

fn write_csv_row(
    out: &mut (dyn Write + Send),
    cells: impl Iterator<Item = String>,
) -> Result<(), CoreError> {
    let mut row = String::with_capacity(512);
    for (i, c) in cells.enumerate() {
        if i > 0 {
            row.push(',');
        }
        row.push_str(&csv_cell(&c));
    }
    row.push_str("\r\n");
    out.write_all(row.as_bytes()).map_err(io_error)
}

#[cfg(test)]
mod tests {
    use super::csv_cell;

    #[test]
    fn csv_cells_are_quoted_and_formulas_neutralised() {
        assert_eq!(csv_cell("plain"), "plain");
        assert_eq!(csv_cell("a,b"), "\"a,b\"");
        assert_eq!(csv_cell("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(csv_cell("two\nlines"), "\"two\nlines\"");
        assert_eq!(csv_cell("=HYPERLINK(\"x\")"), "\"'=HYPERLINK(\"\"x\"\")\"");
        assert_eq!(csv_cell("+1"), "'+1");
        assert_eq!(csv_cell("-2"), "'-2");
        assert_eq!(csv_cell("@SUM(A1)"), "'@SUM(A1)");
        assert_eq!(csv_cell("\tx"), "'\tx");
        assert_eq!(csv_cell(""), "");
    }
}

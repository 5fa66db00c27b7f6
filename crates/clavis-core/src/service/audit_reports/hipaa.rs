//! The HIPAA report: access to resources flagged as holding PHI, the audit controls
//! (chain integrity, retention, checkpoints, anchors, sinks, legal holds) and emergency
//! access. Also the integrity section the SOC 2 report shares.

use serde_json::Value;
use std::collections::BTreeMap;

use super::{
    Ctx, Daily, Rows, Scan, Section, TopCounter, actor_label, context_str, context_summary,
    endpoint_host, org_label, when,
};
use crate::Core;
use crate::CoreError;
use crate::model::{AuditEvent, ChainedEvent};

/// Checkpoint pages (100 each) read to count the checkpoints of a range.
const CHECKPOINT_PAGES: usize = 50;

/// The audiences a `token.issued` event records (`audience`: a string or a list).
fn audiences(e: &AuditEvent) -> Option<Vec<&str>> {
    match e.context.get("audience")? {
        Value::String(s) => Some(vec![s.as_str()]),
        Value::Array(a) => Some(a.iter().filter_map(Value::as_str).collect()),
        _ => None,
    }
}

impl Core {
    pub(super) async fn hipaa_sections(
        &self,
        ctx: &mut Ctx<'_>,
    ) -> Result<Vec<Section>, CoreError> {
        Ok(vec![
            self.phi_section(ctx).await?,
            self.integrity_section(ctx).await?,
            self.controls_section(ctx).await?,
            self.emergency_section(ctx).await?,
        ])
    }

    /// Whether the whole chain verifies (tenant-wide, as of now).
    pub(super) async fn integrity_section(&self, ctx: &Ctx<'_>) -> Result<Section, CoreError> {
        let mut sec = Section::new("log_integrity", "Audit log integrity");
        let v = self.audit_verify(&ctx.tenant.id).await?;
        let status = match &v.broken {
            None if v.ok => "verified".to_owned(),
            None => "not verified".to_owned(),
            Some(b) => format!("BROKEN at sequence {} ({})", b.seq, b.kind.as_str()),
        };
        sec.figure("chain_ok", "Hash chain", Value::Bool(v.ok), status);
        sec.count("events_checked", "Events checked", v.events_checked);
        sec.text(
            "sequence_range",
            "Sequence numbers checked",
            format!("{}–{} (head {})", v.from_seq, v.to_seq, v.head_seq),
        );
        sec.count(
            "checkpoints_checked",
            "Signed checkpoints checked",
            v.checkpoints_checked,
        );
        if v.signatures_unverifiable > 0 {
            sec.count(
                "signatures_unverifiable",
                "Checkpoints signed by keys no longer held",
                v.signatures_unverifiable,
            );
        }
        if let Some(b) = &v.broken {
            sec.figure(
                "first_broken_seq",
                "First broken sequence number",
                Value::from(b.seq),
                b.seq.to_string(),
            );
            sec.summary = format!(
                "The audit log does NOT verify: the chain breaks at sequence {} ({}). \
                 Expected {}, found {}.",
                b.seq,
                b.kind.as_str(),
                b.expected,
                b.found
            );
        } else if v.ok {
            sec.summary = format!(
                "Every hash link, body and signed checkpoint verified ({} event(s)).",
                v.events_checked
            );
        } else {
            sec.summary = "The chain could not be verified.".into();
        }
        if let Some(a) = v.anchor_seq {
            sec.note(format!(
                "Events up to sequence {a} were removed by retention purge; verification \
                 starts at the signed anchor left there."
            ));
        }
        sec.note(
            "Verification covers the tenant's whole log, from genesis or the latest purge \
             anchor to the head, at the time the report was generated.",
        );
        Ok(sec)
    }

    async fn phi_section(&self, ctx: &mut Ctx<'_>) -> Result<Section, CoreError> {
        let mut sec = Section::new("phi_access", "Access to protected health information");
        let phi = &ctx.tenant.settings.phi_audiences;
        sec.text(
            "phi_audiences",
            "Audiences flagged as PHI",
            if phi.is_empty() {
                "none".to_owned()
            } else {
                phi.join(", ")
            },
        );
        sec.note(
            "Access is recorded when Clavis issues a token for a flagged audience; each \
             token grants access to that audience's resources until it expires. Requests \
             made with the token go to the resource server, which Clavis does not see.",
        );
        if phi.is_empty() {
            sec.summary = "No audience is flagged as holding PHI (tenant setting \
                           `phi_audiences`), so no access is reported."
                .into();
            return Ok(sec);
        }
        let mut total = 0u64;
        let mut unclassified = 0u64;
        let mut daily = Daily::default();
        let mut by_aud: BTreeMap<String, u64> = BTreeMap::new();
        let mut users = TopCounter::default();
        let mut clients = TopCounter::default();
        let mut rows = Rows::new(&[
            "Time",
            "Audience",
            "User",
            "Client",
            "Organization",
            "Grant",
        ]);
        let mut scan = Scan::new(ctx, &["token.issued"], true);
        while let Some(page) = scan.next(self, ctx).await? {
            for d in &page {
                let e = &d.event;
                let Some(auds) = audiences(e) else {
                    unclassified += 1;
                    continue;
                };
                let hit: Vec<&str> = auds
                    .into_iter()
                    .filter(|a| phi.iter().any(|p| p == a))
                    .collect();
                if hit.is_empty() {
                    continue;
                }
                total += 1;
                daily.add(e.timestamp);
                for a in &hit {
                    *by_aud.entry((*a).to_owned()).or_default() += 1;
                }
                if let Some(u) = &e.actor.user_id {
                    users.add(u);
                }
                if let Some(c) = &e.actor.client_id {
                    clients.add(c);
                }
                rows.push(vec![
                    when(e.timestamp),
                    hit.join(", "),
                    e.actor.user_id.clone().unwrap_or_else(|| "—".into()),
                    e.actor.client_id.clone().unwrap_or_else(|| "—".into()),
                    org_label(e),
                    context_str(&e.context, "grant_type")
                        .unwrap_or("authorization_code / refresh_token")
                        .to_owned(),
                ]);
            }
        }
        sec.count(
            "phi_token_issuances",
            "Tokens issued for PHI audiences",
            total,
        );
        sec.count("phi_users", "Users", users.distinct() as u64);
        sec.count("phi_clients", "Applications", clients.distinct() as u64);
        if unclassified > 0 {
            sec.count(
                "tokens_without_audience",
                "Token issuances recorded without an audience",
                unclassified,
            );
            sec.note(format!(
                "{unclassified} token issuance(s) were recorded without their audience (by \
                 an earlier version of Clavis) and could not be classified."
            ));
        }
        sec.summary = format!(
            "{total} token(s) issued for PHI audiences, to {} user(s) through {} \
             application(s).",
            users.distinct(),
            clients.distinct()
        );
        sec.series
            .push(daily.series("phi_access", "Tokens issued for PHI audiences", ctx.range));
        let mut aud_rows = Rows::new(&["Audience", "Tokens"]);
        for (a, n) in by_aud {
            aud_rows.push(vec![a, n.to_string()]);
        }
        sec.tables
            .push(aud_rows.table("by_audience", "By audience"));
        sec.tables
            .push(users.table("top_users", "Users with the most access", "User id"));
        sec.tables.push(clients.table(
            "top_clients",
            "Applications with the most access",
            "Client id",
        ));
        sec.tables.push(rows.table("issuances", "Token issuances"));
        Ok(sec)
    }

    async fn controls_section(&self, ctx: &Ctx<'_>) -> Result<Section, CoreError> {
        let mut sec = Section::new("audit_controls", "Audit controls");
        let t = &ctx.tenant.id;
        let mut tx = self.store.read().await?;
        let head = tx.audit_head(t).await?;
        let days = ctx.tenant.settings.audit_retention_days;
        #[allow(clippy::cast_precision_loss)] // a number of days
        let years = days as f64 / 365.25;
        sec.figure(
            "retention_days",
            "Retention",
            Value::from(days),
            format!("{days} days ({years:.1} years)"),
        );
        sec.count(
            "head_seq",
            "Events recorded since the log began",
            u64::try_from(head.seq).unwrap_or(0),
        );
        match tx.audit_anchor_latest(t).await? {
            Some(a) => sec.text(
                "last_purge",
                "Last retention purge",
                format!(
                    "{}: {} event(s), up to sequence {}",
                    when(a.purged_at),
                    a.events_purged,
                    a.seq
                ),
            ),
            None => sec.figure(
                "last_purge",
                "Last retention purge",
                Value::Null,
                "never".into(),
            ),
        }
        match tx.audit_checkpoint_latest(t).await? {
            Some(c) => sec.text(
                "last_checkpoint",
                "Latest signed checkpoint",
                format!(
                    "{} at sequence {} (key {})",
                    when(c.created_at),
                    c.seq,
                    c.kid
                ),
            ),
            None => sec.figure(
                "last_checkpoint",
                "Latest signed checkpoint",
                Value::Null,
                "none".into(),
            ),
        }
        let (in_range, complete) = {
            let mut n = 0u64;
            let mut before = None;
            let mut complete = false;
            for _ in 0..CHECKPOINT_PAGES {
                let list = tx.audit_checkpoint_list(t, before, 100).await?;
                n += list
                    .iter()
                    .filter(|c| c.created_at >= ctx.range.from && c.created_at < ctx.range.to)
                    .count() as u64;
                let Some(oldest) = list.last() else {
                    complete = true;
                    break;
                };
                if list.len() < 100 || oldest.created_at < ctx.range.from {
                    complete = true;
                    break;
                }
                before = Some(oldest.seq);
            }
            (n, complete)
        };
        sec.figure(
            "checkpoints_in_range",
            "Checkpoints signed in the period",
            Value::from(in_range),
            if complete {
                in_range.to_string()
            } else {
                format!("at least {in_range}")
            },
        );
        let sinks = tx.sink_list(t).await?;
        let mut sink_rows = Rows::new(&[
            "Name",
            "Kind",
            "Destination",
            "Enabled",
            "Status",
            "Delivered",
            "Last delivery",
            "Behind by",
        ]);
        for s in &sinks {
            sink_rows.push(vec![
                s.name.clone(),
                s.kind.as_str().to_owned(),
                endpoint_host(&s.endpoint),
                if s.enabled { "yes" } else { "no" }.to_owned(),
                s.status.as_str().to_owned(),
                s.delivered_total.to_string(),
                s.last_delivered_at.map_or_else(|| "never".to_owned(), when),
                format!("{} event(s)", (head.seq - s.cursor).max(0)),
            ]);
        }
        sec.count("sinks", "Streaming sinks", sinks.len() as u64);
        let holds: Vec<_> = tx
            .legal_hold_list(t, true)
            .await?
            .into_iter()
            .filter(|h| ctx.org.is_none_or(|o| h.org_id == o))
            .collect();
        drop(tx);
        sec.count("legal_holds", "Active legal holds", holds.len() as u64);
        let mut hold_rows = Rows::new(&["Organization", "Reason", "Since"]);
        for h in holds {
            hold_rows.push(vec![h.org_id, h.reason, when(h.created_at)]);
        }
        sec.tables.push(sink_rows.table("sinks", "Streaming sinks"));
        sec.tables
            .push(hold_rows.table("legal_holds", "Active legal holds"));
        sec.summary = format!(
            "Events are hash-chained and kept {days} days; {} signed checkpoint(s) in the \
             period; {} streaming sink(s) configured.",
            if complete {
                in_range.to_string()
            } else {
                format!("at least {in_range}")
            },
            sinks.len()
        );
        if ctx.org.is_some() {
            sec.note("Retention, checkpoints and sinks are tenant-wide settings.");
        }
        Ok(sec)
    }

    async fn emergency_section(&self, ctx: &mut Ctx<'_>) -> Result<Section, CoreError> {
        let mut sec = Section::new("emergency_access", "Emergency access");
        let mut daily = Daily::default();
        let mut rows = Rows::new(&[
            "Time",
            "Event",
            "Actor",
            "Organization",
            "Reason",
            "Details",
        ]);
        let mut scan = Scan::new(ctx, &["access.*"], true);
        while let Some(page) = scan.next(self, ctx).await? {
            let page: Vec<_> = page
                .into_iter()
                .filter(|d| d.event.event_type.starts_with("access.emergency"))
                .collect();
            let wanted: Vec<ChainedEvent> = page
                .iter()
                .take(super::MAX_ROWS.saturating_sub(rows.rows.len()))
                .map(|d| d.stored.clone())
                .collect();
            let details = self.actor_details(ctx.tenant, &wanted).await?;
            for d in &page {
                let e = &d.event;
                daily.add(e.timestamp);
                rows.push(vec![
                    when(e.timestamp),
                    e.event_type.clone(),
                    actor_label(e, details.get(&d.stored.seq)),
                    org_label(e),
                    context_str(&e.context, "reason").unwrap_or("—").to_owned(),
                    context_summary(&e.context),
                ]);
            }
        }
        sec.unrecorded_count(
            "emergency_access_events",
            "Emergency access events",
            rows.total,
        );
        sec.summary = if rows.total == 0 {
            "Clavis does not record emergency (\"break-glass\") access yet, so the audit log \
             cannot show it."
                .into()
        } else {
            format!(
                "{} emergency access event(s) on {} day(s); each is listed below.",
                rows.total,
                daily.days_with_events()
            )
        };
        sec.series
            .push(daily.series("emergency_access", "Emergency access events", ctx.range));
        sec.tables.push(rows.table("events", "Events"));
        sec.note("Emergency (\"break-glass\") access is recorded as `access.emergency*` events.");
        sec.not_recorded_note(&["access.emergency*"]);
        Ok(sec)
    }
}

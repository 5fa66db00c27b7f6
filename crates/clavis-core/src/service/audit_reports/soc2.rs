//! The SOC 2 report: access changes, administrator actions, MFA coverage, failed logins,
//! signing-key rotations, deprovisioning latency, and the integrity of the log itself.

use serde_json::Value;
use std::collections::{BTreeMap, HashMap};

use super::{
    ActorDetail, Ctx, Daily, Decoded, Latency, Rows, Scan, Section, TopCounter, actor_label,
    context_str, context_summary, context_time, duration, is_erased, org_label, percent,
    subject_of, when,
};
use crate::Core;
use crate::CoreError;
use crate::model::{AuditEvent, ChainedEvent};

/// Event types read for everything but key rotations.
const TYPES: [&str; 8] = [
    "user.*",
    "role.*",
    "organization.*",
    "client_grant.*",
    "client.*",
    "config.*",
    "admin.*",
    "audit.*",
];

/// Role, permission, membership, grant and application changes.
pub(super) fn is_access_change(t: &str) -> bool {
    t.starts_with("role.")
        || t.starts_with("user.role")
        || t.starts_with("organization.member")
        || t.starts_with("client_grant.")
        || (t.starts_with("client.") && !t.starts_with("client.authentication."))
        || t == "config.applied"
}

/// Event types that are administrative whoever the actor is.
fn is_admin_type(t: &str) -> bool {
    t.starts_with("admin.") || t.starts_with("audit.") || t == "config.applied"
}

/// A user's own authentication, which is not an administrative action even by an admin.
fn is_own_authentication(t: &str) -> bool {
    t.starts_with("user.login") || t == "user.logout"
}

/// A successful login made with a second factor.
pub(super) fn used_mfa(e: &AuditEvent) -> bool {
    let amr = e
        .context
        .get("amr")
        .and_then(Value::as_array)
        .is_some_and(|a| {
            a.iter().filter_map(Value::as_str).any(|m| {
                let m = m.to_ascii_lowercase();
                m.contains("mfa") || m.contains("otp") || m.contains("webauthn")
            })
        });
    amr || e.context.get("mfa_used").and_then(Value::as_bool) == Some(true)
}

#[derive(Debug)]
struct Soc2 {
    access: u64,
    access_daily: Daily,
    access_by_type: BTreeMap<String, u64>,
    access_rows: Rows,
    admin: u64,
    admin_daily: Daily,
    admin_rows: Rows,
    logins: u64,
    logins_mfa: u64,
    logins_daily: Daily,
    failed: u64,
    failed_daily: Daily,
    failed_accounts: TopCounter,
    failed_no_account: u64,
    failed_ips: TopCounter,
    failed_ip_hidden: u64,
    deprov: u64,
    deprov_latency: Latency,
    deprov_rows: Rows,
    admins: HashMap<String, bool>,
}

impl Soc2 {
    fn new() -> Self {
        let row = ["Time", "Event", "Actor", "Organization", "Details"];
        Self {
            access: 0,
            access_daily: Daily::default(),
            access_by_type: BTreeMap::new(),
            access_rows: Rows::new(&row),
            admin: 0,
            admin_daily: Daily::default(),
            admin_rows: Rows::new(&row),
            logins: 0,
            logins_mfa: 0,
            logins_daily: Daily::default(),
            failed: 0,
            failed_daily: Daily::default(),
            failed_accounts: TopCounter::default(),
            failed_no_account: 0,
            failed_ips: TopCounter::default(),
            failed_ip_hidden: 0,
            deprov: 0,
            deprov_latency: Latency::new(super::DAY_MS, "24 hours"),
            deprov_rows: Rows::new(&["Time", "Event", "User", "Requested at", "Delay"]),
            admins: HashMap::new(),
        }
    }

    fn is_admin_action(&self, e: &AuditEvent) -> bool {
        is_admin_type(&e.event_type)
            || (!is_own_authentication(&e.event_type)
                && e.actor
                    .user_id
                    .as_ref()
                    .and_then(|u| self.admins.get(u))
                    .copied()
                    .unwrap_or(false))
    }

    /// Events of the page whose actor details a table or figure will show.
    fn needs_details(&self, e: &AuditEvent) -> bool {
        e.event_type == "user.login.failure"
            || (is_access_change(&e.event_type) && self.access_rows.has_room())
            || (self.is_admin_action(e) && self.admin_rows.has_room())
    }

    fn add(&mut self, e: &AuditEvent, d: Option<&ActorDetail>) {
        let t = e.event_type.as_str();
        let row = || {
            vec![
                when(e.timestamp),
                e.event_type.clone(),
                actor_label(e, d),
                org_label(e),
                context_summary(&e.context),
            ]
        };
        if is_access_change(t) {
            self.access += 1;
            self.access_daily.add(e.timestamp);
            *self.access_by_type.entry(e.event_type.clone()).or_default() += 1;
            self.access_rows.push(row());
        }
        if self.is_admin_action(e) {
            self.admin += 1;
            self.admin_daily.add(e.timestamp);
            self.admin_rows.push(row());
        }
        match t {
            "user.login.success" => {
                self.logins += 1;
                self.logins_daily.add(e.timestamp);
                if used_mfa(e) {
                    self.logins_mfa += 1;
                }
            }
            "user.login.failure" => self.failed(e, d),
            "user.deleted" | "user.blocked" => self.deprovisioned(e),
            _ => {}
        }
    }

    fn failed(&mut self, e: &AuditEvent, d: Option<&ActorDetail>) {
        self.failed += 1;
        self.failed_daily.add(e.timestamp);
        match &e.actor.user_id {
            Some(u) => self.failed_accounts.add(u),
            None => self.failed_no_account += 1,
        }
        match d.and_then(|d| d.ip.as_deref()).filter(|ip| !is_erased(ip)) {
            Some(ip) => self.failed_ips.add(ip),
            None => self.failed_ip_hidden += 1,
        }
    }

    fn deprovisioned(&mut self, e: &AuditEvent) {
        self.deprov += 1;
        let user = subject_of(e);
        let requested = context_time(&e.context, "requested_at");
        let delay = requested.map(|r| e.timestamp.as_millis() - r.as_millis());
        if let Some(ms) = delay {
            self.deprov_latency.add(ms);
        }
        self.deprov_rows.push(vec![
            when(e.timestamp),
            e.event_type.clone(),
            user,
            requested.map_or_else(|| "not recorded".to_owned(), when),
            delay.map_or_else(|| "—".to_owned(), |ms| duration(ms.max(0))),
        ]);
    }
}

impl Core {
    pub(super) async fn soc2_sections(&self, ctx: &mut Ctx<'_>) -> Result<Vec<Section>, CoreError> {
        let mut s = Soc2::new();
        let mut scan = Scan::new(ctx, &TYPES, true);
        while let Some(page) = scan.next(self, ctx).await? {
            let actors: Vec<String> = page
                .iter()
                .filter(|d| !is_own_authentication(&d.event.event_type))
                .filter_map(|d| d.event.actor.user_id.clone())
                .collect();
            if s.admins.len() < 10_000 {
                self.learn_admins(&ctx.tenant.id, actors, &mut s.admins)
                    .await?;
            }
            let wanted: Vec<ChainedEvent> = page
                .iter()
                .filter(|d| s.needs_details(&d.event))
                .map(|d| d.stored.clone())
                .collect();
            let details = self.actor_details(ctx.tenant, &wanted).await?;
            for Decoded { stored, event } in &page {
                s.add(event, details.get(&stored.seq));
            }
        }
        let mut sections = vec![self.integrity_section(ctx).await?];
        sections.push(access_section(&mut s, ctx));
        sections.push(admin_section(&mut s, ctx));
        sections.push(mfa_section(&s, ctx));
        sections.push(failed_section(&mut s, ctx));
        sections.push(self.rotation_section(ctx).await?);
        sections.push(deprov_section(&mut s, ctx));
        Ok(sections)
    }

    /// Signing-key rotations (tenant-wide: keys belong to the tenant, not to an
    /// organization).
    async fn rotation_section(&self, ctx: &mut Ctx<'_>) -> Result<Section, CoreError> {
        let mut sec = Section::new("key_rotations", "Signing-key rotations");
        let mut rows = Rows::new(&["Time", "New signing key", "Algorithm", "Retired keys"]);
        let mut last = None;
        let mut scan = Scan::new(ctx, &["key.rotated"], false);
        while let Some(page) = scan.next(self, ctx).await? {
            for d in &page {
                let c = &d.event.context;
                let retired = c
                    .get("retired_kids")
                    .and_then(Value::as_array)
                    .map(|a| {
                        a.iter()
                            .filter_map(Value::as_str)
                            .collect::<Vec<_>>()
                            .join(", ")
                    })
                    .unwrap_or_default();
                rows.push(vec![
                    when(d.event.timestamp),
                    context_str(c, "kid").unwrap_or("—").to_owned(),
                    context_str(c, "alg").unwrap_or("—").to_owned(),
                    retired,
                ]);
                last = Some(d.event.timestamp);
            }
        }
        sec.count("key_rotations", "Key rotations", rows.total);
        match last {
            Some(t) => {
                sec.text("last_rotation", "Last rotation", when(t));
                sec.summary = format!(
                    "The tenant's signing keys were rotated {} time(s) in the period.",
                    rows.total
                );
            }
            None => {
                sec.figure("last_rotation", "Last rotation", Value::Null, "none".into());
                sec.summary = "The signing keys were not rotated in the period.".into();
            }
        }
        if ctx.org.is_some() {
            sec.note("Signing keys belong to the tenant; this section covers every organization.");
        }
        sec.tables.push(rows.table("rotations", "Rotations"));
        Ok(sec)
    }
}

fn org_login_note(sec: &mut Section, ctx: &Ctx<'_>) {
    if ctx.org.is_some() {
        sec.note(
            "Logins are recorded with an organization only when they are made for one; \
             tenant-level logins are not counted in an organization's report.",
        );
    }
}

fn access_section(s: &mut Soc2, ctx: &Ctx<'_>) -> Section {
    let mut sec = Section::new("access_changes", "Access changes");
    sec.summary = format!(
        "{} change(s) to roles, permissions, memberships, client grants or applications \
         (including declarative configuration applies).",
        s.access
    );
    sec.count("access_changes", "Access changes", s.access);
    sec.series.push(
        s.access_daily
            .series("access_changes", "Access changes", ctx.range),
    );
    let mut by_type = Rows::new(&["Event type", "Count"]);
    for (t, n) in &s.access_by_type {
        by_type.push(vec![t.clone(), n.to_string()]);
    }
    sec.tables.push(by_type.table("by_type", "By event type"));
    let rows = std::mem::replace(&mut s.access_rows, Rows::new(&[]));
    sec.tables.push(rows.table("changes", "Changes"));
    sec.note(
        "Access changes are the Management API's role, role assignment, membership, \
         application and client grant events, and applies of declarative configuration \
         (`config.applied`, one event per apply listing what it changed).",
    );
    sec
}

fn admin_section(s: &mut Soc2, ctx: &Ctx<'_>) -> Section {
    let mut sec = Section::new("admin_actions", "Administrative actions");
    sec.summary = format!(
        "{} action(s) by administrators, configuration applies and audit-log operations.",
        s.admin
    );
    sec.count("admin_actions", "Administrative actions", s.admin);
    sec.series.push(
        s.admin_daily
            .series("admin_actions", "Administrative actions", ctx.range),
    );
    let rows = std::mem::replace(&mut s.admin_rows, Rows::new(&[]));
    sec.tables.push(rows.table("actions", "Actions"));
    sec.note(
        "An action counts as administrative when its type is `admin.*`, `audit.*` or \
         `config.applied`, or when its actor is an administrator of the tenant (their own \
         logins excepted).",
    );
    sec
}

fn mfa_section(s: &Soc2, ctx: &Ctx<'_>) -> Section {
    let mut sec = Section::new("mfa_coverage", "MFA coverage");
    sec.count("logins", "Successful logins", s.logins);
    sec.count("logins_with_mfa", "Logins with MFA", s.logins_mfa);
    if s.logins == 0 {
        sec.figure(
            "mfa_coverage_percent",
            "MFA coverage",
            Value::Null,
            "no logins".into(),
        );
        sec.summary = "No successful logins were recorded in the period.".into();
    } else {
        let p = percent(s.logins_mfa, s.logins);
        sec.figure(
            "mfa_coverage_percent",
            "MFA coverage",
            Value::from(p),
            format!("{p:.1}% ({} of {})", s.logins_mfa, s.logins),
        );
        sec.summary = format!(
            "{p:.1}% of successful logins used a second factor ({} of {}).",
            s.logins_mfa, s.logins
        );
    }
    sec.series.push(
        s.logins_daily
            .series("logins", "Successful logins", ctx.range),
    );
    sec.note(
        "A login counts as MFA when its `amr` includes `mfa`, `otp` or `webauthn`, or it \
         records `mfa_used: true`.",
    );
    org_login_note(&mut sec, ctx);
    sec
}

fn failed_section(s: &mut Soc2, ctx: &Ctx<'_>) -> Section {
    let mut sec = Section::new("failed_logins", "Failed logins");
    sec.count("failed_logins", "Failed logins", s.failed);
    sec.count(
        "days_with_failures",
        "Days with failed logins",
        s.failed_daily.days_with_events(),
    );
    sec.count(
        "accounts_with_failures",
        "Accounts with failed logins",
        s.failed_accounts.distinct() as u64,
    );
    sec.count(
        "failed_unknown_account",
        "Failures for no existing account",
        s.failed_no_account,
    );
    sec.count(
        "failed_ip_not_visible",
        "Failures without a readable IP address",
        s.failed_ip_hidden,
    );
    sec.summary = format!(
        "{} failed login(s) on {} day(s).",
        s.failed,
        s.failed_daily.days_with_events()
    );
    sec.series.push(
        s.failed_daily
            .series("failed_logins", "Failed logins", ctx.range),
    );
    sec.tables.push(s.failed_accounts.table(
        "top_accounts",
        "Accounts with the most failures",
        "User id",
    ));
    sec.tables.push(s.failed_ips.table(
        "top_ips",
        "IP addresses with the most failures",
        "IP address",
    ));
    if s.failed_accounts.approximate || s.failed_ips.approximate {
        sec.note(
            "Very many distinct accounts or addresses failed; the top lists keep every \
             frequent one, with counts that may be slightly low.",
        );
    }
    sec.note("IP addresses of erased users are not shown.");
    org_login_note(&mut sec, ctx);
    sec
}

fn deprov_section(s: &mut Soc2, _ctx: &Ctx<'_>) -> Section {
    let mut sec = Section::new("deprovisioning", "Deprovisioning latency");
    sec.count(
        "deprovisioning_events",
        "Users deleted or blocked",
        s.deprov,
    );
    sec.count(
        "deprovisioning_timed",
        "With a recorded request time",
        s.deprov_latency.count,
    );
    s.deprov_latency.figures(&mut sec, "deprovisioning");
    sec.summary = if s.deprov == 0 {
        "No user was deleted or blocked in the period.".into()
    } else if s.deprov_latency.count == 0 {
        format!(
            "{} user(s) deleted or blocked; none recorded when it was requested, so the \
             delay cannot be measured.",
            s.deprov
        )
    } else {
        format!(
            "{} user(s) deleted or blocked; {} with a recorded request time.",
            s.deprov, s.deprov_latency.count
        )
    };
    let rows = std::mem::replace(&mut s.deprov_rows, Rows::new(&[]));
    sec.tables
        .push(rows.table("deprovisioned", "Deprovisioned users"));
    sec.note(
        "The delay runs from the `requested_at` recorded with a `user.deleted` or \
         `user.blocked` event to the event itself.",
    );
    sec.not_recorded_note(&["user.deleted", "user.blocked"]);
    sec
}

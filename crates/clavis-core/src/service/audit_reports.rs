//! Compliance reports over a tenant's audit log: SOC 2 (`soc2`), HIPAA (`hipaa`) and
//! GDPR Article 30 (`gdpr`), for a time range and optionally one organization.
//!
//! A report is plain data ([`ComplianceReport`]: sections with figures, per-period series
//! and tables) that serialises to JSON; the API crate renders it as HTML. This module must
//! not produce HTML.
//!
//! Events are read page by page with [`AuditRepo::audit_search`](crate::ports::AuditRepo)
//! and aggregated as they stream past: counters, per-day maps (bounded by the days that
//! have events), heavy-hitter counters of bounded size for "top" lists, and tables capped
//! at [`MAX_ROWS`] rows that still count every row. A report over years of events never
//! holds more than one page of them. Personal data is read only through
//! [`Core::audit_views`] (unsealed, or shown as erased) and only where a table shows it.
//!
//! With an organization, figures count only events recorded with that organization;
//! tenant-wide controls (signing keys, the chain, retention, sinks) are reported for the
//! whole tenant and say so. Erasures (`audit.subject_erased`, recorded without an
//! organization) count for an organization when the erased user is one of its members.
//!
//! Some event types the reports look for are emitted by no code path of Clavis yet (see
//! [`NOT_RECORDED_YET`]). A figure that depends only on them reads "not recorded" (value
//! null) rather than 0 when none is in the log, and its section says so: an absence of
//! such events is not a finding.

mod gdpr;
mod hipaa;
mod soc2;
mod tally;

use tally::{Daily, Latency, Rows, TopCounter, duration, percent};

use clavis_types::{OrgId, Slug, TenantId, Timestamp, UserId};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::HashMap;

use super::Core;
use crate::CoreError;
use crate::chain::{ERASED, SEALED_PREFIX, parse_body};
use crate::model::{AuditActor, AuditEvent, AuditQuery, ChainedEvent, JsonMap, Tenant};

/// Events read per query.
const PAGE: u32 = 500;
/// Most rows a table lists; [`Table::total_rows`] still counts all of them.
pub const MAX_ROWS: usize = 200;
/// Entries of a "top" table.
const TOP_N: usize = 10;
/// Distinct keys a heavy-hitter counter tracks before it starts approximating.
const TOP_CAPACITY: usize = 10_000;
const DAY_MS: i64 = 86_400_000;
/// Ranges up to this many days get a point per day; longer ones a point per month.
const DENSE_DAYS: i64 = 400;
/// Context keys that may hold personal data; never copied into a report's summaries.
const PERSONAL_KEYS: [&str; 10] = [
    "email",
    "name",
    "given_name",
    "family_name",
    "nickname",
    "username",
    "phone_number",
    "ip_address",
    "user_agent",
    "picture",
];

/// Event types (`prefix*` for every type that starts so) that reports look for but that
/// no code path of Clavis records yet: data exports and emergency access. (User, role,
/// membership, application and grant changes are recorded by the Management API.)
pub(crate) const NOT_RECORDED_YET: [&str; 4] = [
    "user.export*",
    "user.data_exported",
    "audit.subject_export*",
    "access.emergency*",
];

/// What a figure that depends only on [`NOT_RECORDED_YET`] shows when no such event is in
/// the log.
pub(crate) const NOT_RECORDED: &str = "not recorded";

/// Which compliance framework a report is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ReportKind {
    /// SOC 2: access changes, admin actions, MFA coverage, failed logins, key rotations,
    /// deprovisioning latency, log integrity.
    Soc2,
    /// HIPAA: access to PHI resources, audit controls, emergency access.
    Hipaa,
    /// GDPR Article 30: records of processing, data subject requests.
    Gdpr,
}

impl ReportKind {
    /// `soc2`, `hipaa` or `gdpr`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Soc2 => "soc2",
            Self::Hipaa => "hipaa",
            Self::Gdpr => "gdpr",
        }
    }

    /// Parse `soc2`, `hipaa` or `gdpr` (any case; `soc-2` too).
    pub fn parse(s: &str) -> Option<Self> {
        match s.to_ascii_lowercase().as_str() {
            "soc2" | "soc-2" | "soc_2" => Some(Self::Soc2),
            "hipaa" => Some(Self::Hipaa),
            "gdpr" => Some(Self::Gdpr),
            _ => None,
        }
    }

    /// The report's title.
    pub fn title(self) -> &'static str {
        match self {
            Self::Soc2 => "SOC 2 audit evidence",
            Self::Hipaa => "HIPAA audit controls report",
            Self::Gdpr => "GDPR Article 30 record",
        }
    }
}

impl std::fmt::Display for ReportKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A compliance report: what it covers and its sections, in reading order.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ComplianceReport {
    pub kind: ReportKind,
    pub title: String,
    pub tenant: ReportTenant,
    /// Start of the range (inclusive), RFC 3339.
    pub from: String,
    /// End of the range (exclusive), RFC 3339.
    pub to: String,
    /// The organization the report is limited to, if any.
    pub organization: Option<ReportOrganization>,
    /// When the report was made, RFC 3339.
    pub generated_at: String,
    /// Audit events read to make it.
    pub events_scanned: u64,
    pub sections: Vec<Section>,
}

/// The tenant a report is about.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ReportTenant {
    pub id: String,
    pub slug: String,
    pub display_name: String,
}

/// The organization a report is limited to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ReportOrganization {
    pub org_id: String,
    /// `None` when the organization no longer exists.
    pub name: Option<String>,
}

/// One part of a report.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Section {
    /// Stable machine name, e.g. `mfa_coverage`.
    pub id: String,
    pub title: String,
    /// One or two sentences that state the finding.
    pub summary: String,
    pub figures: Vec<Figure>,
    pub series: Vec<Series>,
    pub tables: Vec<Table>,
    /// Caveats and explanations.
    pub notes: Vec<String>,
}

/// One headline number or fact.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Figure {
    /// Stable machine name, e.g. `mfa_coverage_percent`.
    pub key: String,
    pub label: String,
    /// The value for machines: a number, a string, a boolean or null (not applicable).
    pub value: Value,
    /// The value for people, e.g. `50.0% (2 of 4)`.
    pub display: String,
}

/// Counts per period, for a chart.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Series {
    pub key: String,
    pub title: String,
    pub granularity: Granularity,
    pub points: Vec<Point>,
}

/// The period of a [`Series`] point.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Granularity {
    /// `YYYY-MM-DD` (UTC).
    Day,
    /// `YYYY-MM` (UTC).
    Month,
}

/// One period's count.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Point {
    pub period: String,
    pub count: u64,
}

/// A table of text cells.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Table {
    pub key: String,
    pub title: String,
    pub columns: Vec<String>,
    pub rows: Vec<Vec<String>>,
    /// How many rows there were; more than `rows.len()` when the table was cut at
    /// [`MAX_ROWS`].
    pub total_rows: u64,
}

impl Section {
    fn new(id: &str, title: &str) -> Self {
        Self {
            id: id.to_owned(),
            title: title.to_owned(),
            summary: String::new(),
            figures: Vec::new(),
            series: Vec::new(),
            tables: Vec::new(),
            notes: Vec::new(),
        }
    }

    fn figure(&mut self, key: &str, label: &str, value: Value, display: String) {
        self.figures.push(Figure {
            key: key.to_owned(),
            label: label.to_owned(),
            value,
            display,
        });
    }

    fn count(&mut self, key: &str, label: &str, n: u64) {
        self.figure(key, label, Value::from(n), n.to_string());
    }

    /// A count of events Clavis does not record yet ([`NOT_RECORDED_YET`]): with none in
    /// the log it reads [`NOT_RECORDED`] (value null), not 0.
    fn unrecorded_count(&mut self, key: &str, label: &str, n: u64) {
        if n == 0 {
            self.figure(key, label, Value::Null, NOT_RECORDED.to_owned());
        } else {
            self.count(key, label, n);
        }
    }

    /// Say that `types` (those of them in [`NOT_RECORDED_YET`]) are not recorded yet, so
    /// the section's figures cover only the events present in the log.
    fn not_recorded_note(&mut self, types: &[&str]) {
        let listed: Vec<String> = types
            .iter()
            .filter(|t| not_recorded_yet(t))
            .map(|t| format!("`{t}`"))
            .collect();
        if listed.is_empty() {
            return;
        }
        self.note(format!(
            "Clavis does not record {} events yet; the figures here cover only events \
             present in the log, so \"{NOT_RECORDED}\" or a low count is not a finding.",
            listed.join(", ")
        ));
    }

    fn text(&mut self, key: &str, label: &str, s: impl Into<String>) {
        let s = s.into();
        self.figure(key, label, Value::String(s.clone()), s);
    }

    fn note(&mut self, s: impl Into<String>) {
        self.notes.push(s.into());
    }

    /// A static two-column table (no cap).
    fn list(&mut self, key: &str, title: &str, columns: [&str; 2], rows: &[(&str, &str)]) {
        self.tables.push(Table {
            key: key.to_owned(),
            title: title.to_owned(),
            columns: columns.iter().map(|c| (*c).to_owned()).collect(),
            rows: rows
                .iter()
                .map(|(a, b)| vec![(*a).to_owned(), (*b).to_owned()])
                .collect(),
            total_rows: rows.len() as u64,
        });
    }
}

/// The time range of a report: `from` inclusive, `to` exclusive.
#[derive(Debug, Clone, Copy)]
struct Range {
    from: Timestamp,
    to: Timestamp,
}

/// What every report builder gets.
struct Ctx<'a> {
    tenant: &'a Tenant,
    range: Range,
    org: Option<&'a str>,
    events_scanned: u64,
    undecodable: u64,
}

impl Core {
    /// Build a compliance report of `kind` for `tenant` over `[from, to)`, limited to the
    /// organization `org` (its id or slug) when given. Reads the log page by page; runs
    /// the chain verification for SOC 2 and HIPAA.
    pub async fn compliance_report(
        &self,
        tenant: &Tenant,
        kind: ReportKind,
        from: Timestamp,
        to: Timestamp,
        org: Option<&str>,
    ) -> Result<ComplianceReport, CoreError> {
        if from >= to {
            return Err(CoreError::invalid("range", "`from` must be before `to`"));
        }
        let organization = match org {
            Some(o) => Some(self.report_org(tenant, o).await?),
            None => None,
        };
        let org_id = organization.as_ref().map(|o| o.org_id.clone());
        let mut ctx = Ctx {
            tenant,
            range: Range { from, to },
            org: org_id.as_deref(),
            events_scanned: 0,
            undecodable: 0,
        };
        let mut sections = match kind {
            ReportKind::Soc2 => self.soc2_sections(&mut ctx).await?,
            ReportKind::Hipaa => self.hipaa_sections(&mut ctx).await?,
            ReportKind::Gdpr => self.gdpr_sections(&mut ctx).await?,
        };
        if ctx.undecodable > 0
            && let Some(first) = sections.first_mut()
        {
            first.note(format!(
                "{} stored event(s) in the range could not be decoded and were left out; \
                 see the chain verification.",
                ctx.undecodable
            ));
        }
        Ok(ComplianceReport {
            kind,
            title: kind.title().to_owned(),
            tenant: ReportTenant {
                id: tenant.id.to_string(),
                slug: tenant.slug.to_string(),
                display_name: tenant.display_name.clone(),
            },
            from: from.to_rfc3339(),
            to: to.to_rfc3339(),
            organization,
            generated_at: self.now().to_rfc3339(),
            events_scanned: ctx.events_scanned,
            sections,
        })
    }

    /// The organization named by id or slug; an id that no longer exists is still
    /// accepted (its events outlive it).
    async fn report_org(
        &self,
        tenant: &Tenant,
        org: &str,
    ) -> Result<ReportOrganization, CoreError> {
        let mut tx = self.store.read().await?;
        let by_id = OrgId::parse(org).ok();
        if let Some(id) = &by_id
            && let Some(o) = tx.org_get(&tenant.id, id).await?
        {
            return Ok(ReportOrganization {
                org_id: o.id.to_string(),
                name: Some(o.display_name),
            });
        }
        if let Ok(slug) = Slug::parse(org)
            && let Some(o) = tx.org_get_by_slug(&tenant.id, &slug).await?
        {
            return Ok(ReportOrganization {
                org_id: o.id.to_string(),
                name: Some(o.display_name),
            });
        }
        match by_id {
            Some(id) => Ok(ReportOrganization {
                org_id: id.to_string(),
                name: None,
            }),
            None => Err(CoreError::NotFound("organization")),
        }
    }

    /// Email and IP address of each event's actor, as far as they are readable.
    async fn actor_details(
        &self,
        tenant: &Tenant,
        events: &[ChainedEvent],
    ) -> Result<HashMap<i64, ActorDetail>, CoreError> {
        if events.is_empty() {
            return Ok(HashMap::new());
        }
        let views = self.audit_views(tenant, events).await?;
        Ok(views
            .iter()
            .map(|v| (v.seq, ActorDetail::from_actor(&v.actor)))
            .collect())
    }

    /// Look up which of `ids` are administrators of the tenant, filling `known`.
    async fn learn_admins(
        &self,
        tenant: &TenantId,
        ids: Vec<String>,
        known: &mut HashMap<String, bool>,
    ) -> Result<(), CoreError> {
        let unknown: Vec<String> = ids.into_iter().filter(|i| !known.contains_key(i)).collect();
        if unknown.is_empty() {
            return Ok(());
        }
        let mut tx = self.store.read().await?;
        for id in unknown {
            let admin = match UserId::parse(&id) {
                Ok(u) => tx.admin_is(tenant, &u).await?,
                Err(_) => false,
            };
            known.insert(id, admin);
        }
        Ok(())
    }
}

/// A page-by-page reader of the events of a range.
struct Scan {
    q: AuditQuery,
    done: bool,
}

/// A stored event and what its body decodes to (personal data still sealed).
struct Decoded {
    stored: ChainedEvent,
    event: AuditEvent,
}

impl Scan {
    /// Events of `ctx`'s range of the given types (`prefix.*` allowed), limited to the
    /// report's organization when `by_org`.
    fn new(ctx: &Ctx<'_>, types: &[&str], by_org: bool) -> Self {
        Self {
            q: AuditQuery {
                from: Some(ctx.range.from),
                to: Some(ctx.range.to),
                event_types: types.iter().map(|t| (*t).to_owned()).collect(),
                org_id: if by_org {
                    ctx.org.map(str::to_owned)
                } else {
                    None
                },
                ..AuditQuery::default()
            },
            done: false,
        }
    }

    /// The next page, or `None` at the end.
    async fn next(
        &mut self,
        core: &Core,
        ctx: &mut Ctx<'_>,
    ) -> Result<Option<Vec<Decoded>>, CoreError> {
        if self.done {
            return Ok(None);
        }
        let page = {
            let mut tx = core.store.read().await?;
            tx.audit_search(&ctx.tenant.id, &self.q, PAGE).await?
        };
        if page.len() < PAGE as usize {
            self.done = true;
        }
        let Some(last) = page.last() else {
            return Ok(None);
        };
        self.q.after_seq = Some(last.seq);
        ctx.events_scanned += page.len() as u64;
        let mut out = Vec::with_capacity(page.len());
        for stored in page {
            match parse_body(&stored.body) {
                Ok(event) => out.push(Decoded { stored, event }),
                Err(_) => ctx.undecodable += 1,
            }
        }
        Ok(Some(out))
    }
}

/// The readable parts of an actor.
#[derive(Debug, Clone, Default)]
struct ActorDetail {
    email: Option<String>,
    ip: Option<String>,
}

impl ActorDetail {
    /// From a view's actor (sealed values, which a view never returns, are skipped).
    fn from_actor(a: &AuditActor) -> Self {
        let readable = |v: &Option<String>| {
            v.as_ref()
                .filter(|s| !s.starts_with(SEALED_PREFIX))
                .cloned()
        };
        Self {
            email: readable(&a.email),
            ip: readable(&a.ip_address),
        }
    }
}

/// Who did it, for a table: email (when readable) and id, a client, or "system".
fn actor_label(e: &AuditEvent, d: Option<&ActorDetail>) -> String {
    let email = d.and_then(|d| d.email.as_deref());
    match (&e.actor.user_id, email, &e.actor.client_id) {
        (Some(u), Some(m), _) => format!("{m} ({u})"),
        (Some(u), None, _) => u.clone(),
        (None, Some(m), _) => m.to_owned(),
        (None, None, Some(c)) => format!("client {c}"),
        (None, None, None) => "system".to_owned(),
    }
}

/// The organization column of a table.
fn org_label(e: &AuditEvent) -> String {
    e.organization
        .as_ref()
        .map_or_else(|| "—".to_owned(), |o| o.org_id.clone())
}

/// A short `key=value` summary of an event's scalar context, without personal data.
fn context_summary(ctx: &JsonMap) -> String {
    let mut parts = Vec::new();
    for (k, v) in ctx {
        if PERSONAL_KEYS.contains(&k.as_str()) {
            continue;
        }
        let text = match v {
            Value::String(s) if s.starts_with(SEALED_PREFIX) => continue,
            Value::String(s) => truncate(s, 60),
            Value::Number(n) => n.to_string(),
            Value::Bool(b) => b.to_string(),
            Value::Array(a) => format!("[{} item(s)]", a.len()),
            Value::Null | Value::Object(_) => continue,
        };
        parts.push(format!("{k}={text}"));
        if parts.len() == 5 {
            break;
        }
    }
    parts.join(", ")
}

fn truncate(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_owned();
    }
    let mut out: String = s.chars().take(max).collect();
    out.push('…');
    out
}

/// A string or integer (milliseconds) time in an event's context.
fn context_time(ctx: &JsonMap, key: &str) -> Option<Timestamp> {
    match ctx.get(key)? {
        Value::String(s) => Timestamp::parse_rfc3339(s),
        Value::Number(n) => n.as_i64().map(Timestamp::from_millis),
        _ => None,
    }
}

/// A context string that is readable (not sealed).
fn context_str<'a>(ctx: &'a JsonMap, key: &str) -> Option<&'a str> {
    ctx.get(key)
        .and_then(Value::as_str)
        .filter(|s| !s.starts_with(SEALED_PREFIX))
}

/// The user an event is about: `context.subject_user_id` or `context.user_id` when
/// someone else acted, else the actor.
fn subject_of(e: &AuditEvent) -> String {
    context_str(&e.context, "subject_user_id")
        .or_else(|| context_str(&e.context, "user_id"))
        .or(e.actor.user_id.as_deref())
        .unwrap_or("—")
        .to_owned()
}

/// Whether `event_type` (or a pattern such as `role.*`) is one Clavis does not record yet.
fn not_recorded_yet(event_type: &str) -> bool {
    let t = event_type.trim_end_matches('*').trim_end_matches('.');
    NOT_RECORDED_YET.iter().any(|p| match p.strip_suffix('*') {
        Some(prefix) => t.starts_with(prefix) || prefix.trim_end_matches('.') == t,
        None => *p == t,
    })
}

fn is_erased(s: &str) -> bool {
    s == ERASED
}

/// The time column of a table.
fn when(t: Timestamp) -> String {
    t.to_rfc3339()
}

/// The host (and port) of a sink endpoint, never its path or query (which may hold keys).
fn endpoint_host(endpoint: &str) -> String {
    url::Url::parse(endpoint)
        .ok()
        .and_then(|u| {
            let host = u.host_str()?.to_owned();
            Some(match u.port() {
                Some(p) => format!("{}://{host}:{p}", u.scheme()),
                None => format!("{}://{host}", u.scheme()),
            })
        })
        .unwrap_or_else(|| "(unparseable endpoint)".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn helpers_format_and_hide_what_they_should() {
        assert!((percent(2, 4) - 50.0).abs() < f64::EPSILON);
        assert!((percent(1, 3) - 33.3).abs() < 1e-9);
        assert_eq!(duration(90_000), "1 min 30 s");
        assert_eq!(duration(3 * DAY_MS + 3_600_000), "3 d 1 h");
        assert_eq!(
            endpoint_host("https://hec.example.com:8088/services/collector?token=x"),
            "https://hec.example.com:8088"
        );
        let ctx = JsonMap::from_iter([
            ("email".to_owned(), Value::from("a@b.c")),
            ("reason".to_owned(), Value::from("sealed:v1:usr:xx")),
            ("kid".to_owned(), Value::from("k1")),
        ]);
        assert_eq!(context_summary(&ctx), "kid=k1");
        assert_eq!(ReportKind::parse("SOC-2"), Some(ReportKind::Soc2));
    }

    #[test]
    fn event_types_clavis_does_not_record_yet_are_named_as_such() {
        for t in [
            "access.emergency_granted",
            "access.emergency*",
            "user.exported",
            "user.export_requested",
            "user.data_exported",
        ] {
            assert!(not_recorded_yet(t), "{t}");
        }
        for t in [
            "user.login.failure",
            "user.login.success",
            "audit.subject_erased",
            "config.applied",
            "key.rotated",
            "user.deleted",
            "user.blocked",
            "role.created",
            "organization.member.added",
            "client_grant.created",
            "token.issued",
            "organization.created",
            "access.*",
            "user.*",
        ] {
            assert!(!not_recorded_yet(t), "{t}");
        }
        let mut sec = Section::new("s", "S");
        sec.not_recorded_note(&["user.login.failure"]);
        assert!(sec.notes.is_empty());
        sec.not_recorded_note(&["user.export*", "config.applied", "access.emergency*"]);
        assert_eq!(sec.notes.len(), 1);
        assert!(
            sec.notes[0].starts_with(
                "Clavis does not record `user.export*`, `access.emergency*` events yet"
            ),
            "{}",
            sec.notes[0]
        );
        sec.unrecorded_count("n", "N", 0);
        sec.unrecorded_count("m", "M", 2);
        assert_eq!(sec.figures[0].value, Value::Null);
        assert_eq!(sec.figures[0].display, NOT_RECORDED);
        assert_eq!(sec.figures[1].value, Value::from(2));
    }
}

//! The GDPR Article 30 report: the record of processing Clavis performs for the tenant
//! (a fixed description of what the code does, with the tenant's retention and sinks),
//! and the data subject requests carried out in the period with their timing.

use clavis_types::UserId;
use serde_json::Value;
use std::collections::HashMap;

use super::{
    Ctx, DAY_MS, Daily, Latency, Rows, Scan, Section, context_str, context_time, duration,
    endpoint_host, subject_of, when,
};
use crate::Core;
use crate::CoreError;
use crate::model::AuditEvent;
use crate::oauth::{SESSION_ABSOLUTE_SECS, SESSION_IDLE_SECS};

/// The event an erasure records ([`Core::audit_erase_subject`]); it names no organization.
const ERASED_EVENT: &str = "audit.subject_erased";

/// Event types that may be data subject requests (classified by [`request_kind`]).
const TYPES: [&str; 5] = [
    "user.deleted",
    "user.exported",
    "user.export_requested",
    "user.data_exported",
    "audit.*",
];

/// Article 12(3): one month to act on a request.
const MONTH_MS: i64 = 30 * DAY_MS;

/// `erasure` (Art. 17) or `access` (Art. 15 / 20) for a data subject request event.
fn request_kind(t: &str) -> Option<&'static str> {
    match t {
        "audit.subject_erased" | "user.deleted" => Some("erasure"),
        t if t.contains("export") && (t.starts_with("user.") || t.starts_with("audit.subject")) => {
            Some("access")
        }
        _ => None,
    }
}

const SUBJECTS: [(&str, &str); 3] = [
    (
        "Users",
        "People who sign in to the tenant's applications (end users, customers' staff).",
    ),
    (
        "Organization members",
        "Users who belong to one of the tenant's organizations (B2B customers).",
    ),
    ("Administrators", "People who manage the tenant in Clavis."),
];

const DATA: [(&str, &str); 8] = [
    (
        "Identifiers",
        "User id, email address and whether it is verified; identities at connections \
         (the external subject identifier).",
    ),
    (
        "Profile",
        "Name, given name, family name, nickname, picture URL, locale; metadata the \
         tenant or the user stores on the account.",
    ),
    (
        "Credentials",
        "Password hashes (argon2id, or imported bcrypt until the next login); never the \
         password itself.",
    ),
    (
        "Authentication records",
        "Sessions with IP address, user agent, time and method of authentication; last \
         login time.",
    ),
    (
        "Authorization data",
        "Roles, organization memberships, teams, and the tokens issued to applications \
         on the user's behalf.",
    ),
    (
        "Audit events",
        "What each user and administrator did and when, with email, IP address and user \
         agent sealed under a key held for that user alone.",
    ),
    (
        "Federated profile data",
        "Claims received from an external identity provider at sign-in, where such \
         connections are configured.",
    ),
    (
        "Application credentials",
        "Client ids and keyed digests of client secrets (applications, not people).",
    ),
];

const PURPOSES: [(&str, &str); 4] = [
    (
        "Authentication",
        "Verifying who a user is and keeping them signed in.",
    ),
    (
        "Authorization",
        "Issuing tokens that carry the user's identity, roles and permissions to the \
         tenant's applications.",
    ),
    (
        "Security",
        "Detecting and limiting attacks: failed logins, token replay, refresh-token \
         reuse.",
    ),
    (
        "Accountability",
        "A tamper-evident record of access and administrative changes as evidence for \
         audits.",
    ),
];

const MEASURES: [(&str, &str); 7] = [
    (
        "Encryption at rest",
        "Signing keys, sink credentials and audit subject keys are sealed with AES-256-GCM \
         under a per-tenant data key, itself wrapped by the install's master key.",
    ),
    (
        "Password storage",
        "argon2id with OWASP parameters; passwords are never stored or logged.",
    ),
    (
        "Token storage",
        "Authorization codes, refresh tokens and session secrets are stored only as \
         SHA-256 digests; client secrets as keyed digests.",
    ),
    (
        "Erasure",
        "Erasing a user destroys their audit key, so personal data in past events becomes \
         unreadable while the log still verifies.",
    ),
    (
        "Integrity",
        "Audit events form a SHA-256 hash chain per tenant with checkpoints signed by the \
         tenant's signing key, verifiable offline.",
    ),
    (
        "Isolation",
        "Every record carries its tenant and every query names it; references between \
         records include the tenant, so data cannot cross tenants.",
    ),
    (
        "Minimal pages",
        "Server-rendered pages run no scripts and send a strict Content-Security-Policy.",
    ),
];

impl Core {
    pub(super) async fn gdpr_sections(&self, ctx: &mut Ctx<'_>) -> Result<Vec<Section>, CoreError> {
        let record = self.processing_section(ctx).await?;
        let requests = self.requests_section(ctx).await?;
        Ok(vec![record, requests])
    }

    async fn processing_section(&self, ctx: &Ctx<'_>) -> Result<Section, CoreError> {
        let mut sec = Section::new("records_of_processing", "Records of processing (Art. 30)");
        let t = ctx.tenant;
        sec.text(
            "controller",
            "Controller",
            format!("{} (tenant `{}`)", t.display_name, t.slug),
        );
        sec.text(
            "processing",
            "Processing",
            "Identity and access management for the controller's applications",
        );
        let days = t.settings.audit_retention_days;
        sec.figure(
            "audit_retention_days",
            "Audit event retention",
            Value::from(days),
            format!("{days} days"),
        );
        sec.summary = format!(
            "Clavis processes identity data of {}'s users to authenticate them and \
             authorize their access, and keeps a tamper-evident audit log for {days} days.",
            t.display_name
        );
        sec.list(
            "data_subjects",
            "Categories of data subjects",
            ["Category", "Who"],
            &SUBJECTS,
        );
        sec.list(
            "personal_data",
            "Categories of personal data",
            ["Category", "Data"],
            &DATA,
        );
        sec.list(
            "purposes",
            "Purposes of processing",
            ["Purpose", "Description"],
            &PURPOSES,
        );
        let audit = format!(
            "{days} days, then purged (an organization under legal hold is kept until the \
             hold is released)."
        );
        let sessions = format!(
            "A session ends after {} days without use and at most {} days after sign-in.",
            SESSION_IDLE_SECS / 86_400,
            SESSION_ABSOLUTE_SECS / 86_400
        );
        sec.list(
            "retention",
            "Retention",
            ["Data", "Kept"],
            &[
                (
                    "Accounts and profiles",
                    "Until the account is deleted. Deletion marks the account deleted and \
                     stops its use; the record itself stays in the database.",
                ),
                ("Sessions", &sessions),
                ("Audit events", &audit),
                (
                    "Personal data inside audit events",
                    "Until the user is erased (their audit key is destroyed), or the event \
                     is purged.",
                ),
            ],
        );
        let sinks = {
            let mut tx = self.store.read().await?;
            tx.sink_list(&t.id).await?
        };
        let mut recipients = Rows::new(&["Recipient", "Kind", "Destination", "Enabled"]);
        recipients.push(vec![
            "The tenant's registered applications".into(),
            "relying parties".into(),
            "the claims their granted scopes allow".into(),
            "yes".into(),
        ]);
        for s in &sinks {
            recipients.push(vec![
                s.name.clone(),
                format!("audit sink ({})", s.kind.as_str()),
                endpoint_host(&s.endpoint),
                if s.enabled { "yes" } else { "no" }.into(),
            ]);
        }
        sec.count(
            "sinks",
            "Audit sinks (recipients of audit events)",
            sinks.len() as u64,
        );
        sec.tables
            .push(recipients.table("recipients", "Recipients"));
        sec.list(
            "security_measures",
            "Technical and organisational security measures (Art. 32)",
            ["Measure", "How"],
            &MEASURES,
        );
        sec.note(
            "Clavis cannot know the controller's contact details, its data protection \
             officer, transfers to third countries (they depend on where Clavis and the \
             sinks above are hosted) or its organisational measures; the controller \
             completes those.",
        );
        if ctx.org.is_some() {
            sec.note("The record of processing is the same for every organization of the tenant.");
        }
        Ok(sec)
    }

    /// Whether `user` is a member of `org` now (memoised in `known`).
    async fn is_member(
        &self,
        ctx: &Ctx<'_>,
        org: &str,
        user: &str,
        known: &mut HashMap<String, bool>,
    ) -> Result<bool, CoreError> {
        if let Some(m) = known.get(user) {
            return Ok(*m);
        }
        let member = match UserId::parse(user) {
            Ok(u) => {
                let mut tx = self.store.read().await?;
                tx.member_orgs(&ctx.tenant.id, &u)
                    .await?
                    .iter()
                    .any(|o| o.as_str() == org)
            }
            Err(_) => false,
        };
        known.insert(user.to_owned(), member);
        Ok(member)
    }

    async fn requests_section(&self, ctx: &mut Ctx<'_>) -> Result<Section, CoreError> {
        let mut sec = Section::new("data_subject_requests", "Data subject requests");
        let mut erasures = 0u64;
        let mut access = 0u64;
        // With an organization: erasures of users who are not its members.
        let mut other_erasures = 0u64;
        let mut members: HashMap<String, bool> = HashMap::new();
        let mut daily = Daily::default();
        let mut latency = Latency::new(MONTH_MS, "one month");
        let mut rows = Rows::new(&[
            "Completed",
            "Request",
            "Event",
            "Subject",
            "Requested",
            "Delay",
        ]);
        // `audit.subject_erased` carries no organization: with one, read the tenant's
        // events and keep those of the organization and the erasures of its members.
        let org = ctx.org.map(str::to_owned);
        let mut scan = Scan::new(ctx, &TYPES, false);
        while let Some(page) = scan.next(self, ctx).await? {
            for d in &page {
                let e: &AuditEvent = &d.event;
                let Some(kind) = request_kind(&e.event_type) else {
                    continue;
                };
                if let Some(org) = org.as_deref() {
                    let of_org = e.organization.as_ref().is_some_and(|o| o.org_id == org);
                    if !of_org {
                        if e.event_type != ERASED_EVENT {
                            continue;
                        }
                        let user = context_str(&e.context, "subject_user_id").unwrap_or("");
                        if !self.is_member(ctx, org, user, &mut members).await? {
                            other_erasures += 1;
                            continue;
                        }
                    }
                }
                match kind {
                    "erasure" => erasures += 1,
                    _ => access += 1,
                }
                daily.add(e.timestamp);
                let requested = context_time(&e.context, "requested_at");
                let delay = requested.map(|r| e.timestamp.as_millis() - r.as_millis());
                if let Some(ms) = delay {
                    latency.add(ms);
                }
                let subject = subject_of(e);
                rows.push(vec![
                    when(e.timestamp),
                    kind.to_owned(),
                    e.event_type.clone(),
                    subject,
                    requested.map_or_else(|| "not recorded".to_owned(), when),
                    delay.map_or_else(|| "—".to_owned(), |ms| duration(ms.max(0))),
                ]);
            }
        }
        sec.count("requests", "Requests carried out", erasures + access);
        sec.count("erasures", "Erasures and deletions (Art. 17)", erasures);
        sec.unrecorded_count(
            "access_requests",
            "Access and portability exports (Art. 15, 20)",
            access,
        );
        sec.count(
            "requests_timed",
            "With a recorded request time",
            latency.count,
        );
        latency.figures(&mut sec, "request");
        sec.summary = if erasures + access == 0 {
            "No erasure of a data subject was carried out in the period.".into()
        } else if access == 0 {
            format!(
                "{erasures} erasure(s) or deletion(s) carried out; {} with a recorded request \
                 time.",
                latency.count
            )
        } else {
            format!(
                "{} request(s) carried out: {erasures} erasure(s) or deletion(s), {access} \
                 export(s); {} with a recorded request time.",
                erasures + access,
                latency.count
            )
        };
        sec.series
            .push(daily.series("requests", "Data subject requests", ctx.range));
        sec.tables.push(rows.table("requests", "Requests"));
        sec.note(
            "Requests are the `audit.subject_erased`, `user.deleted` and export events of \
             the period; the delay runs from the `requested_at` they record, and the \
             one-month limit is that of Art. 12(3).",
        );
        sec.not_recorded_note(&["user.deleted", "user.export*", "user.data_exported"]);
        if ctx.org.is_some() {
            sec.count(
                "erasures_of_other_users",
                "Erasures of users who are not members of the organization (not counted)",
                other_erasures,
            );
            sec.note(
                "Erasures are recorded without an organization: one counts here when the \
                 erased user is a member of the organization when the report is made. \
                 Erasures of users who have left it are among those not counted.",
            );
        }
        Ok(sec)
    }
}

#[cfg(test)]
mod tests {
    use super::request_kind;

    #[test]
    fn classifies_requests() {
        assert_eq!(request_kind("audit.subject_erased"), Some("erasure"));
        assert_eq!(request_kind("user.deleted"), Some("erasure"));
        assert_eq!(request_kind("user.exported"), Some("access"));
        assert_eq!(request_kind("audit.subject_exported"), Some("access"));
        assert_eq!(request_kind("audit.exported"), None);
        assert_eq!(request_kind("audit.purged"), None);
    }
}

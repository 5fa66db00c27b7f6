//! Compliance reports (`Core::compliance_report`) on both backends, from real events
//! appended through the core (sealed, chained): the figures of a small known set of
//! events, the range bounds, the organization filter, erased users, and the events that
//! `apply` and the bootstrap add for the reports.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;

use clavis_core::Core;
use clavis_core::declarative::parse;
use clavis_core::model::*;
use clavis_core::service::{BootstrapAdmin, ComplianceReport, ReportKind, RequestMeta, Section};
use clavis_store::testing::TestDb;
use clavis_types::*;
use serde_json::{Value, json};

#[path = "audit_reports/not_recorded.rs"]
mod not_recorded;
use not_recorded::*;

clavis_store::on_both_backends!(
    soc2_figures_match_a_known_set_of_events,
    the_organization_filter_excludes_other_organizations,
    hipaa_reports_phi_access_controls_and_emergency_access,
    gdpr_reports_processing_and_subject_requests_with_timing,
    apply_and_bootstrap_are_audited_for_the_reports,
    sections_fed_only_by_events_clavis_does_not_record_say_so,
    an_organizations_gdpr_report_counts_the_erasures_of_its_members,
);

/// 2024-01-15T00:00:00Z; the reports cover three days from here.
const D1: Timestamp = Timestamp::from_millis(1_705_276_800_000);
const HOUR: i64 = 3600;
const DAY: i64 = 86_400;

fn at(day: i64, hour: i64) -> Timestamp {
    D1.plus_secs(day * DAY + hour * HOUR)
}

fn from() -> Timestamp {
    D1
}

fn to() -> Timestamp {
    at(3, 0)
}

/// A core whose clock stands well after the reported range (events get explicit times).
fn core(db: &TestDb) -> Core {
    db.core_with_clock(Arc::new(ManualClock::new(at(30, 0))))
}

async fn tenant(core: &Core, slug: &str, settings: TenantSettings) -> Tenant {
    let mut tx = core.store.begin().await.unwrap();
    let t = core
        .create_tenant(&mut *tx, &Slug::parse(slug).unwrap(), slug, settings)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    t
}

async fn user(core: &Core, t: &Tenant, email: &str, admin: bool) -> String {
    let now = core.now();
    let u = User {
        tenant_id: t.id.clone(),
        id: UserId::generate(now, &*core.rng),
        email: Some(Email::parse(email).unwrap()),
        email_verified: true,
        profile: UserProfile::default(),
        user_metadata: JsonMap::new(),
        app_metadata: JsonMap::new(),
        blocked: false,
        created_at: now,
        updated_at: now,
        last_login_at: None,
        deleted_at: None,
    };
    let mut tx = core.store.begin().await.unwrap();
    tx.user_insert(&u).await.unwrap();
    if admin {
        tx.admin_add(&t.id, &u.id, now).await.unwrap();
    }
    tx.commit().await.unwrap();
    u.id.to_string()
}

async fn org(core: &Core, t: &Tenant, slug: &str) -> String {
    let now = core.now();
    let o = Organization {
        tenant_id: t.id.clone(),
        id: OrgId::generate(now, &*core.rng),
        slug: Slug::parse(slug).unwrap(),
        display_name: format!("{slug} Inc."),
        metadata: OrgMetadata::default(),
        user_limit: None,
        created_at: now,
        updated_at: now,
    };
    let mut tx = core.store.begin().await.unwrap();
    tx.org_insert(&o).await.unwrap();
    tx.commit().await.unwrap();
    o.id.to_string()
}

/// What to record; every event is appended through the core (half of them in a
/// transaction of their own with `audit_in`, half through `audit_now`).
struct Ev<'a> {
    ty: &'a str,
    when: Timestamp,
    user: Option<&'a str>,
    email: Option<&'a str>,
    client: Option<&'a str>,
    ip: Option<&'a str>,
    org: Option<&'a str>,
    ctx: Value,
}

impl<'a> Ev<'a> {
    fn new(ty: &'a str, when: Timestamp) -> Self {
        Self {
            ty,
            when,
            user: None,
            email: None,
            client: None,
            ip: None,
            org: None,
            ctx: json!({}),
        }
    }
    fn user(mut self, u: &'a str) -> Self {
        self.user = Some(u);
        self
    }
    fn email(mut self, e: &'a str) -> Self {
        self.email = Some(e);
        self
    }
    fn client(mut self, c: &'a str) -> Self {
        self.client = Some(c);
        self
    }
    fn ip(mut self, ip: &'a str) -> Self {
        self.ip = Some(ip);
        self
    }
    fn org(mut self, o: &'a str) -> Self {
        self.org = Some(o);
        self
    }
    fn ctx(mut self, c: Value) -> Self {
        self.ctx = c;
        self
    }
}

async fn record(core: &Core, t: &Tenant, events: Vec<Ev<'_>>) {
    for (i, ev) in events.into_iter().enumerate() {
        let Value::Object(ctx) = ev.ctx else {
            panic!("context must be an object")
        };
        let mut e = core.audit_event(
            &t.id,
            ev.ty,
            AuditActor {
                user_id: ev.user.map(str::to_owned),
                email: ev.email.map(str::to_owned),
                client_id: ev.client.map(str::to_owned),
                ip_address: ev.ip.map(str::to_owned),
                user_agent: Some("Mozilla/5.0 (test)".into()),
            },
            ev.org.map(|o| AuditOrganization {
                org_id: o.to_owned(),
                name: None,
            }),
            ctx,
            &RequestMeta::default(),
        );
        e.timestamp = ev.when;
        if i % 2 == 0 {
            let mut tx = core.store.begin().await.unwrap();
            core.audit_in(&mut *tx, e).await.unwrap();
            tx.commit().await.unwrap();
        } else {
            core.audit_now(e).await.unwrap();
        }
    }
}

async fn report(core: &Core, t: &Tenant, kind: ReportKind, org: Option<&str>) -> ComplianceReport {
    core.compliance_report(t, kind, from(), to(), org)
        .await
        .unwrap()
}

fn section<'a>(r: &'a ComplianceReport, id: &str) -> &'a Section {
    r.sections
        .iter()
        .find(|s| s.id == id)
        .unwrap_or_else(|| panic!("no section {id}"))
}

fn fig(r: &ComplianceReport, sec: &str, key: &str) -> Value {
    section(r, sec)
        .figures
        .iter()
        .find(|f| f.key == key)
        .unwrap_or_else(|| panic!("no figure {sec}.{key}"))
        .value
        .clone()
}

fn rows(r: &ComplianceReport, sec: &str, table: &str) -> Vec<Vec<String>> {
    section(r, sec)
        .tables
        .iter()
        .find(|t| t.key == table)
        .unwrap_or_else(|| panic!("no table {sec}.{table}"))
        .rows
        .clone()
}

fn series(r: &ComplianceReport, sec: &str, key: &str) -> Vec<(String, u64)> {
    section(r, sec)
        .series
        .iter()
        .find(|s| s.key == key)
        .unwrap_or_else(|| panic!("no series {sec}.{key}"))
        .points
        .iter()
        .map(|p| (p.period.clone(), p.count))
        .collect()
}

fn row(cells: &[&str]) -> Vec<String> {
    cells.iter().map(|c| (*c).to_owned()).collect()
}

async fn soc2_figures_match_a_known_set_of_events(db: TestDb) {
    let core = core(&db);
    let t = tenant(&core, "acme-soc2", TenantSettings::default()).await;
    let admin = user(&core, &t, "root@acme.example", true).await;
    let u1 = user(&core, &t, "u1@acme.example", false).await;
    let u2 = user(&core, &t, "u2@acme.example", false).await;
    let u3 = user(&core, &t, "u3@acme.example", false).await;
    let acme = org(&core, &t, "acme").await;
    let requested = at(2, 1).as_millis() - 2 * HOUR * 1000;
    record(
        &core,
        &t,
        vec![
            // 4 logins, 2 with MFA (by amr, by mfa_used).
            Ev::new("user.login.success", at(0, 9))
                .user(&u1)
                .ctx(json!({"amr": ["pwd", "otp"]})),
            Ev::new("user.login.success", at(0, 10))
                .user(&u2)
                .ctx(json!({"mfa_used": true})),
            Ev::new("user.login.success", at(1, 9))
                .user(&u1)
                .ctx(json!({"mfa_used": false, "amr": ["pwd"]})),
            Ev::new("user.login.success", at(1, 11))
                .user(&u3)
                .ctx(json!({"mfa_used": false})),
            // 3 failed logins on 2 days: u1 twice from one address (sealed under u1),
            // once for no account (address in the clear).
            Ev::new("user.login.failure", at(0, 12))
                .user(&u1)
                .email("u1@acme.example")
                .ip("198.51.100.7"),
            Ev::new("user.login.failure", at(0, 13))
                .user(&u1)
                .email("u1@acme.example")
                .ip("198.51.100.7"),
            Ev::new("user.login.failure", at(1, 8))
                .email("nobody@acme.example")
                .ip("203.0.113.5"),
            // 1 key rotation.
            Ev::new("key.rotated", at(1, 3))
                .ctx(json!({"kid": "k2", "alg": "RS256", "retired_kids": ["k1"]})),
            // Access changes by the administrator (also admin actions).
            Ev::new("organization.member_added", at(0, 14))
                .user(&admin)
                .email("root@acme.example")
                .org(&acme)
                .ctx(json!({"user_id": u2, "roles": ["editor"]})),
            Ev::new("role.created", at(1, 14))
                .user(&admin)
                .email("root@acme.example")
                .ctx(json!({"role": "auditor"})),
            // Deprovisioning: one with a request time (2 hours), one without.
            Ev::new("user.deleted", at(2, 1))
                .user(&admin)
                .email("root@acme.example")
                .ctx(json!({"user_id": u3, "requested_at": Timestamp::from_millis(requested).to_rfc3339()})),
            Ev::new("user.blocked", at(2, 2)).ctx(json!({"user_id": u2})),
            // Outside the range: just before it, at its (exclusive) end, after it.
            Ev::new("user.login.failure", Timestamp::from_millis(from().as_millis() - 1))
                .user(&u1),
            Ev::new("key.rotated", to()).ctx(json!({"kid": "k3"})),
            Ev::new("user.login.success", at(4, 0))
                .user(&u2)
                .ctx(json!({"mfa_used": true})),
        ],
    )
    .await;

    let r = report(&core, &t, ReportKind::Soc2, None).await;
    assert_eq!(r.tenant.slug, "acme-soc2");
    assert_eq!(r.from, "2024-01-15T00:00:00.000Z");
    assert_eq!(r.to, "2024-01-18T00:00:00.000Z");
    assert!(r.organization.is_none());
    assert_eq!(fig(&r, "log_integrity", "chain_ok"), json!(true));

    assert_eq!(fig(&r, "mfa_coverage", "logins"), json!(4));
    assert_eq!(fig(&r, "mfa_coverage", "logins_with_mfa"), json!(2));
    assert_eq!(fig(&r, "mfa_coverage", "mfa_coverage_percent"), json!(50.0));

    assert_eq!(fig(&r, "failed_logins", "failed_logins"), json!(3));
    assert_eq!(fig(&r, "failed_logins", "days_with_failures"), json!(2));
    assert_eq!(fig(&r, "failed_logins", "failed_unknown_account"), json!(1));
    assert_eq!(fig(&r, "failed_logins", "failed_ip_not_visible"), json!(0));
    assert_eq!(
        series(&r, "failed_logins", "failed_logins"),
        [
            ("2024-01-15".to_owned(), 2),
            ("2024-01-16".to_owned(), 1),
            ("2024-01-17".to_owned(), 0)
        ]
    );
    assert_eq!(
        rows(&r, "failed_logins", "top_accounts"),
        [row(&[&u1, "2"])]
    );
    // The address sealed under u1 is read back through the views.
    assert_eq!(
        rows(&r, "failed_logins", "top_ips"),
        [row(&["198.51.100.7", "2"]), row(&["203.0.113.5", "1"])]
    );

    assert_eq!(fig(&r, "key_rotations", "key_rotations"), json!(1));
    assert_eq!(
        rows(&r, "key_rotations", "rotations")[0][1..],
        row(&["k2", "RS256", "k1"])
    );

    assert_eq!(fig(&r, "access_changes", "access_changes"), json!(2));
    assert_eq!(
        rows(&r, "access_changes", "by_type"),
        [
            row(&["organization.member_added", "1"]),
            row(&["role.created", "1"])
        ]
    );
    // member_added, role.created and user.deleted were done by the administrator.
    assert_eq!(fig(&r, "admin_actions", "admin_actions"), json!(3));
    let actions = rows(&r, "admin_actions", "actions");
    assert!(
        actions
            .iter()
            .all(|a| a[2] == format!("root@acme.example ({admin})")),
        "{actions:?}"
    );

    assert_eq!(fig(&r, "deprovisioning", "deprovisioning_events"), json!(2));
    assert_eq!(fig(&r, "deprovisioning", "deprovisioning_timed"), json!(1));
    assert_eq!(
        fig(&r, "deprovisioning", "deprovisioning_average_ms"),
        json!(2 * HOUR * 1000)
    );
    let deprov = rows(&r, "deprovisioning", "deprovisioned");
    assert_eq!(deprov[0][2], u3);
    assert_eq!(deprov[0][4], "2 h 0 min");
    assert_eq!(deprov[1][3], "not recorded");

    // Nothing sealed leaks into the report; the JSON form serialises.
    let json = serde_json::to_string(&r).unwrap();
    assert!(!json.contains("sealed:v1:"), "{json}");
    assert!(json.contains("\"kind\":\"soc2\""));

    // Erasing u1 hides the address sealed under their key; the counts stay.
    assert!(
        core.audit_erase_subject(&t, &u1, &RequestMeta::default())
            .await
            .unwrap()
    );
    let r = report(&core, &t, ReportKind::Soc2, None).await;
    assert_eq!(fig(&r, "failed_logins", "failed_logins"), json!(3));
    assert_eq!(fig(&r, "failed_logins", "failed_ip_not_visible"), json!(2));
    assert_eq!(
        rows(&r, "failed_logins", "top_ips"),
        [row(&["203.0.113.5", "1"])]
    );
    assert!(!serde_json::to_string(&r).unwrap().contains("198.51.100.7"));
    assert_eq!(fig(&r, "log_integrity", "chain_ok"), json!(true));

    // An empty or reversed range is refused.
    assert!(
        core.compliance_report(&t, ReportKind::Soc2, to(), from(), None)
            .await
            .is_err()
    );
}

async fn the_organization_filter_excludes_other_organizations(db: TestDb) {
    let core = core(&db);
    let t = tenant(&core, "orgs", TenantSettings::default()).await;
    let u1 = user(&core, &t, "u1@acme.example", false).await;
    let u2 = user(&core, &t, "u2@globex.example", false).await;
    let acme = org(&core, &t, "acme").await;
    let globex = org(&core, &t, "globex").await;
    record(
        &core,
        &t,
        vec![
            Ev::new("user.login.success", at(0, 9))
                .user(&u1)
                .org(&acme)
                .ctx(json!({"amr": ["pwd", "webauthn"]})),
            Ev::new("user.login.failure", at(0, 10))
                .user(&u1)
                .org(&acme),
            Ev::new("user.login.failure", at(0, 11))
                .user(&u2)
                .org(&globex),
            Ev::new("user.login.failure", at(1, 11))
                .user(&u2)
                .org(&globex),
            Ev::new("user.login.success", at(1, 12))
                .user(&u2)
                .ctx(json!({"mfa_used": false})),
            Ev::new("key.rotated", at(2, 0)).ctx(json!({"kid": "k9"})),
        ],
    )
    .await;

    for by in ["acme", acme.as_str()] {
        let r = report(&core, &t, ReportKind::Soc2, Some(by)).await;
        let o = r.organization.as_ref().unwrap();
        assert_eq!(o.org_id, acme);
        assert_eq!(o.name.as_deref(), Some("acme Inc."));
        assert_eq!(fig(&r, "failed_logins", "failed_logins"), json!(1));
        assert_eq!(
            rows(&r, "failed_logins", "top_accounts"),
            [row(&[&u1, "1"])]
        );
        assert_eq!(fig(&r, "mfa_coverage", "logins"), json!(1));
        assert_eq!(
            fig(&r, "mfa_coverage", "mfa_coverage_percent"),
            json!(100.0)
        );
        // Signing keys are tenant-wide and reported as such.
        assert_eq!(fig(&r, "key_rotations", "key_rotations"), json!(1));
    }
    let r = report(&core, &t, ReportKind::Soc2, Some("globex")).await;
    assert_eq!(fig(&r, "failed_logins", "failed_logins"), json!(2));
    assert_eq!(
        rows(&r, "failed_logins", "top_accounts"),
        [row(&[&u2, "2"])]
    );
    assert_eq!(fig(&r, "mfa_coverage", "logins"), json!(0));
    assert_eq!(fig(&r, "mfa_coverage", "mfa_coverage_percent"), Value::Null);

    let r = report(&core, &t, ReportKind::Soc2, None).await;
    assert_eq!(fig(&r, "failed_logins", "failed_logins"), json!(3));
    assert_eq!(fig(&r, "mfa_coverage", "logins"), json!(2));
    assert_eq!(fig(&r, "mfa_coverage", "mfa_coverage_percent"), json!(50.0));

    assert!(
        core.compliance_report(&t, ReportKind::Soc2, from(), to(), Some("initech"))
            .await
            .is_err()
    );
    // Another tenant's organization is not this tenant's.
    let other = tenant(&core, "other", TenantSettings::default()).await;
    let r = report(&core, &other, ReportKind::Soc2, Some(acme.as_str())).await;
    assert_eq!(r.organization.as_ref().unwrap().name, None);
    assert_eq!(fig(&r, "failed_logins", "failed_logins"), json!(0));
}

async fn hipaa_reports_phi_access_controls_and_emergency_access(db: TestDb) {
    let core = core(&db);
    let phi = "https://phi.example.com";
    let t = tenant(
        &core,
        "clinic",
        TenantSettings {
            phi_audiences: vec![phi.to_owned()],
            ..TenantSettings::default()
        },
    )
    .await;
    let u1 = user(&core, &t, "doctor@clinic.example", false).await;
    let u2 = user(&core, &t, "nurse@clinic.example", false).await;
    record(
        &core,
        &t,
        vec![
            Ev::new("token.issued", at(0, 9))
                .client("cli_batch")
                .ctx(json!({"grant_type": "client_credentials", "audience": phi})),
            Ev::new("token.issued", at(0, 10))
                .user(&u1)
                .client("cli_portal")
                .ctx(json!({"audience": [phi, "https://clinic/userinfo"]})),
            Ev::new("token.issued", at(1, 10))
                .user(&u2)
                .client("cli_portal")
                .ctx(json!({"audience": [phi]})),
            Ev::new("token.issued", at(1, 11))
                .user(&u2)
                .client("cli_portal")
                .ctx(json!({"audience": ["https://api.example.com"]})),
            Ev::new("token.issued", at(1, 12))
                .user(&u2)
                .client("cli_old"),
            Ev::new("token.issued", at(5, 0))
                .client("cli_batch")
                .ctx(json!({"audience": phi})),
            Ev::new("access.emergency_granted", at(1, 3))
                .user(&u1)
                .email("doctor@clinic.example")
                .ctx(json!({"reason": "break-glass: pager 42"})),
        ],
    )
    .await;
    let now = core.now();
    let mut tx = core.store.begin().await.unwrap();
    tx.sink_insert(&AuditSink {
        tenant_id: t.id.clone(),
        id: "snk_1".into(),
        name: "Splunk".into(),
        kind: SinkKind::SplunkHec,
        endpoint: "https://hec.example.com:8088/services/collector?token=s3cret".into(),
        sealed_secret: None,
        options: JsonMap::new(),
        enabled: true,
        cursor: 0,
        status: SinkStatus::Pending,
        last_error: None,
        attempts: 0,
        next_attempt_at: now,
        delivered_total: 0,
        last_delivered_at: None,
        created_at: now,
        updated_at: now,
    })
    .await
    .unwrap();
    tx.commit().await.unwrap();

    let r = report(&core, &t, ReportKind::Hipaa, None).await;
    assert_eq!(fig(&r, "phi_access", "phi_token_issuances"), json!(3));
    assert_eq!(fig(&r, "phi_access", "phi_users"), json!(2));
    assert_eq!(fig(&r, "phi_access", "phi_clients"), json!(2));
    assert_eq!(fig(&r, "phi_access", "tokens_without_audience"), json!(1));
    assert_eq!(rows(&r, "phi_access", "by_audience"), [row(&[phi, "3"])]);
    assert_eq!(
        series(&r, "phi_access", "phi_access")
            .iter()
            .map(|p| p.1)
            .collect::<Vec<_>>(),
        [2, 1, 0]
    );
    assert_eq!(
        rows(&r, "phi_access", "top_clients")[0],
        row(&["cli_portal", "2"])
    );

    assert_eq!(fig(&r, "log_integrity", "chain_ok"), json!(true));
    assert_eq!(fig(&r, "audit_controls", "retention_days"), json!(2557));
    assert_eq!(fig(&r, "audit_controls", "sinks"), json!(1));
    let sinks = rows(&r, "audit_controls", "sinks");
    assert_eq!(
        sinks[0][..3],
        row(&["Splunk", "splunk_hec", "https://hec.example.com:8088"])
    );
    assert!(!serde_json::to_string(&r).unwrap().contains("s3cret"));

    assert_eq!(
        fig(&r, "emergency_access", "emergency_access_events"),
        json!(1)
    );
    let em = rows(&r, "emergency_access", "events");
    assert_eq!(em[0][2], format!("doctor@clinic.example ({u1})"));
    assert_eq!(em[0][4], "break-glass: pager 42");

    // Without flagged audiences nothing is classified as PHI access.
    let plain = tenant(&core, "plain", TenantSettings::default()).await;
    let r = report(&core, &plain, ReportKind::Hipaa, None).await;
    assert!(
        section(&r, "phi_access")
            .figures
            .iter()
            .all(|f| f.key != "phi_token_issuances")
    );
    assert_eq!(fig(&r, "phi_access", "phi_audiences"), json!("none"));
    // No emergency access in the log: "not recorded", not a zero presented as a finding.
    assert_eq!(
        fig(&r, "emergency_access", "emergency_access_events"),
        Value::Null
    );
}

async fn gdpr_reports_processing_and_subject_requests_with_timing(db: TestDb) {
    let clock = Arc::new(ManualClock::new(at(1, 12)));
    let core = db.core_with_clock(clock.clone());
    let t = tenant(
        &core,
        "shop",
        TenantSettings {
            audit_retention_days: 365,
            ..TenantSettings::default()
        },
    )
    .await;
    let u1 = user(&core, &t, "a@shop.example", false).await;
    let u2 = user(&core, &t, "b@shop.example", false).await;
    let u3 = user(&core, &t, "c@shop.example", false).await;
    let three_days_before = at(1, 0).plus_secs(-3 * DAY).to_rfc3339();
    let forty_days_before = at(2, 0).plus_secs(-40 * DAY).as_millis();
    record(
        &core,
        &t,
        vec![
            Ev::new("user.deleted", at(1, 0))
                .ctx(json!({"user_id": u1, "requested_at": three_days_before})),
            Ev::new("user.exported", at(2, 0))
                .user(&u3)
                .ctx(json!({"requested_at": forty_days_before})),
            // Not data subject requests.
            Ev::new("audit.exported", at(0, 5)),
            Ev::new("user.login.success", at(0, 6)).user(&u3),
        ],
    )
    .await;
    // A real erasure, at the clock's time (day 2, noon).
    assert!(
        core.audit_erase_subject(&t, &u2, &RequestMeta::default())
            .await
            .unwrap()
    );
    clock.set(at(30, 0));

    let r = report(&core, &t, ReportKind::Gdpr, None).await;
    assert_eq!(
        fig(&r, "records_of_processing", "audit_retention_days"),
        json!(365)
    );
    let record = section(&r, "records_of_processing");
    for table in [
        "data_subjects",
        "personal_data",
        "purposes",
        "retention",
        "recipients",
        "security_measures",
    ] {
        assert!(
            !rows(&r, "records_of_processing", table).is_empty(),
            "{table} is empty"
        );
    }
    assert!(record.summary.contains("365 days"));

    assert_eq!(fig(&r, "data_subject_requests", "requests"), json!(3));
    assert_eq!(fig(&r, "data_subject_requests", "erasures"), json!(2));
    assert_eq!(
        fig(&r, "data_subject_requests", "access_requests"),
        json!(1)
    );
    assert_eq!(fig(&r, "data_subject_requests", "requests_timed"), json!(2));
    assert_eq!(
        fig(&r, "data_subject_requests", "request_within_limit_percent"),
        json!(50.0)
    );
    assert_eq!(
        fig(&r, "data_subject_requests", "request_max_ms"),
        json!(40 * DAY * 1000)
    );
    // In log order: the deletion, the export, then the erasure recorded after them.
    let reqs = rows(&r, "data_subject_requests", "requests");
    let subjects: Vec<&str> = reqs.iter().map(|r| r[3].as_str()).collect();
    assert_eq!(subjects, [u1.as_str(), u3.as_str(), u2.as_str()]);
    assert_eq!(reqs[0][1], "erasure");
    assert_eq!(reqs[0][5], "3 d 0 h");
    assert_eq!(reqs[1][1], "access");
    assert_eq!(reqs[1][5], "40 d 0 h");
    assert_eq!(reqs[2][2], "audit.subject_erased");
    assert_eq!(reqs[2][4], "not recorded");
    assert_eq!(
        series(&r, "data_subject_requests", "requests")
            .iter()
            .map(|p| p.1)
            .collect::<Vec<_>>(),
        [0, 2, 1]
    );
}

async fn apply_and_bootstrap_are_audited_for_the_reports(db: TestDb) {
    let clock = Arc::new(ManualClock::new(at(0, 8)));
    let core = db.core_with_clock(clock.clone());
    assert!(core.ensure_default_tenant().await.unwrap());
    let token = core.issue_bootstrap_token().await.unwrap().unwrap();
    let admin = core
        .complete_bootstrap(
            &token,
            BootstrapAdmin {
                email: Email::parse("first@admin.example").unwrap(),
                password: "a long enough password".into(),
            },
        )
        .await
        .unwrap();
    clock.set(at(1, 8));
    let doc = parse(
        "tenants:
  - slug: default
    roles:
      - name: auditor
        description: Reads reports
    users:
      - email: alice@acme.example
        roles: [auditor]
",
    )
    .unwrap();
    let applied = core.apply(&doc).await.unwrap();
    assert_eq!(applied.changes.len(), 2, "{:?}", applied.changes);
    let head = {
        let t = core.tenant_by_slug("default").await.unwrap();
        let mut tx = core.store.read().await.unwrap();
        tx.audit_head(&t.id).await.unwrap().seq
    };
    // A second apply changes nothing and records nothing.
    assert!(core.apply(&doc).await.unwrap().is_noop());
    let t = core.tenant_by_slug("default").await.unwrap();
    {
        let mut tx = core.store.read().await.unwrap();
        assert_eq!(tx.audit_head(&t.id).await.unwrap().seq, head);
        let events = tx
            .audit_search(
                &t.id,
                &AuditQuery {
                    event_types: vec!["config.applied".into(), "admin.created".into()],
                    ..AuditQuery::default()
                },
                10,
            )
            .await
            .unwrap();
        let types: Vec<&str> = events.iter().map(|e| e.event_type.as_str()).collect();
        assert_eq!(types, ["admin.created", "config.applied"]);
        let body: Value = serde_json::from_str(&events[1].body).unwrap();
        assert_eq!(body["context"]["created"], json!(2));
        assert_eq!(body["context"]["updated"], json!(0));
        // The user is named by id: no email in the clear in the log.
        assert!(!events[1].body.contains("alice@"), "{}", events[1].body);
        assert!(events[1].body.contains("\"kind\":\"user\""));
        assert_eq!(events[0].actor_user_id.as_deref(), Some(admin.id.as_str()));
        assert!(!events[0].body.contains("first@admin.example"), "sealed");
    }

    let r = report(&core, &t, ReportKind::Soc2, None).await;
    assert_eq!(fig(&r, "access_changes", "access_changes"), json!(1));
    assert_eq!(fig(&r, "admin_actions", "admin_actions"), json!(2));
    let actions = rows(&r, "admin_actions", "actions");
    assert_eq!(actions[0][1], "admin.created");
    assert_eq!(actions[0][2], format!("first@admin.example ({})", admin.id));
    assert_eq!(actions[1][1], "config.applied");
    assert_eq!(actions[1][2], "system");
    assert!(actions[1][4].contains("created=2"), "{:?}", actions[1]);
}

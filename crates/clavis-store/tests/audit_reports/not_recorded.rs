//! What the reports say about events Clavis does not record yet, and the erasures an
//! organization's GDPR report counts (erasures carry no organization).

use super::*;

fn figure_display(r: &ComplianceReport, sec: &str, key: &str) -> String {
    section(r, sec)
        .figures
        .iter()
        .find(|f| f.key == key)
        .unwrap_or_else(|| panic!("no figure {sec}.{key}"))
        .display
        .clone()
}

fn says_not_recorded(r: &ComplianceReport, sec: &str, event_type: &str) -> bool {
    section(r, sec)
        .notes
        .iter()
        .any(|n| n.starts_with("Clavis does not record") && n.contains(&format!("`{event_type}`")))
}

pub(super) async fn sections_fed_only_by_events_clavis_does_not_record_say_so(db: TestDb) {
    let core = core(&db);
    let t = tenant(&core, "quiet", TenantSettings::default()).await;
    let u1 = user(&core, &t, "u1@quiet.example", false).await;
    // Logins, a failure, a key rotation; no exports, no emergency access.
    record(
        &core,
        &t,
        vec![
            Ev::new("user.login.success", at(0, 9)).user(&u1),
            Ev::new("user.login.failure", at(0, 10))
                .email("nobody@quiet.example")
                .ip("203.0.113.5"),
            Ev::new("key.rotated", at(1, 3)).ctx(json!({"kid": "k2"})),
        ],
    )
    .await;

    let r = report(&core, &t, ReportKind::Soc2, None).await;
    // Deprovisioning and access changes are recorded (Management API): none in the log
    // is a real zero, with no "not recorded" note.
    assert_eq!(fig(&r, "deprovisioning", "deprovisioning_events"), json!(0));
    assert!(!says_not_recorded(&r, "deprovisioning", "user.deleted"));
    assert!(!says_not_recorded(&r, "deprovisioning", "user.blocked"));
    assert_eq!(fig(&r, "access_changes", "access_changes"), json!(0));
    assert!(!says_not_recorded(&r, "access_changes", "role.*"));
    assert!(!says_not_recorded(
        &r,
        "access_changes",
        "organization.member*"
    ));
    // Sections fed by recorded events carry no such note.
    for sec in [
        "failed_logins",
        "mfa_coverage",
        "key_rotations",
        "deprovisioning",
        "access_changes",
    ] {
        assert!(
            section(&r, sec)
                .notes
                .iter()
                .all(|n| !n.starts_with("Clavis does not record")),
            "{sec}"
        );
    }
    // The failed login for an address no account has: its address is sealed, and the
    // report still reads it.
    assert_eq!(fig(&r, "failed_logins", "failed_unknown_account"), json!(1));
    assert_eq!(
        rows(&r, "failed_logins", "top_ips"),
        [row(&["203.0.113.5", "1"])]
    );

    let r = report(&core, &t, ReportKind::Hipaa, None).await;
    assert_eq!(
        figure_display(&r, "emergency_access", "emergency_access_events"),
        "not recorded"
    );
    assert!(says_not_recorded(
        &r,
        "emergency_access",
        "access.emergency*"
    ));
    assert!(
        !section(&r, "emergency_access").summary.starts_with("No "),
        "{}",
        section(&r, "emergency_access").summary
    );

    let r = report(&core, &t, ReportKind::Gdpr, None).await;
    assert_eq!(
        fig(&r, "data_subject_requests", "access_requests"),
        Value::Null
    );
    assert_eq!(fig(&r, "data_subject_requests", "erasures"), json!(0));
    assert!(!says_not_recorded(
        &r,
        "data_subject_requests",
        "user.deleted"
    ));
    assert!(says_not_recorded(
        &r,
        "data_subject_requests",
        "user.export*"
    ));
}

pub(super) async fn an_organizations_gdpr_report_counts_the_erasures_of_its_members(db: TestDb) {
    let clock = Arc::new(ManualClock::new(at(1, 12)));
    let core = db.core_with_clock(clock.clone());
    let t = tenant(&core, "b2b", TenantSettings::default()).await;
    let member = user(&core, &t, "m@acme.example", false).await;
    let outsider = user(&core, &t, "o@globex.example", false).await;
    let acme = org(&core, &t, "acme").await;
    let globex = org(&core, &t, "globex").await;
    let mut tx = core.store.begin().await.unwrap();
    let (acme_id, globex_id) = (OrgId::parse(&acme).unwrap(), OrgId::parse(&globex).unwrap());
    tx.member_add(
        &t.id,
        &acme_id,
        &UserId::parse(&member).unwrap(),
        core.now(),
    )
    .await
    .unwrap();
    tx.member_add(
        &t.id,
        &globex_id,
        &UserId::parse(&outsider).unwrap(),
        core.now(),
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
    for u in [&member, &outsider] {
        assert!(
            core.audit_erase_subject(&t, u, &RequestMeta::default())
                .await
                .unwrap()
        );
    }
    clock.set(at(30, 0));

    let r = report(&core, &t, ReportKind::Gdpr, Some("acme")).await;
    assert_eq!(fig(&r, "data_subject_requests", "erasures"), json!(1));
    let reqs = rows(&r, "data_subject_requests", "requests");
    assert_eq!(reqs.len(), 1);
    assert_eq!(reqs[0][3], member);
    assert_eq!(
        fig(&r, "data_subject_requests", "erasures_of_other_users"),
        json!(1)
    );
    assert!(
        section(&r, "data_subject_requests")
            .notes
            .iter()
            .any(|n| n.contains("member of the organization")),
    );
    let r = report(&core, &t, ReportKind::Gdpr, Some("globex")).await;
    assert_eq!(
        rows(&r, "data_subject_requests", "requests")[0][3],
        outsider
    );
    // The tenant's report counts both and has no such figure.
    let r = report(&core, &t, ReportKind::Gdpr, None).await;
    assert_eq!(fig(&r, "data_subject_requests", "erasures"), json!(2));
    assert!(
        section(&r, "data_subject_requests")
            .figures
            .iter()
            .all(|f| f.key != "erasures_of_other_users")
    );
}

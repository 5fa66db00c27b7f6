//! The login settings blocks of a tenant (`password_policy`, `attack_protection`,
//! `universal_login`) in configuration as code: only the fields present are managed,
//! export round-trips, and out-of-bounds values are refused naming the field.

use super::*;
use clavis_core::model::{AttackProtection, PasswordPolicy, TenantSettings, UniversalLogin};

clavis_store::on_both_backends!(
    login_settings_are_managed_and_round_trip,
    login_settings_out_of_bounds_are_refused_naming_the_field,
);

async fn settings(core: &Core, t: &str) -> TenantSettings {
    let mut tx = core.store.read().await.unwrap();
    tx.tenant_get_by_slug(&slug(t))
        .await
        .unwrap()
        .unwrap()
        .settings
}

const TUNED: &str = "tenants:
  - slug: tuned
    password_policy:
      min_length: 12
      history: 0
    attack_protection:
      failed_logins_per_hour: 3
      lockout_secs: 600
      lockout_max_secs: 7200
    universal_login:
      signup_enabled: false
      default_locale: fr
";

async fn login_settings_are_managed_and_round_trip(db: TestDb) {
    let core = db.core();
    core.apply(&parse(TUNED).unwrap()).await.unwrap();
    let s = settings(&core, "tuned").await;
    assert_eq!(
        s.password_policy,
        PasswordPolicy {
            min_length: 12,
            history: 0,
            ..PasswordPolicy::default()
        }
    );
    assert_eq!(
        s.attack_protection,
        AttackProtection {
            failed_logins_per_hour: 3,
            lockout_secs: 600,
            lockout_max_secs: 7200,
            ..AttackProtection::default()
        }
    );
    assert_eq!(
        s.universal_login,
        UniversalLogin {
            signup_enabled: false,
            default_locale: "fr".to_owned(),
            ..UniversalLogin::default()
        }
    );

    // Export holds exactly the fields that differ from their default, and applies as a no-op.
    let exported = core.export(Some(&slug("tuned"))).await.unwrap();
    let t = &exported.tenants[0];
    assert_eq!(
        t.password_policy.as_ref().unwrap().min_length,
        Some(12),
        "{t:?}"
    );
    assert_eq!(t.password_policy.as_ref().unwrap().min_strength, None);
    assert_eq!(
        t.attack_protection.as_ref().unwrap().auth_per_ip_per_minute,
        None
    );
    let yaml = to_yaml(&exported).unwrap();
    assert!(yaml.contains("failed_logins_per_hour: 3"), "{yaml}");
    assert!(yaml.contains("default_locale: fr"), "{yaml}");
    assert!(!yaml.contains("dictionary"), "{yaml}");
    assert!(core.apply(&parse(&yaml).unwrap()).await.unwrap().is_noop());
    assert!(core.apply(&exported).await.unwrap().is_noop());

    // A block naming one field changes that field only, as one tenant update.
    let one = "tenants:
  - slug: tuned
    attack_protection:
      refresh_per_user_per_hour: 60
";
    let report = core.apply(&parse(one).unwrap()).await.unwrap();
    assert_eq!(report.changes.len(), 1, "{:?}", report.changes);
    assert_eq!(report.changes[0].action, Action::Updated);
    let after = settings(&core, "tuned").await;
    assert_eq!(after.attack_protection.refresh_per_user_per_hour, 60);
    assert_eq!(after.attack_protection.lockout_secs, 600, "kept");
    assert_eq!(after.password_policy.min_length, 12, "kept");
    assert!(!after.universal_login.signup_enabled, "kept");

    // Back to every default: the export of a default tenant has no block at all.
    let defaults = "tenants:
  - slug: tuned
    password_policy: { min_length: 8, history: 5 }
    attack_protection:
      failed_logins_per_hour: 5
      lockout_secs: 900
      lockout_max_secs: 86400
      refresh_per_user_per_hour: 30
    universal_login: { signup_enabled: true, default_locale: en }
";
    core.apply(&parse(defaults).unwrap()).await.unwrap();
    let s = settings(&core, "tuned").await;
    assert_eq!(s.password_policy, PasswordPolicy::default());
    assert_eq!(s.attack_protection, AttackProtection::default());
    assert_eq!(s.universal_login, UniversalLogin::default());
    let t = core.export(Some(&slug("tuned"))).await.unwrap().tenants[0].clone();
    assert_eq!(
        (t.password_policy, t.attack_protection, t.universal_login),
        (None, None, None)
    );

    // An unknown field in a block is refused by the parser.
    let e = parse_err(
        "tenants:
  - slug: tuned
    attack_protection:
      lockout_minutes: 5
",
    );
    assert_located(&e, 4, "tenants[0].attack_protection", "lockout_minutes");
}

async fn login_settings_out_of_bounds_are_refused_naming_the_field(db: TestDb) {
    let core = db.core();
    core.apply(&parse(TUNED).unwrap()).await.unwrap();
    let before = settings(&core, "tuned").await;
    let cases: &[(&str, &str, &str, &str)] = &[
        (
            "password_policy",
            "min_length: 7",
            "password_policy.min_length",
            "between 8 and 128",
        ),
        (
            "password_policy",
            "min_length: 129",
            "password_policy.min_length",
            "between 8 and 128",
        ),
        (
            "password_policy",
            "min_strength: 5",
            "password_policy.min_strength",
            "between 0 and 4",
        ),
        (
            "password_policy",
            "history: 25",
            "password_policy.history",
            "between 0 and 24",
        ),
        (
            "attack_protection",
            "auth_per_ip_per_minute: 0",
            "attack_protection.auth_per_ip_per_minute",
            "between 1 and 10000",
        ),
        (
            "attack_protection",
            "failed_logins_per_hour: 0",
            "attack_protection.failed_logins_per_hour",
            "between 1 and 1000",
        ),
        (
            "attack_protection",
            "lockout_secs: 59",
            "attack_protection.lockout_secs",
            "between 60 and 86400",
        ),
        (
            "attack_protection",
            "lockout_secs: -1",
            "attack_protection.lockout_secs",
            "between 60 and 86400",
        ),
        (
            "attack_protection",
            "lockout_max_secs: 2592001",
            "attack_protection.lockout_max_secs",
            "between 60 and 2592000",
        ),
        (
            "attack_protection",
            "refresh_per_user_per_hour: 0",
            "attack_protection.refresh_per_user_per_hour",
            "between 1 and 100000",
        ),
        (
            "attack_protection",
            "suspicious_ip_failures_per_day: 0",
            "attack_protection.suspicious_ip_failures_per_day",
            "between 1 and 1000000",
        ),
        // Below the stored maximum of 7200 s: the maximum set in the file is named…
        (
            "attack_protection",
            "lockout_max_secs: 300",
            "attack_protection.lockout_max_secs",
            "must be at least lockout_secs (600 s)",
        ),
        // …and a first lock above the stored maximum names the first lock.
        (
            "attack_protection",
            "lockout_secs: 7201",
            "attack_protection.lockout_secs",
            "lockout_max_secs (7200 s) must be at least lockout_secs (7201 s)",
        ),
        (
            "universal_login",
            "default_locale: de",
            "universal_login.default_locale",
            "must be one of en, fr",
        ),
    ];
    for (block, field, path, reason) in cases {
        let yaml = format!(
            "tenants:
  - slug: tuned
    display_name: Renamed
    {block}:
      {field}
"
        );
        let e = core.apply(&parse(&yaml).unwrap()).await.unwrap_err();
        assert_located(&e, 5, &format!("tenants[0].{path}"), reason);
    }
    // A new tenant is checked against the defaults: max below the default first lock.
    let e = core
        .apply(
            &parse(
                "tenants:
  - slug: fresh
    attack_protection: { lockout_max_secs: 600 }
",
            )
            .unwrap(),
        )
        .await
        .unwrap_err();
    assert_located(
        &e,
        3,
        "tenants[0].attack_protection.lockout_max_secs",
        "at least lockout_secs (900 s)",
    );
    // Nothing was written by any refused file.
    assert_eq!(settings(&core, "tuned").await, before);
    let mut tx = core.store.read().await.unwrap();
    assert!(
        tx.tenant_get_by_slug(&slug("fresh"))
            .await
            .unwrap()
            .is_none()
    );
    let t = tx
        .tenant_get_by_slug(&slug("tuned"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(t.display_name, "tuned");
}

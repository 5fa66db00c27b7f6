//! What a sink may send where, and what its view shows: plain `tcp://` syslog only to
//! loopback or private addresses; endpoint tokens (query string) never shown.

use super::*;

pub(super) async fn plain_syslog_only_to_internal_addresses_and_endpoint_tokens_are_not_shown(
    db: TestDb,
) {
    let env = Env::new(db).await;
    let meta = RequestMeta::default();
    let create = |name: &str, kind: &str, endpoint: &str| {
        let input = serde_json::from_value(json!({
            "name": name, "kind": kind, "endpoint": endpoint,
        }))
        .unwrap();
        let core = env.core.clone();
        let tenant = env.tenant.clone();
        let meta = meta.clone();
        async move { core.audit_sink_create(&tenant, input, admin(), &meta).await }
    };
    // Plain TCP would carry personal data unencrypted: refused to public addresses.
    for (i, endpoint) in [
        "tcp://93.184.216.34:514",
        "tcp://[2606:4700::1111]:514",
        "tcp://[::ffff:8.8.8.8]:514",
    ]
    .into_iter()
    .enumerate()
    {
        match create(&format!("pub{i}"), "syslog", endpoint).await {
            Err(CoreError::Invalid { field, reason }) => {
                assert_eq!(field, "endpoint");
                assert!(reason.contains("tls://"), "{reason}");
            }
            other => panic!("{endpoint}: {other:?}"),
        }
    }
    for (i, endpoint) in [
        "tls://93.184.216.34:6514",
        "tcp://10.0.0.5:514",
        "tcp://[fd00::5]:514",
        "tcp://127.0.0.1:514",
    ]
    .into_iter()
    .enumerate()
    {
        create(&format!("ok{i}"), "syslog", endpoint)
            .await
            .unwrap_or_else(|e| panic!("{endpoint}: {e}"));
    }
    // Changing an accepted sink to a public plain-TCP address is refused too.
    let internal = create("internal", "syslog", "tcp://192.168.1.9:514")
        .await
        .unwrap();
    let patch = SinkPatch {
        endpoint: Some("tcp://8.8.8.8:514".into()),
        ..SinkPatch::default()
    };
    let r = env
        .core
        .audit_sink_update(&env.tenant, &internal.id, patch, admin(), &meta)
        .await;
    assert!(
        matches!(&r, Err(CoreError::Invalid { field, .. }) if field == "endpoint"),
        "{r:?}"
    );

    // The endpoint's query string may carry a token: stored, used, never shown.
    let hook = create(
        "hook",
        "https",
        "https://siem.example.com/hook?api_key=TOKEN-123&x=1",
    )
    .await
    .unwrap();
    assert!(hook.endpoint.contains("TOKEN-123"), "kept for delivery");
    let view = serde_json::to_value(SinkView::from(&hook)).unwrap();
    assert_eq!(view["endpoint"], "https://siem.example.com/hook");
    let listed = env.core.audit_sink_list(&env.tenant).await.unwrap();
    let views: Vec<SinkView> = listed.iter().map(SinkView::from).collect();
    assert!(!serde_json::to_string(&views).unwrap().contains("TOKEN-123"));
    let log = serde_json::to_string(&env.views_after(0).await).unwrap();
    assert!(log.contains("https://siem.example.com/hook"), "{log}");
    assert!(!log.contains("TOKEN-123"), "{log}");
}

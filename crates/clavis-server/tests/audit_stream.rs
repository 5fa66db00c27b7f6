//! Audit streaming end to end: the delivery worker against real local receivers (HTTP via
//! axum, syslog over TCP and TLS), sink management in core, retries with backoff driven
//! by the manual clock, pausing, SSRF refusals, and two nodes sharing one PostgreSQL
//! database. Storage-backed tests run on SQLite and PostgreSQL.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "audit_stream/sink_privacy.rs"]
mod sink_privacy;
#[path = "audit_stream/support.rs"]
mod support;

use std::time::Duration;

use clavis_core::CoreError;
use clavis_core::declarative::Secret;
use clavis_core::model::SinkStatus;
use clavis_core::service::RequestMeta;
use clavis_core::service::audit_sinks::{SinkPatch, SinkView};
use clavis_server::{AuditStreamOptions, spawn_audit_streaming};
use clavis_store::testing::TestDb;
use clavis_types::Clock;
use serde_json::{Value, json};
use sink_privacy::*;
use support::*;

/// Events of the tenant's log as the sink saw them must be exactly `expected`, in order.
fn assert_same_events(got: &[Value], expected: &[Value]) {
    let ids = |v: &[Value]| {
        v.iter()
            .map(|e| e["event_id"].as_str().unwrap_or("?").to_owned())
            .collect::<Vec<_>>()
    };
    assert_eq!(ids(got), ids(expected), "event ids in order");
    assert_eq!(got, expected, "event contents");
}

async fn https_sink_posts_signed_json_arrays_in_order(db: TestDb) {
    let env = Env::new(db).await;
    env.append(2, "before").await; // before the sink: not delivered
    let (url, mut rx) = http_receiver(&[]).await;
    let sink = env
        .sink(
            "siem",
            "https",
            &url,
            Some("tok-123"),
            json!({"signature": true}),
        )
        .await;
    env.append(5, "user.login.success").await;
    let expected = env.views_after(sink.cursor).await;
    assert_eq!(
        expected.len(),
        6,
        "the sink's own creation, then five events"
    );
    assert_eq!(expected[0]["event_type"], "audit.sink.created");
    let worker = spawn_audit_streaming(env.core.clone(), opts()).unwrap();
    let (got, seen) = collect(&mut rx, expected.len(), json_array).await;
    assert_same_events(&got, &expected);
    assert_eq!(seen.len(), 2, "batches of at most 3");
    for r in &seen {
        assert!(json_array(r).len() <= 3);
        assert_eq!(r.header("authorization"), Some("Bearer tok-123"));
        assert_eq!(r.header("content-type"), Some("application/json"));
        let sig = r.header("x-clavis-signature").expect("signature header");
        let (t, v1) = sig
            .strip_prefix("t=")
            .and_then(|s| s.split_once(",v1="))
            .expect("t=…,v1=…");
        assert_eq!(t.parse::<i64>().unwrap(), env.clock.now().as_secs());
        let key = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, b"tok-123");
        let mut signed = format!("{t}.").into_bytes();
        signed.extend_from_slice(&r.body);
        let tag: Vec<u8> = (0..v1.len() / 2)
            .map(|i| u8::from_str_radix(&v1[2 * i..2 * i + 2], 16).unwrap())
            .collect();
        assert!(
            aws_lc_rs::hmac::verify(&key, &signed, &tag).is_ok(),
            "signature verifies"
        );
    }
    // Personal data arrives readable (unsealed), not as sealed blobs.
    assert_eq!(got[1]["actor"]["email"], "user0@example.com");
    let s = env.caught_up(&sink.id).await;
    assert_eq!(
        (s.status, s.attempts, s.delivered_total),
        (SinkStatus::Ok, 0, 6)
    );
    assert!(s.last_error.is_none() && s.last_delivered_at.is_some());
    assert!(
        next(&mut rx, Duration::from_millis(200)).await.is_none(),
        "nothing delivered twice"
    );
    worker.stop().await;
}

async fn splunk_hec_sink_sends_concatenated_hec_events(db: TestDb) {
    let env = Env::new(db).await;
    let (url, mut rx) = http_receiver(&[]).await;
    let sink = env
        .sink(
            "splunk",
            "splunk_hec",
            &url,
            Some("hec-token"),
            json!({"index": "identity", "source": "clavis-acme", "batch_size": 10}),
        )
        .await;
    env.append(4, "token.issued").await;
    let expected = env.views_after(sink.cursor).await;
    let worker = spawn_audit_streaming(env.core.clone(), opts()).unwrap();
    let split = |r: &Received| {
        serde_json::Deserializer::from_slice(&r.body)
            .into_iter::<Value>()
            .map(|v| v.expect("concatenated JSON objects"))
            .collect::<Vec<_>>()
    };
    let (hec, seen) = collect(&mut rx, expected.len(), split).await;
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].header("authorization"), Some("Splunk hec-token"));
    let body = std::str::from_utf8(&seen[0].body).unwrap();
    assert!(
        body.starts_with('{') && body.contains("}{"),
        "objects back to back: {body:.80}"
    );
    let mut events = Vec::new();
    for (e, want) in hec.iter().zip(&expected) {
        let keys: Vec<&str> = e.as_object().unwrap().keys().map(String::as_str).collect();
        assert_eq!(keys.len(), 6, "{keys:?}");
        assert_eq!(e["host"], "idp.test");
        assert_eq!(e["source"], "clavis-acme");
        assert_eq!(e["sourcetype"], "clavis:audit");
        assert_eq!(e["index"], "identity");
        let ms = clavis_types::Timestamp::parse_rfc3339(want["timestamp"].as_str().unwrap())
            .unwrap()
            .as_millis();
        let time = e["time"].as_f64().expect("time is a number");
        assert!((time * 1000.0 - ms as f64).abs() < 0.5, "{time} vs {ms} ms");
        let text = e["time"].to_string();
        assert!(
            text.split_once('.').is_none_or(|(_, frac)| frac.len() <= 3),
            "{text}"
        );
        events.push(e["event"].clone());
    }
    assert_same_events(&events, &expected);
    env.caught_up(&sink.id).await;
    worker.stop().await;
}

async fn datadog_sink_sends_log_entries(db: TestDb) {
    let env = Env::new(db).await;
    let (url, mut rx) = http_receiver(&[]).await;
    let sink = env
        .sink(
            "dd",
            "datadog",
            &url,
            Some("dd-key"),
            json!({"service": "iam", "tags": "env:test"}),
        )
        .await;
    env.append(2, "user.created").await;
    let expected = env.views_after(sink.cursor).await;
    let worker = spawn_audit_streaming(env.core.clone(), opts()).unwrap();
    let (entries, seen) = collect(&mut rx, expected.len(), json_array).await;
    assert!(
        seen.iter()
            .all(|r| r.header("dd-api-key") == Some("dd-key"))
    );
    assert!(seen.iter().all(|r| r.header("authorization").is_none()));
    let mut events = Vec::new();
    for e in &entries {
        assert_eq!(e["ddsource"], "clavis");
        assert_eq!(e["service"], "iam");
        assert_eq!(e["hostname"], "idp.test");
        assert_eq!(e["ddtags"], "tenant:acme,env:test");
        let message = e["message"].as_str().expect("message is JSON text");
        events.push(serde_json::from_str::<Value>(message).unwrap());
    }
    assert_same_events(&events, &expected);
    env.caught_up(&sink.id).await;
    worker.stop().await;
}

/// Check every frame of a syslog stream against the events it should carry.
fn check_syslog(frames: &[Vec<u8>], expected: &[Value], pri: u16, hostname: &str) {
    assert_eq!(frames.len(), expected.len());
    for (raw, want) in frames.iter().zip(expected) {
        let m = parse_5424(raw);
        assert_eq!(m.pri, pri);
        assert_eq!(m.version, "1");
        assert_eq!(m.timestamp, want["timestamp"].as_str().unwrap());
        assert_eq!(m.hostname, hostname);
        assert_eq!((m.app_name.as_str(), m.procid.as_str()), ("clavis", "-"));
        let event_type = want["event_type"].as_str().unwrap();
        let printable: String = event_type
            .chars()
            .filter(|c| c.is_ascii_graphic())
            .take(32)
            .collect();
        assert_eq!(m.msgid, printable);
        assert_eq!(m.sd_id, "clavis@32473");
        assert_eq!(m.param("event_id"), want["event_id"].as_str());
        assert_eq!(m.param("event_type"), Some(event_type));
        assert_eq!(m.param("seq"), Some(want["seq"].to_string().as_str()));
        assert_eq!(m.param("tenant"), Some("acme"));
        assert!(m.had_bom, "MSG is UTF-8 and starts with the BOM");
        assert_eq!(&serde_json::from_str::<Value>(&m.msg).unwrap(), want);
    }
}

async fn syslog_sink_sends_octet_counted_rfc5424_over_tcp(db: TestDb) {
    let env = Env::new(db).await;
    let (port, mut rx) = syslog_listener(None).await;
    let sink = env
        .sink(
            "syslog",
            "syslog",
            &format!("tcp://127.0.0.1:{port}"),
            None,
            json!({"facility": 10, "hostname": "idp-1.example.com", "batch_size": 100}),
        )
        .await;
    // MSGID is cut to 32 printable characters: use a long type with a space in it.
    env.append(3, "organization.member.role assignment.changed.by.admin")
        .await;
    let expected = env.views_after(sink.cursor).await;
    let worker = spawn_audit_streaming(env.core.clone(), opts()).unwrap();
    let stream = tokio::time::timeout(PATIENCE, rx.recv())
        .await
        .unwrap()
        .unwrap();
    check_syslog(
        &octet_frames(&stream),
        &expected,
        10 * 8 + 6,
        "idp-1.example.com",
    );
    env.caught_up(&sink.id).await;
    worker.stop().await;
}

async fn syslog_over_tls_verifies_the_server_certificate(db: TestDb) {
    let env = Env::new(db).await;
    let (ca_der, acceptor) = tls_server();
    let (port, mut rx) = syslog_listener(Some(acceptor)).await;
    let sink = env
        .sink(
            "tls",
            "syslog",
            &format!("tls://localhost:{port}"),
            None,
            json!({"batch_size": 50}),
        )
        .await;
    env.append(2, "user.deleted").await;
    let expected = env.views_after(sink.cursor).await;

    // A worker that does not trust the test CA refuses the server and keeps retrying.
    let untrusting = spawn_audit_streaming(env.core.clone(), opts()).unwrap();
    let failed = wait_for("a failed TLS delivery", || async {
        let s = env.get(&sink.id).await;
        (s.status == SinkStatus::Retrying).then_some(s)
    })
    .await;
    untrusting.stop().await;
    let error = failed.last_error.unwrap_or_default();
    assert!(
        error.contains("TLS") || error.contains("certificate"),
        "{error}"
    );
    assert_eq!(failed.cursor, sink.cursor, "nothing counted as delivered");

    let trusting = spawn_audit_streaming(
        env.core.clone(),
        AuditStreamOptions {
            extra_root_certs: vec![ca_der],
            ..opts()
        },
    )
    .unwrap();
    env.clock.advance_secs(2); // past the backoff
    let stream = tokio::time::timeout(PATIENCE, rx.recv())
        .await
        .unwrap()
        .unwrap();
    check_syslog(&octet_frames(&stream), &expected, 13 * 8 + 6, "idp.test");
    let s = env.caught_up(&sink.id).await;
    assert_eq!((s.status, s.attempts), (SinkStatus::Ok, 0));
    trusting.stop().await;
}

async fn failing_receiver_gets_everything_in_order_after_backoff(db: TestDb) {
    let env = Env::new(db).await;
    // 503, then 429, then 400 (4xx other than 408/429 is retried too), then success.
    let (url, mut rx) = http_receiver(&[503, 429, 400]).await;
    let sink = env.sink("flaky", "https", &url, None, json!({})).await;
    env.append(4, "user.login.failure").await;
    let expected = env.views_after(sink.cursor).await;
    assert_eq!(expected.len(), 5);
    let worker = spawn_audit_streaming(env.core.clone(), opts()).unwrap();
    let mut failed_bodies = Vec::new();
    for (attempt, status, full_ms) in [(1, 503, 1000), (2, 429, 2000), (3, 400, 4000)] {
        let r = next(&mut rx, PATIENCE).await.expect("an attempt");
        assert!(!r.ok);
        failed_bodies.push(json_array(&r));
        let s = wait_for("the failure to be recorded", || async {
            let s = env.get(&sink.id).await;
            (s.attempts == attempt).then_some(s)
        })
        .await;
        assert_eq!(s.status, SinkStatus::Retrying);
        assert_eq!(s.cursor, sink.cursor, "the cursor stays on failure");
        assert_eq!(s.delivered_total, 0);
        let error = s.last_error.clone().unwrap_or_default();
        assert!(error.starts_with(&format!("HTTP {status}")), "{error}");
        let wait = s.next_attempt_at.as_millis() - env.clock.now().as_millis();
        assert!(
            (full_ms - full_ms / 4..=full_ms).contains(&wait),
            "attempt {attempt}: backoff {wait} ms, expected up to {full_ms} ms"
        );
        // Not due yet: the worker keeps polling but sends nothing.
        assert!(
            next(&mut rx, Duration::from_millis(150)).await.is_none(),
            "retried before the backoff ended"
        );
        env.clock.advance_secs(full_ms / 1000);
    }
    let (got, _) = collect(&mut rx, expected.len(), json_array).await;
    assert_same_events(&got, &expected);
    for body in &failed_bodies {
        assert_eq!(
            body.as_slice(),
            &expected[..3],
            "each retry resends the same first batch"
        );
    }
    let s = env.caught_up(&sink.id).await;
    assert_eq!(
        (s.status, s.attempts, s.last_error.as_deref()),
        (SinkStatus::Ok, 0, None)
    );
    assert_eq!(s.delivered_total, 5);
    worker.stop().await;
}

async fn paused_sink_delivers_nothing_until_resumed(db: TestDb) {
    let env = Env::new(db).await;
    let (witness_url, mut witness_rx) = http_receiver(&[]).await;
    let (paused_url, mut paused_rx) = http_receiver(&[]).await;
    let paused = env
        .sink(
            "paused",
            "https",
            &paused_url,
            None,
            json!({"batch_size": 100}),
        )
        .await;
    let meta = RequestMeta::default();
    let p = env
        .core
        .audit_sink_pause(&env.tenant, &paused.id, admin(), &meta)
        .await
        .unwrap();
    assert_eq!(SinkView::from(&p).status, SinkStatus::Paused);
    let witness = env
        .sink(
            "witness",
            "https",
            &witness_url,
            None,
            json!({"batch_size": 100}),
        )
        .await;
    env.append(4, "user.updated").await;
    let worker = spawn_audit_streaming(env.core.clone(), opts()).unwrap();
    let expected = env.views_after(witness.cursor).await;
    collect(&mut witness_rx, expected.len(), json_array).await;
    env.caught_up(&witness.id).await;
    // The worker has been through every due sink several times by now.
    assert!(
        next(&mut paused_rx, Duration::from_millis(200))
            .await
            .is_none()
    );
    let p = env.get(&paused.id).await;
    assert_eq!((p.cursor, p.delivered_total), (paused.cursor, 0));
    assert_eq!(SinkView::from(&p).status, SinkStatus::Paused);

    env.core
        .audit_sink_resume(&env.tenant, &paused.id, admin(), &meta)
        .await
        .unwrap();
    let expected = env.views_after(paused.cursor).await;
    let (got, _) = collect(&mut paused_rx, expected.len(), json_array).await;
    assert_same_events(&got, &expected);
    worker.stop().await;
}

async fn endpoints_the_policy_refuses_are_never_contacted(db: TestDb) {
    let env = Env::new(db).await;
    let (url, mut rx) = http_receiver(&[]).await;
    let (port, mut syslog_rx) = syslog_listener(None).await;
    let http = env.sink("loopback", "https", &url, None, json!({})).await;
    let tcp = env
        .sink(
            "tcp",
            "syslog",
            &format!("tcp://127.0.0.1:{port}"),
            None,
            json!({}),
        )
        .await;
    let tcp_by_name = env
        .sink(
            "tcp2",
            "syslog",
            &format!("tcp://localhost:{port}"),
            None,
            json!({}),
        )
        .await;
    // The production default: no loopback, no private networks.
    let strict = AuditStreamOptions {
        allow_insecure_loopback: false,
        ..opts()
    };
    let worker = spawn_audit_streaming(env.core.clone(), strict).unwrap();
    for id in [&http.id, &tcp.id, &tcp_by_name.id] {
        let s = wait_for("a refusal", || async {
            let s = env.get(id).await;
            (s.status == SinkStatus::Retrying).then_some(s)
        })
        .await;
        let error = s.last_error.unwrap_or_default();
        assert!(
            error.contains("refused") || error.contains("may not reach"),
            "{error}"
        );
    }
    assert!(next(&mut rx, Duration::from_millis(100)).await.is_none());
    assert!(syslog_rx.try_recv().is_err());
    worker.stop().await;
}

async fn sink_management_validates_seals_and_audits(db: TestDb) {
    let env = Env::new(db).await;
    let meta = RequestMeta::default();
    let sink = env
        .sink(
            "main",
            "splunk_hec",
            "https://splunk.example.com:8088/services/collector/event",
            Some("SECRET-hec-1"),
            json!({"index": "idx"}),
        )
        .await;
    assert_eq!(
        sink.cursor,
        env.head().await - 1,
        "starts at the head, before its own event"
    );
    assert!(
        sink.sealed_secret
            .as_ref()
            .is_some_and(|s| !s.windows(12).any(|w| w == b"SECRET-hec-1"))
    );
    let view = serde_json::to_value(SinkView::from(&sink)).unwrap();
    assert_eq!(view["has_secret"], true);
    assert!(!view.to_string().contains("SECRET"));

    // Validation names the field.
    let invalid = |r: Result<_, CoreError>| match r {
        Err(CoreError::Invalid { field, .. }) => field,
        Err(e) => format!("other error: {e}"),
        Ok(_) => "accepted".to_owned(),
    };
    let input = |v: Value| serde_json::from_value(v).unwrap();
    for (body, field) in [
        (
            json!({"name": "a", "kind": "kafka", "endpoint": "https://x.example"}),
            "kind",
        ),
        (
            json!({"name": "a", "kind": "https", "endpoint": "http://x.example"}),
            "endpoint",
        ),
        (
            json!({"name": "a", "kind": "datadog", "endpoint": "https://x.example"}),
            "secret",
        ),
        (
            json!({"name": "a", "kind": "syslog", "endpoint": "tcp://x.example"}),
            "endpoint",
        ),
        (
            json!({"name": "a", "kind": "https", "endpoint": "https://x.example", "options": {"nope": 1}}),
            "options.nope",
        ),
        (
            json!({"name": "a", "kind": "https", "endpoint": "https://x.example", "start_from": "later"}),
            "start_from",
        ),
        (
            json!({"name": " ", "kind": "https", "endpoint": "https://x.example"}),
            "name",
        ),
    ] {
        let r = env
            .core
            .audit_sink_create(&env.tenant, input(body.clone()), admin(), &meta)
            .await;
        assert_eq!(invalid(r), field, "{body}");
    }
    let dup = env
        .core
        .audit_sink_create(
            &env.tenant,
            input(json!({"name": "main", "kind": "https", "endpoint": "https://x.example"})),
            admin(),
            &meta,
        )
        .await;
    assert!(matches!(dup, Err(CoreError::Conflict(_))), "{dup:?}");

    let from_start = env
        .core
        .audit_sink_create(
            &env.tenant,
            input(json!({"name": "all", "kind": "https", "endpoint": "https://x.example", "start_from": "beginning"})),
            admin(),
            &meta,
        )
        .await
        .unwrap();
    assert_eq!(from_start.cursor, 0);

    // Update: a new secret and options; removing a required secret is refused.
    let patch = SinkPatch {
        secret: Some(Secret::new("SECRET-hec-2")),
        options: Some(serde_json::from_value(json!({"index": "other"})).unwrap()),
        ..SinkPatch::default()
    };
    let updated = env
        .core
        .audit_sink_update(&env.tenant, &sink.id, patch, admin(), &meta)
        .await
        .unwrap();
    assert_eq!(updated.options["index"], "other");
    assert_ne!(updated.sealed_secret, sink.sealed_secret);
    let removal = SinkPatch {
        secret: Some(Secret::new("")),
        ..SinkPatch::default()
    };
    let r = env
        .core
        .audit_sink_update(&env.tenant, &sink.id, removal, admin(), &meta)
        .await;
    assert_eq!(invalid(r), "secret");

    // Another tenant cannot see or change it.
    let other = tenant(&env.core, "other").await;
    assert!(matches!(
        env.core.audit_sink_get(&other, &sink.id).await,
        Err(CoreError::NotFound(_))
    ));
    assert!(matches!(
        env.core
            .audit_sink_delete(&other, &sink.id, admin(), &meta)
            .await,
        Err(CoreError::NotFound(_))
    ));
    assert!(env.core.audit_sink_list(&other).await.unwrap().is_empty());

    env.core
        .audit_sink_pause(&env.tenant, &sink.id, admin(), &meta)
        .await
        .unwrap();
    env.core
        .audit_sink_resume(&env.tenant, &sink.id, admin(), &meta)
        .await
        .unwrap();
    env.core
        .audit_sink_delete(&env.tenant, &sink.id, admin(), &meta)
        .await
        .unwrap();
    assert_eq!(
        env.core.audit_sink_list(&env.tenant).await.unwrap().len(),
        1
    );

    // Every change is in the log, and no secret is.
    let log: Vec<Value> = env
        .views_after(0)
        .await
        .into_iter()
        .filter(|e| {
            e["event_type"]
                .as_str()
                .is_some_and(|t| t.starts_with("audit.sink."))
        })
        .collect();
    let types: Vec<&str> = log
        .iter()
        .filter_map(|e| e["event_type"].as_str())
        .collect();
    assert_eq!(
        types,
        [
            "audit.sink.created",
            "audit.sink.created",
            "audit.sink.updated",
            "audit.sink.updated",
            "audit.sink.updated",
            "audit.sink.deleted"
        ]
    );
    assert_eq!(log[2]["context"]["changed"], json!(["secret", "options"]));
    assert_eq!(log[3]["context"]["enabled"], false);
    assert_eq!(log[0]["actor"]["client_id"], "mgmt-client");
    let mut tx = env.core.store.read().await.unwrap();
    let raw = tx.audit_range(&env.tenant.id, 0, None, 100).await.unwrap();
    assert!(
        raw.iter().all(|e| !e.body.contains("SECRET")),
        "no secret in any stored event"
    );
}

clavis_store::on_both_backends!(
    https_sink_posts_signed_json_arrays_in_order,
    splunk_hec_sink_sends_concatenated_hec_events,
    datadog_sink_sends_log_entries,
    syslog_sink_sends_octet_counted_rfc5424_over_tcp,
    syslog_over_tls_verifies_the_server_certificate,
    failing_receiver_gets_everything_in_order_after_backoff,
    paused_sink_delivers_nothing_until_resumed,
    endpoints_the_policy_refuses_are_never_contacted,
    sink_management_validates_seals_and_audits,
    plain_syslog_only_to_internal_addresses_and_endpoint_tokens_are_not_shown,
);

/// Two nodes (two `Core`s with their own pools and workers) on one PostgreSQL database
/// deliver every event to every sink, in order, while events keep coming.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_nodes_on_postgres_deliver_everything_once_in_order() {
    use clavis_core::Core;
    use std::sync::Arc;

    let env = Env::new(TestDb::new(clavis_store::testing::Backend::Postgres).await).await;
    let second_store = clavis_store::AnyStore::connect(&env.db.url).await.unwrap();
    let second = Core::new(
        second_store.into_store(),
        env.clock.clone(),
        Arc::new(clavis_crypto::SystemRng::new()),
        clavis_crypto::MasterKey::from_base64(&env.db.master_key_b64).unwrap(),
    );
    // Datadog sinks: each entry names the node that sent it (the worker's host name).
    let mut sinks = Vec::new();
    for i in 0..3 {
        let (url, rx) = http_receiver(&[]).await;
        let sink = env
            .sink(
                &format!("sink-{i}"),
                "datadog",
                &url,
                Some("k"),
                json!({"batch_size": 7}),
            )
            .await;
        sinks.push((sink, rx));
    }
    let node = |name: &str| AuditStreamOptions {
        concurrency: 2,
        hostname: name.to_owned(),
        ..opts()
    };
    let a = spawn_audit_streaming(env.core.clone(), node("node-a")).unwrap();
    let b = spawn_audit_streaming(second.clone(), node("node-b")).unwrap();
    assert_ne!(a.node_id(), b.node_id());
    for round in 0..10 {
        let core = if round % 2 == 0 { &env.core } else { &second };
        append(core, &env.tenant, 20, "token.issued").await;
        tokio::task::yield_now().await;
    }
    let mut batches_by_node = std::collections::BTreeMap::<String, usize>::new();
    for (sink, mut rx) in sinks {
        let expected = env.views_after(sink.cursor).await;
        let expected_ids: Vec<&str> = expected
            .iter()
            .map(|e| e["event_id"].as_str().unwrap())
            .collect();
        env.caught_up(&sink.id).await;
        let mut got = Vec::new();
        while let Some(r) = next(&mut rx, Duration::from_millis(100)).await {
            assert!(r.ok);
            let entries = json_array(&r);
            let host = entries[0]["hostname"].as_str().unwrap().to_owned();
            *batches_by_node.entry(host).or_default() += 1;
            for e in entries {
                got.push(serde_json::from_str::<Value>(e["message"].as_str().unwrap()).unwrap());
            }
        }
        let ids: Vec<&str> = got
            .iter()
            .map(|e| e["event_id"].as_str().unwrap())
            .collect();
        let mut first_seen = Vec::new();
        for id in &ids {
            if !first_seen.contains(id) {
                first_seen.push(*id);
            }
        }
        let duplicates = ids.len() - first_seen.len();
        eprintln!(
            "{}: {} events, {duplicates} duplicates",
            sink.name,
            first_seen.len()
        );
        assert_eq!(first_seen, expected_ids, "every event, in seq order");
        // Leases never expire here (the clock stands still), so nothing may be sent twice:
        // a duplicate would mean two nodes delivered to one sink at once.
        assert_eq!(duplicates, 0);
        let seqs: Vec<i64> = got.iter().map(|e| e["seq"].as_i64().unwrap()).collect();
        assert!(
            seqs.windows(2).all(|w| w[0] < w[1]),
            "strictly increasing seq"
        );
    }
    eprintln!("batches per node: {batches_by_node:?}");
    assert_eq!(
        batches_by_node.len(),
        2,
        "both nodes delivered: {batches_by_node:?}"
    );
    a.stop().await;
    b.stop().await;
}

//! Unit tests of [`super`]: exports and signed statements made with throwaway keys.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use super::*;
use crate::chain::{GENESIS, event_body};
use crate::model::{AuditActor, AuditEvent, JsonMap};
use clavis_crypto::{Signer, SystemRng, b64url, generate_signing_key};
use clavis_types::{SigningAlg, TenantId, Timestamp};
use serde_json::json;

struct Fixture {
    tenant: TenantId,
    lines: Vec<Value>,
    signer: Signer,
    jwks: JwkSet,
}

fn key(kid: &str) -> (Signer, JwkSet) {
    let k = generate_signing_key(SigningAlg::Es256, kid).unwrap();
    let signer = Signer::from_pkcs8(SigningAlg::Es256, kid, &k.pkcs8_der).unwrap();
    (
        signer,
        JwkSet {
            keys: vec![k.public_jwk],
        },
    )
}

/// Events 1..=n of one tenant as export lines (no checkpoint yet).
fn fixture(n: i64) -> Fixture {
    let tenant = TenantId::generate(Timestamp::from_millis(1), &SystemRng::new());
    let mut prev = GENESIS.to_owned();
    let mut lines = Vec::new();
    for seq in 1..=n {
        let mut ctx = JsonMap::new();
        ctx.insert("n".into(), json!(seq));
        let e = AuditEvent {
            tenant_id: tenant.clone(),
            seq,
            event_id: format!("evt_{seq}"),
            timestamp: Timestamp::from_millis(1_700_000_000_000 + seq),
            event_type: "user.login.success".into(),
            actor: AuditActor {
                user_id: Some("usr_1".into()),
                email: Some(format!("{}usr_1:abc", crate::chain::SEALED_PREFIX)),
                ..AuditActor::default()
            },
            organization: None,
            context: ctx,
        };
        let body = event_body(&e);
        let hash = chain_hash(&prev, &body);
        let mut view: Value = serde_json::from_str(&body).unwrap();
        view["actor"]["email"] = json!("jane@example.com");
        lines.push(
            json!({"seq": seq, "prev_hash": prev, "hash": hash, "body": body, "event": view}),
        );
        prev = hash;
    }
    let (signer, jwks) = key("k1");
    Fixture {
        tenant,
        lines,
        signer,
        jwks,
    }
}

fn checkpoint_line(f: &Fixture, signer: &Signer) -> Value {
    let last = f.lines.last().unwrap();
    let claims = CheckpointClaims {
        tenant_id: f.tenant.to_string(),
        seq: last["seq"].as_i64().unwrap(),
        hash: last["hash"].as_str().unwrap().to_owned(),
        iat: 1_700_000_000,
    };
    let jws = signer
        .sign_typed(CHECKPOINT_TYP, &claims, &SystemRng::new())
        .unwrap();
    json!({"checkpoint": {"seq": claims.seq, "hash": claims.hash, "jws": jws}})
}

fn run(lines: &[Value], jwks: &JwkSet) -> Result<ExportVerification, String> {
    let mut text = String::new();
    for l in lines {
        text.push_str(&l.to_string());
        text.push('\n');
    }
    verify_export(&mut text.as_bytes(), jwks)
}

fn with_checkpoint(f: &Fixture) -> Vec<Value> {
    let mut lines = f.lines.clone();
    lines.push(checkpoint_line(f, &f.signer));
    lines
}

#[test]
fn a_complete_export_verifies() {
    let f = fixture(5);
    let v = run(&with_checkpoint(&f), &f.jwks).unwrap();
    assert_eq!((v.events, v.first_seq, v.last_seq), (5, Some(1), Some(5)));
    assert!(v.status.contains("complete and unaltered"), "{v:?}");
    assert_eq!(v.tenant_id, f.tenant.to_string());
    assert_eq!(v.kid, "k1");
}

#[test]
fn an_edited_body_or_view_fails() {
    let f = fixture(5);
    let mut lines = with_checkpoint(&f);
    let body = lines[2]["body"]
        .as_str()
        .unwrap()
        .replace("\"n\":3", "\"n\":4");
    lines[2]["body"] = json!(body);
    let err = run(&lines, &f.jwks).unwrap_err();
    assert!(
        err.contains("seq 3") && err.contains("hash mismatch"),
        "{err}"
    );

    let mut lines = with_checkpoint(&f);
    lines[1]["event"]["event_type"] = json!("user.login.failure");
    let err = run(&lines, &f.jwks).unwrap_err();
    assert!(err.contains("seq 2") && err.contains("event_type"), "{err}");
    // The decrypted (sealed) value is not covered and may differ.
    let mut lines = with_checkpoint(&f);
    lines[1]["event"]["actor"]["email"] = json!("[erased]");
    assert!(run(&lines, &f.jwks).is_ok());
}

#[test]
fn a_rechained_edit_breaks_the_link_or_the_checkpoint() {
    let f = fixture(4);
    let mut lines = with_checkpoint(&f);
    let body = lines[1]["body"]
        .as_str()
        .unwrap()
        .replace("\"n\":2", "\"n\":9");
    let prev = lines[1]["prev_hash"].as_str().unwrap().to_owned();
    lines[1]["hash"] = json!(chain_hash(&prev, &body));
    lines[1]["body"] = json!(body);
    lines[1]["event"]["context"]["n"] = json!(9);
    let err = run(&lines, &f.jwks).unwrap_err();
    assert!(
        err.contains("seq 3") && err.contains("broken link"),
        "{err}"
    );
    // Re-chaining every later event too only moves the break to the checkpoint.
    let mut prev = lines[1]["hash"].as_str().unwrap().to_owned();
    for l in &mut lines[2..4] {
        l["prev_hash"] = json!(prev);
        prev = chain_hash(&prev, l["body"].as_str().unwrap());
        l["hash"] = json!(prev);
    }
    let err = run(&lines, &f.jwks).unwrap_err();
    assert!(err.contains("checkpoint"), "{err}");
}

#[test]
fn reordered_truncated_or_unsigned_exports_fail() {
    let f = fixture(4);
    let mut lines = with_checkpoint(&f);
    lines.swap(1, 2);
    let err = run(&lines, &f.jwks).unwrap_err();
    assert!(err.contains("line 2 (seq 3)"), "{err}");
    // A line repeated: seq does not increase.
    let mut lines = with_checkpoint(&f);
    lines.insert(2, lines[1].clone());
    let err = run(&lines, &f.jwks).unwrap_err();
    assert!(err.contains("does not increase"), "{err}");
    // The last event removed: the checkpoint no longer matches.
    let mut lines = with_checkpoint(&f);
    lines.remove(3);
    assert!(run(&lines, &f.jwks).unwrap_err().contains("last event"));
    // No checkpoint at all.
    assert!(
        run(&f.lines, &f.jwks)
            .unwrap_err()
            .contains("no checkpoint")
    );
    // Something after the checkpoint.
    let mut lines = with_checkpoint(&f);
    lines.push(f.lines[0].clone());
    assert!(run(&lines, &f.jwks).is_err());
}

#[test]
fn another_tenants_keys_or_forged_algorithms_are_refused() {
    let f = fixture(3);
    let lines = with_checkpoint(&f);
    let (_, other) = key("k2");
    let err = run(&lines, &other).unwrap_err();
    assert!(err.contains("unknown key"), "{err}");
    // Same kid, different key.
    let (_, impostor) = key("k1");
    let err = run(&lines, &impostor).unwrap_err();
    assert!(err.contains("signature"), "{err}");
    // alg none and HS256 made with the public key as secret.
    let last = f.lines.last().unwrap();
    let payload = json!({"tenant_id": f.tenant.to_string(), "seq": 3,
        "hash": last["hash"], "iat": 1});
    for alg in ["none", "HS256"] {
        let h = b64url(
            json!({"alg": alg, "kid": "k1", "typ": CHECKPOINT_TYP})
                .to_string()
                .as_bytes(),
        );
        let p = b64url(payload.to_string().as_bytes());
        let mut forged = f.lines.clone();
        forged.push(json!({"checkpoint": {"seq": 3, "hash": last["hash"],
            "jws": format!("{h}.{p}.{}", b64url(b"sig"))}}));
        assert!(run(&forged, &f.jwks).is_err(), "{alg} accepted");
    }
    // A valid signature of a different typ (e.g. an access token) is refused.
    let jws = f
        .signer
        .sign_typed("JWT", &payload, &SystemRng::new())
        .unwrap();
    assert!(matches!(
        verify_checkpoint_jws(&jws, &f.jwks),
        Err(CheckpointJwsError::Invalid(_))
    ));
}

#[test]
fn a_filtered_export_is_refused_with_the_reason() {
    let f = fixture(6);
    let mut lines = with_checkpoint(&f);
    lines.remove(3);
    lines.remove(1);
    let err = run(&lines, &f.jwks).unwrap_err();
    assert!(err.contains("seq 3") && err.contains("2..=2"), "{err}");
    assert!(
        err.contains("filtered") && err.contains("Only an unfiltered range can be verified"),
        "{err}"
    );
    assert!(err.contains("without --type or --org"), "{err}");
    // A suffix of the chain (no gap inside) is a range, and verifies.
    let lines = with_checkpoint(&f)[2..].to_vec();
    let v = run(&lines, &f.jwks).unwrap();
    assert_eq!((v.first_seq, v.last_seq), (Some(3), Some(6)));
}

#[test]
fn the_readable_view_cannot_add_to_the_body() {
    let f = fixture(3);
    let fails = |edit: &dyn Fn(&mut Value), what: &str| {
        let mut lines = with_checkpoint(&f);
        edit(&mut lines[1]["event"]);
        let err = run(&lines, &f.jwks).unwrap_err();
        assert!(err.contains("seq 2") && err.contains(what), "{what}: {err}");
    };
    // A key the body does not have, at any depth.
    fails(&|v| v["approved_by"] = json!("ceo"), "event.approved_by");
    fails(
        &|v| v["context"]["refund"] = json!(100),
        "event.context.refund",
    );
    fails(
        &|v| v["actor"]["client_id"] = json!("cli_x"),
        "event.actor.client_id",
    );
    fails(
        &|v| v["organization"] = json!({"org_id": "org_x"}),
        "event.organization",
    );
    // A clear value changed, or a sealed field turned into something else than text.
    fails(&|v| v["context"]["n"] = json!(7), "event.context.n");
    fails(
        &|v| v["actor"]["user_id"] = json!("usr_2"),
        "event.actor.user_id",
    );
    fails(
        &|v| v["actor"]["email"] = json!({"x": 1}),
        "event.actor.email",
    );
    fails(
        &|v| v["timestamp"] = json!("2001-01-01T00:00:00Z"),
        "event.timestamp",
    );
    fails(
        &|v| v["hash_chain"] = json!("sha256:x:y"),
        "event.hash_chain",
    );
    fails(&|v| *v = json!("text"), "not an object");

    // Allowed: the decrypted or erased text of a sealed field, the line's own
    // `hash_chain`, and leaving keys out.
    let mut lines = with_checkpoint(&f);
    lines[1]["event"]["actor"]["email"] = json!("[erased]");
    let hc = format!(
        "sha256:{}:{}",
        lines[1]["prev_hash"].as_str().unwrap(),
        lines[1]["hash"].as_str().unwrap()
    );
    lines[1]["event"]["hash_chain"] = json!(hc);
    lines[1]["event"].as_object_mut().unwrap().remove("context");
    lines[1]["event"]
        .as_object_mut()
        .unwrap()
        .remove("tenant_id");
    run(&lines, &f.jwks).unwrap();
}

#[test]
fn a_sealed_looking_value_outside_the_personal_fields_is_clear() {
    // `context.note` is not personal: a body value that looks sealed there is an
    // ordinary value, and the view must repeat it.
    let mut f = fixture(1);
    let line = &mut f.lines[0];
    let mut body: Value = serde_json::from_str(line["body"].as_str().unwrap()).unwrap();
    body["context"]["note"] = json!(format!("{}usr_1:abc", crate::chain::SEALED_PREFIX));
    body["context"]["name"] = json!(format!("{}usr_1:def", crate::chain::SEALED_PREFIX));
    let body = crate::chain::canonical_json(&body);
    line["hash"] = json!(chain_hash(GENESIS, &body));
    line["body"] = json!(body);
    line["event"]["context"]["name"] = json!({"given": "Jane"});
    line["event"]["context"]["note"] = json!("approved by the CEO");
    let err = run(&with_checkpoint(&f), &f.jwks).unwrap_err();
    assert!(err.contains("event.context.note"), "{err}");
    f.lines[0]["event"]["context"]["note"] =
        json!(format!("{}usr_1:abc", crate::chain::SEALED_PREFIX));
    run(&with_checkpoint(&f), &f.jwks).unwrap();
}

#[test]
fn checkpoints_and_anchors_are_not_interchangeable() {
    let f = fixture(2);
    let last = f.lines.last().unwrap();
    let checkpoint = CheckpointClaims {
        tenant_id: f.tenant.to_string(),
        seq: 2,
        hash: last["hash"].as_str().unwrap().to_owned(),
        iat: 1,
    };
    let anchor = AnchorClaims {
        tenant_id: f.tenant.to_string(),
        purged_through: 2,
        hash: checkpoint.hash.clone(),
        events_purged: 2,
        retention_cutoff: "2024-01-01T00:00:00.000Z".into(),
        iat: 1,
    };
    let rng = SystemRng::new();
    let cp_jws = f
        .signer
        .sign_typed(CHECKPOINT_TYP, &checkpoint, &rng)
        .unwrap();
    let an_jws = f.signer.sign_typed(ANCHOR_TYP, &anchor, &rng).unwrap();
    assert_eq!(verify_checkpoint_jws(&cp_jws, &f.jwks).unwrap(), checkpoint);
    assert_eq!(verify_anchor_jws(&an_jws, &f.jwks).unwrap(), anchor);
    let err = verify_anchor_jws(&cp_jws, &f.jwks).unwrap_err();
    assert!(err.to_string().contains(ANCHOR_TYP), "{err}");
    let err = verify_checkpoint_jws(&an_jws, &f.jwks).unwrap_err();
    assert!(err.to_string().contains(CHECKPOINT_TYP), "{err}");
    // Anchor claims under the checkpoint typ (or the reverse) do not parse either.
    let mixed = f.signer.sign_typed(ANCHOR_TYP, &checkpoint, &rng).unwrap();
    assert!(verify_anchor_jws(&mixed, &f.jwks).is_err());
    // An anchor as an export's closing line is refused.
    let mut lines = f.lines.clone();
    lines.push(json!({"checkpoint": {"seq": 2, "hash": checkpoint.hash, "jws": an_jws}}));
    assert!(run(&lines, &f.jwks).unwrap_err().contains("typ"));
    assert_eq!(jws_kid(&an_jws).as_deref(), Some("k1"));
}

//! Offline verification of the audit chain: what a third party runs with nothing but an
//! export and the tenant's JWKS (no database, no Clavis server).
//!
//! Two things live here, both pure:
//! - [`verify_checkpoint_jws`]: checks a signed checkpoint (compact JWS, header
//!   `typ: audit-checkpoint+jwt`, payload `{"tenant_id","seq","hash","iat"}`) against a
//!   JWKS. The key is chosen by the header's `kid` and its algorithm is pinned by the key
//!   ([`clavis_crypto::Verifier`]), so `alg: none`, `HS256` or any algorithm other than
//!   the key's own is refused, as is a `kid` the JWKS does not hold.
//! - [`verify_export`]: re-checks a JSONL export line by line.
//!
//! # The export format
//! One JSON object per line, in ascending `seq` order:
//! ```text
//! {"seq":N,"prev_hash":"…","hash":"…","body":"<canonical JSON, verbatim>","event":{…}}
//! …
//! {"checkpoint":{"seq":N,"hash":"…","jws":"…"}}
//! ```
//! `body` is exactly what the chain hashes; `event` is a readable view of it (personal
//! data decrypted, or `"[erased]"`) and is **not** covered by the hash except where it
//! repeats clear values of the body (those must agree; see below).
//!
//! # What is checked, and what a pass means
//! For every event line: `hash == hex(SHA-256(prev_hash || body))`; the body decodes and
//! its `seq` and `tenant_id` are the line's (one tenant per export); `seq` strictly
//! increases; where two lines have consecutive `seq`, the second's `prev_hash` is the
//! first's `hash`; every value of the readable `event` that the body holds in the clear
//! (ids, type, time, organization, unsealed context) equals the body's.
//! The last line must be the checkpoint: its JWS verifies with a key of the JWKS, its
//! payload names the export's tenant and the checkpoint line's `seq` and `hash`, and those
//! equal the last event's.
//!
//! - A **contiguous** export (every `seq` from the first to the last) passes as a whole:
//!   the signed hash of the last event commits, through the `prev_hash` links, to every
//!   body before it, so no event of the range can be changed, removed, inserted or
//!   reordered without failing. [`ExportVerification::complete`] is `true`.
//! - A **filtered** export (types, actor, organization…) has gaps in `seq`. It does not
//!   fail for that: each event's hash is recomputed and links are checked wherever two
//!   lines are consecutive, and the last event is covered by the signature, but events
//!   before a gap are only *individually* verified — nothing signed commits to them, and
//!   the export cannot show that no event is missing. `complete` is then `false` and
//!   [`ExportVerification::status`] says "events individually verified, range not
//!   complete". For a proof of a whole period, export it unfiltered.
//!
//! Any other discrepancy is an error naming the line (and `seq`).

use std::io::BufRead;

use clavis_crypto::{JwkSet, Verifier, peek_jws_header};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::chain::{SEALED_PREFIX, chain_hash, parse_body};

/// `typ` header of a checkpoint JWS.
pub const CHECKPOINT_TYP: &str = "audit-checkpoint+jwt";

/// The payload of a checkpoint JWS.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CheckpointClaims {
    pub tenant_id: String,
    pub seq: i64,
    pub hash: String,
    /// Signing time, seconds since the Unix epoch.
    pub iat: i64,
}

/// Why a checkpoint JWS is not accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CheckpointJwsError {
    /// The header names a key the JWKS does not hold (e.g. expired from the JWKS since);
    /// the signature can be neither confirmed nor refuted with it.
    #[error("checkpoint signed by unknown key `{0}`")]
    UnknownKey(String),
    /// Malformed, wrongly typed, or the signature does not verify.
    #[error("checkpoint signature invalid: {0}")]
    Invalid(String),
}

/// Verify a checkpoint JWS with a key of `jwks` and return its claims (which the caller
/// compares with what it expects: tenant, `seq`, `hash`).
pub fn verify_checkpoint_jws(
    jws: &str,
    jwks: &JwkSet,
) -> Result<CheckpointClaims, CheckpointJwsError> {
    let invalid = |m: String| CheckpointJwsError::Invalid(m);
    let header = peek_jws_header(jws).map_err(|e| invalid(e.to_string()))?;
    let Some(Value::String(kid)) = header.get("kid") else {
        return Err(invalid("the header has no `kid`".into()));
    };
    let jwk = jwks
        .find(kid)
        .ok_or_else(|| CheckpointJwsError::UnknownKey(kid.chars().take(64).collect()))?;
    let verifier = Verifier::from_jwk(jwk).map_err(|e| invalid(e.to_string()))?;
    let payload = verifier
        .verify_jws(jws)
        .map_err(|e| invalid(e.to_string()))?;
    // The header is covered by the signature that just verified.
    if header.get("typ").and_then(Value::as_str) != Some(CHECKPOINT_TYP) {
        return Err(invalid(format!(
            "the header `typ` is not `{CHECKPOINT_TYP}`"
        )));
    }
    serde_json::from_value(payload).map_err(|e| invalid(format!("payload: {e}")))
}

/// The outcome of [`verify_export`] when nothing contradicts the export.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ExportVerification {
    pub tenant_id: String,
    /// Event lines checked.
    pub events: u64,
    pub first_seq: Option<i64>,
    pub last_seq: Option<i64>,
    /// Every `seq` from `first_seq` to `last_seq` is present: the whole range is proven.
    pub complete: bool,
    /// Missing sequence numbers between `first_seq` and `last_seq` (filtered export).
    pub missing: i64,
    pub checkpoint_seq: i64,
    pub checkpoint_hash: String,
    /// Key that signed the checkpoint.
    pub kid: String,
    /// When the checkpoint was signed (RFC 3339).
    pub signed_at: String,
    /// One line for a person: what the pass means.
    pub status: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct EventLine {
    seq: i64,
    prev_hash: String,
    hash: String,
    body: String,
    #[serde(default)]
    event: Option<Value>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CheckpointRef {
    seq: i64,
    hash: String,
    jws: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CheckpointLine {
    checkpoint: CheckpointRef,
}

/// What the walk remembers between lines.
#[derive(Default)]
struct State {
    tenant: Option<String>,
    events: u64,
    first: Option<i64>,
    last: Option<(i64, String)>,
    missing: i64,
    checkpoint: Option<CheckpointRef>,
}

/// Verify a JSONL export (see the module documentation for the format and for what a pass
/// means) against the tenant's JWKS. `Err` names the first line that does not verify.
pub fn verify_export(jsonl: &mut dyn BufRead, jwks: &JwkSet) -> Result<ExportVerification, String> {
    let mut st = State::default();
    let mut line = String::new();
    let mut n = 0u64;
    loop {
        line.clear();
        let read = jsonl
            .read_line(&mut line)
            .map_err(|e| format!("line {}: cannot read: {e}", n + 1))?;
        if read == 0 {
            break;
        }
        n += 1;
        let text = line.trim_end_matches(['\n', '\r']);
        if text.is_empty() {
            continue;
        }
        if st.checkpoint.is_some() {
            return Err(format!("line {n}: nothing may follow the checkpoint line"));
        }
        let value: Value =
            serde_json::from_str(text).map_err(|e| format!("line {n}: not JSON: {e}"))?;
        if value.get("checkpoint").is_some() {
            let c: CheckpointLine = serde_json::from_value(value)
                .map_err(|e| format!("line {n}: checkpoint line: {e}"))?;
            st.checkpoint = Some(c.checkpoint);
            continue;
        }
        let e: EventLine =
            serde_json::from_value(value).map_err(|e| format!("line {n}: event line: {e}"))?;
        check_event(&mut st, &e).map_err(|m| format!("line {n} (seq {}): {m}", e.seq))?;
    }
    finish(st, jwks)
}

fn check_event(st: &mut State, e: &EventLine) -> Result<(), String> {
    let computed = chain_hash(&e.prev_hash, &e.body);
    if computed != e.hash {
        return Err(format!(
            "hash mismatch: SHA-256(prev_hash || body) is {computed}, the line says {}",
            e.hash
        ));
    }
    let body = parse_body(&e.body).map_err(|err| err.to_string())?;
    if body.seq != e.seq {
        return Err(format!("the body says seq {}", body.seq));
    }
    let tenant = body.tenant_id.to_string();
    match &st.tenant {
        None => st.tenant = Some(tenant),
        Some(t) if *t == tenant => {}
        Some(t) => return Err(format!("event of tenant {tenant} in an export of {t}")),
    }
    if let Some((last_seq, last_hash)) = &st.last {
        if e.seq <= *last_seq {
            return Err(format!("seq does not increase (previous line: {last_seq})"));
        }
        if e.seq == last_seq + 1 {
            if e.prev_hash != *last_hash {
                return Err(format!(
                    "broken link: prev_hash is {}, the previous event's hash is {last_hash}",
                    e.prev_hash
                ));
            }
        } else {
            st.missing += e.seq - last_seq - 1;
        }
    }
    if let Some(view) = &e.event {
        let body_json: Value = serde_json::from_str(&e.body).map_err(|err| err.to_string())?;
        check_view(&body_json, view, "event")?;
    }
    st.events += 1;
    st.first.get_or_insert(e.seq);
    st.last = Some((e.seq, e.hash.clone()));
    Ok(())
}

/// Every clear (unsealed) value of the body that the readable view also shows must be the
/// same; sealed values are decrypted in the view and are not covered by the hash.
fn check_view(body: &Value, view: &Value, path: &str) -> Result<(), String> {
    match (body, view) {
        (Value::Object(b), Value::Object(v)) => {
            for (k, bv) in b {
                if let Some(vv) = v.get(k) {
                    check_view(bv, vv, &format!("{path}.{k}"))?;
                }
            }
            Ok(())
        }
        (Value::String(s), _) if s.starts_with(SEALED_PREFIX) => Ok(()),
        (Value::String(b), Value::String(v)) if path == "event.timestamp" => {
            let same = clavis_types::Timestamp::parse_rfc3339(b)
                .is_some_and(|t| clavis_types::Timestamp::parse_rfc3339(v) == Some(t));
            if same {
                Ok(())
            } else {
                Err(format!(
                    "the readable `{path}` ({v}) differs from the body ({b})"
                ))
            }
        }
        (b, v) if b == v => Ok(()),
        (b, v) => Err(format!(
            "the readable `{path}` ({v}) differs from the hashed body ({b})"
        )),
    }
}

fn finish(st: State, jwks: &JwkSet) -> Result<ExportVerification, String> {
    let Some(cp) = st.checkpoint else {
        return Err("the export has no checkpoint line; it cannot be verified".into());
    };
    let Some((last_seq, last_hash)) = st.last else {
        return Err("the export holds no events".into());
    };
    let tenant = st.tenant.unwrap_or_default();
    let claims = verify_checkpoint_jws(&cp.jws, jwks).map_err(|e| format!("checkpoint: {e}"))?;
    if claims.tenant_id != tenant {
        return Err(format!(
            "checkpoint: signed for tenant {}, the events are of {tenant}",
            claims.tenant_id
        ));
    }
    if claims.seq != cp.seq || claims.hash != cp.hash {
        return Err(format!(
            "checkpoint: the signed payload says seq {} hash {}, the line says seq {} hash {}",
            claims.seq, claims.hash, cp.seq, cp.hash
        ));
    }
    if cp.seq != last_seq || cp.hash != last_hash {
        return Err(format!(
            "checkpoint: covers seq {} hash {}, the last event is seq {last_seq} hash {last_hash}",
            cp.seq, cp.hash
        ));
    }
    let kid = peek_jws_header(&cp.jws)
        .ok()
        .and_then(|h| h.get("kid").and_then(Value::as_str).map(str::to_owned))
        .unwrap_or_default();
    let complete = st.missing == 0;
    let first = st.first.unwrap_or(last_seq);
    let status = if complete {
        format!("verified: seq {first}..={last_seq} is complete and unaltered, signed by key {kid}")
    } else {
        format!(
            "events individually verified, range not complete ({} sequence number(s) between \
             {first} and {last_seq} are not in this filtered export); the last event is signed \
             by key {kid}",
            st.missing
        )
    };
    Ok(ExportVerification {
        tenant_id: tenant,
        events: st.events,
        first_seq: st.first,
        last_seq: Some(last_seq),
        complete,
        missing: st.missing,
        checkpoint_seq: cp.seq,
        checkpoint_hash: cp.hash,
        kid,
        signed_at: clavis_types::Timestamp::from_millis(claims.iat.saturating_mul(1000))
            .to_rfc3339(),
        status,
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
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
        assert!(v.complete, "{v:?}");
        assert_eq!((v.events, v.first_seq, v.last_seq), (5, Some(1), Some(5)));
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
        assert!(
            run(&lines, &f.jwks)
                .unwrap_err()
                .contains("does not increase")
        );
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
    fn a_filtered_export_is_individually_verified_only() {
        let f = fixture(6);
        let mut lines = with_checkpoint(&f);
        lines.remove(3);
        lines.remove(1);
        let v = run(&lines, &f.jwks).unwrap();
        assert!(!v.complete);
        assert_eq!((v.events, v.missing), (4, 2));
        assert!(v.status.contains("range not complete"), "{}", v.status);
        // Still, each remaining event's hash is checked.
        lines[2]["body"] = json!(
            lines[2]["body"]
                .as_str()
                .unwrap()
                .replace("\"n\":5", "\"n\":1")
        );
        assert!(run(&lines, &f.jwks).is_err());
    }
}

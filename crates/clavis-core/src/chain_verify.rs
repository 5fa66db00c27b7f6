//! Offline verification of the audit chain: what a third party runs with nothing but an
//! export and the tenant's keys (no database, no Clavis server).
//!
//! Three things live here, all pure:
//! - [`verify_checkpoint_jws`]: checks a signed checkpoint (compact JWS, header
//!   `typ: audit-checkpoint+jwt`, payload [`CheckpointClaims`]) against a JWKS.
//! - [`verify_anchor_jws`]: the same for the signed record of a retention purge (header
//!   `typ: audit-anchor+jwt`, payload [`AnchorClaims`]: the purged range, the hash it ends
//!   on, how many events went and the retention cut-off). The two `typ`s are distinct and
//!   each verifier refuses the other's, so a checkpoint can never be replayed as an anchor
//!   (which would let someone delete a prefix of the chain and call it a purge).
//!
//!   For both, the key is chosen by the header's `kid` and its algorithm is pinned by the
//!   key ([`clavis_crypto::Verifier`]), so `alg: none`, `HS256` or any algorithm other
//!   than the key's own is refused, as is a `kid` the key set does not hold.
//! - [`verify_export`]: re-checks a JSONL export line by line.
//!
//! Which keys: the tenant's JWKS holds the keys that sign now and retired keys while
//! tokens they signed can still be valid. Signing keys are never deleted, so the tenant's
//! **audit key set** (every key it ever had, except revoked ones; served by the server,
//! `Core::audit_keys`) verifies checkpoints of any age; use it for old exports.
//!
//! # The export format
//! One JSON object per line, in ascending `seq` order:
//! ```text
//! {"seq":N,"prev_hash":"…","hash":"…","body":"<canonical JSON, verbatim>","event":{…}}
//! …
//! {"checkpoint":{"seq":N,"hash":"…","jws":"…"}}
//! ```
//! `body` is exactly what the chain hashes; `event` is a readable view of it. The view can
//! only *show* the body, never add to it:
//! - every key of the view exists in the body at the same place (except `hash_chain`,
//!   which must be `sha256:{prev_hash}:{hash}` of its line); the view may leave keys out;
//! - every clear value is equal to the body's (`timestamp` as the same instant);
//! - a personal field that the body holds sealed (`sealed:v1:…`: the actor's `email`,
//!   `ip_address`, `user_agent` and the personal context keys, see
//!   [`crate::service::PERSONAL_CONTEXT_KEYS`]) may read as its decrypted value, as
//!   `"[erased]"` or `"[unreadable]"`. **Those readable values are not verifiable**: only
//!   the ciphertext is hashed, and a verifier without the subject's key cannot tell the
//!   decrypted text from any other.
//!
//! # What is checked, and what a pass means
//! For every event line: `hash == hex(SHA-256(prev_hash || body))`; the body decodes and
//! its `seq` and `tenant_id` are the line's (one tenant per export); `seq` is exactly one
//! more than the previous line's and `prev_hash` is the previous line's `hash`; the view
//! obeys the rules above. The last line must be the checkpoint: its JWS verifies with a
//! key of the key set, its payload names the export's tenant and the checkpoint line's
//! `seq` and `hash`, and those equal the last event's.
//!
//! A pass means the range `first_seq..=last_seq` is **complete and unaltered**: the signed
//! hash of the last event commits, through the `prev_hash` links, to every body before it,
//! so no event of the range can be changed, removed, inserted or reordered without failing.
//!
//! Only such an unfiltered range can be verified. A filtered export (event types,
//! organization, actor…) has gaps in `seq`; nothing signed commits to the events before a
//! gap, and nothing shows that no event is missing, so it is refused with an error that
//! says so. Export the whole period instead (`clavis audit export --from … --to …`
//! without `--type` or `--org`), verify that file, then filter it.
//!
//! Any discrepancy is an error naming the line (and `seq`).

use std::io::BufRead;

use clavis_crypto::{JwkSet, Verifier, peek_jws_header};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::chain::{SEALED_PREFIX, chain_hash, parse_body};
use crate::service::{PERSONAL_ACTOR_FIELDS, PERSONAL_CONTEXT_KEYS};

/// `typ` header of a checkpoint JWS.
pub const CHECKPOINT_TYP: &str = "audit-checkpoint+jwt";

/// `typ` header of a purge anchor JWS.
pub const ANCHOR_TYP: &str = "audit-anchor+jwt";

/// The payload of a checkpoint JWS: "`tenant_id` had `hash` at `seq`".
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CheckpointClaims {
    pub tenant_id: String,
    pub seq: i64,
    pub hash: String,
    /// Signing time, seconds since the Unix epoch.
    pub iat: i64,
}

/// The payload of a purge anchor JWS: "`tenant_id` purged its events up to and including
/// `purged_through`, whose hash was `hash`; that was `events_purged` events, due because
/// they were older than `retention_cutoff`".
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AnchorClaims {
    pub tenant_id: String,
    /// The last purged `seq`; the first remaining event is the next one.
    pub purged_through: i64,
    /// The hash of the event at `purged_through` (the first remaining event's `prev_hash`).
    pub hash: String,
    /// Events deleted by this purge (those after the previous anchor).
    pub events_purged: i64,
    /// Events older than this instant (RFC 3339) were due.
    pub retention_cutoff: String,
    /// Signing time, seconds since the Unix epoch.
    pub iat: i64,
}

/// Why a checkpoint or anchor JWS is not accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CheckpointJwsError {
    /// The header names a key the key set does not hold.
    #[error("signed by unknown key `{0}`")]
    UnknownKey(String),
    /// Malformed, of another `typ`, or the signature does not verify.
    #[error("signature invalid: {0}")]
    Invalid(String),
}

/// Verify a checkpoint JWS with a key of `jwks` and return its claims (which the caller
/// compares with what it expects: tenant, `seq`, `hash`). An anchor is refused.
pub fn verify_checkpoint_jws(
    jws: &str,
    jwks: &JwkSet,
) -> Result<CheckpointClaims, CheckpointJwsError> {
    verify_typed(jws, jwks, CHECKPOINT_TYP)
}

/// Verify a purge anchor JWS with a key of `jwks` and return its claims (which the caller
/// compares with the anchor it was given). A checkpoint is refused.
pub fn verify_anchor_jws(jws: &str, jwks: &JwkSet) -> Result<AnchorClaims, CheckpointJwsError> {
    verify_typed(jws, jwks, ANCHOR_TYP)
}

/// The `kid` named by a JWS header (not verified), if any.
pub fn jws_kid(jws: &str) -> Option<String> {
    peek_jws_header(jws)
        .ok()?
        .get("kid")
        .and_then(Value::as_str)
        .map(str::to_owned)
}

fn verify_typed<T: DeserializeOwned>(
    jws: &str,
    jwks: &JwkSet,
    typ: &str,
) -> Result<T, CheckpointJwsError> {
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
    let found = header.get("typ").and_then(Value::as_str);
    if found != Some(typ) {
        return Err(invalid(format!(
            "the header `typ` is {}, not `{typ}`",
            found.map_or_else(|| "missing".to_owned(), |t| format!("`{t}`"))
        )));
    }
    serde_json::from_value(payload).map_err(|e| invalid(format!("payload: {e}")))
}
/// The outcome of [`verify_export`]: the range `first_seq..=last_seq` is complete and
/// unaltered, and its last event is signed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ExportVerification {
    pub tenant_id: String,
    /// Event lines checked.
    pub events: u64,
    pub first_seq: Option<i64>,
    pub last_seq: Option<i64>,
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
    checkpoint: Option<CheckpointRef>,
}

/// Verify a JSONL export (see the module documentation for the format and for what a pass
/// means) against the tenant's keys. `Err` names the first line that does not verify; a
/// filtered (non-contiguous) export is an error too, since only an unfiltered range can
/// be verified.
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
        if e.seq != last_seq + 1 {
            return Err(format!(
                "sequence numbers {}..={} are not in this export: it is filtered (or events \
                 were removed). Only an unfiltered range can be verified: export the whole \
                 period without --type or --org (`clavis audit export --from … --to …`), \
                 verify that file, then filter it",
                last_seq + 1,
                e.seq - 1
            ));
        }
        if e.prev_hash != *last_hash {
            return Err(format!(
                "broken link: prev_hash is {}, the previous event's hash is {last_hash}",
                e.prev_hash
            ));
        }
    }
    if let Some(view) = &e.event {
        let body_json: Value = serde_json::from_str(&e.body).map_err(|err| err.to_string())?;
        check_view(&body_json, view, e)?;
    }
    st.events += 1;
    st.first.get_or_insert(e.seq);
    st.last = Some((e.seq, e.hash.clone()));
    Ok(())
}

/// The readable view shows the body and adds nothing (see the module documentation).
fn check_view(body: &Value, view: &Value, line: &EventLine) -> Result<(), String> {
    let (Value::Object(b), Value::Object(v)) = (body, view) else {
        return Err("the readable `event` is not an object".into());
    };
    for (k, vv) in v {
        let path = format!("event.{k}");
        if k == "hash_chain" && !b.contains_key(k) {
            let expected = format!("sha256:{}:{}", line.prev_hash, line.hash);
            if vv.as_str() != Some(expected.as_str()) {
                return Err(format!(
                    "the readable `{path}` ({vv}) is not the line's ({expected})"
                ));
            }
            continue;
        }
        let Some(bv) = b.get(k) else {
            return Err(not_in_body(&path));
        };
        match k.as_str() {
            "actor" => check_personal(bv, vv, &path, &PERSONAL_ACTOR_FIELDS, true)?,
            "context" => check_personal(bv, vv, &path, &PERSONAL_CONTEXT_KEYS, false)?,
            "timestamp" => {
                let instant =
                    |x: &Value| x.as_str().and_then(clavis_types::Timestamp::parse_rfc3339);
                if instant(bv).is_none() || instant(bv) != instant(vv) {
                    return Err(differs(&path, vv, bv));
                }
            }
            _ => check_clear(bv, vv, &path)?,
        }
    }
    Ok(())
}

fn not_in_body(path: &str) -> String {
    format!("the readable `{path}` is not in the hashed body")
}

fn differs(path: &str, view: &Value, body: &Value) -> String {
    format!("the readable `{path}` ({view}) differs from the hashed body ({body})")
}

/// A clear value: objects may leave keys out but not add any; everything else is equal.
fn check_clear(body: &Value, view: &Value, path: &str) -> Result<(), String> {
    match (body, view) {
        (Value::Object(b), Value::Object(v)) => check_members(b, v, path, check_clear),
        (b, v) if b == v => Ok(()),
        (b, v) => Err(differs(path, v, b)),
    }
}

fn check_members(
    body: &Map<String, Value>,
    view: &Map<String, Value>,
    path: &str,
    check: fn(&Value, &Value, &str) -> Result<(), String>,
) -> Result<(), String> {
    for (k, vv) in view {
        let p = format!("{path}.{k}");
        let bv = body.get(k).ok_or_else(|| not_in_body(&p))?;
        check(bv, vv, &p)?;
    }
    Ok(())
}

/// `actor` or `context`: its `personal` keys, where the body holds them sealed, may read
/// as anything the subject's key gave (a string for the actor's fields); all else is clear.
fn check_personal(
    body: &Value,
    view: &Value,
    path: &str,
    personal: &[&str],
    strings_only: bool,
) -> Result<(), String> {
    let (Value::Object(b), Value::Object(v)) = (body, view) else {
        return check_clear(body, view, path);
    };
    for (k, vv) in v {
        let p = format!("{path}.{k}");
        let bv = b.get(k).ok_or_else(|| not_in_body(&p))?;
        let sealed = personal.contains(&k.as_str())
            && bv.as_str().is_some_and(|s| s.starts_with(SEALED_PREFIX));
        if !sealed {
            check_clear(bv, vv, &p)?;
        } else if strings_only && !vv.is_string() {
            return Err(format!("the readable `{p}` ({vv}) is not text"));
        }
    }
    Ok(())
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
    let kid = jws_kid(&cp.jws).unwrap_or_default();
    let first = st.first.unwrap_or(last_seq);
    Ok(ExportVerification {
        tenant_id: tenant,
        events: st.events,
        first_seq: st.first,
        last_seq: Some(last_seq),
        checkpoint_seq: cp.seq,
        checkpoint_hash: cp.hash,
        status: format!(
            "verified: seq {first}..={last_seq} is complete and unaltered, signed by key {kid}"
        ),
        kid,
        signed_at: clavis_types::Timestamp::from_millis(claims.iat.saturating_mul(1000))
            .to_rfc3339(),
    })
}

#[cfg(test)]
#[path = "chain_verify_tests.rs"]
mod tests;

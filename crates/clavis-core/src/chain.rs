//! The audit hash chain, as a third party recomputes it.
//!
//! Every event is stored as its **body**: canonical JSON (RFC 8785 style: object keys
//! sorted by UTF-16 code units, no insignificant whitespace, strings and numbers as
//! `serde_json` prints them) of
//! `{"actor", "context", "event_id", "event_type", "organization"?, "seq", "tenant_id",
//! "timestamp"}`. The chain link is
//!
//! ```text
//! hash = lowercase_hex(SHA-256(prev_hash || body))
//! ```
//!
//! over the ASCII of `prev_hash` (64 hex digits) followed by the UTF-8 body. The first
//! event of a tenant links to [`GENESIS`]. Verifying an exported range therefore needs
//! nothing but SHA-256: the body is exported verbatim.

use clavis_types::{TenantId, Timestamp};
use serde_json::{Map, Value};

use crate::model::{AuditActor, AuditEvent, AuditOrganization, JsonMap};

/// `prev_hash` of a tenant's first event.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// Prefix of a field value sealed under a subject user's key:
/// `sealed:v1:{user_id}:{base64url(ciphertext)}`.
pub const SEALED_PREFIX: &str = "sealed:v1:";

/// What erased personal data reads as in exports and reports.
pub const ERASED: &str = "[erased]";

/// Canonical JSON of `v` (sorted keys, compact).
pub fn canonical_json(v: &Value) -> String {
    let mut out = String::with_capacity(256);
    write_canonical(v, &mut out);
    out
}

fn write_canonical(v: &Value, out: &mut String) {
    match v {
        Value::Object(map) => write_map(map, out),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_canonical(item, out);
            }
            out.push(']');
        }
        Value::String(s) => write_string(s, out),
        other => out.push_str(&other.to_string()),
    }
}

fn write_string(s: &str, out: &mut String) {
    // Exactly RFC 8785: escape `"`, `\` and control characters (short forms where JSON
    // has them, `\u00xx` in lowercase hex otherwise); everything else verbatim.
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.push('"');
    let mut start = 0;
    for (i, b) in s.bytes().enumerate() {
        let esc: Option<&str> = match b {
            b'"' => Some("\\\""),
            b'\\' => Some("\\\\"),
            b'\n' => Some("\\n"),
            b'\r' => Some("\\r"),
            b'\t' => Some("\\t"),
            0x08 => Some("\\b"),
            0x0c => Some("\\f"),
            0..=0x1f => None,
            _ => continue,
        };
        out.push_str(&s[start..i]);
        match esc {
            Some(e) => out.push_str(e),
            None => {
                out.push_str("\\u00");
                out.push(char::from(HEX[usize::from(b >> 4)]));
                out.push(char::from(HEX[usize::from(b & 0xf)]));
            }
        }
        start = i + 1;
    }
    out.push_str(&s[start..]);
    out.push('"');
}

fn write_key(k: &str, first: &mut bool, out: &mut String) {
    if !*first {
        out.push(',');
    }
    *first = false;
    write_string(k, out);
    out.push(':');
}

fn write_map(m: &JsonMap, out: &mut String) {
    let mut keys: Vec<&String> = m.keys().collect();
    keys.sort_by(|a, b| a.encode_utf16().cmp(b.encode_utf16()));
    out.push('{');
    let mut first = true;
    for k in keys {
        if let Some(v) = m.get(k) {
            write_key(k, &mut first, out);
            write_canonical(v, out);
        }
    }
    out.push('}');
}

/// The canonical body of `e` (its `seq` must already be assigned). Written field by field
/// in sorted key order, with no intermediate JSON tree: this runs on every audited request.
pub fn event_body(e: &AuditEvent) -> String {
    let mut out = String::with_capacity(320);
    out.push('{');
    let mut first = true;
    write_key("actor", &mut first, &mut out);
    out.push('{');
    let mut inner = true;
    let a = &e.actor;
    for (k, v) in [
        ("client_id", &a.client_id),
        ("email", &a.email),
        ("ip_address", &a.ip_address),
        ("user_agent", &a.user_agent),
        ("user_id", &a.user_id),
    ] {
        if let Some(v) = v {
            write_key(k, &mut inner, &mut out);
            write_string(v, &mut out);
        }
    }
    out.push('}');
    write_key("context", &mut first, &mut out);
    write_map(&e.context, &mut out);
    write_key("event_id", &mut first, &mut out);
    write_string(&e.event_id, &mut out);
    write_key("event_type", &mut first, &mut out);
    write_string(&e.event_type, &mut out);
    if let Some(org) = &e.organization {
        write_key("organization", &mut first, &mut out);
        out.push('{');
        let mut inner = true;
        if let Some(name) = &org.name {
            write_key("name", &mut inner, &mut out);
            write_string(name, &mut out);
        }
        write_key("org_id", &mut inner, &mut out);
        write_string(&org.org_id, &mut out);
        out.push('}');
    }
    write_key("seq", &mut first, &mut out);
    out.push_str(&e.seq.to_string());
    write_key("tenant_id", &mut first, &mut out);
    write_string(e.tenant_id.as_str(), &mut out);
    write_key("timestamp", &mut first, &mut out);
    write_string(&e.timestamp.to_rfc3339(), &mut out);
    out.push('}');
    out
}

/// `hex(SHA-256(prev_hash || body))`.
pub fn chain_hash(prev_hash: &str, body: &str) -> String {
    let mut buf = Vec::with_capacity(prev_hash.len() + body.len());
    buf.extend_from_slice(prev_hash.as_bytes());
    buf.extend_from_slice(body.as_bytes());
    clavis_crypto::sha256_hex(&buf)
}

/// Why a body does not decode into an event.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("audit event body: {0}")]
pub struct BodyError(pub String);

/// Decode a stored body back into the event it was made from.
pub fn parse_body(body: &str) -> Result<AuditEvent, BodyError> {
    let v: Value = serde_json::from_str(body).map_err(|e| BodyError(e.to_string()))?;
    let Value::Object(mut m) = v else {
        return Err(BodyError("not an object".into()));
    };
    let text = |m: &mut Map<String, Value>, k: &str| -> Result<String, BodyError> {
        match m.remove(k) {
            Some(Value::String(s)) => Ok(s),
            _ => Err(BodyError(format!("`{k}` missing or not a string"))),
        }
    };
    let tenant_id = TenantId::parse(&text(&mut m, "tenant_id")?)
        .map_err(|e| BodyError(format!("`tenant_id`: {e}")))?;
    let event_id = text(&mut m, "event_id")?;
    let event_type = text(&mut m, "event_type")?;
    let timestamp = Timestamp::parse_rfc3339(&text(&mut m, "timestamp")?)
        .ok_or_else(|| BodyError("`timestamp` is not RFC 3339".into()))?;
    let seq = m
        .remove("seq")
        .and_then(|v| v.as_i64())
        .ok_or_else(|| BodyError("`seq` missing or not an integer".into()))?;
    let actor: AuditActor = serde_json::from_value(m.remove("actor").unwrap_or(Value::Null))
        .map_err(|e| BodyError(format!("`actor`: {e}")))?;
    let organization: Option<AuditOrganization> = match m.remove("organization") {
        None | Some(Value::Null) => None,
        Some(v) => {
            Some(serde_json::from_value(v).map_err(|e| BodyError(format!("`organization`: {e}")))?)
        }
    };
    let context: JsonMap = match m.remove("context") {
        Some(Value::Object(c)) => c,
        _ => return Err(BodyError("`context` missing or not an object".into())),
    };
    if let Some(k) = m.keys().next() {
        return Err(BodyError(format!("unknown field `{k}`")));
    }
    Ok(AuditEvent {
        tenant_id,
        seq,
        event_id,
        timestamp,
        event_type,
        actor,
        organization,
        context,
    })
}

/// Why a stored event is not a valid link of its chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LinkError {
    /// `prev_hash` is not the previous event's (or the anchor's / genesis) hash.
    Link { expected: String, found: String },
    /// `hash` is not `SHA-256(prev_hash || body)`.
    Hash { expected: String, found: String },
    /// The body does not decode, or disagrees with the indexed columns.
    Body(String),
}

/// Check one stored event against the hash it must follow and the `seq` it must have.
pub fn check_link(e: &crate::model::ChainedEvent, expected_prev: &str) -> Result<(), LinkError> {
    if e.prev_hash != expected_prev {
        return Err(LinkError::Link {
            expected: expected_prev.to_owned(),
            found: e.prev_hash.clone(),
        });
    }
    let computed = chain_hash(&e.prev_hash, &e.body);
    if computed != e.hash {
        return Err(LinkError::Hash {
            expected: computed,
            found: e.hash.clone(),
        });
    }
    let ev = parse_body(&e.body).map_err(|err| LinkError::Body(err.0))?;
    let agrees = ev.seq == e.seq
        && ev.tenant_id == e.tenant_id
        && ev.event_id == e.event_id
        && ev.timestamp == e.timestamp
        && ev.event_type == e.event_type
        && ev.actor.user_id == e.actor_user_id
        && ev.actor.client_id == e.actor_client_id
        && ev.organization.as_ref().map(|o| &o.org_id) == e.org_id.as_ref();
    if !agrees {
        return Err(LinkError::Body(
            "the indexed columns disagree with the hashed body".into(),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn canonical_json_sorts_keys_and_is_compact() {
        let v = json!({"b": 1, "a": {"z": [1, "x\n"], "é": null, "A": true}});
        assert_eq!(
            canonical_json(&v),
            r#"{"a":{"A":true,"z":[1,"x\n"],"é":null},"b":1}"#
        );
    }

    #[test]
    fn body_round_trips_and_hash_depends_on_prev() {
        let tenant =
            TenantId::generate(Timestamp::from_millis(1), &clavis_crypto::SystemRng::new());
        let mut ctx = JsonMap::new();
        ctx.insert("risk_score".into(), json!(0.12));
        let e = AuditEvent {
            tenant_id: tenant,
            seq: 7,
            event_id: "evt_1".into(),
            timestamp: Timestamp::from_millis(1_705_329_000_123),
            event_type: "user.login.success".into(),
            actor: AuditActor {
                user_id: Some("usr_1".into()),
                ..AuditActor::default()
            },
            organization: None,
            context: ctx,
        };
        let body = event_body(&e);
        assert!(
            body.contains(r#""timestamp":"2024-01-15T14:30:00.123Z""#),
            "{body}"
        );
        assert_eq!(parse_body(&body).ok(), Some(e));
        assert_ne!(
            chain_hash(GENESIS, &body),
            chain_hash(&"1".repeat(64), &body)
        );
        assert_eq!(chain_hash(GENESIS, &body).len(), 64);
    }

    #[test]
    fn direct_body_equals_canonical_json_of_the_event() {
        let e = AuditEvent {
            tenant_id: TenantId::generate(
                Timestamp::from_millis(1),
                &clavis_crypto::SystemRng::new(),
            ),
            seq: 12,
            event_id: "evt_\"q\"\u{1}\t".into(),
            timestamp: Timestamp::from_millis(1_705_329_000_123),
            event_type: "user.login.failure".into(),
            actor: AuditActor {
                user_id: Some("usr_1".into()),
                email: Some("a\\b@example.com".into()),
                client_id: Some("c".into()),
                ip_address: Some("127.0.0.1".into()),
                user_agent: Some("Mozilla/5.0 \u{e9}\u{1F600}".into()),
            },
            organization: Some(AuditOrganization {
                org_id: "org_1".into(),
                name: Some("Acme <Corp>".into()),
            }),
            context: serde_json::from_value(
                json!({"z": 1, "a": [true, null, 0.5], "m": {"y": "\n", "b": -3}}),
            )
            .unwrap_or_default(),
        };
        let generic = json!({
            "actor": serde_json::to_value(&e.actor).unwrap_or_default(),
            "context": e.context.clone(),
            "event_id": e.event_id.clone(),
            "event_type": e.event_type.clone(),
            "organization": serde_json::to_value(&e.organization).unwrap_or_default(),
            "seq": e.seq,
            "tenant_id": e.tenant_id.to_string(),
            "timestamp": e.timestamp.to_rfc3339(),
        });
        let body = event_body(&e);
        assert_eq!(body, canonical_json(&generic));
        // serde_json (another JSON printer) agrees on every escape.
        let reparsed: Value = serde_json::from_str(&body).unwrap_or_default();
        assert_eq!(reparsed, generic);
        assert_eq!(parse_body(&body).ok(), Some(e));
    }
}

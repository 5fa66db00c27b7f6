//! Readable audit events: stored events turned into the seed-000 shape with personal data
//! unsealed (or shown as erased), one event by id, and search with cursor pagination.
//!
//! Search filters on the indexed columns in SQL ([`AuditRepo::audit_search`]). IP address
//! and email are sealed inside the bodies, so those filters are applied after unsealing,
//! over at most [`SEARCH_SCAN_BUDGET`] events per call: when the budget runs out, the page
//! holds what matched so far and a cursor to continue from the last event scanned.
//!
//! [`AuditRepo::audit_search`]: crate::ports::AuditRepo::audit_search

use clavis_crypto::DataKey;
use serde::Serialize;
use std::collections::{HashMap, HashSet};
use std::net::IpAddr;
use std::sync::Arc;

use super::Core;
use super::audit_subjects::{PERSONAL_CONTEXT_KEYS, open_sealed, sealed_parts, sealed_users};
use crate::chain::parse_body;
use crate::model::{
    AuditActor, AuditEvent, AuditOrganization, AuditQuery, ChainedEvent, JsonMap, Tenant,
};
use crate::ports::Tx;
use crate::{CoreError, StoreError};

/// Most events one search call unseals and examines when filtering by IP or email.
pub const SEARCH_SCAN_BUDGET: u32 = 5_000;
/// Events read per statement while scanning.
const SCAN_CHUNK: u32 = 500;
/// Largest page of a search.
pub const SEARCH_MAX_LIMIT: u32 = 100;

/// One audit event as people and exports read it (seed 000 shape), personal data
/// unsealed, or `"[erased]"` once the user's key was destroyed.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AuditView {
    /// Position in the tenant's chain.
    pub seq: i64,
    pub event_id: String,
    /// RFC 3339 with milliseconds, UTC.
    pub timestamp: String,
    pub event_type: String,
    /// Personal fields unsealed, `"[erased]"` or `"[unreadable]"`.
    pub actor: AuditActor,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub organization: Option<AuditOrganization>,
    /// Personal keys unsealed like the actor's.
    pub context: JsonMap,
    /// `sha256:{prev_hash}:{hash}`.
    pub hash_chain: String,
}

/// A page of search results; `next_cursor` continues the search where it stopped.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AuditPage {
    pub events: Vec<AuditView>,
    /// `None` when the search reached the end of the log.
    pub next_cursor: Option<String>,
}

/// Where a search stopped: the last sequence number scanned and the direction. Its text
/// form (from [`AuditCursor::encode`]) is opaque to clients.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AuditCursor {
    /// The last sequence number scanned; the search continues past it.
    pub seq: i64,
    /// Direction: towards older events when true.
    pub newest_first: bool,
}

impl AuditCursor {
    /// The opaque text form: base64url of `v1:{a|d}:{seq}`.
    pub fn encode(&self) -> String {
        let dir = if self.newest_first { 'd' } else { 'a' };
        clavis_crypto::b64url(format!("v1:{dir}:{}", self.seq).as_bytes())
    }

    /// Continue `q` after this cursor (its direction replaces `q.newest_first`).
    pub fn apply(&self, q: &mut AuditQuery) {
        q.newest_first = self.newest_first;
        if self.newest_first {
            q.before_seq = Some(q.before_seq.map_or(self.seq, |b| b.min(self.seq)));
        } else {
            q.after_seq = Some(q.after_seq.map_or(self.seq, |a| a.max(self.seq)));
        }
    }
}

/// Parse a cursor returned as `next_cursor` by an earlier search.
pub fn parse_audit_cursor(s: &str) -> Result<AuditCursor, CoreError> {
    let bad = || {
        CoreError::invalid(
            "cursor",
            "not a cursor returned by an earlier search (pass `next_cursor` back unchanged)",
        )
    };
    let raw = clavis_crypto::b64url_decode(s).map_err(|_| bad())?;
    let text = std::str::from_utf8(&raw).map_err(|_| bad())?;
    let rest = text.strip_prefix("v1:").ok_or_else(bad)?;
    let (dir, seq) = rest.split_once(':').ok_or_else(bad)?;
    let newest_first = match dir {
        "a" => false,
        "d" => true,
        _ => return Err(bad()),
    };
    let seq: i64 = seq
        .parse()
        .ok()
        .filter(|n| *n >= 0 && !seq.starts_with('+'))
        .ok_or_else(bad)?;
    Ok(AuditCursor { seq, newest_first })
}

/// The keys of the subjects seen so far in one read (`None`: no key, or destroyed).
type KeyMap = HashMap<String, Option<Arc<DataKey>>>;

/// What a search looks for inside the unsealed events.
struct Needles<'a> {
    ip: Option<(&'a str, Option<IpAddr>)>,
    email: Option<&'a str>,
}

impl Needles<'_> {
    fn is_empty(&self) -> bool {
        self.ip.is_none() && self.email.is_none()
    }

    /// IP: `actor.ip_address` or `context.ip_address` is the address (IPv4-mapped IPv6
    /// equals its IPv4 form). Email: `actor.email` or `context.email`, ASCII case ignored.
    fn matches(&self, v: &AuditView) -> bool {
        let ctx = |k: &str| v.context.get(k).and_then(serde_json::Value::as_str);
        let ip_ok = self.ip.is_none_or(|(text, parsed)| {
            [v.actor.ip_address.as_deref(), ctx("ip_address")]
                .into_iter()
                .flatten()
                .any(|cand| {
                    let cand = cand.trim();
                    match (parsed, cand.parse::<IpAddr>()) {
                        (Some(p), Ok(c)) => p.to_canonical() == c.to_canonical(),
                        _ => cand == text,
                    }
                })
        });
        let email_ok = self.email.is_none_or(|needle| {
            [v.actor.email.as_deref(), ctx("email")]
                .into_iter()
                .flatten()
                .any(|cand| cand.trim().eq_ignore_ascii_case(needle))
        });
        ip_ok && email_ok
    }
}

fn corrupt(e: &ChainedEvent, why: impl std::fmt::Display) -> CoreError {
    CoreError::Store(StoreError::Corrupt(format!("audit event {}: {why}", e.seq)))
}

/// The view of `row` (decoded as `ev`) with sealed values opened with `keys`.
fn view_of(tenant: &Tenant, row: &ChainedEvent, ev: AuditEvent, keys: &KeyMap) -> AuditView {
    let open = |s: &str| -> Option<serde_json::Value> {
        let (user, ct) = sealed_parts(s)?;
        let key = keys.get(user).and_then(Option::as_deref);
        Some(open_sealed(key, &tenant.id, user, ct, &row.event_id))
    };
    let mut actor = ev.actor;
    for field in [
        &mut actor.email,
        &mut actor.ip_address,
        &mut actor.user_agent,
    ]
    .into_iter()
    .flatten()
    {
        if let Some(v) = open(field) {
            *field = match v {
                serde_json::Value::String(s) => s,
                other => other.to_string(),
            };
        }
    }
    let mut context = ev.context;
    for k in PERSONAL_CONTEXT_KEYS {
        if let Some(v) = context.get_mut(k)
            && let Some(opened) = v.as_str().and_then(open)
        {
            *v = opened;
        }
    }
    AuditView {
        seq: row.seq,
        event_id: row.event_id.clone(),
        timestamp: row.timestamp.to_rfc3339(),
        event_type: row.event_type.clone(),
        actor,
        organization: ev.organization,
        context,
        hash_chain: format!("sha256:{}:{}", row.prev_hash, row.hash),
    }
}

impl Core {
    /// Readable views of stored events of `tenant`, in the same order. Each distinct
    /// subject's key is looked up once, in `tenant` only: events of another tenant do not
    /// open. A body that does not decode is reported as corrupt.
    pub async fn audit_views(
        &self,
        tenant: &Tenant,
        events: &[ChainedEvent],
    ) -> Result<Vec<AuditView>, CoreError> {
        if events.is_empty() {
            return Ok(Vec::new());
        }
        let mut tx = self.store.read().await?;
        self.views_in(&mut *tx, tenant, events, &mut KeyMap::new())
            .await
    }

    /// One event by id, readable.
    pub async fn audit_event_view(
        &self,
        tenant: &Tenant,
        event_id: &str,
    ) -> Result<Option<AuditView>, CoreError> {
        let mut tx = self.store.read().await?;
        let Some(row) = tx.audit_get(&tenant.id, event_id).await? else {
            return Ok(None);
        };
        let views = self
            .views_in(
                &mut *tx,
                tenant,
                std::slice::from_ref(&row),
                &mut KeyMap::new(),
            )
            .await?;
        Ok(views.into_iter().next())
    }

    async fn views_in(
        &self,
        tx: &mut dyn Tx,
        tenant: &Tenant,
        events: &[ChainedEvent],
        keys: &mut KeyMap,
    ) -> Result<Vec<AuditView>, CoreError> {
        let decoded = events
            .iter()
            .map(|e| parse_body(&e.body).map_err(|err| corrupt(e, err)))
            .collect::<Result<Vec<_>, _>>()?;
        let users: HashSet<&str> = decoded
            .iter()
            .flat_map(|ev| sealed_users(&ev.actor, &ev.context))
            .filter(|u| !keys.contains_key(*u))
            .collect();
        if !users.is_empty() {
            let users: Vec<String> = users.into_iter().map(str::to_owned).collect();
            self.subject_keys_for_read(tx, &tenant.id, users, keys)
                .await?;
        }
        Ok(events
            .iter()
            .zip(decoded)
            .map(|(row, ev)| view_of(tenant, row, ev, keys))
            .collect())
    }

    /// Search the tenant's log: the SQL filters of `q`, then `ip` and `email` (matched
    /// after unsealing, see [`Needles`]) within [`SEARCH_SCAN_BUDGET`] events per call.
    /// `cursor` (a `next_cursor` of an earlier page) continues a search in its direction;
    /// `limit` is clamped to `1..=100`.
    ///
    /// An email filter is not narrowed to the user who has that address today: failed
    /// logins for an address name no user, and a user's address may have changed.
    pub async fn audit_search(
        &self,
        tenant: &Tenant,
        q: &AuditQuery,
        ip: Option<&str>,
        email: Option<&str>,
        cursor: Option<&str>,
        limit: u32,
    ) -> Result<AuditPage, CoreError> {
        let mut q = q.clone();
        if let Some(c) = cursor {
            parse_audit_cursor(c)?.apply(&mut q);
        }
        let limit = limit.clamp(1, SEARCH_MAX_LIMIT);
        let ip = ip.map(str::trim).filter(|s| !s.is_empty());
        let needles = Needles {
            ip: ip.map(|s| (s, s.parse::<IpAddr>().ok())),
            email: email.map(str::trim).filter(|s| !s.is_empty()),
        };
        let mut tx = self.store.read().await?;
        let mut keys = KeyMap::new();
        let next = |seq: i64, q: &AuditQuery| {
            AuditCursor {
                seq,
                newest_first: q.newest_first,
            }
            .encode()
        };
        if needles.is_empty() {
            let mut rows = tx.audit_search(&tenant.id, &q, limit + 1).await?;
            let more = rows.len() > limit as usize;
            rows.truncate(limit as usize);
            let next_cursor = rows.last().filter(|_| more).map(|r| next(r.seq, &q));
            let events = self.views_in(&mut *tx, tenant, &rows, &mut keys).await?;
            return Ok(AuditPage {
                events,
                next_cursor,
            });
        }
        let mut events = Vec::new();
        let mut scanned = 0u32;
        loop {
            let chunk = SCAN_CHUNK.min(SEARCH_SCAN_BUDGET - scanned);
            let rows = tx.audit_search(&tenant.id, &q, chunk).await?;
            let full = rows.len() == chunk as usize;
            let views = self.views_in(&mut *tx, tenant, &rows, &mut keys).await?;
            let n = views.len();
            for (i, v) in views.into_iter().enumerate() {
                scanned += 1;
                let seq = v.seq;
                if needles.matches(&v) {
                    events.push(v);
                    if events.len() == limit as usize {
                        let more = i + 1 < n || full;
                        return Ok(AuditPage {
                            events,
                            next_cursor: more.then(|| next(seq, &q)),
                        });
                    }
                }
            }
            let Some(last) = rows.last() else { break };
            if !full {
                break;
            }
            if scanned >= SEARCH_SCAN_BUDGET {
                return Ok(AuditPage {
                    events,
                    next_cursor: Some(next(last.seq, &q)),
                });
            }
            AuditCursor {
                seq: last.seq,
                newest_first: q.newest_first,
            }
            .apply(&mut q);
        }
        Ok(AuditPage {
            events,
            next_cursor: None,
        })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_garbage_is_refused_clearly() {
        for c in [
            AuditCursor {
                seq: 0,
                newest_first: false,
            },
            AuditCursor {
                seq: 9_007_199_254_740_993,
                newest_first: true,
            },
        ] {
            assert_eq!(parse_audit_cursor(&c.encode()).unwrap(), c);
        }
        let forged = |s: &str| clavis_crypto::b64url(s.as_bytes());
        for garbage in [
            String::new(),
            "\u{0}garbage".to_owned(),
            "!!!".to_owned(),
            "12".to_owned(),
            forged("v2:a:1"),
            forged("v1:x:1"),
            forged("v1:a:-1"),
            forged("v1:a:+1"),
            forged("v1:a:"),
            forged("v1:a:1:2"),
            forged("v1:a:99999999999999999999"),
        ] {
            let err = parse_audit_cursor(&garbage).unwrap_err();
            assert!(
                matches!(&err, CoreError::Invalid { field, .. } if field == "cursor"),
                "{garbage:?}: {err}"
            );
            assert!(err.to_string().contains("earlier search"), "{err}");
        }
    }

    #[test]
    fn a_cursor_continues_in_its_direction_within_the_query_bounds() {
        let mut q = AuditQuery {
            after_seq: Some(10),
            ..AuditQuery::default()
        };
        AuditCursor {
            seq: 40,
            newest_first: true,
        }
        .apply(&mut q);
        assert!(q.newest_first);
        assert_eq!((q.after_seq, q.before_seq), (Some(10), Some(40)));
        AuditCursor {
            seq: 30,
            newest_first: true,
        }
        .apply(&mut q);
        assert_eq!(q.before_seq, Some(30));
        AuditCursor {
            seq: 5,
            newest_first: false,
        }
        .apply(&mut q);
        assert_eq!((q.after_seq, q.newest_first), (Some(10), false));
    }

    fn view(actor_ip: Option<&str>, ctx_ip: Option<&str>, email: Option<&str>) -> AuditView {
        let mut context = JsonMap::new();
        if let Some(ip) = ctx_ip {
            context.insert("ip_address".into(), serde_json::json!(ip));
        }
        AuditView {
            seq: 1,
            event_id: "evt_1".into(),
            timestamp: String::new(),
            event_type: "t".into(),
            actor: AuditActor {
                ip_address: actor_ip.map(str::to_owned),
                email: email.map(str::to_owned),
                ..AuditActor::default()
            },
            organization: None,
            context,
            hash_chain: String::new(),
        }
    }

    #[test]
    fn needles_match_ip_forms_and_email_case() {
        let ip = |s: &'static str| Needles {
            ip: Some((s, s.parse().ok())),
            email: None,
        };
        assert!(ip("192.0.2.1").matches(&view(Some("192.0.2.1"), None, None)));
        assert!(ip("192.0.2.1").matches(&view(Some("::ffff:192.0.2.1"), None, None)));
        assert!(ip("2001:db8::1").matches(&view(None, Some("2001:DB8:0::1"), None)));
        assert!(!ip("192.0.2.1").matches(&view(Some("192.0.2.10"), None, None)));
        assert!(!ip("192.0.2.1").matches(&view(Some("[erased]"), None, None)));
        assert!(!ip("192.0.2.1").matches(&view(None, None, None)));
        let email = Needles {
            ip: None,
            email: Some("Ann@Example.com"),
        };
        assert!(email.matches(&view(None, None, Some("ann@example.com"))));
        assert!(!email.matches(&view(None, None, Some("ann@example.org"))));
        let both = Needles {
            ip: Some(("192.0.2.1", "192.0.2.1".parse().ok())),
            email: Some("ann@example.com"),
        };
        assert!(both.matches(&view(Some("192.0.2.1"), None, Some("ann@example.com"))));
        assert!(!both.matches(&view(Some("192.0.2.2"), None, Some("ann@example.com"))));
    }
}

//! The `config.applied` audit event: one per tenant that `apply` changed, written in the
//! apply transaction, summarising what was created or updated.
//!
//! Users are named by their id, not by the email that keys them in the file, so the event
//! carries no personal data in the clear.

use clavis_types::{Email, UserId};
use serde_json::{Value, json};
use std::collections::HashMap;

use super::{Action, Change, ResourceKind};
use crate::Core;
use crate::model::{AuditActor, AuditEvent, JsonMap, Tenant};
use crate::service::RequestMeta;

/// Most changes listed one by one in the event; the counts always cover all of them.
const MAX_LISTED: usize = 500;

/// The `config.applied` event for `changes` (all of one tenant).
pub(super) fn config_applied(
    core: &Core,
    tenant: &Tenant,
    changes: &[Change],
    users: &HashMap<Email, UserId>,
) -> AuditEvent {
    let by_email: HashMap<String, &UserId> = users
        .iter()
        .map(|(e, id)| (format!("{}/{}", tenant.slug, e.as_str()), id))
        .collect();
    let listed: Vec<Value> = changes
        .iter()
        .take(MAX_LISTED)
        .map(|c| {
            let key = match c.kind {
                ResourceKind::User => by_email
                    .get(&c.key)
                    .map_or_else(|| "(user)".to_owned(), |id| id.to_string()),
                _ => c.key.clone(),
            };
            json!({
                "kind": c.kind.as_str(),
                "key": key,
                "action": action(c.action),
            })
        })
        .collect();
    let created = changes
        .iter()
        .filter(|c| c.action == Action::Created)
        .count();
    let context = JsonMap::from_iter([
        ("source".to_owned(), json!("declarative")),
        ("created".to_owned(), json!(created)),
        ("updated".to_owned(), json!(changes.len() - created)),
        ("changes".to_owned(), Value::Array(listed)),
        (
            "changes_omitted".to_owned(),
            json!(changes.len().saturating_sub(MAX_LISTED)),
        ),
    ]);
    core.audit_event(
        &tenant.id,
        "config.applied",
        AuditActor::default(),
        None,
        context,
        &RequestMeta::default(),
    )
}

fn action(a: Action) -> &'static str {
    match a {
        Action::Created => "created",
        Action::Updated => "updated",
    }
}

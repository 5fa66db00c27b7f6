//! Every query and row mapping, written once in portable SQL for both backends.

mod access;
mod audit;
mod audit_sinks;
mod custom_domains;
mod directory;
mod keys;
mod login;
mod login_branding;
mod login_outbox;
mod management;
mod oauth;
mod roles;
mod users;

use clavis_core::model::Page;

pub(crate) use audit::chain_legacy_events;

use crate::sql::Value;

/// LIMIT/OFFSET arguments of a page.
pub(crate) fn page_args(p: Page) -> (Value, Value) {
    (Value::from(p.limit()), Value::from(p.offset()))
}

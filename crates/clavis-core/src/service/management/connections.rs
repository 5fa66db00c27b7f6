//! Connections (identity sources) of a tenant through the Management API: create, read,
//! list, change options, delete.
//!
//! Rules enforced here:
//! - names are Auth0's connection names: letters and digits, single hyphens between them,
//!   at most 128 characters, unique in the tenant (409 otherwise); a name and a strategy
//!   never change after creation;
//! - the strategy is one of [`ConnectionStrategy`]; options are checked per strategy. The
//!   `database` strategy defines no options of its own yet, so they are kept as given
//!   within bounds (a JSON object of at most [`MAX_OPTIONS_BYTES`], keys of 1–100
//!   characters, nesting at most [`MAX_OPTIONS_DEPTH`] levels). The `email` strategy
//!   (passwordless login by an emailed one-time code; see `lifecycle::login_code`) takes
//!   no options: it never signs users up and its code length and lifetime are fixed, so
//!   any option is refused rather than kept and ignored;
//! - the tenant's default database connection ([`DEFAULT_CONNECTION`]) is where users
//!   created without a connection, by `clavis apply` and by the first-administrator page
//!   get their identity: it cannot be deleted (409). A connection that still holds
//!   identities cannot be deleted either (409): deleting it would silently remove them;
//! - every change appends `connection.created|updated|deleted` in the same transaction
//!   (the names of changed fields, never option values).

use clavis_types::{ConnectionId, ConnectionStrategy};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::model::{Connection, JsonMap, Page, Tenant};
use crate::ports::Tx;
use crate::service::{Core, DEFAULT_CONNECTION, RequestMeta};
use crate::{CoreError, StoreError};

/// Largest options object, as serialised JSON.
pub const MAX_OPTIONS_BYTES: usize = 16 * 1024;
/// Deepest nesting of an option value.
pub const MAX_OPTIONS_DEPTH: usize = 8;
/// Longest connection name.
pub const MAX_CONNECTION_NAME: usize = 128;

/// What an administrator submits to create a connection.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ConnectionInput {
    /// Letters and digits with single hyphens between them, at most 128 characters;
    /// unique in the tenant.
    pub name: String,
    /// `database` (email and password) or `email` (passwordless: a code emailed to the
    /// address; takes no options).
    pub strategy: String,
    /// Strategy-specific options.
    #[serde(default)]
    #[schema(value_type = Object)]
    pub options: JsonMap,
}

/// A change to a connection: the options, replaced as a whole (as in Auth0). The name and
/// strategy cannot change.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ConnectionPatch {
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub options: Option<JsonMap>,
}

/// A connection as the API shows it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ConnectionView {
    pub id: String,
    pub name: String,
    pub strategy: String,
    #[schema(value_type = Object)]
    pub options: JsonMap,
    /// Whether this is the tenant's default database connection (which cannot be deleted).
    pub is_default: bool,
    /// RFC 3339.
    pub created_at: String,
    /// RFC 3339.
    pub updated_at: String,
}

impl From<&Connection> for ConnectionView {
    fn from(c: &Connection) -> Self {
        Self {
            id: c.id.to_string(),
            name: c.name.clone(),
            strategy: c.strategy.as_str().to_owned(),
            options: c.options.clone(),
            is_default: c.name == DEFAULT_CONNECTION,
            created_at: c.created_at.to_rfc3339(),
            updated_at: c.updated_at.to_rfc3339(),
        }
    }
}

impl Core {
    /// Create a connection.
    pub async fn mgmt_connection_create(
        &self,
        tenant: &Tenant,
        input: ConnectionInput,
        meta: &RequestMeta,
    ) -> Result<Connection, CoreError> {
        let name = validate_name(&input.name)?;
        let strategy = ConnectionStrategy::parse(input.strategy.trim()).map_err(|_| {
            CoreError::invalid(
                "strategy",
                format!(
                    "expected one of: {}",
                    ConnectionStrategy::ALL
                        .iter()
                        .map(|s| s.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            )
        })?;
        validate_options(strategy, &input.options)?;
        let now = self.now();
        let c = Connection {
            tenant_id: tenant.id.clone(),
            id: ConnectionId::generate(now, &*self.rng),
            name,
            strategy,
            options: input.options,
            created_at: now,
            updated_at: now,
        };
        let mut tx = self.store.begin().await?;
        if tx
            .connection_get_by_name(&tenant.id, &c.name)
            .await?
            .is_some()
        {
            return Err(name_taken(&c.name));
        }
        tx.connection_insert(&c)
            .await
            .map_err(|e| name_conflict(e, &c.name))?;
        let event = self.audit_event(
            &tenant.id,
            "connection.created",
            Default::default(),
            None,
            context(&c),
            meta,
        );
        self.audit_in(&mut *tx, event).await?;
        tx.commit().await?;
        Ok(c)
    }

    /// One connection.
    pub async fn mgmt_connection_get(
        &self,
        tenant: &Tenant,
        id: &ConnectionId,
    ) -> Result<Connection, CoreError> {
        let mut tx = self.store.read().await?;
        load(&mut *tx, tenant, id).await
    }

    /// A page of the tenant's connections (by id, i.e. creation order) and, when asked,
    /// their total.
    pub async fn mgmt_connection_list(
        &self,
        tenant: &Tenant,
        page: Page,
        with_total: bool,
    ) -> Result<(Vec<Connection>, i64), CoreError> {
        let mut tx = self.store.read().await?;
        let list = tx.connection_list(&tenant.id, page).await?;
        let total = if with_total {
            tx.connection_count(&tenant.id).await?
        } else {
            0
        };
        Ok((list, total))
    }

    /// Replace a connection's options.
    pub async fn mgmt_connection_update(
        &self,
        tenant: &Tenant,
        id: &ConnectionId,
        patch: ConnectionPatch,
        meta: &RequestMeta,
    ) -> Result<Connection, CoreError> {
        let mut tx = self.store.begin().await?;
        let mut c = load(&mut *tx, tenant, id).await?;
        let Some(options) = patch.options else {
            return Ok(c);
        };
        validate_options(c.strategy, &options)?;
        if options == c.options {
            return Ok(c);
        }
        c.options = options;
        c.updated_at = self.now();
        if !tx.connection_update(&c).await? {
            return Err(CoreError::NotFound("connection"));
        }
        let mut ctx = context(&c);
        ctx.insert("changed".into(), json!(["options"]));
        let event = self.audit_event(
            &tenant.id,
            "connection.updated",
            Default::default(),
            None,
            ctx,
            meta,
        );
        self.audit_in(&mut *tx, event).await?;
        tx.commit().await?;
        Ok(c)
    }

    /// Delete a connection that is not the default one and holds no identities.
    pub async fn mgmt_connection_delete(
        &self,
        tenant: &Tenant,
        id: &ConnectionId,
        meta: &RequestMeta,
    ) -> Result<(), CoreError> {
        let mut tx = self.store.begin().await?;
        let c = load(&mut *tx, tenant, id).await?;
        if c.name == DEFAULT_CONNECTION {
            return Err(CoreError::Conflict(format!(
                "`{DEFAULT_CONNECTION}` is the tenant's default database connection and cannot be deleted"
            )));
        }
        let held = tx.connection_identity_count(&tenant.id, &c.id).await?;
        if held > 0 {
            return Err(CoreError::Conflict(format!(
                "the connection still holds {held} user identit{}; unlink or delete them first",
                if held == 1 { "y" } else { "ies" }
            )));
        }
        if !tx.connection_delete(&tenant.id, &c.id).await? {
            return Err(CoreError::NotFound("connection"));
        }
        let event = self.audit_event(
            &tenant.id,
            "connection.deleted",
            Default::default(),
            None,
            context(&c),
            meta,
        );
        self.audit_in(&mut *tx, event).await?;
        tx.commit().await?;
        Ok(())
    }
}

async fn load(
    tx: &mut dyn Tx,
    tenant: &Tenant,
    id: &ConnectionId,
) -> Result<Connection, CoreError> {
    tx.connection_get(&tenant.id, id)
        .await?
        .ok_or(CoreError::NotFound("connection"))
}

/// What the audit events of a connection say about it: never option values.
fn context(c: &Connection) -> JsonMap {
    JsonMap::from_iter([
        ("connection_id".to_owned(), json!(c.id.as_str())),
        ("connection".to_owned(), json!(c.name)),
        ("strategy".to_owned(), json!(c.strategy.as_str())),
    ])
}

fn name_taken(name: &str) -> CoreError {
    CoreError::Conflict(format!("a connection named `{name}` already exists"))
}

fn name_conflict(e: StoreError, name: &str) -> CoreError {
    match e {
        StoreError::Conflict(_) => name_taken(name),
        other => other.into(),
    }
}

/// Auth0's connection name rule: `^[a-zA-Z0-9](-?[a-zA-Z0-9])*$`, at most 128 characters.
pub fn validate_name(name: &str) -> Result<String, CoreError> {
    let name = name.trim();
    if name.is_empty() {
        return Err(CoreError::invalid("name", "must not be empty"));
    }
    if name.len() > MAX_CONNECTION_NAME {
        return Err(CoreError::invalid(
            "name",
            format!("must be at most {MAX_CONNECTION_NAME} characters"),
        ));
    }
    let ok = name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        && !name.starts_with('-')
        && !name.ends_with('-')
        && !name.contains("--");
    if !ok {
        return Err(CoreError::invalid(
            "name",
            "use letters and digits, with single hyphens between them",
        ));
    }
    Ok(name.to_owned())
}

/// Check a strategy's options.
pub fn validate_options(strategy: ConnectionStrategy, options: &JsonMap) -> Result<(), CoreError> {
    match strategy {
        // No option of a database connection is interpreted yet: bound what is kept.
        ConnectionStrategy::Database => bounded_object(options),
        ConnectionStrategy::Email => match options.keys().next() {
            None => Ok(()),
            Some(k) => Err(CoreError::invalid(
                format!("options.{}", k.chars().take(100).collect::<String>()),
                "an email connection takes no options",
            )),
        },
    }
}

fn bounded_object(options: &JsonMap) -> Result<(), CoreError> {
    let size = serde_json::to_vec(options)
        .map(|v| v.len())
        .unwrap_or(usize::MAX);
    if size > MAX_OPTIONS_BYTES {
        return Err(CoreError::invalid(
            "options",
            format!("must be at most {MAX_OPTIONS_BYTES} bytes of JSON"),
        ));
    }
    for (k, v) in options {
        if k.trim().is_empty() || k.chars().count() > 100 {
            return Err(CoreError::invalid(
                "options",
                "keys must be 1-100 characters and not blank",
            ));
        }
        if depth(v) > MAX_OPTIONS_DEPTH {
            return Err(CoreError::invalid(
                format!("options.{k}"),
                format!("must not nest deeper than {MAX_OPTIONS_DEPTH} levels"),
            ));
        }
    }
    Ok(())
}

fn depth(v: &Value) -> usize {
    match v {
        Value::Array(a) => 1 + a.iter().map(depth).max().unwrap_or(0),
        Value::Object(o) => 1 + o.values().map(depth).max().unwrap_or(0),
        _ => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_auth0s_rule() {
        assert!(validate_name("Username-Password-Authentication").is_ok());
        assert!(validate_name("db2").is_ok());
        for bad in ["", "-a", "a-", "a--b", "a b", "a_b", "é"] {
            assert!(validate_name(bad).is_err(), "{bad}");
        }
        assert!(validate_name(&"a".repeat(129)).is_err());
    }

    #[test]
    fn options_are_bounded() {
        let deep = (0..12).fold(json!(1), |v, _| json!([v]));
        let opts: JsonMap = JsonMap::from_iter([("x".to_owned(), deep)]);
        assert!(validate_options(ConnectionStrategy::Database, &opts).is_err());
        let ok: JsonMap = JsonMap::from_iter([("disable_signup".to_owned(), json!(true))]);
        assert!(validate_options(ConnectionStrategy::Database, &ok).is_ok());
        assert!(validate_options(ConnectionStrategy::Email, &ok).is_err());
        assert!(validate_options(ConnectionStrategy::Email, &JsonMap::new()).is_ok());
    }
}

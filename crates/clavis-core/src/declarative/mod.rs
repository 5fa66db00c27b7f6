//! Declarative configuration (`clavis apply` / `clavis export`): a YAML document that
//! describes tenants with their connections, Apis, roles, applications, users and
//! organizations (with members and teams).
//!
//! * [`parse`] turns YAML into a [`Document`], refusing unknown fields, malformed values
//!   (slugs, emails, enums, password hashes…), duplicates and role-inheritance cycles, each
//!   error pointing at a line, column and field path ([`DeclError`]).
//! * [`Core::apply`](crate::Core::apply) makes the database match the document in **one
//!   transaction** (all or nothing). It first checks every reference against the file and
//!   the database (roles, permissions, users, memberships, inheritance cycles over the
//!   resulting graph), and only then writes. It is idempotent: a resource whose managed
//!   fields already match is not written at all, so its `updated_at` stays put.
//! * [`Core::export`](crate::Core::export) and [`to_yaml`] write the same format back,
//!   without secrets, so that applying an export changes nothing.
//!
//! What the file manages:
//! * Resources are matched by their key: tenants by `slug`; organizations by `slug`; teams
//!   by `slug` within their organization; users by `email`; applications by `client_id`
//!   when given, else by `name`; Apis by `identifier`; roles by `name`; connections by
//!   `name`; client grants by `api` within their application.
//! * Only fields present in the file are managed; an absent field keeps its stored value
//!   (and takes its default when the resource is created).
//! * **Nothing is ever deleted or removed.** Resources missing from the file are left
//!   alone. Lists of assignments are additive: user roles, organization members and their
//!   roles, team members and team roles, and Api permissions (a permission missing from
//!   the file stays, since removing it would silently strip it from every role). The one
//!   exception are a role's own `permissions` and `inherits`, and a client grant's
//!   `scope`: when present they are complete lists (a client grant missing from the file
//!   stays, though).
//! * Client grants (`grants` of an application) are for `m2m` applications only; each
//!   names an Api and permissions of it, in the file or stored.
//! * `password` / `password_hash` are only used when a user is created; an existing
//!   user's credentials are never touched. A confidential application (`web`, `m2m`) gets
//!   a client secret when created, returned once in [`ApplyReport::secrets`] and stored
//!   only as a keyed digest. An application switched between a public and a confidential
//!   type gets (or loses) its secret, and the auth method and grant types the file leaves
//!   out follow the new type's defaults.
//! * A tenant's `signing_alg` applies to keys generated from then on (the next rotation).
//! * Export leaves out users without an email address (they have no key) and the grants
//!   of applications that are not `m2m` (the file could not hold them), and sorts every
//!   list by its key, so equal configurations export to equal files.
//!
//! Must not: write anything before the whole document has been checked, or write secret
//! material (password hashes, client secrets) into an export.

/// Fetch every page of a paged repository call: `all_pages!(|page| tx.org_list(&t, page))`.
macro_rules! all_pages {
    (|$page:ident| $fetch:expr) => {{
        let mut out = Vec::new();
        let mut n: u32 = 0;
        loop {
            let $page = $crate::model::Page::new(n, $crate::declarative::PER_PAGE);
            let batch = $fetch.await?;
            let len = batch.len();
            out.extend(batch);
            if len < $crate::declarative::PER_PAGE as usize {
                break;
            }
            n += 1;
        }
        out
    }};
}

mod apply;
mod apply_directory;
mod audit;
mod check;
mod document;
mod export;
mod inheritance;
mod parse;
mod source;
mod validate;

pub use document::{
    ApiDoc, ApplicationDoc, AttackProtectionDoc, ClientGrantDoc, ConnectionDoc, Document,
    MemberDoc, OrganizationDoc, PasswordPolicyDoc, PermissionDoc, RefreshTokenDoc, RoleDoc,
    RolePermissionDoc, Secret, TeamDoc, TenantDoc, UniversalLoginDoc, UserDoc,
};
pub use parse::{parse, to_yaml};
pub(crate) use validate::{default_auth_method, default_grant_types, validate_application};

use clavis_types::{ClientId, Slug};

use crate::CoreError;

/// Page size used to read whole collections.
pub(crate) const PER_PAGE: u32 = 100;

/// Access-token lifetime of an Api created without `token_lifetime`.
pub const DEFAULT_API_TOKEN_LIFETIME: i64 = 3600;
/// ID-token lifetime of an application created without `id_token_lifetime`.
pub const DEFAULT_ID_TOKEN_LIFETIME: i64 = 36_000;

/// Why a document was refused: where (line, column, field path) and why.
///
/// Displays as `line 12, column 5: tenants[0].organizations[1].slug: <reason>`; the
/// location is omitted when unknown (a document built in code rather than parsed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeclError {
    /// 1-based line in the YAML source.
    pub line: Option<u64>,
    /// 1-based column in the YAML source.
    pub column: Option<u64>,
    /// Field path such as `tenants[0].users[2].email`; empty when not known.
    pub path: String,
    pub reason: String,
}

impl std::fmt::Display for DeclError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if let Some(line) = self.line {
            write!(f, "line {line}, column {}: ", self.column.unwrap_or(1))?;
        }
        if !self.path.is_empty() {
            write!(f, "{}: ", self.path)?;
        }
        f.write_str(&self.reason)
    }
}

impl std::error::Error for DeclError {}

impl From<DeclError> for CoreError {
    fn from(e: DeclError) -> Self {
        CoreError::invalid("configuration", e.to_string())
    }
}

/// The kind of resource a [`Change`] is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ResourceKind {
    Tenant,
    Connection,
    Api,
    Role,
    Application,
    User,
    Organization,
    Team,
    /// An application's grant on an Api; keyed `tenant/application name/api identifier`.
    ClientGrant,
}

impl ResourceKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Tenant => "tenant",
            Self::Connection => "connection",
            Self::Api => "api",
            Self::Role => "role",
            Self::Application => "application",
            Self::User => "user",
            Self::Organization => "organization",
            Self::Team => "team",
            Self::ClientGrant => "client_grant",
        }
    }
}

impl std::fmt::Display for ResourceKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What happened to a resource.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Created,
    Updated,
}

/// One resource created or updated by [`Core::apply`](crate::Core::apply). A resource
/// counts once per apply, whether one field or several (or its assignments) changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    pub kind: ResourceKind,
    /// The resource's key, prefixed by its tenant (and organization for teams, application
    /// name for client grants): `default`, `default/acme`, `default/acme/platform`,
    /// `default/alice@acme.example`, `default/Reporting Service/https://api.example.com`.
    pub key: String,
    pub action: Action,
}

impl std::fmt::Display for Change {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let action = match self.action {
            Action::Created => "created",
            Action::Updated => "updated",
        };
        write!(f, "{action} {} {}", self.kind, self.key)
    }
}

/// A client secret generated for a confidential application created by `apply`. It is
/// shown here once; the database holds only its keyed digest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IssuedSecret {
    pub tenant: Slug,
    pub application: String,
    pub client_id: ClientId,
    pub client_secret: Secret,
}

/// What [`Core::apply`](crate::Core::apply) did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ApplyReport {
    pub changes: Vec<Change>,
    pub secrets: Vec<IssuedSecret>,
}

impl ApplyReport {
    /// True when the database already matched the document.
    pub fn is_noop(&self) -> bool {
        self.changes.is_empty()
    }

    pub(crate) fn record(&mut self, kind: ResourceKind, key: String, created: bool, updated: bool) {
        let action = if created {
            Action::Created
        } else if updated {
            Action::Updated
        } else {
            return;
        };
        self.changes.push(Change { kind, key, action });
    }
}

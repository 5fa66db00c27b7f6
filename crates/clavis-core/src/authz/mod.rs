//! The authorization decision library: the one implementation of "may this subject do
//! this?" used by the check API, token issuance (permissions in access tokens) and, later,
//! the SDK and the ABAC policy engine.
//!
//! Owns: effective permissions of a user (roles assigned tenant-wide; inside an
//! organization also the member's roles there and the roles of the user's teams there;
//! expanded through role inheritance, restricted to one Api), client decisions (client
//! grants), explanations of allows and denies, refusing inheritance cycles on write, and the
//! versioned cache of effective permissions.
//!
//! Semantics (decided here, documented for callers):
//! - **Users.** A user who does not exist in the tenant is denied (`unknown_subject`), a
//!   blocked one `user_blocked`, a (soft-)deleted one `user_deleted`. Asked in an
//!   organization the user is not a member of, the answer is `not_a_member` — even for
//!   permissions their tenant-wide roles hold — as Auth0 and ZITADEL refuse a non-member
//!   an organization login, and as `/authorize` here does.
//! - **Clients** (machine-to-machine): allowed iff the client's grant on the Api includes
//!   the permission. Client grants are tenant-wide, so a client check naming an
//!   organization is denied (`client_organization_unsupported`) rather than silently
//!   answered for every organization.
//! - `resource` and `context` are accepted and not yet evaluated: they are reserved for the
//!   ABAC policy engine, which will refine (never widen) these RBAC answers.
//! - The Api's `rbac_enabled` flag governs token issuance only; a decision always
//!   evaluates roles.
//!
//! Freshness: every store method that changes what a user may do bumps the tenant's
//! authorization version in the same transaction. A decision reads the version first (one
//! primary-key lookup) and reuses cached effective permissions only when they were
//! computed at that version, so a change made on any node is seen by the very next
//! decision and the next token issuance. Api definitions themselves come from the
//! hot-path configuration cache (2 s, ARCHITECTURE invariant 8); a stale Api can only
//! cause a deny, never an allow.
//!
//! Must not: do I/O other than through the [`Tx`](crate::ports::Tx) ports, or cache a
//! result computed inside a transaction that changed authorization data.

mod cache;
mod check;
mod graph;

use clavis_types::{ClientGrantId, ClientId, OrgId, RoleId, TeamId, UserId};
use serde::Serialize;
use std::collections::BTreeMap;
use std::sync::Arc;

use crate::model::JsonMap;

pub use cache::AuthzCache;

/// The most checks one batch may hold.
pub const MAX_BATCH: usize = 100;

/// Who is asking.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Subject {
    /// A user of the tenant.
    User(UserId),
    /// A machine-to-machine client (application) of the tenant.
    Client(ClientId),
}

/// One question: may `subject` use `permission` of the Api `api`?
#[derive(Debug, Clone, PartialEq)]
pub struct CheckRequest {
    pub subject: Subject,
    /// Decide inside this organization (adds the member's and the user's teams' roles
    /// there; non-members are denied).
    pub organization: Option<OrgId>,
    /// The Api's identifier (its access-token audience).
    pub api: String,
    /// A permission the Api defines, e.g. `read:invoices`.
    pub permission: String,
    /// The resource acted on; reserved for the ABAC policy engine, not yet evaluated.
    pub resource: Option<String>,
    /// Request attributes; reserved for the ABAC policy engine, not yet evaluated.
    pub context: JsonMap,
    /// Return an [`Explanation`] with the decision.
    pub explain: bool,
}

/// The answer to a [`CheckRequest`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Decision {
    pub allowed: bool,
    /// Present when the request asked for it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub explanation: Option<Explanation>,
}

/// Why a decision came out as it did: the grant path of an allow, the reason of a deny.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum Explanation {
    Granted(GrantExplanation),
    Denied(DenyExplanation),
}

/// Where an allowing permission came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum GrantSource {
    /// A role assigned to the user tenant-wide.
    User,
    /// A role assigned to the user as a member of the organization.
    OrganizationMember,
    /// A role assigned to a team of the organization the user belongs to.
    Team,
    /// The client's grant on the Api.
    ClientGrant,
}

/// The path that granted a permission.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct GrantExplanation {
    pub source: GrantSource,
    /// The team whose role granted it (source `team`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub team_id: Option<TeamId>,
    /// The assigned role (not for clients).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub role_id: Option<RoleId>,
    /// Its name, read when the explanation is built.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub role_name: Option<String>,
    /// The inheritance chain from the assigned role (first) to the role holding the
    /// permission (last); one element when the assigned role holds it itself.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub via: Vec<RoleId>,
    /// The client grant (source `client_grant`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_grant_id: Option<ClientGrantId>,
}

/// Why a check was denied.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DenyExplanation {
    pub reason: DenyReason,
    /// A sentence for people.
    pub message: String,
}

/// The machine-readable reason of a deny.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DenyReason {
    /// No Api of the tenant has this identifier.
    NoSuchApi,
    /// The Api does not define the permission.
    NoSuchPermission,
    /// The user or client does not exist in the tenant.
    UnknownSubject,
    UserBlocked,
    UserDeleted,
    /// The user is not a member of the organization (or it does not exist).
    NotAMember,
    /// None of the user's roles (with what they inherit) holds the permission.
    NoRoleGrantsPermission,
    /// The client has no grant on the Api, or the grant lacks the permission.
    ClientNotGranted,
    /// Client grants are tenant-wide; a client check cannot name an organization.
    ClientOrganizationUnsupported,
}

impl DenyReason {
    /// A sentence for people.
    pub fn message(self) -> &'static str {
        match self {
            Self::NoSuchApi => "no Api of this tenant has that identifier",
            Self::NoSuchPermission => "the Api does not define that permission",
            Self::UnknownSubject => "no such user or client in this tenant",
            Self::UserBlocked => "the user is blocked",
            Self::UserDeleted => "the user is deleted",
            Self::NotAMember => "the user is not a member of the organization",
            Self::NoRoleGrantsPermission => "no role of the user grants that permission",
            Self::ClientNotGranted => {
                "the client's grant on the Api does not include that permission"
            }
            Self::ClientOrganizationUnsupported => {
                "client grants are tenant-wide; a client check cannot name an organization"
            }
        }
    }
}

/// How one permission was reached: the assignment and the inheritance chain. Cheap to
/// clone (shared with every permission reached the same way).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    origin: Arc<Origin>,
    via: Arc<[RoleId]>,
}

/// The assignment a grant starts from.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Origin {
    pub source: GrantSource,
    pub team_id: Option<TeamId>,
}

impl Grant {
    pub(crate) fn new(origin: Arc<Origin>, via: Arc<[RoleId]>) -> Self {
        Self { origin, via }
    }
    pub fn source(&self) -> GrantSource {
        self.origin.source
    }
    /// The team, for source [`GrantSource::Team`].
    pub fn team_id(&self) -> Option<&TeamId> {
        self.origin.team_id.as_ref()
    }
    /// The assigned role (the first of [`Grant::via`]).
    pub fn role_id(&self) -> Option<&RoleId> {
        self.via.first()
    }
    /// From the assigned role (first) to the role holding the permission (last).
    pub fn via(&self) -> &[RoleId] {
        &self.via
    }
}

/// The permissions a user holds on one Api, each with the first grant path found
/// (assignments in the order tenant-wide, organization member, teams; shortest
/// inheritance chain within one assignment).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ApiPermissions {
    grants: BTreeMap<Arc<str>, Grant>,
}

impl ApiPermissions {
    /// Whether the permission is held.
    pub fn contains(&self, permission: &str) -> bool {
        self.grants.contains_key(permission)
    }
    /// The permissions held, sorted.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.grants.keys().map(|k| &**k)
    }
    /// How the permission was reached, when held.
    pub fn grant(&self, permission: &str) -> Option<&Grant> {
        self.grants.get(permission)
    }
    pub fn len(&self) -> usize {
        self.grants.len()
    }
    pub fn is_empty(&self) -> bool {
        self.grants.is_empty()
    }
}

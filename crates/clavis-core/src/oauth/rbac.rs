//! Effective permissions of a user for one Api: roles assigned tenant-wide, inside the
//! organization (directly and through the user's teams there), expanded through role
//! inheritance (cycles are refused on write, and ignored here), restricted to the Api.

use clavis_types::{ApiId, OrgId, RoleId, TenantId, UserId};
use std::collections::{BTreeSet, HashSet, VecDeque};

use crate::CoreError;
use crate::ports::Tx;

/// The permissions `user` holds on `api`, sorted.
pub async fn effective_permissions(
    tx: &mut dyn Tx,
    t: &TenantId,
    user: &UserId,
    org: Option<&OrgId>,
    api: &ApiId,
) -> Result<Vec<String>, CoreError> {
    let mut queue: VecDeque<RoleId> = tx.user_roles(t, user).await?.into();
    if let Some(org) = org {
        queue.extend(tx.member_roles(t, org, user).await?);
        for team in tx.user_teams(t, org, user).await? {
            queue.extend(tx.team_roles(t, &team).await?);
        }
    }
    let mut seen = HashSet::new();
    let mut perms = BTreeSet::new();
    while let Some(role) = queue.pop_front() {
        if !seen.insert(role.clone()) {
            continue;
        }
        for p in tx.role_permissions(t, &role).await? {
            if &p.api_id == api {
                perms.insert(p.permission);
            }
        }
        queue.extend(tx.role_inherits(t, &role).await?);
    }
    Ok(perms.into_iter().collect())
}

//! Repositories of applications, Apis and roles with their assignments.

use async_trait::async_trait;
use clavis_types::{ApiId, ClientId, OrgId, RoleId, TeamId, TenantId, Timestamp, UserId};

use super::StoreResult;
use crate::model::{Api, Application, Page, Permission, Role, RolePermission};

#[async_trait]
pub trait AppRepo: Send {
    async fn app_insert(&mut self, app: &Application) -> StoreResult<()>;
    async fn app_get(&mut self, t: &TenantId, id: &ClientId) -> StoreResult<Option<Application>>;
    async fn app_list(&mut self, t: &TenantId, page: Page) -> StoreResult<Vec<Application>>;
    /// How many applications the tenant has.
    async fn app_count(&mut self, t: &TenantId) -> StoreResult<i64>;
    async fn app_update(&mut self, app: &Application) -> StoreResult<bool>;
    async fn app_delete(&mut self, t: &TenantId, id: &ClientId) -> StoreResult<bool>;
}

#[async_trait]
pub trait ApiRepo: Send {
    /// Inserts the Api and its permissions.
    async fn api_insert(&mut self, api: &Api) -> StoreResult<()>;
    async fn api_get(&mut self, t: &TenantId, id: &ApiId) -> StoreResult<Option<Api>>;
    async fn api_get_by_identifier(
        &mut self,
        t: &TenantId,
        identifier: &str,
    ) -> StoreResult<Option<Api>>;
    async fn api_list(&mut self, t: &TenantId, page: Page) -> StoreResult<Vec<Api>>;
    /// Updates the Api's settings (not its permissions).
    async fn api_update(&mut self, api: &Api) -> StoreResult<bool>;
    async fn api_delete(&mut self, t: &TenantId, id: &ApiId) -> StoreResult<bool>;
    /// How many Apis the tenant has.
    async fn api_count(&mut self, t: &TenantId) -> StoreResult<i64>;
    /// Replace the Api's permissions. Permissions being removed are removed from every
    /// role holding them (and the tenant's authorization version is bumped).
    async fn api_permissions_set(
        &mut self,
        t: &TenantId,
        api: &ApiId,
        perms: &[Permission],
    ) -> StoreResult<()>;
}

#[async_trait]
pub trait RoleRepo: Send {
    async fn role_insert(&mut self, role: &Role) -> StoreResult<()>;
    async fn role_get(&mut self, t: &TenantId, id: &RoleId) -> StoreResult<Option<Role>>;
    async fn role_get_by_name(&mut self, t: &TenantId, name: &str) -> StoreResult<Option<Role>>;
    async fn role_list(&mut self, t: &TenantId, page: Page) -> StoreResult<Vec<Role>>;
    /// Roles whose name contains `name_filter` (case-insensitive for ASCII letters), by
    /// name; all roles without a filter.
    async fn role_search(
        &mut self,
        t: &TenantId,
        name_filter: Option<&str>,
        page: Page,
    ) -> StoreResult<Vec<Role>>;
    /// How many roles [`role_search`](Self::role_search) would find over all pages.
    async fn role_count(&mut self, t: &TenantId, name_filter: Option<&str>) -> StoreResult<i64>;
    async fn role_update(&mut self, role: &Role) -> StoreResult<bool>;
    async fn role_delete(&mut self, t: &TenantId, id: &RoleId) -> StoreResult<bool>;
    /// Replace the role's permissions (each must exist on its Api). Bumps the tenant's
    /// authorization version.
    async fn role_permissions_set(
        &mut self,
        t: &TenantId,
        role: &RoleId,
        perms: &[RolePermission],
    ) -> StoreResult<()>;
    async fn role_permissions(
        &mut self,
        t: &TenantId,
        role: &RoleId,
    ) -> StoreResult<Vec<RolePermission>>;
    /// Replace the roles this role inherits. Cycle checks belong to the service
    /// ([`Core::role_inherits_replace`](crate::Core::role_inherits_replace)). Bumps the
    /// tenant's authorization version.
    async fn role_inherits_set(
        &mut self,
        t: &TenantId,
        role: &RoleId,
        parents: &[RoleId],
    ) -> StoreResult<()>;
    async fn role_inherits(&mut self, t: &TenantId, role: &RoleId) -> StoreResult<Vec<RoleId>>;
    /// Every (role, permission) pair of the tenant, in one query (the decision library
    /// loads the whole role graph once per authorization version).
    async fn role_permissions_all(
        &mut self,
        t: &TenantId,
    ) -> StoreResult<Vec<(RoleId, RolePermission)>>;
    /// Every (role, inherited role) edge of the tenant, in one query.
    async fn role_inherits_all(&mut self, t: &TenantId) -> StoreResult<Vec<(RoleId, RoleId)>>;
    /// The tenant's authorization version (0 before its first change): one primary-key
    /// lookup. Every method of the stores that changes roles, their permissions or
    /// inheritance, role assignments, organization or team membership, deletes a role,
    /// user, organization, team or Api, or blocks/unblocks a user increases it in the same
    /// transaction, so cached effective permissions computed at an older version are
    /// never used.
    async fn authz_version(&mut self, t: &TenantId) -> StoreResult<i64>;
    /// Tenant-wide assignment.
    async fn user_role_add(
        &mut self,
        t: &TenantId,
        user: &UserId,
        role: &RoleId,
        at: Timestamp,
    ) -> StoreResult<bool>;
    async fn user_role_remove(
        &mut self,
        t: &TenantId,
        user: &UserId,
        role: &RoleId,
    ) -> StoreResult<bool>;
    async fn user_roles(&mut self, t: &TenantId, user: &UserId) -> StoreResult<Vec<RoleId>>;
    /// Users (not soft-deleted) holding `role` tenant-wide, by user id.
    async fn role_users(
        &mut self,
        t: &TenantId,
        role: &RoleId,
        page: Page,
    ) -> StoreResult<Vec<UserId>>;
    /// How many users [`role_users`](Self::role_users) would list over all pages.
    async fn role_user_count(&mut self, t: &TenantId, role: &RoleId) -> StoreResult<i64>;
    /// Assignment inside one organization (the user must be a member).
    async fn member_role_add(
        &mut self,
        t: &TenantId,
        org: &OrgId,
        user: &UserId,
        role: &RoleId,
        at: Timestamp,
    ) -> StoreResult<bool>;
    async fn member_role_remove(
        &mut self,
        t: &TenantId,
        org: &OrgId,
        user: &UserId,
        role: &RoleId,
    ) -> StoreResult<bool>;
    async fn member_roles(
        &mut self,
        t: &TenantId,
        org: &OrgId,
        user: &UserId,
    ) -> StoreResult<Vec<RoleId>>;
    async fn team_role_add(
        &mut self,
        t: &TenantId,
        team: &TeamId,
        role: &RoleId,
        at: Timestamp,
    ) -> StoreResult<bool>;
    async fn team_role_remove(
        &mut self,
        t: &TenantId,
        team: &TeamId,
        role: &RoleId,
    ) -> StoreResult<bool>;
    async fn team_roles(&mut self, t: &TenantId, team: &TeamId) -> StoreResult<Vec<RoleId>>;
}

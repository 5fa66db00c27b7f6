//! Repositories of tenants, organizations, teams, users, identities and connections.

use async_trait::async_trait;
use clavis_types::{ConnectionId, Email, OrgId, Slug, TeamId, TenantId, Timestamp, UserId};

use super::StoreResult;
use crate::model::{Connection, Identity, Organization, Page, Team, Tenant, User};

#[async_trait]
pub trait TenantRepo: Send {
    /// Insert a tenant with its data key wrapped under the master key.
    async fn tenant_insert(&mut self, tenant: &Tenant, wrapped_data_key: &[u8]) -> StoreResult<()>;
    async fn tenant_get(&mut self, id: &TenantId) -> StoreResult<Option<Tenant>>;
    async fn tenant_get_by_slug(&mut self, slug: &Slug) -> StoreResult<Option<Tenant>>;
    async fn tenant_list(&mut self, page: Page) -> StoreResult<Vec<Tenant>>;
    /// Update display name and settings; false when no such tenant.
    async fn tenant_update(&mut self, tenant: &Tenant) -> StoreResult<bool>;
    async fn tenant_wrapped_key(&mut self, id: &TenantId) -> StoreResult<Option<Vec<u8>>>;
}

#[async_trait]
pub trait OrgRepo: Send {
    async fn org_insert(&mut self, org: &Organization) -> StoreResult<()>;
    async fn org_get(&mut self, t: &TenantId, id: &OrgId) -> StoreResult<Option<Organization>>;
    async fn org_get_by_slug(
        &mut self,
        t: &TenantId,
        slug: &Slug,
    ) -> StoreResult<Option<Organization>>;
    async fn org_list(&mut self, t: &TenantId, page: Page) -> StoreResult<Vec<Organization>>;
    /// How many organizations the tenant has.
    async fn org_count(&mut self, t: &TenantId) -> StoreResult<i64>;
    async fn org_update(&mut self, org: &Organization) -> StoreResult<bool>;
    async fn org_delete(&mut self, t: &TenantId, id: &OrgId) -> StoreResult<bool>;
    /// Add a member; false if already a member.
    async fn member_add(
        &mut self,
        t: &TenantId,
        org: &OrgId,
        user: &UserId,
        at: Timestamp,
    ) -> StoreResult<bool>;
    async fn member_remove(
        &mut self,
        t: &TenantId,
        org: &OrgId,
        user: &UserId,
    ) -> StoreResult<bool>;
    async fn member_list(
        &mut self,
        t: &TenantId,
        org: &OrgId,
        page: Page,
    ) -> StoreResult<Vec<UserId>>;
    async fn member_count(&mut self, t: &TenantId, org: &OrgId) -> StoreResult<i64>;
    /// Organizations the user belongs to.
    async fn member_orgs(&mut self, t: &TenantId, user: &UserId) -> StoreResult<Vec<OrgId>>;
}

#[async_trait]
pub trait TeamRepo: Send {
    async fn team_insert(&mut self, team: &Team) -> StoreResult<()>;
    async fn team_get(&mut self, t: &TenantId, id: &TeamId) -> StoreResult<Option<Team>>;
    async fn team_get_by_slug(
        &mut self,
        t: &TenantId,
        org: &OrgId,
        slug: &Slug,
    ) -> StoreResult<Option<Team>>;
    async fn team_list(&mut self, t: &TenantId, org: &OrgId, page: Page) -> StoreResult<Vec<Team>>;
    /// How many teams the organization has.
    async fn team_count(&mut self, t: &TenantId, org: &OrgId) -> StoreResult<i64>;
    async fn team_update(&mut self, team: &Team) -> StoreResult<bool>;
    async fn team_delete(&mut self, t: &TenantId, id: &TeamId) -> StoreResult<bool>;
    /// The user must be a member of the team's organization (enforced by the schema).
    async fn team_member_add(
        &mut self,
        t: &TenantId,
        team: &TeamId,
        user: &UserId,
        at: Timestamp,
    ) -> StoreResult<bool>;
    async fn team_member_remove(
        &mut self,
        t: &TenantId,
        team: &TeamId,
        user: &UserId,
    ) -> StoreResult<bool>;
    async fn team_member_list(
        &mut self,
        t: &TenantId,
        team: &TeamId,
        page: Page,
    ) -> StoreResult<Vec<UserId>>;
    /// How many members the team has.
    async fn team_member_count(&mut self, t: &TenantId, team: &TeamId) -> StoreResult<i64>;
    /// The teams of `org` the user belongs to.
    async fn user_teams(
        &mut self,
        t: &TenantId,
        org: &OrgId,
        user: &UserId,
    ) -> StoreResult<Vec<TeamId>>;
}

#[async_trait]
pub trait UserRepo: Send {
    async fn user_insert(&mut self, user: &User) -> StoreResult<()>;
    /// Record a login, only if the user is still neither blocked nor deleted (a block
    /// made while the password was being checked wins); false otherwise.
    async fn user_record_login(
        &mut self,
        t: &TenantId,
        id: &UserId,
        at: Timestamp,
    ) -> StoreResult<bool>;
    /// Soft-deleted users are returned too; callers check `deleted_at`.
    async fn user_get(&mut self, t: &TenantId, id: &UserId) -> StoreResult<Option<User>>;
    /// Only users that are not soft-deleted.
    async fn user_get_by_email(&mut self, t: &TenantId, email: &Email)
    -> StoreResult<Option<User>>;
    /// Users that are not soft-deleted, oldest first.
    async fn user_list(&mut self, t: &TenantId, page: Page) -> StoreResult<Vec<User>>;
    /// How many users are not soft-deleted.
    async fn user_count(&mut self, t: &TenantId) -> StoreResult<i64>;
    async fn user_update(&mut self, user: &User) -> StoreResult<bool>;
    async fn user_soft_delete(
        &mut self,
        t: &TenantId,
        id: &UserId,
        at: Timestamp,
    ) -> StoreResult<bool>;
    /// Set (or replace) the user's password hash (a PHC/bcrypt string, never a password).
    async fn password_set(
        &mut self,
        t: &TenantId,
        user: &UserId,
        hash: &str,
        at: Timestamp,
    ) -> StoreResult<()>;
    async fn password_get(&mut self, t: &TenantId, user: &UserId) -> StoreResult<Option<String>>;
    async fn identity_insert(&mut self, identity: &Identity) -> StoreResult<()>;
    async fn identity_list(&mut self, t: &TenantId, user: &UserId) -> StoreResult<Vec<Identity>>;
    async fn identity_delete(
        &mut self,
        t: &TenantId,
        connection: &ConnectionId,
        subject: &str,
    ) -> StoreResult<bool>;
}

#[async_trait]
pub trait ConnectionRepo: Send {
    async fn connection_insert(&mut self, c: &Connection) -> StoreResult<()>;
    async fn connection_get(
        &mut self,
        t: &TenantId,
        id: &ConnectionId,
    ) -> StoreResult<Option<Connection>>;
    async fn connection_get_by_name(
        &mut self,
        t: &TenantId,
        name: &str,
    ) -> StoreResult<Option<Connection>>;
    async fn connection_list(&mut self, t: &TenantId, page: Page) -> StoreResult<Vec<Connection>>;
    async fn connection_count(&mut self, t: &TenantId) -> StoreResult<i64>;
    /// How many identities (of users, deleted or not) the connection holds.
    async fn connection_identity_count(
        &mut self,
        t: &TenantId,
        id: &ConnectionId,
    ) -> StoreResult<i64>;
    async fn connection_update(&mut self, c: &Connection) -> StoreResult<bool>;
    async fn connection_delete(&mut self, t: &TenantId, id: &ConnectionId) -> StoreResult<bool>;
}

//! Roles, their permissions and inheritance, and role assignments.

use async_trait::async_trait;
use clavis_core::model::{Page, Role, RolePermission};
use clavis_core::ports::{RoleRepo, StoreResult};
use clavis_types::{ApiId, OrgId, RoleId, TeamId, TenantId, Timestamp, UserId};

use super::page_args;
use crate::SqlTx;
use crate::sql::{Conn, Row, q};

fn role(r: &Row) -> StoreResult<Role> {
    Ok(Role {
        tenant_id: r.parse("tenant_id", TenantId::parse)?,
        id: r.parse("id", RoleId::parse)?,
        name: r.text("name")?,
        description: r.text("description")?,
        created_at: r.ts("created_at")?,
        updated_at: r.ts("updated_at")?,
    })
}

/// Increase the tenant's authorization version (creating its row at 1). Called, in the
/// changing transaction, by every method that can change what a user may do, so no caller
/// can forget it; decisions compare the version before trusting a cached result.
pub(crate) async fn bump_authz_version(conn: &mut Conn, t: &TenantId) -> StoreResult<()> {
    // `WHERE` keeps SQLite from reading `ON` as a join constraint.
    conn.exec(q!(
        "INSERT INTO authz_versions (tenant_id, version) SELECT id, 1 FROM tenants WHERE id = $1
         ON CONFLICT (tenant_id) DO UPDATE SET version = authz_versions.version + 1",
        t
    ))
    .await
    .map(drop)
}

/// [`bump_authz_version`] when a statement changed rows; passes the count through.
pub(crate) async fn bump_if(conn: &mut Conn, t: &TenantId, changed: u64) -> StoreResult<u64> {
    if changed > 0 {
        bump_authz_version(conn, t).await?;
    }
    Ok(changed)
}

/// A `LIKE` pattern (escape character `\`) matching lower-cased names that contain
/// `filter` (lower-cased for ASCII letters); every name without a filter. The queries
/// pass it through the database's `LOWER` too, so letters outside ASCII are lowered the
/// same way on both sides (PostgreSQL lowers them, SQLite keeps them).
fn like_pattern(filter: Option<&str>) -> String {
    let Some(f) = filter else {
        return "%".to_owned();
    };
    let mut p = String::with_capacity(f.len() + 2);
    p.push('%');
    for c in f.chars() {
        if matches!(c, '%' | '_' | '\\') {
            p.push('\\');
        }
        p.push(c.to_ascii_lowercase());
    }
    p.push('%');
    p
}

fn role_ids(rows: &[Row]) -> StoreResult<Vec<RoleId>> {
    rows.iter()
        .map(|r| r.parse("role_id", RoleId::parse))
        .collect()
}

#[async_trait]
impl RoleRepo for SqlTx {
    async fn role_insert(&mut self, r: &Role) -> StoreResult<()> {
        self.conn
            .exec(q!(
                "INSERT INTO roles (tenant_id, id, name, description, created_at, updated_at)
                 VALUES ($1, $2, $3, $4, $5, $6)",
                &r.tenant_id,
                &r.id,
                &r.name,
                &r.description,
                r.created_at,
                r.updated_at
            ))
            .await
            .map(drop)
    }
    async fn role_get(&mut self, t: &TenantId, id: &RoleId) -> StoreResult<Option<Role>> {
        self.conn
            .fetch_opt(q!(
                "SELECT * FROM roles WHERE tenant_id = $1 AND id = $2",
                t,
                id
            ))
            .await?
            .map(|r| role(&r))
            .transpose()
    }
    async fn role_get_by_name(&mut self, t: &TenantId, name: &str) -> StoreResult<Option<Role>> {
        self.conn
            .fetch_opt(q!(
                "SELECT * FROM roles WHERE tenant_id = $1 AND name = $2",
                t,
                name
            ))
            .await?
            .map(|r| role(&r))
            .transpose()
    }
    async fn role_list(&mut self, t: &TenantId, page: Page) -> StoreResult<Vec<Role>> {
        let (l, o) = page_args(page);
        self.conn
            .fetch(q!(
                "SELECT * FROM roles WHERE tenant_id = $1 ORDER BY id LIMIT $2 OFFSET $3",
                t,
                l,
                o
            ))
            .await?
            .iter()
            .map(role)
            .collect()
    }
    async fn role_search(
        &mut self,
        t: &TenantId,
        name_filter: Option<&str>,
        page: Page,
    ) -> StoreResult<Vec<Role>> {
        let (l, o) = page_args(page);
        self.conn
            .fetch(q!(
                "SELECT * FROM roles WHERE tenant_id = $1 AND LOWER(name) LIKE LOWER($2) ESCAPE '\\'
                 ORDER BY name, id LIMIT $3 OFFSET $4",
                t,
                like_pattern(name_filter),
                l,
                o
            ))
            .await?
            .iter()
            .map(role)
            .collect()
    }
    async fn role_count(&mut self, t: &TenantId, name_filter: Option<&str>) -> StoreResult<i64> {
        match self
            .conn
            .fetch_opt(q!(
                "SELECT COUNT(*) AS n FROM roles WHERE tenant_id = $1 AND LOWER(name) LIKE LOWER($2) ESCAPE '\\'",
                t,
                like_pattern(name_filter)
            ))
            .await?
        {
            Some(r) => r.int("n"),
            None => Ok(0),
        }
    }
    async fn role_update(&mut self, r: &Role) -> StoreResult<bool> {
        let n = self
            .conn
            .exec(q!(
                "UPDATE roles SET name = $3, description = $4, updated_at = $5 WHERE tenant_id = $1 AND id = $2",
                &r.tenant_id, &r.id, &r.name, &r.description, r.updated_at
            ))
            .await?;
        Ok(n == 1)
    }
    async fn role_delete(&mut self, t: &TenantId, id: &RoleId) -> StoreResult<bool> {
        let n = self
            .conn
            .exec(q!(
                "DELETE FROM roles WHERE tenant_id = $1 AND id = $2",
                t,
                id
            ))
            .await?;
        Ok(bump_if(&mut self.conn, t, n).await? == 1)
    }
    async fn role_permissions_set(
        &mut self,
        t: &TenantId,
        role: &RoleId,
        perms: &[RolePermission],
    ) -> StoreResult<()> {
        self.conn
            .exec(q!(
                "DELETE FROM role_permissions WHERE tenant_id = $1 AND role_id = $2",
                t,
                role
            ))
            .await?;
        for p in perms {
            self.conn
                .exec(q!(
                    "INSERT INTO role_permissions (tenant_id, role_id, api_id, permission) VALUES ($1, $2, $3, $4)",
                    t, role, &p.api_id, &p.permission
                ))
                .await?;
        }
        bump_authz_version(&mut self.conn, t).await
    }
    async fn role_permissions(
        &mut self,
        t: &TenantId,
        role: &RoleId,
    ) -> StoreResult<Vec<RolePermission>> {
        self.conn
            .fetch(q!(
                "SELECT api_id, permission FROM role_permissions WHERE tenant_id = $1 AND role_id = $2
                 ORDER BY api_id, permission",
                t, role
            ))
            .await?
            .iter()
            .map(|r| {
                Ok(RolePermission {
                    api_id: r.parse("api_id", ApiId::parse)?,
                    permission: r.text("permission")?,
                })
            })
            .collect()
    }
    async fn role_inherits_set(
        &mut self,
        t: &TenantId,
        role: &RoleId,
        parents: &[RoleId],
    ) -> StoreResult<()> {
        self.conn
            .exec(q!(
                "DELETE FROM role_inherits WHERE tenant_id = $1 AND role_id = $2",
                t,
                role
            ))
            .await?;
        for p in parents {
            self.conn
                .exec(q!(
                    "INSERT INTO role_inherits (tenant_id, role_id, parent_id) VALUES ($1, $2, $3)",
                    t,
                    role,
                    p
                ))
                .await?;
        }
        bump_authz_version(&mut self.conn, t).await
    }
    async fn role_inherits(&mut self, t: &TenantId, role: &RoleId) -> StoreResult<Vec<RoleId>> {
        self.conn
            .fetch(q!(
                "SELECT parent_id FROM role_inherits WHERE tenant_id = $1 AND role_id = $2 ORDER BY parent_id",
                t, role
            ))
            .await?
            .iter()
            .map(|r| r.parse("parent_id", RoleId::parse))
            .collect()
    }
    async fn role_permissions_all(
        &mut self,
        t: &TenantId,
    ) -> StoreResult<Vec<(RoleId, RolePermission)>> {
        self.conn
            .fetch(q!(
                "SELECT role_id, api_id, permission FROM role_permissions WHERE tenant_id = $1
                 ORDER BY role_id, api_id, permission",
                t
            ))
            .await?
            .iter()
            .map(|r| {
                Ok((
                    r.parse("role_id", RoleId::parse)?,
                    RolePermission {
                        api_id: r.parse("api_id", ApiId::parse)?,
                        permission: r.text("permission")?,
                    },
                ))
            })
            .collect()
    }
    async fn role_inherits_all(&mut self, t: &TenantId) -> StoreResult<Vec<(RoleId, RoleId)>> {
        self.conn
            .fetch(q!(
                "SELECT role_id, parent_id FROM role_inherits WHERE tenant_id = $1
                 ORDER BY role_id, parent_id",
                t
            ))
            .await?
            .iter()
            .map(|r| {
                Ok((
                    r.parse("role_id", RoleId::parse)?,
                    r.parse("parent_id", RoleId::parse)?,
                ))
            })
            .collect()
    }
    async fn authz_version(&mut self, t: &TenantId) -> StoreResult<i64> {
        match self
            .conn
            .fetch_opt(q!(
                "SELECT version FROM authz_versions WHERE tenant_id = $1",
                t
            ))
            .await?
        {
            Some(r) => r.int("version"),
            None => Ok(0),
        }
    }
    async fn user_role_add(
        &mut self,
        t: &TenantId,
        u: &UserId,
        role: &RoleId,
        at: Timestamp,
    ) -> StoreResult<bool> {
        let n = self
            .conn
            .exec(q!(
                "INSERT INTO user_roles (tenant_id, user_id, role_id, created_at) VALUES ($1, $2, $3, $4)
                 ON CONFLICT DO NOTHING",
                t, u, role, at
            ))
            .await?;
        Ok(bump_if(&mut self.conn, t, n).await? == 1)
    }
    async fn user_role_remove(
        &mut self,
        t: &TenantId,
        u: &UserId,
        role: &RoleId,
    ) -> StoreResult<bool> {
        let n = self
            .conn
            .exec(q!(
                "DELETE FROM user_roles WHERE tenant_id = $1 AND user_id = $2 AND role_id = $3",
                t,
                u,
                role
            ))
            .await?;
        Ok(bump_if(&mut self.conn, t, n).await? == 1)
    }
    async fn user_roles(&mut self, t: &TenantId, u: &UserId) -> StoreResult<Vec<RoleId>> {
        let rows = self
            .conn
            .fetch(q!(
                "SELECT role_id FROM user_roles WHERE tenant_id = $1 AND user_id = $2 ORDER BY role_id",
                t, u
            ))
            .await?;
        role_ids(&rows)
    }
    async fn role_users(
        &mut self,
        t: &TenantId,
        role: &RoleId,
        page: Page,
    ) -> StoreResult<Vec<UserId>> {
        let (l, o) = page_args(page);
        self.conn
            .fetch(q!(
                "SELECT r.user_id FROM user_roles r
                 JOIN users u ON u.tenant_id = r.tenant_id AND u.id = r.user_id
                 WHERE r.tenant_id = $1 AND r.role_id = $2 AND u.deleted_at IS NULL
                 ORDER BY r.user_id LIMIT $3 OFFSET $4",
                t,
                role,
                l,
                o
            ))
            .await?
            .iter()
            .map(|r| r.parse("user_id", UserId::parse))
            .collect()
    }
    async fn role_user_count(&mut self, t: &TenantId, role: &RoleId) -> StoreResult<i64> {
        match self
            .conn
            .fetch_opt(q!(
                "SELECT COUNT(*) AS n FROM user_roles r
                 JOIN users u ON u.tenant_id = r.tenant_id AND u.id = r.user_id
                 WHERE r.tenant_id = $1 AND r.role_id = $2 AND u.deleted_at IS NULL",
                t,
                role
            ))
            .await?
        {
            Some(r) => r.int("n"),
            None => Ok(0),
        }
    }
    async fn member_role_add(
        &mut self,
        t: &TenantId,
        org: &OrgId,
        u: &UserId,
        role: &RoleId,
        at: Timestamp,
    ) -> StoreResult<bool> {
        let n = self
            .conn
            .exec(q!(
                "INSERT INTO member_roles (tenant_id, org_id, user_id, role_id, created_at) VALUES ($1, $2, $3, $4, $5)
                 ON CONFLICT DO NOTHING",
                t, org, u, role, at
            ))
            .await?;
        Ok(bump_if(&mut self.conn, t, n).await? == 1)
    }
    async fn member_role_remove(
        &mut self,
        t: &TenantId,
        org: &OrgId,
        u: &UserId,
        role: &RoleId,
    ) -> StoreResult<bool> {
        let n = self
            .conn
            .exec(q!(
                "DELETE FROM member_roles WHERE tenant_id = $1 AND org_id = $2 AND user_id = $3 AND role_id = $4",
                t, org, u, role
            ))
            .await?;
        Ok(bump_if(&mut self.conn, t, n).await? == 1)
    }
    async fn member_roles(
        &mut self,
        t: &TenantId,
        org: &OrgId,
        u: &UserId,
    ) -> StoreResult<Vec<RoleId>> {
        let rows = self
            .conn
            .fetch(q!(
                "SELECT role_id FROM member_roles WHERE tenant_id = $1 AND org_id = $2 AND user_id = $3 ORDER BY role_id",
                t, org, u
            ))
            .await?;
        role_ids(&rows)
    }
    async fn team_role_add(
        &mut self,
        t: &TenantId,
        team: &TeamId,
        role: &RoleId,
        at: Timestamp,
    ) -> StoreResult<bool> {
        let n = self
            .conn
            .exec(q!(
                "INSERT INTO team_roles (tenant_id, team_id, role_id, created_at) VALUES ($1, $2, $3, $4)
                 ON CONFLICT DO NOTHING",
                t, team, role, at
            ))
            .await?;
        Ok(bump_if(&mut self.conn, t, n).await? == 1)
    }
    async fn team_role_remove(
        &mut self,
        t: &TenantId,
        team: &TeamId,
        role: &RoleId,
    ) -> StoreResult<bool> {
        let n = self
            .conn
            .exec(q!(
                "DELETE FROM team_roles WHERE tenant_id = $1 AND team_id = $2 AND role_id = $3",
                t,
                team,
                role
            ))
            .await?;
        Ok(bump_if(&mut self.conn, t, n).await? == 1)
    }
    async fn team_roles(&mut self, t: &TenantId, team: &TeamId) -> StoreResult<Vec<RoleId>> {
        let rows = self
            .conn
            .fetch(q!(
                "SELECT role_id FROM team_roles WHERE tenant_id = $1 AND team_id = $2 ORDER BY role_id",
                t, team
            ))
            .await?;
        role_ids(&rows)
    }
}

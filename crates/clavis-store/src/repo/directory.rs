//! Tenants, organizations, memberships and teams.

use async_trait::async_trait;
use clavis_core::model::{Organization, Page, Team, Tenant};
use clavis_core::ports::{OrgRepo, StoreResult, TeamRepo, TenantRepo};
use clavis_types::{OrgId, Slug, TeamId, TenantId, Timestamp, UserId};

use super::page_args;
use super::roles::bump_if;
use crate::SqlTx;
use crate::sql::{Row, json, q};

fn tenant(r: &Row) -> StoreResult<Tenant> {
    Ok(Tenant {
        id: r.parse("id", TenantId::parse)?,
        slug: r.parse("slug", Slug::parse)?,
        display_name: r.text("display_name")?,
        settings: r.json("settings")?,
        created_at: r.ts("created_at")?,
        updated_at: r.ts("updated_at")?,
    })
}

#[async_trait]
impl TenantRepo for SqlTx {
    async fn tenant_insert(&mut self, t: &Tenant, wrapped: &[u8]) -> StoreResult<()> {
        self.conn
            .exec(q!(
                "INSERT INTO tenants (id, slug, display_name, settings, wrapped_data_key, created_at, updated_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7)",
                &t.id, &t.slug, &t.display_name, json(&t.settings), wrapped, t.created_at, t.updated_at
            ))
            .await
            .map(drop)
    }
    async fn tenant_get(&mut self, id: &TenantId) -> StoreResult<Option<Tenant>> {
        self.conn
            .fetch_opt(q!("SELECT id, slug, display_name, settings, created_at, updated_at FROM tenants WHERE id = $1", id))
            .await?
            .map(|r| tenant(&r))
            .transpose()
    }
    async fn tenant_get_by_slug(&mut self, slug: &Slug) -> StoreResult<Option<Tenant>> {
        self.conn
            .fetch_opt(q!("SELECT id, slug, display_name, settings, created_at, updated_at FROM tenants WHERE slug = $1", slug))
            .await?
            .map(|r| tenant(&r))
            .transpose()
    }
    async fn tenant_list(&mut self, page: Page) -> StoreResult<Vec<Tenant>> {
        let (l, o) = page_args(page);
        self.conn
            .fetch(q!("SELECT id, slug, display_name, settings, created_at, updated_at FROM tenants ORDER BY id LIMIT $1 OFFSET $2", l, o))
            .await?
            .iter()
            .map(tenant)
            .collect()
    }
    async fn tenant_update(&mut self, t: &Tenant) -> StoreResult<bool> {
        let n = self
            .conn
            .exec(q!(
                "UPDATE tenants SET display_name = $2, settings = $3, updated_at = $4 WHERE id = $1",
                &t.id, &t.display_name, json(&t.settings), t.updated_at
            ))
            .await?;
        Ok(n == 1)
    }
    async fn tenant_wrapped_key(&mut self, id: &TenantId) -> StoreResult<Option<Vec<u8>>> {
        self.conn
            .fetch_opt(q!("SELECT wrapped_data_key FROM tenants WHERE id = $1", id))
            .await?
            .map(|r| r.bytes("wrapped_data_key"))
            .transpose()
    }
}

fn org(r: &Row) -> StoreResult<Organization> {
    Ok(Organization {
        tenant_id: r.parse("tenant_id", TenantId::parse)?,
        id: r.parse("id", OrgId::parse)?,
        slug: r.parse("slug", Slug::parse)?,
        display_name: r.text("display_name")?,
        metadata: r.json("metadata")?,
        user_limit: r.opt_int("user_limit")?,
        created_at: r.ts("created_at")?,
        updated_at: r.ts("updated_at")?,
    })
}

#[async_trait]
impl OrgRepo for SqlTx {
    async fn org_insert(&mut self, o: &Organization) -> StoreResult<()> {
        self.conn
            .exec(q!(
                "INSERT INTO organizations (tenant_id, id, slug, display_name, metadata, user_limit, created_at, updated_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                &o.tenant_id, &o.id, &o.slug, &o.display_name, json(&o.metadata), o.user_limit,
                o.created_at, o.updated_at
            ))
            .await
            .map(drop)
    }
    async fn org_get(&mut self, t: &TenantId, id: &OrgId) -> StoreResult<Option<Organization>> {
        self.conn
            .fetch_opt(q!(
                "SELECT * FROM organizations WHERE tenant_id = $1 AND id = $2",
                t,
                id
            ))
            .await?
            .map(|r| org(&r))
            .transpose()
    }
    async fn org_get_by_slug(
        &mut self,
        t: &TenantId,
        slug: &Slug,
    ) -> StoreResult<Option<Organization>> {
        self.conn
            .fetch_opt(q!(
                "SELECT * FROM organizations WHERE tenant_id = $1 AND slug = $2",
                t,
                slug
            ))
            .await?
            .map(|r| org(&r))
            .transpose()
    }
    async fn org_list(&mut self, t: &TenantId, page: Page) -> StoreResult<Vec<Organization>> {
        let (l, o) = page_args(page);
        self.conn
            .fetch(q!(
                "SELECT * FROM organizations WHERE tenant_id = $1 ORDER BY id LIMIT $2 OFFSET $3",
                t,
                l,
                o
            ))
            .await?
            .iter()
            .map(org)
            .collect()
    }
    async fn org_count(&mut self, t: &TenantId) -> StoreResult<i64> {
        self.conn
            .fetch_opt(q!(
                "SELECT COUNT(*) AS n FROM organizations WHERE tenant_id = $1",
                t
            ))
            .await?
            .map_or(Ok(0), |r| r.int("n"))
    }
    async fn org_update(&mut self, o: &Organization) -> StoreResult<bool> {
        let n = self
            .conn
            .exec(q!(
                "UPDATE organizations SET slug = $3, display_name = $4, metadata = $5, user_limit = $6, updated_at = $7
                 WHERE tenant_id = $1 AND id = $2",
                &o.tenant_id, &o.id, &o.slug, &o.display_name, json(&o.metadata), o.user_limit, o.updated_at
            ))
            .await?;
        Ok(n == 1)
    }
    async fn org_delete(&mut self, t: &TenantId, id: &OrgId) -> StoreResult<bool> {
        let n = self
            .conn
            .exec(q!(
                "DELETE FROM organizations WHERE tenant_id = $1 AND id = $2",
                t,
                id
            ))
            .await?;
        Ok(bump_if(&mut self.conn, t, n).await? == 1)
    }
    async fn member_add(
        &mut self,
        t: &TenantId,
        org: &OrgId,
        user: &UserId,
        at: Timestamp,
    ) -> StoreResult<bool> {
        let n = self
            .conn
            .exec(q!(
                "INSERT INTO org_members (tenant_id, org_id, user_id, created_at) VALUES ($1, $2, $3, $4)
                 ON CONFLICT DO NOTHING",
                t, org, user, at
            ))
            .await?;
        Ok(bump_if(&mut self.conn, t, n).await? == 1)
    }
    async fn member_remove(
        &mut self,
        t: &TenantId,
        org: &OrgId,
        user: &UserId,
    ) -> StoreResult<bool> {
        let n = self
            .conn
            .exec(q!(
                "DELETE FROM org_members WHERE tenant_id = $1 AND org_id = $2 AND user_id = $3",
                t,
                org,
                user
            ))
            .await?;
        Ok(bump_if(&mut self.conn, t, n).await? == 1)
    }
    async fn member_list(
        &mut self,
        t: &TenantId,
        org: &OrgId,
        page: Page,
    ) -> StoreResult<Vec<UserId>> {
        let (l, o) = page_args(page);
        self.conn
            .fetch(q!(
                "SELECT user_id FROM org_members WHERE tenant_id = $1 AND org_id = $2 ORDER BY user_id LIMIT $3 OFFSET $4",
                t, org, l, o
            ))
            .await?
            .iter()
            .map(|r| r.parse("user_id", UserId::parse))
            .collect()
    }
    async fn member_count(&mut self, t: &TenantId, org: &OrgId) -> StoreResult<i64> {
        match self
            .conn
            .fetch_opt(q!(
                "SELECT COUNT(*) AS n FROM org_members WHERE tenant_id = $1 AND org_id = $2",
                t,
                org
            ))
            .await?
        {
            Some(r) => r.int("n"),
            None => Ok(0),
        }
    }
    async fn member_orgs(&mut self, t: &TenantId, user: &UserId) -> StoreResult<Vec<OrgId>> {
        self.conn
            .fetch(q!(
                "SELECT org_id FROM org_members WHERE tenant_id = $1 AND user_id = $2 ORDER BY org_id",
                t, user
            ))
            .await?
            .iter()
            .map(|r| r.parse("org_id", OrgId::parse))
            .collect()
    }
}

fn team(r: &Row) -> StoreResult<Team> {
    Ok(Team {
        tenant_id: r.parse("tenant_id", TenantId::parse)?,
        org_id: r.parse("org_id", OrgId::parse)?,
        id: r.parse("id", TeamId::parse)?,
        slug: r.parse("slug", Slug::parse)?,
        display_name: r.text("display_name")?,
        description: r.text("description")?,
        created_at: r.ts("created_at")?,
        updated_at: r.ts("updated_at")?,
    })
}

#[async_trait]
impl TeamRepo for SqlTx {
    async fn team_insert(&mut self, tm: &Team) -> StoreResult<()> {
        self.conn
            .exec(q!(
                "INSERT INTO teams (tenant_id, id, org_id, slug, display_name, description, created_at, updated_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                &tm.tenant_id, &tm.id, &tm.org_id, &tm.slug, &tm.display_name, &tm.description,
                tm.created_at, tm.updated_at
            ))
            .await
            .map(drop)
    }
    async fn team_get(&mut self, t: &TenantId, id: &TeamId) -> StoreResult<Option<Team>> {
        self.conn
            .fetch_opt(q!(
                "SELECT * FROM teams WHERE tenant_id = $1 AND id = $2",
                t,
                id
            ))
            .await?
            .map(|r| team(&r))
            .transpose()
    }
    async fn team_get_by_slug(
        &mut self,
        t: &TenantId,
        org: &OrgId,
        slug: &Slug,
    ) -> StoreResult<Option<Team>> {
        self.conn
            .fetch_opt(q!(
                "SELECT * FROM teams WHERE tenant_id = $1 AND org_id = $2 AND slug = $3",
                t,
                org,
                slug
            ))
            .await?
            .map(|r| team(&r))
            .transpose()
    }
    async fn team_list(&mut self, t: &TenantId, org: &OrgId, page: Page) -> StoreResult<Vec<Team>> {
        let (l, o) = page_args(page);
        self.conn
            .fetch(q!(
                "SELECT * FROM teams WHERE tenant_id = $1 AND org_id = $2 ORDER BY id LIMIT $3 OFFSET $4",
                t, org, l, o
            ))
            .await?
            .iter()
            .map(team)
            .collect()
    }
    async fn team_count(&mut self, t: &TenantId, org: &OrgId) -> StoreResult<i64> {
        self.conn
            .fetch_opt(q!(
                "SELECT COUNT(*) AS n FROM teams WHERE tenant_id = $1 AND org_id = $2",
                t,
                org
            ))
            .await?
            .map_or(Ok(0), |r| r.int("n"))
    }
    async fn team_update(&mut self, tm: &Team) -> StoreResult<bool> {
        let n =
            self.conn
                .exec(q!(
                "UPDATE teams SET slug = $3, display_name = $4, description = $5, updated_at = $6
                 WHERE tenant_id = $1 AND id = $2",
                &tm.tenant_id, &tm.id, &tm.slug, &tm.display_name, &tm.description, tm.updated_at
            ))
                .await?;
        Ok(n == 1)
    }
    async fn team_delete(&mut self, t: &TenantId, id: &TeamId) -> StoreResult<bool> {
        let n = self
            .conn
            .exec(q!(
                "DELETE FROM teams WHERE tenant_id = $1 AND id = $2",
                t,
                id
            ))
            .await?;
        Ok(bump_if(&mut self.conn, t, n).await? == 1)
    }
    async fn team_member_add(
        &mut self,
        t: &TenantId,
        team: &TeamId,
        user: &UserId,
        at: Timestamp,
    ) -> StoreResult<bool> {
        // The team's organization comes from the team row; the foreign key to org_members
        // refuses a user who is not a member of that organization.
        let n = self
            .conn
            .exec(q!(
                "INSERT INTO team_members (tenant_id, team_id, org_id, user_id, created_at)
                 SELECT tenant_id, id, org_id, $3, $4 FROM teams WHERE tenant_id = $1 AND id = $2
                 ON CONFLICT DO NOTHING",
                t,
                team,
                user,
                at
            ))
            .await?;
        Ok(bump_if(&mut self.conn, t, n).await? == 1)
    }
    async fn team_member_remove(
        &mut self,
        t: &TenantId,
        team: &TeamId,
        user: &UserId,
    ) -> StoreResult<bool> {
        let n = self
            .conn
            .exec(q!(
                "DELETE FROM team_members WHERE tenant_id = $1 AND team_id = $2 AND user_id = $3",
                t,
                team,
                user
            ))
            .await?;
        Ok(bump_if(&mut self.conn, t, n).await? == 1)
    }
    async fn team_member_list(
        &mut self,
        t: &TenantId,
        team: &TeamId,
        page: Page,
    ) -> StoreResult<Vec<UserId>> {
        let (l, o) = page_args(page);
        self.conn
            .fetch(q!(
                "SELECT user_id FROM team_members WHERE tenant_id = $1 AND team_id = $2 ORDER BY user_id LIMIT $3 OFFSET $4",
                t, team, l, o
            ))
            .await?
            .iter()
            .map(|r| r.parse("user_id", UserId::parse))
            .collect()
    }
    async fn team_member_count(&mut self, t: &TenantId, team: &TeamId) -> StoreResult<i64> {
        self.conn
            .fetch_opt(q!(
                "SELECT COUNT(*) AS n FROM team_members WHERE tenant_id = $1 AND team_id = $2",
                t,
                team
            ))
            .await?
            .map_or(Ok(0), |r| r.int("n"))
    }
    async fn user_teams(
        &mut self,
        t: &TenantId,
        org: &OrgId,
        user: &UserId,
    ) -> StoreResult<Vec<TeamId>> {
        self.conn
            .fetch(q!(
                "SELECT team_id FROM team_members WHERE tenant_id = $1 AND org_id = $2 AND user_id = $3 ORDER BY team_id",
                t, org, user
            ))
            .await?
            .iter()
            .map(|r| r.parse("team_id", TeamId::parse))
            .collect()
    }
}

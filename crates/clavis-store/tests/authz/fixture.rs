//! A small tenant ("acme") with one Api, roles that inherit each other, an organization
//! with a team, and users in every situation a decision distinguishes.

#![allow(dead_code)]

use clavis_core::Core;
use clavis_core::authz::{CheckRequest, Decision, Subject};
use clavis_core::model::*;
use clavis_types::*;

pub const API: &str = "https://api.acme.test";

/// Create a tenant without signing keys (decisions need none).
pub async fn tenant(core: &Core, slug: &str) -> Tenant {
    let now = core.now();
    let t = Tenant {
        id: TenantId::generate(now, &*core.rng),
        slug: Slug::parse(slug).unwrap(),
        display_name: slug.into(),
        settings: TenantSettings::default(),
        created_at: now,
        updated_at: now,
    };
    let mut tx = core.store.begin().await.unwrap();
    tx.tenant_insert(&t, &[0; 40]).await.unwrap();
    tx.commit().await.unwrap();
    t
}

pub fn new_user(core: &Core, t: &Tenant, name: &str) -> User {
    let now = core.now();
    User {
        tenant_id: t.id.clone(),
        id: UserId::generate(now, &*core.rng),
        email: Some(Email::parse(&format!("{name}@acme.test")).unwrap()),
        email_verified: true,
        profile: UserProfile::default(),
        user_metadata: JsonMap::new(),
        app_metadata: JsonMap::new(),
        blocked: false,
        created_at: now,
        updated_at: now,
        last_login_at: None,
        deleted_at: None,
    }
}

pub fn new_role(core: &Core, t: &Tenant, name: &str) -> Role {
    let now = core.now();
    Role {
        tenant_id: t.id.clone(),
        id: RoleId::generate(now, &*core.rng),
        name: name.into(),
        description: String::new(),
        created_at: now,
        updated_at: now,
    }
}

pub fn new_org(core: &Core, t: &Tenant, slug: &str) -> Organization {
    let now = core.now();
    Organization {
        tenant_id: t.id.clone(),
        id: OrgId::generate(now, &*core.rng),
        slug: Slug::parse(slug).unwrap(),
        display_name: slug.into(),
        metadata: OrgMetadata::default(),
        user_limit: None,
        created_at: now,
        updated_at: now,
    }
}

pub fn new_team(core: &Core, t: &Tenant, org: &Organization, slug: &str) -> Team {
    let now = core.now();
    Team {
        tenant_id: t.id.clone(),
        org_id: org.id.clone(),
        id: TeamId::generate(now, &*core.rng),
        slug: Slug::parse(slug).unwrap(),
        display_name: slug.into(),
        description: String::new(),
        created_at: now,
        updated_at: now,
    }
}

pub fn new_api(core: &Core, t: &Tenant, identifier: &str, perms: &[&str]) -> Api {
    let now = core.now();
    Api {
        tenant_id: t.id.clone(),
        id: ApiId::generate(now, &*core.rng),
        identifier: identifier.into(),
        name: identifier.into(),
        signing_alg: SigningAlg::Rs256,
        token_lifetime: 3600,
        rbac_enabled: true,
        permissions_in_token: true,
        allow_offline_access: false,
        skip_consent: true,
        permissions: perms
            .iter()
            .map(|p| Permission {
                value: (*p).into(),
                description: String::new(),
            })
            .collect(),
        created_at: now,
        updated_at: now,
    }
}

pub fn rp(api: &Api, p: &str) -> RolePermission {
    RolePermission {
        api_id: api.id.clone(),
        permission: p.into(),
    }
}

/// The acme tenant.
pub struct Acme {
    pub tenant: Tenant,
    pub api: Api,
    pub org: Organization,
    pub other_org: Organization,
    pub team: Team,
    /// `read`
    pub viewer: Role,
    /// `write`, inherits viewer
    pub editor: Role,
    /// `admin`, inherits editor
    pub owner: Role,
    /// `audit`, assigned to nobody
    pub auditor: Role,
    /// viewer tenant-wide
    pub alice: User,
    /// member of `org` with editor there
    pub bob: User,
    /// member of `org`, in `team`, which has owner
    pub carol: User,
    /// viewer tenant-wide, blocked
    pub dave: User,
    /// viewer tenant-wide, deleted
    pub erin: User,
    /// member of `org` without roles
    pub frank: User,
    /// owner tenant-wide, member of no organization
    pub gus: User,
}

pub async fn acme(core: &Core, slug: &str) -> Acme {
    let tenant = tenant(core, slug).await;
    let t = &tenant;
    let org = new_org(core, t, "acme");
    let a = Acme {
        api: new_api(core, t, API, &["read", "write", "admin", "audit", "delete"]),
        team: new_team(core, t, &org, "ops"),
        org,
        other_org: new_org(core, t, "other"),
        viewer: new_role(core, t, "viewer"),
        editor: new_role(core, t, "editor"),
        owner: new_role(core, t, "owner"),
        auditor: new_role(core, t, "auditor"),
        alice: new_user(core, t, "alice"),
        bob: new_user(core, t, "bob"),
        carol: new_user(core, t, "carol"),
        dave: User {
            blocked: true,
            ..new_user(core, t, "dave")
        },
        erin: User {
            deleted_at: Some(core.now()),
            ..new_user(core, t, "erin")
        },
        frank: new_user(core, t, "frank"),
        gus: new_user(core, t, "gus"),
        tenant: tenant.clone(),
    };
    let (t, now) = (&a.tenant.id, core.now());
    let mut tx = core.store.begin().await.unwrap();
    tx.api_insert(&a.api).await.unwrap();
    for o in [&a.org, &a.other_org] {
        tx.org_insert(o).await.unwrap();
    }
    tx.team_insert(&a.team).await.unwrap();
    for (r, p) in [
        (&a.viewer, "read"),
        (&a.editor, "write"),
        (&a.owner, "admin"),
        (&a.auditor, "audit"),
    ] {
        tx.role_insert(r).await.unwrap();
        tx.role_permissions_set(t, &r.id, &[rp(&a.api, p)])
            .await
            .unwrap();
    }
    tx.role_inherits_set(t, &a.editor.id, std::slice::from_ref(&a.viewer.id))
        .await
        .unwrap();
    tx.role_inherits_set(t, &a.owner.id, std::slice::from_ref(&a.editor.id))
        .await
        .unwrap();
    for u in [
        &a.alice, &a.bob, &a.carol, &a.dave, &a.erin, &a.frank, &a.gus,
    ] {
        tx.user_insert(u).await.unwrap();
    }
    for u in [&a.alice, &a.dave, &a.erin] {
        tx.user_role_add(t, &u.id, &a.viewer.id, now).await.unwrap();
    }
    tx.user_role_add(t, &a.gus.id, &a.owner.id, now)
        .await
        .unwrap();
    for u in [&a.bob, &a.carol, &a.frank] {
        tx.member_add(t, &a.org.id, &u.id, now).await.unwrap();
    }
    tx.member_role_add(t, &a.org.id, &a.bob.id, &a.editor.id, now)
        .await
        .unwrap();
    tx.team_member_add(t, &a.team.id, &a.carol.id, now)
        .await
        .unwrap();
    tx.team_role_add(t, &a.team.id, &a.owner.id, now)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    a
}

/// An explained check of `permission` on [`API`].
pub fn req(subject: Subject, org: Option<&Organization>, permission: &str) -> CheckRequest {
    CheckRequest {
        subject,
        organization: org.map(|o| o.id.clone()),
        api: API.into(),
        permission: permission.into(),
        resource: None,
        context: JsonMap::new(),
        explain: true,
    }
}

pub fn user_req(u: &User, org: Option<&Organization>, permission: &str) -> CheckRequest {
    req(Subject::User(u.id.clone()), org, permission)
}

pub async fn check(core: &Core, t: &Tenant, r: CheckRequest) -> Decision {
    core.authz_check(t, &r).await.unwrap()
}

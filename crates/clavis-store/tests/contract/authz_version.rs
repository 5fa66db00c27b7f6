//! The per-tenant authorization version: every store method that changes what a user may
//! do bumps it in the changing transaction (and only then), for its own tenant only.

use clavis_core::Core;
use clavis_core::model::*;
use clavis_store::testing::TestDb;
use clavis_types::*;

use crate::support::*;

clavis_store::on_both_backends!(
    every_authorization_change_bumps_the_version,
    no_op_and_unrelated_writes_keep_the_version,
    the_bump_belongs_to_the_transaction,
);

async fn version(core: &Core, t: &TenantId) -> i64 {
    core.store
        .read()
        .await
        .unwrap()
        .authz_version(t)
        .await
        .unwrap()
}

fn team(core: &Core, t: &Tenant, org: &Organization, slug: &str) -> Team {
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

/// Everything one tenant needs for assignments of every kind.
struct World {
    org: Organization,
    user: User,
    team: Team,
    viewer: Role,
    editor: Role,
    api: Api,
}

async fn world(core: &Core, t: &Tenant) -> World {
    let org = org(core, t, "acme");
    let w = World {
        team: team(core, t, &org, "ops"),
        org,
        user: user(core, t, "ann@acme.test"),
        viewer: role(core, t, "viewer"),
        editor: role(core, t, "editor"),
        api: api(core, t, "https://api.acme.test", &["read", "write"]),
    };
    let mut tx = begin(core).await;
    tx.org_insert(&w.org).await.unwrap();
    tx.user_insert(&w.user).await.unwrap();
    tx.team_insert(&w.team).await.unwrap();
    tx.role_insert(&w.viewer).await.unwrap();
    tx.role_insert(&w.editor).await.unwrap();
    tx.api_insert(&w.api).await.unwrap();
    tx.commit().await.unwrap();
    w
}

/// Run one change in its own transaction and assert it bumped `a` (and left `b` alone).
macro_rules! bumps {
    ($core:expr, $a:expr, $b:expr, |$tx:ident| $change:expr) => {{
        let (before_a, before_b) = (version($core, $a).await, version($core, $b).await);
        let mut $tx = begin($core).await;
        $change;
        $tx.commit().await.unwrap();
        assert!(
            version($core, $a).await > before_a,
            "not bumped: {}",
            stringify!($change)
        );
        assert_eq!(version($core, $b).await, before_b, "other tenant bumped");
    }};
}

/// Run one change and assert the version of `a` did not move.
macro_rules! keeps {
    ($core:expr, $a:expr, |$tx:ident| $change:expr) => {{
        let before = version($core, $a).await;
        let mut $tx = begin($core).await;
        $change;
        $tx.commit().await.unwrap();
        assert_eq!(
            version($core, $a).await,
            before,
            "bumped: {}",
            stringify!($change)
        );
    }};
}

async fn every_authorization_change_bumps_the_version(db: TestDb) {
    let core = db.core();
    let (ta, tb) = two_tenants(&core).await;
    let (a, b) = (&ta.id, &tb.id);
    assert_eq!(version(&core, a).await, 0, "a fresh tenant is at version 0");
    let w = world(&core, &ta).await;
    let (org, u, team) = (&w.org.id, &w.user.id, &w.team.id);
    let (viewer, editor) = (&w.viewer.id, &w.editor.id);
    let now = core.now();
    let rp = |p: &str| RolePermission {
        api_id: w.api.id.clone(),
        permission: p.into(),
    };
    bumps!(&core, a, b, |tx| tx
        .member_add(a, org, u, now)
        .await
        .unwrap());
    bumps!(&core, a, b, |tx| tx
        .user_role_add(a, u, viewer, now)
        .await
        .unwrap());
    bumps!(&core, a, b, |tx| tx
        .member_role_add(a, org, u, editor, now)
        .await
        .unwrap());
    bumps!(&core, a, b, |tx| tx
        .team_member_add(a, team, u, now)
        .await
        .unwrap());
    bumps!(&core, a, b, |tx| tx
        .team_role_add(a, team, viewer, now)
        .await
        .unwrap());
    bumps!(&core, a, b, |tx| tx
        .role_permissions_set(a, viewer, &[rp("read"), rp("write")])
        .await
        .unwrap());
    bumps!(&core, a, b, |tx| tx
        .role_inherits_set(a, editor, std::slice::from_ref(viewer))
        .await
        .unwrap());
    let mut blocked = w.user.clone();
    blocked.blocked = true;
    bumps!(&core, a, b, |tx| assert!(
        tx.user_update(&blocked).await.unwrap()
    ));
    bumps!(&core, a, b, |tx| assert!(
        tx.user_update(&w.user).await.unwrap()
    ));
    // removing a permission from the Api cascades it out of the role holding it
    bumps!(&core, a, b, |tx| tx
        .api_permissions_set(a, &w.api.id, &[perm("read")])
        .await
        .unwrap());
    assert_eq!(
        begin(&core)
            .await
            .role_permissions(a, viewer)
            .await
            .unwrap(),
        vec![rp("read")]
    );
    bumps!(&core, a, b, |tx| assert!(
        tx.team_role_remove(a, team, viewer).await.unwrap()
    ));
    bumps!(&core, a, b, |tx| assert!(
        tx.team_member_remove(a, team, u).await.unwrap()
    ));
    bumps!(&core, a, b, |tx| assert!(
        tx.member_role_remove(a, org, u, editor).await.unwrap()
    ));
    bumps!(&core, a, b, |tx| assert!(
        tx.user_role_remove(a, u, viewer).await.unwrap()
    ));
    bumps!(&core, a, b, |tx| assert!(
        tx.team_delete(a, team).await.unwrap()
    ));
    bumps!(&core, a, b, |tx| assert!(
        tx.member_remove(a, org, u).await.unwrap()
    ));
    bumps!(&core, a, b, |tx| assert!(
        tx.org_delete(a, org).await.unwrap()
    ));
    bumps!(&core, a, b, |tx| assert!(
        tx.role_delete(a, editor).await.unwrap()
    ));
    bumps!(&core, a, b, |tx| assert!(
        tx.api_delete(a, &w.api.id).await.unwrap()
    ));
    bumps!(&core, a, b, |tx| assert!(
        tx.user_soft_delete(a, u, now).await.unwrap()
    ));
    // tenant B's changes bump B only
    let wb = world(&core, &tb).await;
    bumps!(&core, b, a, |tx| tx
        .user_role_add(b, &wb.user.id, &wb.viewer.id, now)
        .await
        .unwrap());
}

async fn no_op_and_unrelated_writes_keep_the_version(db: TestDb) {
    let core = db.core();
    let (ta, tb) = two_tenants(&core).await;
    let (a, b) = (&ta.id, &tb.id);
    let w = world(&core, &ta).await;
    let (org, u, team, viewer) = (&w.org.id, &w.user.id, &w.team.id, &w.viewer.id);
    let now = core.now();
    bumps!(&core, a, b, |tx| tx
        .member_add(a, org, u, now)
        .await
        .unwrap());
    bumps!(&core, a, b, |tx| tx
        .user_role_add(a, u, viewer, now)
        .await
        .unwrap());
    // repeating an assignment, removing what is not there, creating unassigned things
    keeps!(&core, a, |tx| assert!(
        !tx.member_add(a, org, u, now).await.unwrap()
    ));
    keeps!(&core, a, |tx| assert!(
        !tx.user_role_add(a, u, viewer, now).await.unwrap()
    ));
    keeps!(&core, a, |tx| assert!(
        !tx.team_role_remove(a, team, viewer).await.unwrap()
    ));
    keeps!(&core, a, |tx| assert!(
        !tx.team_member_remove(a, team, u).await.unwrap()
    ));
    keeps!(&core, a, |tx| tx
        .role_insert(&role(&core, &ta, "new"))
        .await
        .unwrap());
    keeps!(&core, a, |tx| tx
        .user_insert(&user(&core, &ta, "new@acme.test"))
        .await
        .unwrap());
    // a profile change is not a block
    let mut renamed = w.user.clone();
    renamed.profile.name = Some("Ann".into());
    keeps!(&core, a, |tx| assert!(
        tx.user_update(&renamed).await.unwrap()
    ));
    // adding a permission to an Api takes nothing away
    keeps!(&core, a, |tx| tx
        .api_permissions_set(a, &w.api.id, &[perm("read"), perm("write"), perm("x")])
        .await
        .unwrap());
    // through tenant B, nothing of A changes and neither version moves
    let before_b = version(&core, b).await;
    keeps!(&core, a, |tx| assert!(
        !tx.role_delete(b, viewer).await.unwrap()
    ));
    keeps!(&core, a, |tx| assert!(
        !tx.user_role_remove(b, u, viewer).await.unwrap()
    ));
    keeps!(&core, a, |tx| assert!(
        !tx.member_remove(b, org, u).await.unwrap()
    ));
    keeps!(&core, a, |tx| assert!(
        !tx.org_delete(b, org).await.unwrap()
    ));
    keeps!(&core, a, |tx| assert!(
        !tx.user_soft_delete(b, u, now).await.unwrap()
    ));
    assert_eq!(version(&core, b).await, before_b);
}

async fn the_bump_belongs_to_the_transaction(db: TestDb) {
    let core = db.core();
    let (ta, _) = two_tenants(&core).await;
    let a = &ta.id;
    let w = world(&core, &ta).await;
    let mut tx = begin(&core).await;
    tx.user_role_add(a, &w.user.id, &w.viewer.id, core.now())
        .await
        .unwrap();
    assert_eq!(tx.authz_version(a).await.unwrap(), 1, "seen inside");
    assert_eq!(version(&core, a).await, 0, "not seen outside before commit");
    drop(tx);
    assert_eq!(version(&core, a).await, 0, "rolled back with the change");
}

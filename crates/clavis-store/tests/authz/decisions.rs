//! Decisions and their explanations, one situation at a time.

use clavis_core::CoreError;
use clavis_core::authz::{
    CheckRequest, Decision, DenyReason, Explanation, GrantExplanation, GrantSource, MAX_BATCH,
    Subject,
};
use clavis_core::model::*;
use clavis_store::testing::TestDb;
use clavis_types::*;
use serde_json::json;

use crate::fixture::*;

clavis_store::on_both_backends!(
    an_allow_explains_its_grant_path,
    every_deny_has_its_reason,
    clients_are_decided_by_their_grant,
    blocking_takes_effect_at_the_next_decision,
    batches_answer_in_order_and_are_bounded,
    tenants_never_see_each_others_roles,
    cycles_are_refused_on_write_and_survived_on_read,
    a_change_through_another_node_is_seen_at_the_next_decision,
);

fn granted(d: &Decision) -> &GrantExplanation {
    assert!(d.allowed, "expected an allow, got {d:?}");
    match &d.explanation {
        Some(Explanation::Granted(g)) => g,
        other => panic!("expected a grant explanation, got {other:?}"),
    }
}

fn reason(d: &Decision) -> DenyReason {
    assert!(!d.allowed, "expected a deny, got {d:?}");
    match &d.explanation {
        Some(Explanation::Denied(e)) => {
            assert!(!e.message.is_empty());
            e.reason
        }
        other => panic!("expected a deny explanation, got {other:?}"),
    }
}

async fn an_allow_explains_its_grant_path(db: TestDb) {
    let core = db.core();
    let a = acme(&core, "acme").await;
    let t = &a.tenant;
    // tenant-wide role holding the permission itself
    let d = check(&core, t, user_req(&a.alice, None, "read")).await;
    assert_eq!(
        serde_json::to_value(&d).unwrap(),
        json!({"allowed": true, "explanation": {
            "source": "user",
            "role_id": a.viewer.id.as_str(),
            "role_name": "viewer",
            "via": [a.viewer.id.as_str()],
        }})
    );
    // tenant-wide roles apply inside an organization the user belongs to (gus is in none:
    // see the deny test); member role, through inheritance
    let d = check(&core, t, user_req(&a.bob, Some(&a.org), "read")).await;
    let g = granted(&d);
    assert_eq!(g.source, GrantSource::OrganizationMember);
    assert_eq!(g.role_id.as_ref(), Some(&a.editor.id));
    assert_eq!(g.role_name.as_deref(), Some("editor"));
    assert_eq!(g.via, [a.editor.id.clone(), a.viewer.id.clone()]);
    // team role, two levels of inheritance
    let d = check(&core, t, user_req(&a.carol, Some(&a.org), "read")).await;
    assert_eq!(
        serde_json::to_value(&d).unwrap(),
        json!({"allowed": true, "explanation": {
            "source": "team",
            "team_id": a.team.id.as_str(),
            "role_id": a.owner.id.as_str(),
            "role_name": "owner",
            "via": [a.owner.id.as_str(), a.editor.id.as_str(), a.viewer.id.as_str()],
        }})
    );
    let g = granted(&check(&core, t, user_req(&a.carol, Some(&a.org), "admin")).await).clone();
    assert_eq!(g.via, std::slice::from_ref(&a.owner.id));
    // a tenant-wide grant is preferred over an organization one for the explanation
    let mut tx = core.store.begin().await.unwrap();
    tx.user_role_add(&t.id, &a.carol.id, &a.viewer.id, core.now())
        .await
        .unwrap();
    tx.commit().await.unwrap();
    let g = granted(&check(&core, t, user_req(&a.carol, Some(&a.org), "read")).await).clone();
    assert_eq!(
        (g.source, g.role_id),
        (GrantSource::User, Some(a.viewer.id.clone()))
    );
    // without `explain` there is no explanation, and the JSON has no key for it
    let mut r = user_req(&a.alice, None, "read");
    r.explain = false;
    let d = check(&core, t, r).await;
    assert_eq!(
        d,
        Decision {
            allowed: true,
            explanation: None
        }
    );
    assert_eq!(serde_json::to_value(&d).unwrap(), json!({"allowed": true}));
    // effective permissions agree
    let held = core
        .effective_permissions(t, &a.carol.id, Some(&a.org.id), &a.api.id)
        .await
        .unwrap();
    assert_eq!(held.names().collect::<Vec<_>>(), ["admin", "read", "write"]);
    let held = core
        .effective_permissions(t, &a.carol.id, None, &a.api.id)
        .await
        .unwrap();
    assert_eq!(held.names().collect::<Vec<_>>(), ["read"]);
}

async fn every_deny_has_its_reason(db: TestDb) {
    let core = db.core();
    let a = acme(&core, "acme").await;
    let t = &a.tenant;
    let mut no_api = user_req(&a.alice, None, "read");
    no_api.api = "https://nope.test".into();
    assert_eq!(
        reason(&check(&core, t, no_api).await),
        DenyReason::NoSuchApi
    );
    assert_eq!(
        reason(&check(&core, t, user_req(&a.alice, None, "fly")).await),
        DenyReason::NoSuchPermission
    );
    let ghost = UserId::generate(core.now(), &*core.rng);
    assert_eq!(
        reason(&check(&core, t, req(Subject::User(ghost.clone()), None, "read")).await),
        DenyReason::UnknownSubject
    );
    assert!(matches!(
        core.effective_permissions(t, &ghost, None, &a.api.id).await,
        Err(CoreError::NotFound("user"))
    ));
    assert_eq!(
        reason(&check(&core, t, user_req(&a.dave, None, "read")).await),
        DenyReason::UserBlocked
    );
    assert_eq!(
        reason(&check(&core, t, user_req(&a.erin, None, "read")).await),
        DenyReason::UserDeleted
    );
    // gus holds owner tenant-wide, but is no member of the organization
    assert!(
        check(&core, t, user_req(&a.gus, None, "admin"))
            .await
            .allowed
    );
    assert_eq!(
        reason(&check(&core, t, user_req(&a.gus, Some(&a.org), "read")).await),
        DenyReason::NotAMember
    );
    // bob is a member of `org` only; his member role does not reach other contexts
    assert_eq!(
        reason(&check(&core, t, user_req(&a.bob, Some(&a.other_org), "read")).await),
        DenyReason::NotAMember
    );
    assert_eq!(
        reason(&check(&core, t, user_req(&a.bob, None, "read")).await),
        DenyReason::NoRoleGrantsPermission
    );
    assert_eq!(
        reason(&check(&core, t, user_req(&a.frank, Some(&a.org), "read")).await),
        DenyReason::NoRoleGrantsPermission
    );
    // defined, but held by a role nobody has
    assert_eq!(
        reason(&check(&core, t, user_req(&a.carol, Some(&a.org), "audit")).await),
        DenyReason::NoRoleGrantsPermission
    );
    let d = check(&core, t, user_req(&a.dave, None, "read")).await;
    assert_eq!(
        serde_json::to_value(&d).unwrap(),
        json!({"allowed": false, "explanation": {
            "reason": "user_blocked", "message": "the user is blocked"
        }})
    );
}

async fn clients_are_decided_by_their_grant(db: TestDb) {
    let core = db.core();
    let a = acme(&core, "acme").await;
    let (t, now) = (&a.tenant, core.now());
    let app = |name: &str, app_type| Application {
        tenant_id: t.id.clone(),
        client_id: ClientId::generate(&*core.rng),
        name: name.into(),
        app_type,
        client_secret_digest: Some(vec![1]),
        token_endpoint_auth_method: "client_secret_basic".into(),
        callbacks: vec![],
        logout_urls: vec![],
        web_origins: vec![],
        grant_types: vec!["client_credentials".into()],
        id_token_lifetime: 3600,
        refresh: RefreshPolicy::default(),
        organization_usage: OrganizationUsage::Deny,
        pkce_required: false,
        is_first_party: true,
        client_jwks: None,
        created_at: now,
        updated_at: now,
    };
    let (m2m, web) = (app("worker", AppType::M2m), app("site", AppType::Web));
    let grant = |client: &Application| ClientGrant {
        tenant_id: t.id.clone(),
        id: ClientGrantId::generate(now, &*core.rng),
        client_id: client.client_id.clone(),
        api_id: a.api.id.clone(),
        scope: vec!["read".into(), "write".into()],
        created_at: now,
        updated_at: now,
    };
    let (g, gw) = (grant(&m2m), grant(&web));
    let mut tx = core.store.begin().await.unwrap();
    for (app, g) in [(&m2m, &g), (&web, &gw)] {
        tx.app_insert(app).await.unwrap();
        tx.client_grant_upsert(g).await.unwrap();
    }
    tx.commit().await.unwrap();
    let client = |c: &Application, org: Option<&Organization>, p: &str| {
        req(Subject::Client(c.client_id.clone()), org, p)
    };
    let d = check(&core, t, client(&m2m, None, "write")).await;
    assert_eq!(
        serde_json::to_value(&d).unwrap(),
        json!({"allowed": true, "explanation": {
            "source": "client_grant", "client_grant_id": g.id.as_str()
        }})
    );
    assert_eq!(
        reason(&check(&core, t, client(&m2m, None, "admin")).await),
        DenyReason::ClientNotGranted
    );
    assert_eq!(
        reason(&check(&core, t, client(&m2m, None, "fly")).await),
        DenyReason::NoSuchPermission
    );
    assert_eq!(
        reason(&check(&core, t, client(&m2m, Some(&a.org), "read")).await),
        DenyReason::ClientOrganizationUnsupported
    );
    // like the client-credentials grant: only machine-to-machine clients use grants
    assert_eq!(
        reason(&check(&core, t, client(&web, None, "read")).await),
        DenyReason::ClientNotGranted
    );
    let ghost = req(
        Subject::Client(ClientId::generate(&*core.rng)),
        None,
        "read",
    );
    assert_eq!(
        reason(&check(&core, t, ghost).await),
        DenyReason::UnknownSubject
    );
    // a narrowed grant denies at the very next decision
    let mut tx = core.store.begin().await.unwrap();
    tx.client_grant_upsert(&ClientGrant {
        scope: vec!["read".into()],
        ..g.clone()
    })
    .await
    .unwrap();
    tx.commit().await.unwrap();
    assert_eq!(
        reason(&check(&core, t, client(&m2m, None, "write")).await),
        DenyReason::ClientNotGranted
    );
    assert!(check(&core, t, client(&m2m, None, "read")).await.allowed);
}

async fn blocking_takes_effect_at_the_next_decision(db: TestDb) {
    let core = db.core();
    let a = acme(&core, "acme").await;
    let t = &a.tenant;
    let r = || user_req(&a.carol, Some(&a.org), "admin");
    assert!(check(&core, t, r()).await.allowed, "cached while allowed");
    let mut tx = core.store.begin().await.unwrap();
    tx.user_update(&User {
        blocked: true,
        ..a.carol.clone()
    })
    .await
    .unwrap();
    tx.commit().await.unwrap();
    assert_eq!(reason(&check(&core, t, r()).await), DenyReason::UserBlocked);
    let held = core
        .effective_permissions(t, &a.carol.id, Some(&a.org.id), &a.api.id)
        .await
        .unwrap();
    assert!(held.is_empty(), "a blocked user holds nothing");
    let mut tx = core.store.begin().await.unwrap();
    tx.user_update(&a.carol).await.unwrap();
    tx.commit().await.unwrap();
    assert!(check(&core, t, r()).await.allowed);
    let mut tx = core.store.begin().await.unwrap();
    tx.user_soft_delete(&t.id, &a.carol.id, core.now())
        .await
        .unwrap();
    tx.commit().await.unwrap();
    assert_eq!(reason(&check(&core, t, r()).await), DenyReason::UserDeleted);
}

async fn batches_answer_in_order_and_are_bounded(db: TestDb) {
    let core = db.core();
    let a = acme(&core, "acme").await;
    let t = &a.tenant;
    let users = [&a.alice, &a.bob, &a.carol, &a.dave];
    let perms = ["read", "write", "admin", "audit", "delete"];
    let reqs: Vec<CheckRequest> = (0..MAX_BATCH)
        .map(|i| {
            user_req(
                users[i % users.len()],
                Some(&a.org).filter(|_| i % 3 == 0),
                perms[i % perms.len()],
            )
        })
        .collect();
    let batch = core.authz_check_batch(t, &reqs).await.unwrap();
    assert_eq!(batch.len(), MAX_BATCH);
    let mut allowed = 0;
    for (r, d) in reqs.iter().zip(&batch) {
        assert_eq!(d, &core.authz_check(t, r).await.unwrap(), "{r:?}");
        allowed += usize::from(d.allowed);
    }
    assert!(allowed > 0 && allowed < MAX_BATCH, "{allowed} allowed");
    let mut too_many = reqs.clone();
    too_many.push(user_req(&a.alice, None, "read"));
    match core.authz_check_batch(t, &too_many).await {
        Err(CoreError::Invalid { field, .. }) => assert_eq!(field, "checks"),
        other => panic!("expected invalid checks, got {other:?}"),
    }
    assert!(core.authz_check_batch(t, &[]).await.unwrap().is_empty());
}

async fn tenants_never_see_each_others_roles(db: TestDb) {
    let core = db.core();
    let a = acme(&core, "tenant-a").await;
    // tenant B: the same Api identifier, role names and permission names; its alice has
    // no role at all
    let b = tenant(&core, "tenant-b").await;
    let api_b = new_api(&core, &b, API, &["read", "write", "admin"]);
    let viewer_b = new_role(&core, &b, "viewer");
    let alice_b = new_user(&core, &b, "alice");
    let mut tx = core.store.begin().await.unwrap();
    tx.api_insert(&api_b).await.unwrap();
    tx.role_insert(&viewer_b).await.unwrap();
    tx.role_permissions_set(&b.id, &viewer_b.id, &[rp(&api_b, "read")])
        .await
        .unwrap();
    tx.user_insert(&alice_b).await.unwrap();
    tx.commit().await.unwrap();
    // warm tenant A's cache, then ask tenant B about A's users, orgs and its own alice
    assert!(
        check(&core, &a.tenant, user_req(&a.alice, None, "read"))
            .await
            .allowed
    );
    assert!(
        check(&core, &a.tenant, user_req(&a.carol, Some(&a.org), "admin"))
            .await
            .allowed
    );
    assert_eq!(
        reason(&check(&core, &b, user_req(&a.alice, None, "read")).await),
        DenyReason::UnknownSubject
    );
    assert_eq!(
        reason(&check(&core, &b, user_req(&a.carol, Some(&a.org), "admin")).await),
        DenyReason::UnknownSubject
    );
    assert_eq!(
        reason(&check(&core, &b, user_req(&alice_b, None, "read")).await),
        DenyReason::NoRoleGrantsPermission
    );
    assert_eq!(
        reason(&check(&core, &b, user_req(&alice_b, Some(&a.org), "read")).await),
        DenyReason::NotAMember
    );
    assert!(matches!(
        core.effective_permissions(&b, &a.alice.id, None, &a.api.id)
            .await,
        Err(CoreError::NotFound("user"))
    ));
    // A's Api id through B holds nothing for B's users
    let mut tx = core.store.begin().await.unwrap();
    tx.user_role_add(&b.id, &alice_b.id, &viewer_b.id, core.now())
        .await
        .unwrap();
    tx.commit().await.unwrap();
    assert!(
        core.effective_permissions(&b, &alice_b.id, None, &a.api.id)
            .await
            .unwrap()
            .is_empty()
    );
    let g = granted(&check(&core, &b, user_req(&alice_b, None, "read")).await).clone();
    assert_eq!(g.role_id, Some(viewer_b.id));
    // and B's change did not disturb A
    assert!(
        check(&core, &a.tenant, user_req(&a.alice, None, "read"))
            .await
            .allowed
    );
}

async fn cycles_are_refused_on_write_and_survived_on_read(db: TestDb) {
    let core = db.core();
    let a = acme(&core, "acme").await;
    let t = &a.tenant.id;
    // viewer → owner would close owner → editor → viewer → owner
    let mut tx = core.store.begin().await.unwrap();
    match core
        .role_inherits_replace(&mut *tx, t, &a.viewer.id, std::slice::from_ref(&a.owner.id))
        .await
    {
        Err(CoreError::Invalid { field, reason }) => {
            assert_eq!(field, "inherits");
            let path = [&a.viewer.id, &a.owner.id, &a.editor.id, &a.viewer.id]
                .map(RoleId::as_str)
                .join(" → ");
            assert!(reason.contains(&path), "{reason}");
        }
        other => panic!("expected a refused cycle, got {other:?}"),
    }
    match core
        .role_inherits_replace(
            &mut *tx,
            t,
            &a.auditor.id,
            std::slice::from_ref(&a.auditor.id),
        )
        .await
    {
        Err(CoreError::Invalid { field, .. }) => assert_eq!(field, "inherits"),
        other => panic!("expected a refused self-inheritance, got {other:?}"),
    }
    // an acyclic change is written (duplicates ignored)
    core.role_inherits_replace(
        &mut *tx,
        t,
        &a.auditor.id,
        &[a.viewer.id.clone(), a.viewer.id.clone()],
    )
    .await
    .unwrap();
    assert_eq!(
        tx.role_inherits(t, &a.auditor.id).await.unwrap(),
        std::slice::from_ref(&a.viewer.id)
    );
    tx.commit().await.unwrap();
    // a cycle written past the service (an older release, or by hand) is survived: every
    // role on it reaches the others' permissions
    let mut tx = core.store.begin().await.unwrap();
    tx.role_inherits_set(t, &a.viewer.id, std::slice::from_ref(&a.owner.id))
        .await
        .unwrap();
    tx.commit().await.unwrap();
    let held = core
        .effective_permissions(&a.tenant, &a.alice.id, None, &a.api.id)
        .await
        .unwrap();
    assert_eq!(held.names().collect::<Vec<_>>(), ["admin", "read", "write"]);
    let g = granted(&check(&core, &a.tenant, user_req(&a.alice, None, "write")).await).clone();
    assert_eq!(
        g.via,
        [a.viewer.id.clone(), a.owner.id.clone(), a.editor.id.clone()]
    );
}

async fn a_change_through_another_node_is_seen_at_the_next_decision(db: TestDb) {
    // two nodes: each its own Core (caches) on the one database
    let (node1, node2) = (db.core(), db.core());
    let a = acme(&node1, "acme").await;
    let t = &a.tenant;
    let both = async |r: CheckRequest| {
        let d1 = node1.authz_check(t, &r).await.unwrap();
        let d2 = node2.authz_check(t, &r).await.unwrap();
        assert_eq!(d1, d2, "nodes disagree on {r:?}");
        d1.allowed
    };
    assert!(both(user_req(&a.bob, Some(&a.org), "write")).await);
    assert!(!both(user_req(&a.bob, Some(&a.org), "admin")).await);
    // node 2 changes the editor role: node 1 sees it at once
    let mut tx = node2.store.begin().await.unwrap();
    tx.role_permissions_set(
        &t.id,
        &a.editor.id,
        &[rp(&a.api, "write"), rp(&a.api, "admin")],
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
    assert!(both(user_req(&a.bob, Some(&a.org), "admin")).await);
    // removing bob from the organization: not a member any more, on both nodes
    let mut tx = node2.store.begin().await.unwrap();
    tx.member_remove(&t.id, &a.org.id, &a.bob.id).await.unwrap();
    tx.commit().await.unwrap();
    assert!(!both(user_req(&a.bob, Some(&a.org), "write")).await);
    let held = node1
        .effective_permissions(t, &a.bob.id, Some(&a.org.id), &a.api.id)
        .await
        .unwrap();
    assert!(held.is_empty());
    // deleting the team takes carol's owner role away
    assert!(both(user_req(&a.carol, Some(&a.org), "admin")).await);
    let mut tx = node1.store.begin().await.unwrap();
    tx.team_delete(&t.id, &a.team.id).await.unwrap();
    tx.commit().await.unwrap();
    assert!(!both(user_req(&a.carol, Some(&a.org), "read")).await);
}

//! Property: on random role graphs (inheritance written through the cycle-refusing
//! service, with cycles attempted), random assignments (tenant-wide, organization member,
//! team) and random changes (assignments, membership, permissions, inheritance, blocking,
//! deletions), every decision and every effective-permission set equals a naive reference
//! computed from the generated model, and every explained allow names a grant path that
//! exists in the model. Two nodes (two `Core`s, each with its own cache) answer in turn
//! after every change, so a missed invalidation shows up as a stale answer.

use clavis_core::Core;
use clavis_core::authz::{CheckRequest, DenyReason, Explanation, MAX_BATCH, Subject};
use clavis_core::model::*;
use clavis_core::service::CONFIG_CACHE_SECS;
use clavis_store::testing::{Backend, TestDb};
use clavis_types::*;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::fixture::*;
use crate::reference::Model;

pub(crate) const ROLES: usize = 6;
pub(crate) const USERS: usize = 4;
pub(crate) const ORGS: usize = 2;
/// The organization of each team.
pub(crate) const TEAM_ORG: [usize; 3] = [0, 0, 1];
pub(crate) const TEAMS: usize = TEAM_ORG.len();
pub(crate) const APIS: usize = 2;
/// Permissions each Api defines; checks also ask for one more that no Api defines.
pub(crate) const PERMS: usize = 4;

#[test]
fn sqlite_decisions_match_the_reference() {
    run(Backend::Sqlite);
}

#[test]
fn postgres_decisions_match_the_reference() {
    run(Backend::Postgres);
}

#[derive(Debug, Clone)]
enum Op {
    UserRole {
        u: usize,
        r: usize,
        add: bool,
    },
    Member {
        o: usize,
        u: usize,
        add: bool,
    },
    MemberRole {
        o: usize,
        u: usize,
        r: usize,
        add: bool,
    },
    TeamMember {
        t: usize,
        u: usize,
        add: bool,
    },
    TeamRole {
        t: usize,
        r: usize,
        add: bool,
    },
    RolePerms {
        r: usize,
        perms: Vec<(usize, usize)>,
    },
    Inherits {
        r: usize,
        parents: Vec<usize>,
    },
    Block {
        u: usize,
        blocked: bool,
    },
    DeleteUser {
        u: usize,
    },
    DeleteRole {
        r: usize,
    },
    DeleteTeam {
        t: usize,
    },
    RemoveApiPerm {
        a: usize,
        p: usize,
    },
    /// Remove one existing assignment or membership of this kind (so removals always
    /// remove something).
    Remove {
        kind: Kind,
        pick: prop::sample::Index,
    },
}

#[derive(Debug, Clone, Copy)]
enum Kind {
    UserRole,
    Member,
    MemberRole,
    TeamMember,
    TeamRole,
}

#[derive(Debug, Clone)]
struct Scenario {
    role_perms: Vec<Vec<(usize, usize)>>,
    /// Inheritance attempts, in order; those that would close a cycle must be refused.
    inherits: Vec<(usize, Vec<usize>)>,
    /// Organization memberships, before the other assignments (which some need).
    members: Vec<(usize, usize)>,
    setup: Vec<Op>,
    changes: Vec<Op>,
}

fn perms() -> impl Strategy<Value = Vec<(usize, usize)>> {
    prop::collection::vec((0..APIS, 0..PERMS), 0..4)
}

fn assignment(add: bool) -> impl Strategy<Value = Op> {
    prop_oneof![
        (0..USERS, 0..ROLES).prop_map(move |(u, r)| Op::UserRole { u, r, add }),
        (0..ORGS, 0..USERS).prop_map(move |(o, u)| Op::Member { o, u, add }),
        (0..ORGS, 0..USERS, 0..ROLES).prop_map(move |(o, u, r)| Op::MemberRole { o, u, r, add }),
        (0..TEAMS, 0..USERS).prop_map(move |(t, u)| Op::TeamMember { t, u, add }),
        (0..TEAMS, 0..ROLES).prop_map(move |(t, r)| Op::TeamRole { t, r, add }),
    ]
}

fn change() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => assignment(true),
        1 => assignment(false),
        4 => (
            prop_oneof![
                Just(Kind::UserRole),
                Just(Kind::Member),
                Just(Kind::MemberRole),
                Just(Kind::TeamMember),
                Just(Kind::TeamRole),
            ],
            any::<prop::sample::Index>()
        )
            .prop_map(|(kind, pick)| Op::Remove { kind, pick }),
        2 => (0..ROLES, perms()).prop_map(|(r, perms)| Op::RolePerms { r, perms }),
        2 => (0..ROLES, prop::collection::vec(0..ROLES, 0..3))
            .prop_map(|(r, parents)| Op::Inherits { r, parents }),
        1 => (0..USERS, any::<bool>()).prop_map(|(u, blocked)| Op::Block { u, blocked }),
        1 => (0..USERS).prop_map(|u| Op::DeleteUser { u }),
        1 => (0..ROLES).prop_map(|r| Op::DeleteRole { r }),
        1 => (0..TEAMS).prop_map(|t| Op::DeleteTeam { t }),
        1 => (0..APIS, 0..PERMS).prop_map(|(a, p)| Op::RemoveApiPerm { a, p }),
    ]
}

fn scenario() -> impl Strategy<Value = Scenario> {
    (
        prop::collection::vec(perms(), ROLES),
        prop::collection::vec((0..ROLES, prop::collection::vec(0..ROLES, 1..3)), 0..10),
        prop::collection::vec((0..ORGS, 0..USERS), 2..7),
        prop::collection::vec(assignment(true), 6..24),
        prop::collection::vec(change(), 1..12),
    )
        .prop_map(|(role_perms, inherits, members, setup, changes)| Scenario {
            role_perms,
            inherits,
            members,
            setup,
            changes,
        })
}

fn run(backend: Backend) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let db = rt.block_on(TestDb::new(backend));
    let clock = Arc::new(ManualClock::new(Timestamp::from_millis(1_700_000_000_000)));
    let nodes = [
        db.core_with_clock(clock.clone()),
        db.core_with_clock(clock.clone()),
    ];
    let mut config = Config {
        max_shrink_iters: 64,
        failure_persistence: None,
        ..Config::default()
    };
    if std::env::var_os("PROPTEST_CASES").is_none() {
        config.cases = 32;
    }
    let case = AtomicUsize::new(0);
    let mut runner = TestRunner::new(config);
    let result = runner.run(&scenario(), |s| {
        let n = case.fetch_add(1, Ordering::Relaxed);
        rt.block_on(run_case(&nodes, &clock, n, &s))
    });
    if let Err(e) = result {
        panic!("{e}");
    }
}

/// The generated tenant's objects, by index.
pub(crate) struct World {
    pub(crate) tenant: Tenant,
    pub(crate) apis: Vec<Api>,
    pub(crate) roles: Vec<Role>,
    pub(crate) role_index: HashMap<RoleId, usize>,
    pub(crate) users: Vec<User>,
    pub(crate) orgs: Vec<Organization>,
    pub(crate) teams: Vec<Team>,
}

fn perm_name(p: usize) -> String {
    format!("perm{p}")
}

async fn world(core: &Core, case: usize) -> World {
    let tenant = tenant(core, &format!("case-{case}")).await;
    let names: Vec<String> = (0..PERMS).map(perm_name).collect();
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    let orgs: Vec<_> = (0..ORGS)
        .map(|o| new_org(core, &tenant, &format!("org{o}")))
        .collect();
    let w = World {
        apis: (0..APIS)
            .map(|a| new_api(core, &tenant, &format!("https://api{a}.test"), &names))
            .collect(),
        roles: (0..ROLES)
            .map(|r| new_role(core, &tenant, &format!("role{r}")))
            .collect(),
        role_index: HashMap::new(),
        users: (0..USERS)
            .map(|u| new_user(core, &tenant, &format!("user{u}")))
            .collect(),
        teams: TEAM_ORG
            .iter()
            .enumerate()
            .map(|(t, &o)| new_team(core, &tenant, &orgs[o], &format!("team{t}")))
            .collect(),
        orgs,
        tenant,
    };
    let role_index = w
        .roles
        .iter()
        .enumerate()
        .map(|(i, r)| (r.id.clone(), i))
        .collect();
    let mut tx = core.store.begin().await.unwrap();
    for a in &w.apis {
        tx.api_insert(a).await.unwrap();
    }
    for r in &w.roles {
        tx.role_insert(r).await.unwrap();
    }
    for u in &w.users {
        tx.user_insert(u).await.unwrap();
    }
    for o in &w.orgs {
        tx.org_insert(o).await.unwrap();
    }
    for t in &w.teams {
        tx.team_insert(t).await.unwrap();
    }
    tx.commit().await.unwrap();
    World { role_index, ..w }
}

fn pick_one<T: Copy>(set: &BTreeSet<T>, pick: &prop::sample::Index) -> Option<T> {
    (!set.is_empty()).then(|| **pick.get(&set.iter().collect::<Vec<_>>()))
}

fn fail(msg: impl Into<String>) -> TestCaseError {
    TestCaseError::fail(msg.into())
}

async fn run_case(
    nodes: &[Core; 2],
    clock: &ManualClock,
    case: usize,
    s: &Scenario,
) -> Result<(), TestCaseError> {
    let core = &nodes[0];
    let w = world(core, case).await;
    let mut m = Model::new();
    // setup: role permissions, inheritance attempts, assignments, in one transaction
    let mut tx = core.store.begin().await.unwrap();
    for (r, perms) in s.role_perms.iter().enumerate() {
        apply(
            core,
            &mut *tx,
            &w,
            &mut m,
            &Op::RolePerms {
                r,
                perms: perms.clone(),
            },
        )
        .await?;
    }
    for (r, parents) in &s.inherits {
        let op = Op::Inherits {
            r: *r,
            parents: parents.clone(),
        };
        apply(core, &mut *tx, &w, &mut m, &op).await?;
    }
    for &(o, u) in &s.members {
        apply(core, &mut *tx, &w, &mut m, &Op::Member { o, u, add: true }).await?;
    }
    for op in &s.setup {
        apply(core, &mut *tx, &w, &mut m, op).await?;
    }
    tx.commit().await.unwrap();
    compare(nodes, 0, &w, &m, true).await?;
    for (i, op) in s.changes.iter().enumerate() {
        let mut tx = core.store.begin().await.unwrap();
        apply(core, &mut *tx, &w, &mut m, op).await?;
        tx.commit().await.unwrap();
        if matches!(op, Op::RemoveApiPerm { .. }) {
            // Allow/deny follows at once; whether a missing permission is "not defined"
            // or "not held" follows the Api cache (CONFIG_CACHE_SECS).
            compare(nodes, i + 1, &w, &m, false).await?;
            clock.advance_secs(CONFIG_CACHE_SECS + 1);
        }
        compare(nodes, i + 1, &w, &m, true)
            .await
            .map_err(|e| fail(format!("after change {i} ({op:?}): {e}")))?;
    }
    Ok(())
}

/// Apply one operation to the store (through `tx`) and to the model, skipping operations
/// the schema would refuse (assignments of deleted roles, team members who are not
/// organization members…).
async fn apply(
    core: &Core,
    tx: &mut dyn clavis_core::ports::Tx,
    w: &World,
    m: &mut Model,
    op: &Op,
) -> Result<(), TestCaseError> {
    let (t, now) = (&w.tenant.id, core.now());
    let (roles, users) = (&w.roles, &w.users);
    match *op {
        Op::UserRole { u, r, add } if m.role_alive[r] => {
            if add {
                tx.user_role_add(t, &users[u].id, &roles[r].id, now)
                    .await
                    .unwrap();
                m.user_roles.insert((u, r));
            } else {
                tx.user_role_remove(t, &users[u].id, &roles[r].id)
                    .await
                    .unwrap();
                m.user_roles.remove(&(u, r));
            }
        }
        Op::Member { o, u, add } => {
            if add {
                tx.member_add(t, &w.orgs[o].id, &users[u].id, now)
                    .await
                    .unwrap();
                m.members.insert((o, u));
            } else {
                tx.member_remove(t, &w.orgs[o].id, &users[u].id)
                    .await
                    .unwrap();
                m.members.remove(&(o, u));
                m.member_roles.retain(|&(xo, xu, _)| (xo, xu) != (o, u));
                m.team_members
                    .retain(|&(xt, xu)| !(TEAM_ORG[xt] == o && xu == u));
            }
        }
        Op::MemberRole { o, u, r, add } if m.role_alive[r] && m.members.contains(&(o, u)) => {
            let (org, user, role) = (&w.orgs[o].id, &users[u].id, &roles[r].id);
            if add {
                tx.member_role_add(t, org, user, role, now).await.unwrap();
                m.member_roles.insert((o, u, r));
            } else {
                tx.member_role_remove(t, org, user, role).await.unwrap();
                m.member_roles.remove(&(o, u, r));
            }
        }
        Op::TeamMember { t: team, u, add }
            if m.team_alive[team] && m.members.contains(&(TEAM_ORG[team], u)) =>
        {
            if add {
                tx.team_member_add(t, &w.teams[team].id, &users[u].id, now)
                    .await
                    .unwrap();
                m.team_members.insert((team, u));
            } else {
                tx.team_member_remove(t, &w.teams[team].id, &users[u].id)
                    .await
                    .unwrap();
                m.team_members.remove(&(team, u));
            }
        }
        Op::TeamRole { t: team, r, add } if m.team_alive[team] && m.role_alive[r] => {
            if add {
                tx.team_role_add(t, &w.teams[team].id, &roles[r].id, now)
                    .await
                    .unwrap();
                m.team_roles.insert((team, r));
            } else {
                tx.team_role_remove(t, &w.teams[team].id, &roles[r].id)
                    .await
                    .unwrap();
                m.team_roles.remove(&(team, r));
            }
        }
        Op::RolePerms { r, ref perms } if m.role_alive[r] => {
            let set: BTreeSet<(usize, usize)> = perms
                .iter()
                .copied()
                .filter(|&(a, p)| m.api_perms[a].contains(&p))
                .collect();
            let rows: Vec<RolePermission> = set
                .iter()
                .map(|&(a, p)| rp(&w.apis[a], &perm_name(p)))
                .collect();
            tx.role_permissions_set(t, &roles[r].id, &rows)
                .await
                .unwrap();
            m.role_perms[r] = set;
        }
        Op::Inherits { r, ref parents } if m.role_alive[r] => {
            let set: BTreeSet<usize> = parents
                .iter()
                .copied()
                .filter(|&p| m.role_alive[p])
                .collect();
            let ids: Vec<RoleId> = set.iter().map(|&p| roles[p].id.clone()).collect();
            let refused = m.would_cycle(r, &set);
            match core.role_inherits_replace(tx, t, &roles[r].id, &ids).await {
                Ok(()) if !refused => m.parents[r] = set,
                Err(clavis_core::CoreError::Invalid { field, .. })
                    if refused && field == "inherits" => {}
                other => {
                    return Err(fail(format!(
                        "inherit {r} ← {set:?}: cycle expected {refused}, got {other:?}"
                    )));
                }
            }
        }
        Op::Block { u, blocked } if !m.deleted[u] => {
            tx.user_update(&User {
                blocked,
                ..users[u].clone()
            })
            .await
            .unwrap();
            m.blocked[u] = blocked;
        }
        Op::DeleteUser { u } if !m.deleted[u] => {
            tx.user_soft_delete(t, &users[u].id, now).await.unwrap();
            m.deleted[u] = true;
        }
        Op::DeleteRole { r } if m.role_alive[r] => {
            assert!(tx.role_delete(t, &roles[r].id).await.unwrap());
            m.role_alive[r] = false;
            m.role_perms[r].clear();
            m.parents[r].clear();
            for ps in &mut m.parents {
                ps.remove(&r);
            }
            m.user_roles.retain(|&(_, x)| x != r);
            m.member_roles.retain(|&(_, _, x)| x != r);
            m.team_roles.retain(|&(_, x)| x != r);
        }
        Op::DeleteTeam { t: team } if m.team_alive[team] => {
            assert!(tx.team_delete(t, &w.teams[team].id).await.unwrap());
            m.team_alive[team] = false;
            m.team_members.retain(|&(x, _)| x != team);
            m.team_roles.retain(|&(x, _)| x != team);
        }
        Op::RemoveApiPerm { a, p } if m.api_perms[a].contains(&p) => {
            m.api_perms[a].remove(&p);
            let keep: Vec<Permission> = m.api_perms[a]
                .iter()
                .map(|&x| Permission {
                    value: perm_name(x),
                    description: String::new(),
                })
                .collect();
            tx.api_permissions_set(t, &w.apis[a].id, &keep)
                .await
                .unwrap();
            for held in &mut m.role_perms {
                held.remove(&(a, p));
            }
        }
        Op::Remove { kind, ref pick } => {
            let op = match kind {
                Kind::UserRole => {
                    pick_one(&m.user_roles, pick).map(|(u, r)| Op::UserRole { u, r, add: false })
                }
                Kind::Member => {
                    pick_one(&m.members, pick).map(|(o, u)| Op::Member { o, u, add: false })
                }
                Kind::MemberRole => {
                    pick_one(&m.member_roles, pick).map(|(o, u, r)| Op::MemberRole {
                        o,
                        u,
                        r,
                        add: false,
                    })
                }
                Kind::TeamMember => pick_one(&m.team_members, pick).map(|(t, u)| Op::TeamMember {
                    t,
                    u,
                    add: false,
                }),
                Kind::TeamRole => {
                    pick_one(&m.team_roles, pick).map(|(t, r)| Op::TeamRole { t, r, add: false })
                }
            };
            if let Some(op) = op {
                Box::pin(apply(core, tx, w, m, &op)).await?;
            }
        }
        _ => {} // refused by the schema: not applied to either
    }
    Ok(())
}

/// Every (user, organization or none, Api, permission) against the reference, in
/// batches on one node; a sample one check at a time, and effective permissions, on the
/// other; `strict` also compares deny reasons.
async fn compare(
    nodes: &[Core; 2],
    round: usize,
    w: &World,
    m: &Model,
    strict: bool,
) -> Result<(), TestCaseError> {
    let (checker, other) = (&nodes[round % 2], &nodes[(round + 1) % 2]);
    let mut asked = Vec::new();
    for u in 0..USERS {
        for org in [None, Some(0), Some(1)] {
            for a in 0..APIS {
                for p in 0..=PERMS {
                    let req = CheckRequest {
                        subject: Subject::User(w.users[u].id.clone()),
                        organization: org.map(|o| w.orgs[o].id.clone()),
                        api: w.apis[a].identifier.clone(),
                        permission: perm_name(p),
                        resource: None,
                        context: JsonMap::new(),
                        explain: true,
                    };
                    asked.push(((u, org, a, p), req));
                }
            }
        }
    }
    for chunk in asked.chunks(MAX_BATCH) {
        let reqs: Vec<CheckRequest> = chunk.iter().map(|(_, r)| r.clone()).collect();
        let got = checker.authz_check_batch(&w.tenant, &reqs).await.unwrap();
        prop_assert_eq!(got.len(), reqs.len());
        for (&((u, org, a, p), ref r), d) in chunk.iter().zip(&got) {
            let expected = m.held(u, org);
            let held = expected.as_ref().is_ok_and(|h| h.contains(&(a, p)));
            let at = format!("user {u} org {org:?} api {a} perm {p}");
            prop_assert_eq!(d.allowed, held, "{}: {:?}\nmodel {:?}", at, d, m);
            match &d.explanation {
                Some(Explanation::Granted(g)) => m
                    .grant_exists(w, u, org, (a, p), g)
                    .map_err(|e| fail(format!("{at}: {e}: {g:?}\nmodel {m:?}")))?,
                Some(Explanation::Denied(e)) if strict => {
                    let want = match &expected {
                        Err(reason) => *reason,
                        Ok(_) if !m.api_perms[a].contains(&p) => DenyReason::NoSuchPermission,
                        Ok(_) => DenyReason::NoRoleGrantsPermission,
                    };
                    prop_assert_eq!(e.reason, want, "{}", at);
                }
                Some(Explanation::Denied(_)) => {}
                None => return Err(fail(format!("{at}: no explanation"))),
            }
            if u == round % USERS && org.is_none() {
                // one check at a time, on the other node, gives the same answer
                prop_assert_eq!(&other.authz_check(&w.tenant, r).await.unwrap(), d);
            }
        }
    }
    let a = round % APIS;
    for u in 0..USERS {
        for org in [None, Some(0), Some(1)] {
            let held = other
                .effective_permissions(
                    &w.tenant,
                    &w.users[u].id,
                    org.map(|o| &w.orgs[o].id),
                    &w.apis[a].id,
                )
                .await
                .unwrap();
            let want: Vec<String> = match m.held(u, org) {
                Ok(h) => h
                    .iter()
                    .filter(|x| x.0 == a)
                    .map(|&(_, p)| perm_name(p))
                    .collect(),
                Err(_) => Vec::new(),
            };
            prop_assert_eq!(
                held.names().collect::<Vec<_>>(),
                want,
                "effective permissions of user {} org {:?} api {}",
                u,
                org,
                a
            );
        }
    }
    Ok(())
}

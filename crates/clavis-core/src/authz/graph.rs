//! A tenant's role graph (permissions and inheritance edges, loaded in two queries and
//! cached per authorization version), its expansion from a user's assignments, and the
//! cycle check applied when inheritance is written.

use clavis_types::{ApiId, RoleId, TeamId};
use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::sync::Arc;

use super::{ApiPermissions, Grant, GrantSource, Origin};
use crate::model::RolePermission;

/// One role assignment of a user, in the order grants are preferred.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Assignment {
    pub source: GrantSource,
    pub team_id: Option<TeamId>,
    pub role: RoleId,
}

/// Every role's permissions and inherited roles in one tenant. Permission names are
/// shared (`Arc<str>`) with every user's effective permissions computed from the graph.
#[derive(Debug, Default)]
pub(crate) struct RoleGraph {
    perms: HashMap<RoleId, Vec<(ApiId, Arc<str>)>>,
    parents: HashMap<RoleId, Vec<RoleId>>,
}

impl RoleGraph {
    pub(crate) fn from_rows(
        perms: Vec<(RoleId, RolePermission)>,
        edges: Vec<(RoleId, RoleId)>,
    ) -> Self {
        let mut g = Self::default();
        let mut names: HashMap<String, Arc<str>> = HashMap::new();
        for (role, p) in perms {
            let name = names
                .entry(p.permission)
                .or_insert_with_key(|k| Arc::from(k.as_str()))
                .clone();
            g.perms.entry(role).or_default().push((p.api_id, name));
        }
        for (role, parent) in edges {
            g.parents.entry(role).or_default().push(parent);
        }
        g
    }

    fn parents_of(&self, role: &RoleId) -> &[RoleId] {
        self.parents
            .get(role)
            .map(Vec::as_slice)
            .unwrap_or_default()
    }

    /// The permissions reached from `assignments` through inheritance, per Api, each with
    /// the first path found. Breadth-first from each assignment in order; a role already
    /// reached (from an earlier assignment, or again through a cycle, which the write path
    /// refuses but this must survive) is not expanded twice, since everything it leads to
    /// has been collected with an earlier, preferred path.
    pub(crate) fn expand(&self, assignments: &[Assignment]) -> HashMap<ApiId, ApiPermissions> {
        let mut by_api: HashMap<ApiId, BTreeMap<Arc<str>, Grant>> = HashMap::new();
        let mut reached: HashSet<&RoleId> = HashSet::new();
        for a in assignments {
            if !reached.insert(&a.role) {
                continue;
            }
            let origin = Arc::new(Origin {
                source: a.source,
                team_id: a.team_id.clone(),
            });
            let mut queue: VecDeque<(&RoleId, Arc<[RoleId]>)> = VecDeque::new();
            queue.push_back((&a.role, Arc::from(vec![a.role.clone()])));
            while let Some((role, via)) = queue.pop_front() {
                for (api, name) in self.perms.get(role).map(Vec::as_slice).unwrap_or_default() {
                    if !by_api.contains_key(api) {
                        by_api.insert(api.clone(), BTreeMap::new());
                    }
                    if let Some(held) = by_api.get_mut(api) {
                        held.entry(name.clone())
                            .or_insert_with(|| Grant::new(origin.clone(), via.clone()));
                    }
                }
                for parent in self.parents_of(role) {
                    if reached.insert(parent) {
                        let mut next = via.to_vec();
                        next.push(parent.clone());
                        queue.push_back((parent, Arc::from(next)));
                    }
                }
            }
        }
        by_api
            .into_iter()
            .map(|(api, grants)| (api, ApiPermissions { grants }))
            .collect()
    }
}

/// With `role` inheriting `parents` (replacing its current edges in `edges`), the cycle
/// through `role` that would form, as a path `role → … → role`; `None` when acyclic there.
/// Cycles elsewhere in the stored graph (written before this check existed) are not
/// blamed on this write.
pub(crate) fn cycle_through(
    edges: &[(RoleId, RoleId)],
    role: &RoleId,
    parents: &[RoleId],
) -> Option<Vec<RoleId>> {
    let mut adj: HashMap<&RoleId, Vec<&RoleId>> = HashMap::new();
    for (r, p) in edges.iter().filter(|(r, _)| r != role) {
        adj.entry(r).or_default().push(p);
    }
    adj.insert(role, parents.iter().collect());
    // Breadth-first from `role`, remembering how each role was reached.
    let mut prev: HashMap<&RoleId, &RoleId> = HashMap::new();
    let mut queue = VecDeque::from([role]);
    while let Some(r) = queue.pop_front() {
        for &p in adj.get(r).map(Vec::as_slice).unwrap_or_default() {
            if p == role {
                let mut back = Vec::new();
                let mut at = r;
                while at != role {
                    back.push(at.clone());
                    at = prev.get(at).copied().unwrap_or(role);
                }
                let mut path = vec![role.clone()];
                path.extend(back.into_iter().rev());
                path.push(role.clone());
                return Some(path);
            }
            if p != role && !prev.contains_key(p) {
                prev.insert(p, r);
                queue.push_back(p);
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use clavis_types::Timestamp;

    fn id() -> RoleId {
        RoleId::generate(Timestamp::from_millis(1), &clavis_crypto::SystemRng::new())
    }

    fn perm(api: &ApiId, p: &str) -> RolePermission {
        RolePermission {
            api_id: api.clone(),
            permission: p.to_owned(),
        }
    }

    fn user(role: &RoleId) -> Assignment {
        Assignment {
            source: GrantSource::User,
            team_id: None,
            role: role.clone(),
        }
    }

    #[test]
    fn expansion_follows_inheritance_and_reports_the_chain() {
        let api = ApiId::generate(Timestamp::from_millis(1), &clavis_crypto::SystemRng::new());
        let (a, b, c) = (id(), id(), id());
        let g = RoleGraph::from_rows(
            vec![
                (c.clone(), perm(&api, "read")),
                (a.clone(), perm(&api, "own")),
            ],
            vec![(a.clone(), b.clone()), (b.clone(), c.clone())],
        );
        let got = g.expand(&[user(&a)]);
        let perms = got.get(&api).unwrap();
        assert_eq!(perms.names().collect::<Vec<_>>(), ["own", "read"]);
        let read = perms.grant("read").unwrap();
        assert_eq!(read.role_id(), Some(&a));
        assert_eq!(read.via(), &[a.clone(), b, c][..]);
        assert_eq!(perms.grant("own").unwrap().via(), &[a][..]);
    }

    #[test]
    fn a_stored_cycle_terminates_and_collects_every_role_on_it() {
        let api = ApiId::generate(Timestamp::from_millis(1), &clavis_crypto::SystemRng::new());
        let (a, b, c) = (id(), id(), id());
        let g = RoleGraph::from_rows(
            vec![(a.clone(), perm(&api, "pa")), (c.clone(), perm(&api, "pc"))],
            vec![
                (a.clone(), b.clone()),
                (b.clone(), c.clone()),
                (c.clone(), a.clone()),
            ],
        );
        let got = g.expand(&[user(&b)]);
        let perms = got.get(&api).unwrap();
        assert_eq!(perms.names().collect::<Vec<_>>(), ["pa", "pc"]);
        assert_eq!(perms.grant("pa").unwrap().via(), &[b.clone(), c, a][..]);
    }

    #[test]
    fn an_earlier_assignment_is_the_preferred_path() {
        let api = ApiId::generate(Timestamp::from_millis(1), &clavis_crypto::SystemRng::new());
        let (a, b) = (id(), id());
        let g = RoleGraph::from_rows(
            vec![(b.clone(), perm(&api, "p"))],
            vec![(a.clone(), b.clone())],
        );
        let team = Assignment {
            source: GrantSource::Team,
            team_id: None,
            role: b.clone(),
        };
        let got = g.expand(&[team, user(&a)]);
        let grant = got.get(&api).unwrap().grant("p").unwrap().clone();
        assert_eq!(grant.source(), GrantSource::Team);
        assert_eq!(grant.via(), &[b][..]);
    }

    #[test]
    fn cycles_are_found_with_their_path() {
        let (a, b, c, d) = (id(), id(), id(), id());
        let edges = vec![(b.clone(), c.clone()), (c.clone(), a.clone())];
        // a → b → c → a
        assert_eq!(
            cycle_through(&edges, &a, std::slice::from_ref(&b)),
            Some(vec![a.clone(), b.clone(), c.clone(), a.clone()])
        );
        // self-inheritance
        assert_eq!(
            cycle_through(&edges, &d, std::slice::from_ref(&d)),
            Some(vec![d.clone(), d.clone()])
        );
        // a → d is fine; replacing c's edge removes the cycle through c
        assert_eq!(cycle_through(&edges, &a, std::slice::from_ref(&d)), None);
        assert_eq!(cycle_through(&edges, &c, std::slice::from_ref(&d)), None);
        // a diamond is not a cycle
        let diamond = vec![(b.clone(), d.clone()), (c.clone(), d.clone())];
        assert_eq!(cycle_through(&diamond, &a, &[b, c]), None);
    }
}

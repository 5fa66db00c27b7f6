//! The naive reference of the property test: the state the store should be in, as plain
//! sets of indexes, with effective permissions computed by fixpoint iteration.

use clavis_core::authz::{DenyReason, GrantExplanation, GrantSource};
use std::collections::BTreeSet;

use crate::property::{APIS, PERMS, ROLES, TEAM_ORG, TEAMS, USERS, World};

/// The state the store should be in, and the naive reference over it.
#[derive(Debug, Clone)]
pub(crate) struct Model {
    pub(crate) api_perms: Vec<BTreeSet<usize>>,
    pub(crate) role_alive: Vec<bool>,
    pub(crate) role_perms: Vec<BTreeSet<(usize, usize)>>,
    pub(crate) parents: Vec<BTreeSet<usize>>,
    pub(crate) blocked: Vec<bool>,
    pub(crate) deleted: Vec<bool>,
    pub(crate) members: BTreeSet<(usize, usize)>,
    pub(crate) team_alive: Vec<bool>,
    pub(crate) team_members: BTreeSet<(usize, usize)>,
    pub(crate) user_roles: BTreeSet<(usize, usize)>,
    pub(crate) member_roles: BTreeSet<(usize, usize, usize)>,
    pub(crate) team_roles: BTreeSet<(usize, usize)>,
}

impl Model {
    pub(crate) fn new() -> Self {
        Self {
            api_perms: vec![(0..PERMS).collect(); APIS],
            role_alive: vec![true; ROLES],
            role_perms: vec![BTreeSet::new(); ROLES],
            parents: vec![BTreeSet::new(); ROLES],
            blocked: vec![false; USERS],
            deleted: vec![false; USERS],
            members: BTreeSet::new(),
            team_alive: vec![true; TEAMS],
            team_members: BTreeSet::new(),
            user_roles: BTreeSet::new(),
            member_roles: BTreeSet::new(),
            team_roles: BTreeSet::new(),
        }
    }

    /// Whether `r` inheriting `parents` makes `r` reach itself (naive closure).
    pub(crate) fn would_cycle(&self, r: usize, parents: &BTreeSet<usize>) -> bool {
        let mut reached = parents.clone();
        loop {
            let next: BTreeSet<usize> = reached
                .iter()
                .flat_map(|&x| {
                    if x == r {
                        parents.clone()
                    } else {
                        self.parents[x].clone()
                    }
                })
                .chain(reached.iter().copied())
                .collect();
            if next.contains(&r) {
                return true;
            }
            if next == reached {
                return false;
            }
            reached = next;
        }
    }

    /// The reference: (Api, permission) pairs the user holds, or why nothing is held.
    pub(crate) fn held(
        &self,
        u: usize,
        org: Option<usize>,
    ) -> Result<BTreeSet<(usize, usize)>, DenyReason> {
        if self.deleted[u] {
            return Err(DenyReason::UserDeleted);
        }
        if self.blocked[u] {
            return Err(DenyReason::UserBlocked);
        }
        let mut roles: BTreeSet<usize> = self
            .user_roles
            .iter()
            .filter(|&&(x, _)| x == u)
            .map(|&(_, r)| r)
            .collect();
        if let Some(o) = org {
            if !self.members.contains(&(o, u)) {
                return Err(DenyReason::NotAMember);
            }
            roles.extend(
                self.member_roles
                    .iter()
                    .filter(|&&(xo, xu, _)| (xo, xu) == (o, u))
                    .map(|&(_, _, r)| r),
            );
            for t in (0..TEAMS).filter(|&t| TEAM_ORG[t] == o && self.team_members.contains(&(t, u)))
            {
                roles.extend(
                    self.team_roles
                        .iter()
                        .filter(|&&(x, _)| x == t)
                        .map(|&(_, r)| r),
                );
            }
        }
        loop {
            let next: BTreeSet<usize> = roles
                .iter()
                .flat_map(|&r| self.parents[r].iter().copied())
                .chain(roles.iter().copied())
                .collect();
            if next == roles {
                break;
            }
            roles = next;
        }
        Ok(roles
            .iter()
            .flat_map(|&r| self.role_perms[r].iter().copied())
            .collect())
    }

    /// Check an explained allow against the model: the assignment exists, every step of
    /// `via` is an inheritance edge, and the last role holds the permission.
    pub(crate) fn grant_exists(
        &self,
        w: &World,
        u: usize,
        org: Option<usize>,
        (a, p): (usize, usize),
        g: &GrantExplanation,
    ) -> Result<(), String> {
        let role = g.role_id.as_ref().ok_or("no role")?;
        let root = *w.role_index.get(role).ok_or("unknown role")?;
        let assigned = match (g.source, org) {
            (GrantSource::User, _) => self.user_roles.contains(&(u, root)),
            (GrantSource::OrganizationMember, Some(o)) => self.member_roles.contains(&(o, u, root)),
            (GrantSource::Team, Some(o)) => {
                let team = g.team_id.as_ref().ok_or("no team")?;
                let t = w
                    .teams
                    .iter()
                    .position(|x| &x.id == team)
                    .ok_or("unknown team")?;
                TEAM_ORG[t] == o
                    && self.team_members.contains(&(t, u))
                    && self.team_roles.contains(&(t, root))
            }
            _ => false,
        };
        if !assigned {
            return Err(format!("no such assignment: {:?} of role {root}", g.source));
        }
        if g.role_name.as_deref() != Some(w.roles[root].name.as_str()) {
            return Err("wrong role name".into());
        }
        let via: Vec<usize> = g
            .via
            .iter()
            .map(|r| w.role_index.get(r).copied().ok_or("unknown role in via"))
            .collect::<Result<_, _>>()?;
        if via.first() != Some(&root) {
            return Err("via does not start at the assigned role".into());
        }
        if let Some(step) = via.windows(2).find(|s| !self.parents[s[0]].contains(&s[1])) {
            return Err(format!("no inheritance edge {} → {}", step[0], step[1]));
        }
        match via.last() {
            Some(&last) if self.role_perms[last].contains(&(a, p)) => Ok(()),
            _ => Err("the last role of via does not hold the permission".into()),
        }
    }
}

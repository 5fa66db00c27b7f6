//! Role inheritance must stay acyclic: a role may not (transitively) inherit itself.

use std::collections::{HashMap, HashSet};

use super::document::TenantDoc;

/// Names of the roles on the inheritance cycle reachable from a role of the file, with the
/// index of the file role to blame. Edges: a file role's `inherits` when present, else the
/// stored ones (`stored`: role name → parent names).
pub(super) fn find_cycle(
    t: &TenantDoc,
    stored: &HashMap<String, Vec<String>>,
) -> Option<(usize, Vec<String>)> {
    let mut adj = stored.clone();
    for r in &t.roles {
        if let Some(parents) = &r.inherits {
            adj.insert(r.name.clone(), parents.clone());
        }
    }
    let mut done = HashSet::new();
    for (ri, r) in t.roles.iter().enumerate() {
        if r.inherits.is_none() {
            continue;
        }
        let mut stack = Vec::new();
        if let Some(cycle) = visit(&r.name, &adj, &mut done, &mut stack) {
            let blame = t
                .roles
                .iter()
                .position(|x| x.inherits.is_some() && cycle.first() == Some(&x.name))
                .unwrap_or(ri);
            return Some((blame, cycle));
        }
    }
    None
}

fn visit(
    node: &str,
    adj: &HashMap<String, Vec<String>>,
    done: &mut HashSet<String>,
    stack: &mut Vec<String>,
) -> Option<Vec<String>> {
    if done.contains(node) {
        return None;
    }
    if let Some(start) = stack.iter().position(|n| n == node) {
        let mut cycle = stack[start..].to_vec();
        cycle.push(node.to_owned());
        return Some(cycle);
    }
    stack.push(node.to_owned());
    for parent in adj.get(node).map(Vec::as_slice).unwrap_or_default() {
        if let Some(c) = visit(parent, adj, done, stack) {
            return Some(c);
        }
    }
    stack.pop();
    done.insert(node.to_owned());
    None
}

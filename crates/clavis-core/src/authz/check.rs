//! Decisions and effective permissions as `Core` methods: read the tenant's authorization
//! version, reuse or compute the subject's effective permissions, answer.

use clavis_types::{ApiId, AppType, ClientId, OrgId, RoleId, TenantId, UserId};
use std::collections::HashMap;
use std::sync::Arc;

use super::cache::{Effective, Standing};
use super::graph::{Assignment, RoleGraph, cycle_through};
use super::{
    ApiPermissions, CheckRequest, Decision, DenyExplanation, DenyReason, Explanation,
    GrantExplanation, GrantSource, MAX_BATCH, Subject,
};
use crate::model::{Api, Tenant};
use crate::ports::Tx;
use crate::{Core, CoreError};

impl Core {
    /// Answer one check (see the [module documentation](super) for the semantics).
    pub async fn authz_check(
        &self,
        tenant: &Tenant,
        req: &CheckRequest,
    ) -> Result<Decision, CoreError> {
        let mut tx = self.store.read().await?;
        let version = tx.authz_version(&tenant.id).await?;
        self.decide(&mut *tx, &tenant.id, version, req).await
    }

    /// Answer up to [`MAX_BATCH`] checks, in order, from one transaction and one reading
    /// of the authorization version (so they agree with each other). More checks are
    /// refused as invalid `checks`.
    pub async fn authz_check_batch(
        &self,
        tenant: &Tenant,
        reqs: &[CheckRequest],
    ) -> Result<Vec<Decision>, CoreError> {
        if reqs.len() > MAX_BATCH {
            return Err(CoreError::invalid(
                "checks",
                format!(
                    "at most {MAX_BATCH} checks per batch, {} were given",
                    reqs.len()
                ),
            ));
        }
        if reqs.is_empty() {
            return Ok(Vec::new());
        }
        let mut tx = self.store.read().await?;
        let version = tx.authz_version(&tenant.id).await?;
        let mut out = Vec::with_capacity(reqs.len());
        for req in reqs {
            out.push(self.decide(&mut *tx, &tenant.id, version, req).await?);
        }
        Ok(out)
    }

    /// The permissions `user` holds on `api`, inside `org` when given: the one
    /// implementation behind decisions and the permissions of access tokens. Empty for a
    /// blocked or deleted user and for a user who is not a member of `org`; `NotFound`
    /// when the user does not exist in the tenant.
    pub async fn effective_permissions(
        &self,
        tenant: &Tenant,
        user: &UserId,
        org: Option<&OrgId>,
        api: &ApiId,
    ) -> Result<Arc<ApiPermissions>, CoreError> {
        let mut tx = self.store.read().await?;
        let version = tx.authz_version(&tenant.id).await?;
        match self
            .effective_at(&mut *tx, &tenant.id, version, user, org)
            .await?
        {
            Some(e) => Ok(on_api(&e, api)),
            None => Err(CoreError::NotFound("user")),
        }
    }

    /// [`Core::effective_permissions`] inside the caller's transaction (token issuance,
    /// which must not hold a second connection); an unknown user holds nothing. Must not
    /// be called in a transaction that has changed authorization data: the result would
    /// be cached under a version that may never commit.
    pub(crate) async fn effective_permissions_in(
        &self,
        tx: &mut dyn Tx,
        t: &TenantId,
        user: &UserId,
        org: Option<&OrgId>,
        api: &ApiId,
    ) -> Result<Arc<ApiPermissions>, CoreError> {
        let version = tx.authz_version(t).await?;
        Ok(match self.effective_at(tx, t, version, user, org).await? {
            Some(e) => on_api(&e, api),
            None => Arc::default(),
        })
    }

    /// Replace the roles `role` inherits, refusing (invalid `inherits`, naming the path) a
    /// change that would make a role inherit itself, directly or transitively. Duplicate
    /// parents are ignored.
    pub async fn role_inherits_replace(
        &self,
        tx: &mut dyn Tx,
        t: &TenantId,
        role: &RoleId,
        parents: &[RoleId],
    ) -> Result<(), CoreError> {
        let mut parents = parents.to_vec();
        parents.sort();
        parents.dedup();
        let edges = tx.role_inherits_all(t).await?;
        if let Some(cycle) = cycle_through(&edges, role, &parents) {
            let path: Vec<&str> = cycle.iter().map(RoleId::as_str).collect();
            return Err(CoreError::invalid(
                "inherits",
                format!("would form an inheritance cycle: {}", path.join(" → ")),
            ));
        }
        tx.role_inherits_set(t, role, &parents).await?;
        Ok(())
    }

    async fn decide(
        &self,
        tx: &mut dyn Tx,
        t: &TenantId,
        version: i64,
        req: &CheckRequest,
    ) -> Result<Decision, CoreError> {
        match &req.subject {
            Subject::User(user) => self.decide_user(tx, t, version, user, req).await,
            Subject::Client(client) => self.decide_client(tx, t, client, req).await,
        }
    }

    async fn decide_user(
        &self,
        tx: &mut dyn Tx,
        t: &TenantId,
        version: i64,
        user: &UserId,
        req: &CheckRequest,
    ) -> Result<Decision, CoreError> {
        let Some(api) = self.authz_api(tx, t, &req.api).await? else {
            return Ok(deny(req, DenyReason::NoSuchApi));
        };
        let org = req.organization.as_ref();
        let Some(eff) = self.effective_at(tx, t, version, user, org).await? else {
            return Ok(deny(req, DenyReason::UnknownSubject));
        };
        match eff.standing {
            Standing::Active => {}
            Standing::Blocked => return Ok(deny(req, DenyReason::UserBlocked)),
            Standing::Deleted => return Ok(deny(req, DenyReason::UserDeleted)),
            Standing::NotAMember => return Ok(deny(req, DenyReason::NotAMember)),
        }
        let grant = eff
            .by_api
            .get(&api.id)
            .and_then(|p| p.grant(&req.permission));
        let Some(grant) = grant else {
            return Ok(deny(
                req,
                missing_reason(&api, req, DenyReason::NoRoleGrantsPermission),
            ));
        };
        let explanation = if req.explain {
            let role_name = match grant.role_id() {
                Some(role) => tx.role_get(t, role).await?.map(|r| r.name),
                None => None,
            };
            Some(Explanation::Granted(GrantExplanation {
                source: grant.source(),
                team_id: grant.team_id().cloned(),
                role_id: grant.role_id().cloned(),
                role_name,
                via: grant.via().to_vec(),
                client_grant_id: None,
            }))
        } else {
            None
        };
        Ok(Decision {
            allowed: true,
            explanation,
        })
    }

    /// Clients: allowed iff the client is a machine-to-machine application whose grant on
    /// the Api includes the permission (as for the client-credentials grant). Read from
    /// the transaction, not a cache, so a revoked grant denies at once.
    async fn decide_client(
        &self,
        tx: &mut dyn Tx,
        t: &TenantId,
        client: &ClientId,
        req: &CheckRequest,
    ) -> Result<Decision, CoreError> {
        if req.organization.is_some() {
            return Ok(deny(req, DenyReason::ClientOrganizationUnsupported));
        }
        let Some(api) = self.authz_api(tx, t, &req.api).await? else {
            return Ok(deny(req, DenyReason::NoSuchApi));
        };
        let Some(app) = tx.app_get(t, client).await? else {
            return Ok(deny(req, DenyReason::UnknownSubject));
        };
        let grant = if app.app_type == AppType::M2m {
            tx.client_grant_get(t, client, &api.id).await?
        } else {
            None
        };
        match grant.filter(|g| g.scope.contains(&req.permission)) {
            Some(g) => Ok(Decision {
                allowed: true,
                explanation: req.explain.then(|| {
                    Explanation::Granted(GrantExplanation {
                        source: GrantSource::ClientGrant,
                        team_id: None,
                        role_id: None,
                        role_name: None,
                        via: Vec::new(),
                        client_grant_id: Some(g.id),
                    })
                }),
            }),
            None => Ok(deny(
                req,
                missing_reason(&api, req, DenyReason::ClientNotGranted),
            )),
        }
    }

    /// The Api with this identifier, through the hot-path configuration cache (only hits
    /// are cached), read with the caller's transaction on a miss.
    async fn authz_api(
        &self,
        tx: &mut dyn Tx,
        t: &TenantId,
        identifier: &str,
    ) -> Result<Option<Arc<Api>>, CoreError> {
        let key = (t.clone(), identifier.to_owned());
        if let Some(hit) = self.caches.apis.get(&key, &*self.clock) {
            return Ok(hit);
        }
        let api = tx.api_get_by_identifier(t, identifier).await?.map(Arc::new);
        if api.is_some() {
            self.caches.apis.put(key, api.clone(), &*self.clock);
        }
        Ok(api)
    }

    /// The user's effective permissions at `version`, cached or computed; `None` when the
    /// user does not exist (not cached, so made-up ids cannot fill the cache). `version`
    /// must have been read in `tx` before any of the data computed here, so a result is
    /// never labelled with a newer version than the data it was computed from.
    async fn effective_at(
        &self,
        tx: &mut dyn Tx,
        t: &TenantId,
        version: i64,
        user: &UserId,
        org: Option<&OrgId>,
    ) -> Result<Option<Arc<Effective>>, CoreError> {
        let key = (t.clone(), user.clone(), org.cloned());
        if let Some(hit) = self.authz.subject(&key, version) {
            return Ok(Some(hit));
        }
        let Some(u) = tx.user_get(t, user).await? else {
            return Ok(None);
        };
        let standing = if u.deleted_at.is_some() {
            Standing::Deleted
        } else if u.blocked {
            Standing::Blocked
        } else if let Some(org) = org
            && !tx.member_orgs(t, user).await?.contains(org)
        {
            Standing::NotAMember
        } else {
            Standing::Active
        };
        let by_api = if standing == Standing::Active {
            let assignments = assignments(tx, t, user, org).await?;
            let graph = self.role_graph_at(tx, t, version).await?;
            graph
                .expand(&assignments)
                .into_iter()
                .map(|(api, perms)| (api, Arc::new(perms)))
                .collect()
        } else {
            HashMap::new()
        };
        let eff = Arc::new(Effective { standing, by_api });
        self.authz.put_subject(key, version, eff.clone());
        Ok(Some(eff))
    }

    /// The tenant's role graph at `version` (two queries on a miss).
    async fn role_graph_at(
        &self,
        tx: &mut dyn Tx,
        t: &TenantId,
        version: i64,
    ) -> Result<Arc<RoleGraph>, CoreError> {
        if let Some(hit) = self.authz.graph(t, version) {
            return Ok(hit);
        }
        let perms = tx.role_permissions_all(t).await?;
        let edges = tx.role_inherits_all(t).await?;
        let graph = Arc::new(RoleGraph::from_rows(perms, edges));
        self.authz.put_graph(t.clone(), version, graph.clone());
        Ok(graph)
    }
}

/// The user's role assignments in preference order: tenant-wide, then (inside an
/// organization) as a member, then through each of the user's teams there.
async fn assignments(
    tx: &mut dyn Tx,
    t: &TenantId,
    user: &UserId,
    org: Option<&OrgId>,
) -> Result<Vec<Assignment>, CoreError> {
    let direct = |source, role| Assignment {
        source,
        team_id: None,
        role,
    };
    let mut out: Vec<Assignment> = tx
        .user_roles(t, user)
        .await?
        .into_iter()
        .map(|r| direct(GrantSource::User, r))
        .collect();
    if let Some(org) = org {
        out.extend(
            tx.member_roles(t, org, user)
                .await?
                .into_iter()
                .map(|r| direct(GrantSource::OrganizationMember, r)),
        );
        for team in tx.user_teams(t, org, user).await? {
            for role in tx.team_roles(t, &team).await? {
                out.push(Assignment {
                    source: GrantSource::Team,
                    team_id: Some(team.clone()),
                    role,
                });
            }
        }
    }
    Ok(out)
}

fn on_api(e: &Effective, api: &ApiId) -> Arc<ApiPermissions> {
    e.by_api.get(api).cloned().unwrap_or_default()
}

/// Why a permission that was not granted is missing: the Api does not define it at all, or
/// `otherwise`.
fn missing_reason(api: &Api, req: &CheckRequest, otherwise: DenyReason) -> DenyReason {
    if api.permissions.iter().any(|p| p.value == req.permission) {
        otherwise
    } else {
        DenyReason::NoSuchPermission
    }
}

fn deny(req: &CheckRequest, reason: DenyReason) -> Decision {
    Decision {
        allowed: false,
        explanation: req.explain.then(|| {
            Explanation::Denied(DenyExplanation {
                reason,
                message: reason.message().to_owned(),
            })
        }),
    }
}

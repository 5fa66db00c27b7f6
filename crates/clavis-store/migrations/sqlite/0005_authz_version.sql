-- The authorization version of each tenant. Every store method that changes what a user
-- may do (roles, their permissions and inheritance, role assignments, organization and
-- team membership, deleting a role, user, organization, team or Api, blocking a user)
-- bumps it in the same transaction. Decisions reuse cached effective permissions only
-- while the version they were computed at is still current, so a change made on any node
-- is seen at the very next decision. A tenant without a row is at version 0.
CREATE TABLE authz_versions (
    tenant_id TEXT NOT NULL PRIMARY KEY REFERENCES tenants (id) ON DELETE CASCADE,
    version BIGINT NOT NULL
);

-- Management API resources: connections enabled per organization, organization
-- invitations, and API keys. Secrets (invitation tickets, API keys) are stored only as
-- keyed digests.

CREATE TABLE org_connections (
    tenant_id TEXT NOT NULL,
    org_id TEXT NOT NULL,
    connection_id TEXT NOT NULL,
    assign_membership_on_login BOOLEAN NOT NULL DEFAULT FALSE,
    show_as_button BOOLEAN NOT NULL DEFAULT TRUE,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, org_id, connection_id),
    FOREIGN KEY (tenant_id, org_id) REFERENCES organizations (tenant_id, id) ON DELETE CASCADE,
    FOREIGN KEY (tenant_id, connection_id) REFERENCES connections (tenant_id, id) ON DELETE CASCADE
);
CREATE INDEX org_connections_connection ON org_connections (tenant_id, connection_id);

CREATE TABLE org_invitations (
    tenant_id TEXT NOT NULL,
    id TEXT NOT NULL,
    org_id TEXT NOT NULL,
    -- The invitee's address, normalised as users.email is.
    invitee_email TEXT NOT NULL,
    -- Free-form name of who invited (Auth0's inviter.name).
    inviter_name TEXT NOT NULL,
    -- The application the invitation link opens.
    client_id TEXT NOT NULL,
    connection_id TEXT,
    -- JSON array of role ids granted in the organization on acceptance.
    roles TEXT NOT NULL,
    app_metadata TEXT NOT NULL,
    user_metadata TEXT NOT NULL,
    ticket_digest BLOB NOT NULL UNIQUE,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, org_id) REFERENCES organizations (tenant_id, id) ON DELETE CASCADE,
    FOREIGN KEY (tenant_id, client_id) REFERENCES applications (tenant_id, client_id) ON DELETE CASCADE
);
CREATE INDEX org_invitations_org ON org_invitations (tenant_id, org_id, created_at);

CREATE TABLE api_keys (
    tenant_id TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    id TEXT NOT NULL,
    -- Set for an organization administrator's key: it sees only that organization.
    org_id TEXT,
    name TEXT NOT NULL,
    -- The first characters of the key after its prefix, shown so people can tell keys apart.
    hint TEXT NOT NULL,
    -- Keyed SHA-256 digest of the whole key; unique across tenants so a key names its tenant.
    digest BLOB NOT NULL UNIQUE,
    -- Space-separated Management API scopes.
    scopes TEXT NOT NULL,
    created_by TEXT,
    created_at BIGINT NOT NULL,
    expires_at BIGINT,
    last_used_at BIGINT,
    revoked_at BIGINT,
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, org_id) REFERENCES organizations (tenant_id, id) ON DELETE CASCADE
);

CREATE INDEX team_members_user ON team_members (tenant_id, user_id);

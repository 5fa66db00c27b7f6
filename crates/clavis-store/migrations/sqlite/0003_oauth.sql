-- OpenID Provider state: client grants, login sessions, authorization codes, refresh-token
-- families, access tokens issued from user grants (so they can be revoked), and the
-- per-tenant audit log that every security-relevant change appends to.

ALTER TABLE applications ADD COLUMN pkce_required BOOLEAN NOT NULL DEFAULT TRUE;
ALTER TABLE applications ADD COLUMN client_jwks TEXT;

CREATE TABLE client_grants (
    tenant_id TEXT NOT NULL,
    id TEXT NOT NULL,
    client_id TEXT NOT NULL,
    api_id TEXT NOT NULL,
    scope TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, id),
    UNIQUE (tenant_id, client_id, api_id),
    FOREIGN KEY (tenant_id, client_id) REFERENCES applications (tenant_id, client_id) ON DELETE CASCADE,
    FOREIGN KEY (tenant_id, api_id) REFERENCES apis (tenant_id, id) ON DELETE CASCADE
);

CREATE TABLE sessions (
    tenant_id TEXT NOT NULL,
    id TEXT NOT NULL,
    secret_digest BLOB NOT NULL,
    user_id TEXT NOT NULL,
    auth_time BIGINT NOT NULL,
    amr TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    last_seen_at BIGINT NOT NULL,
    idle_expires_at BIGINT NOT NULL,
    absolute_expires_at BIGINT NOT NULL,
    ip_address TEXT,
    user_agent TEXT,
    revoked_at BIGINT,
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, user_id) REFERENCES users (tenant_id, id) ON DELETE CASCADE
);
CREATE INDEX sessions_user ON sessions (tenant_id, user_id);

CREATE TABLE authorization_codes (
    tenant_id TEXT NOT NULL,
    code_digest BLOB NOT NULL,
    client_id TEXT NOT NULL,
    user_id TEXT NOT NULL,
    session_id TEXT NOT NULL,
    org_id TEXT,
    redirect_uri TEXT NOT NULL,
    scope TEXT NOT NULL,
    audience TEXT,
    nonce TEXT,
    code_challenge TEXT,
    auth_time BIGINT NOT NULL,
    amr TEXT NOT NULL,
    family_id TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    consumed_at BIGINT,
    PRIMARY KEY (tenant_id, code_digest),
    FOREIGN KEY (tenant_id, client_id) REFERENCES applications (tenant_id, client_id) ON DELETE CASCADE,
    FOREIGN KEY (tenant_id, user_id) REFERENCES users (tenant_id, id) ON DELETE CASCADE
);

CREATE TABLE token_families (
    tenant_id TEXT NOT NULL,
    id TEXT NOT NULL,
    client_id TEXT NOT NULL,
    user_id TEXT NOT NULL,
    org_id TEXT,
    session_id TEXT,
    scope TEXT NOT NULL,
    audience TEXT,
    auth_time BIGINT NOT NULL,
    amr TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    absolute_expires_at BIGINT NOT NULL,
    revoked_at BIGINT,
    revoked_reason TEXT,
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, client_id) REFERENCES applications (tenant_id, client_id) ON DELETE CASCADE,
    FOREIGN KEY (tenant_id, user_id) REFERENCES users (tenant_id, id) ON DELETE CASCADE
);
CREATE INDEX token_families_user ON token_families (tenant_id, user_id);

CREATE TABLE refresh_tokens (
    tenant_id TEXT NOT NULL,
    token_digest BLOB NOT NULL,
    family_id TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    idle_expires_at BIGINT NOT NULL,
    used_at BIGINT,
    PRIMARY KEY (tenant_id, token_digest),
    FOREIGN KEY (tenant_id, family_id) REFERENCES token_families (tenant_id, id) ON DELETE CASCADE
);
CREATE INDEX refresh_tokens_family ON refresh_tokens (tenant_id, family_id);

CREATE TABLE issued_access_tokens (
    tenant_id TEXT NOT NULL,
    jti TEXT NOT NULL,
    family_id TEXT NOT NULL,
    expires_at BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, jti),
    FOREIGN KEY (tenant_id, family_id) REFERENCES token_families (tenant_id, id) ON DELETE CASCADE
);

-- `jti`s of private_key_jwt client assertions, kept until they expire, to refuse replays.
CREATE TABLE client_assertions (
    tenant_id TEXT NOT NULL,
    client_id TEXT NOT NULL,
    jti TEXT NOT NULL,
    expires_at BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, client_id, jti)
);

CREATE TABLE audit_events (
    tenant_id TEXT NOT NULL,
    seq BIGINT NOT NULL,
    event_id TEXT NOT NULL,
    occurred_at BIGINT NOT NULL,
    event_type TEXT NOT NULL,
    actor TEXT NOT NULL,
    organization TEXT,
    context TEXT NOT NULL,
    PRIMARY KEY (tenant_id, seq),
    UNIQUE (tenant_id, event_id)
);
CREATE INDEX audit_events_type ON audit_events (tenant_id, event_type, occurred_at);

-- The next sequence number of each tenant's audit log; updating it serialises appends per
-- tenant, so the sequence has no gaps even with several nodes.
CREATE TABLE audit_heads (
    tenant_id TEXT NOT NULL PRIMARY KEY,
    seq BIGINT NOT NULL
);

-- Universal Login and the account lifecycle: one-time tickets sent by email
-- (verification, password reset, unlock), password history, consents, the email outbox,
-- shared attack-protection counters and lockouts, branding per tenant and organization,
-- and email domains of organizations (home-realm discovery). Secrets (tickets, codes)
-- are stored only as digests.

ALTER TABLE applications ADD COLUMN is_first_party BOOLEAN NOT NULL DEFAULT TRUE;

CREATE TABLE user_tickets (
    tenant_id TEXT NOT NULL,
    -- SHA-256 of the token in the emailed link.
    digest BLOB NOT NULL,
    -- verify_email | reset_password | unlock
    kind TEXT NOT NULL,
    user_id TEXT NOT NULL,
    -- The address the ticket was sent to; a ticket for an old address does not verify a new one.
    email TEXT NOT NULL,
    -- Keyed digest of the short code in the same email (verification by code), if any.
    code_digest BLOB,
    -- Wrong codes entered against this ticket.
    attempts BIGINT NOT NULL DEFAULT 0,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    consumed_at BIGINT,
    PRIMARY KEY (tenant_id, digest),
    FOREIGN KEY (tenant_id, user_id) REFERENCES users (tenant_id, id) ON DELETE CASCADE
);
CREATE INDEX user_tickets_user ON user_tickets (tenant_id, user_id, kind, created_at);

CREATE TABLE password_history (
    tenant_id TEXT NOT NULL,
    user_id TEXT NOT NULL,
    hash TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, user_id, hash),
    FOREIGN KEY (tenant_id, user_id) REFERENCES users (tenant_id, id) ON DELETE CASCADE
);
CREATE INDEX password_history_user ON password_history (tenant_id, user_id, created_at);

CREATE TABLE consents (
    tenant_id TEXT NOT NULL,
    user_id TEXT NOT NULL,
    client_id TEXT NOT NULL,
    -- The Api identifier the scopes belong to; '' for OpenID Connect scopes only.
    audience TEXT NOT NULL,
    -- Space-separated scopes the user agreed to.
    scopes TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, user_id, client_id, audience),
    FOREIGN KEY (tenant_id, user_id) REFERENCES users (tenant_id, id) ON DELETE CASCADE,
    FOREIGN KEY (tenant_id, client_id) REFERENCES applications (tenant_id, client_id) ON DELETE CASCADE
);

CREATE TABLE email_outbox (
    tenant_id TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    id TEXT NOT NULL,
    to_address TEXT NOT NULL,
    -- Which template produced it (verify_email, reset_email, …).
    template TEXT NOT NULL,
    subject TEXT NOT NULL,
    text_body TEXT NOT NULL,
    html_body TEXT NOT NULL,
    -- pending | sent | failed | stored (no SMTP server configured: kept for development)
    state TEXT NOT NULL,
    attempts BIGINT NOT NULL DEFAULT 0,
    next_attempt_at BIGINT NOT NULL,
    last_error TEXT,
    created_at BIGINT NOT NULL,
    sent_at BIGINT,
    PRIMARY KEY (tenant_id, id)
);
CREATE INDEX email_outbox_due ON email_outbox (state, next_attempt_at);
CREATE INDEX email_outbox_created ON email_outbox (tenant_id, created_at);

CREATE TABLE rate_counters (
    tenant_id TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    -- What is counted, e.g. `auth-ip:203.0.113.7` or `refresh:usr_…`.
    bucket TEXT NOT NULL,
    -- Start of the fixed window (seconds since the epoch, a multiple of its length).
    window_start BIGINT NOT NULL,
    hits BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, bucket, window_start)
);
CREATE INDEX rate_counters_window ON rate_counters (window_start);

CREATE TABLE account_lockouts (
    tenant_id TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    -- Keyed digest (hex) of the normalised email address: accounts that do not exist are
    -- locked the same way, so a lock does not reveal whether an account exists.
    subject TEXT NOT NULL,
    locked_until BIGINT NOT NULL,
    -- How many times this subject has been locked; each lock lasts twice the one before.
    lock_count BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, subject)
);

CREATE TABLE tenant_branding (
    tenant_id TEXT NOT NULL PRIMARY KEY REFERENCES tenants (id) ON DELETE CASCADE,
    -- JSON: display name, colours, custom text per locale, custom CSS.
    settings TEXT NOT NULL,
    logo BLOB,
    logo_type TEXT,
    updated_at BIGINT NOT NULL
);

CREATE TABLE org_branding (
    tenant_id TEXT NOT NULL,
    org_id TEXT NOT NULL,
    settings TEXT NOT NULL,
    logo BLOB,
    logo_type TEXT,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, org_id),
    FOREIGN KEY (tenant_id, org_id) REFERENCES organizations (tenant_id, id) ON DELETE CASCADE
);

CREATE TABLE email_templates (
    tenant_id TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    -- verify_email | reset_email | blocked_account | password_changed | new_device
    name TEXT NOT NULL,
    subject TEXT NOT NULL,
    text_body TEXT NOT NULL,
    html_body TEXT NOT NULL,
    enabled BOOLEAN NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, name)
);

CREATE TABLE org_domains (
    tenant_id TEXT NOT NULL,
    -- Lower-case email domain, e.g. `acme.example`; one organization per domain.
    domain TEXT NOT NULL,
    org_id TEXT NOT NULL,
    -- The connection the identifier step routes to; NULL: the organization's first
    -- enabled connection.
    connection_id TEXT,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, domain),
    FOREIGN KEY (tenant_id, org_id) REFERENCES organizations (tenant_id, id) ON DELETE CASCADE,
    FOREIGN KEY (tenant_id, connection_id) REFERENCES connections (tenant_id, id) ON DELETE CASCADE
);
CREATE INDEX org_domains_org ON org_domains (tenant_id, org_id);

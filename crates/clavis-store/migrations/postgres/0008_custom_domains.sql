-- Custom domains mapped to a tenant: the tenant's issuer is then `{scheme}://{domain}`
-- (TLS terminates at the operator's proxy). Ownership is proven by a DNS TXT record at
-- `_clavis-challenge.{domain}` holding `clavis-domain-verification={verification_token}`.
-- A domain is `ready` for at most one tenant of the installation (the partial unique
-- index below); several tenants may hold it pending, so registering a domain neither
-- blocks it for others nor tells a tenant what others registered. A tenant registers a
-- domain once.

CREATE TABLE custom_domains (
    tenant_id TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    id TEXT NOT NULL,
    -- Lower-case host name, e.g. `login.acme.example`.
    domain TEXT NOT NULL,
    -- pending_verification | ready
    status TEXT NOT NULL,
    -- Random token published in the TXT record (not a secret: it is public in DNS).
    verification_token TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    verified_at BIGINT,
    PRIMARY KEY (tenant_id, id),
    UNIQUE (tenant_id, domain)
);

CREATE UNIQUE INDEX custom_domains_ready_domain ON custom_domains (domain)
    WHERE status = 'ready';

-- The tamper-evident audit log. Each tenant's events form one SHA-256 hash chain:
-- `hash = hex(SHA-256(prev_hash || body))`, where `body` is the event's canonical JSON
-- (personal data inside it sealed under the subject user's key). The plain columns beside
-- `body` only index it for search; verification checks they agree with it.
-- Events of the earlier `audit_events` table are chained into `audit_log` by the
-- migration runner right after this script, then that table is dropped.

CREATE TABLE audit_log (
    tenant_id TEXT NOT NULL,
    seq BIGINT NOT NULL,
    event_id TEXT NOT NULL,
    occurred_at BIGINT NOT NULL,
    event_type TEXT NOT NULL,
    actor_user_id TEXT,
    actor_client_id TEXT,
    org_id TEXT,
    body TEXT NOT NULL,
    prev_hash TEXT NOT NULL,
    hash TEXT NOT NULL,
    PRIMARY KEY (tenant_id, seq),
    UNIQUE (tenant_id, event_id)
);
CREATE INDEX audit_log_time ON audit_log (tenant_id, occurred_at);
CREATE INDEX audit_log_type ON audit_log (tenant_id, event_type, seq);
CREATE INDEX audit_log_user ON audit_log (tenant_id, actor_user_id, seq)
    WHERE actor_user_id IS NOT NULL;
CREATE INDEX audit_log_org ON audit_log (tenant_id, org_id, seq) WHERE org_id IS NOT NULL;

-- The head of each chain: last sequence number and hash. Updating it serialises appends.
ALTER TABLE audit_heads ADD COLUMN hash TEXT NOT NULL
    DEFAULT '0000000000000000000000000000000000000000000000000000000000000000';

-- Signed statements "the chain of this tenant had hash H at sequence N".
CREATE TABLE audit_checkpoints (
    tenant_id TEXT NOT NULL,
    seq BIGINT NOT NULL,
    hash TEXT NOT NULL,
    kid TEXT NOT NULL,
    jws TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, seq)
);

-- Where a retention purge cut the chain: events up to `seq` were deleted; the first kept
-- event links to `hash`. `jws` is the checkpoint signed over that point before the purge.
CREATE TABLE audit_anchors (
    tenant_id TEXT NOT NULL,
    seq BIGINT NOT NULL,
    hash TEXT NOT NULL,
    events_purged BIGINT NOT NULL,
    jws TEXT NOT NULL,
    purged_at BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, seq)
);

-- Per-user keys that seal personal data inside events. Erasure destroys the key
-- (`sealed_key` NULL) and keeps the row, so the user stays erased.
CREATE TABLE audit_subject_keys (
    tenant_id TEXT NOT NULL,
    user_id TEXT NOT NULL,
    sealed_key TEXT,
    created_at BIGINT NOT NULL,
    erased_at BIGINT,
    PRIMARY KEY (tenant_id, user_id)
);

-- Legal holds: while one is active for an organization, retention purge stops before
-- that organization's oldest event.
CREATE TABLE audit_legal_holds (
    tenant_id TEXT NOT NULL,
    id TEXT NOT NULL,
    org_id TEXT NOT NULL,
    reason TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    released_at BIGINT,
    PRIMARY KEY (tenant_id, id)
);
CREATE INDEX audit_legal_holds_org ON audit_legal_holds (tenant_id, org_id);

-- Streaming sinks: where events are delivered, how far delivery has got (`cursor` is the
-- last delivered sequence number) and its state. `lease_*` lets one node deliver at a time.
CREATE TABLE audit_sinks (
    tenant_id TEXT NOT NULL,
    id TEXT NOT NULL,
    name TEXT NOT NULL,
    kind TEXT NOT NULL,
    endpoint TEXT NOT NULL,
    sealed_secret TEXT,
    options TEXT NOT NULL,
    enabled BOOLEAN NOT NULL,
    cursor BIGINT NOT NULL,
    status TEXT NOT NULL,
    last_error TEXT,
    attempts BIGINT NOT NULL,
    next_attempt_at BIGINT NOT NULL,
    delivered_total BIGINT NOT NULL,
    last_delivered_at BIGINT,
    lease_owner TEXT,
    lease_until BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, id),
    UNIQUE (tenant_id, name)
);

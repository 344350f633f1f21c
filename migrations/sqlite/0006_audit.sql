-- Audit events, and why a token was revoked.
--
-- A revoked token now says why: revoked by an admin (revoked_by), regenerated (by an
-- admin), or reported exposed (by nobody we know). SQLite cannot change a table's CHECK, so
-- tokens is rebuilt. Foreign keys cannot be turned off inside the migration's transaction,
-- and renaming the old table makes files.token_id follow it; so files, which nothing
-- references, is rebuilt after it to reference the new table, then the old ones go.
ALTER TABLE tokens RENAME TO tokens_old;

CREATE TABLE tokens (
    id              INTEGER PRIMARY KEY,
    organization_id INTEGER NOT NULL REFERENCES organizations(id),
    kind            TEXT    NOT NULL CHECK (kind IN ('api', 'forwarder')),
    name            TEXT    NOT NULL,
    name_key        TEXT    NOT NULL,      -- lower-cased name: uniqueness and filtering
    hint            TEXT    NOT NULL,
    digest          BLOB    NOT NULL,
    created_by      INTEGER NOT NULL REFERENCES users(id),
    principal_id    INTEGER NOT NULL REFERENCES users(id),  -- whom the token acts as
    created_at      INTEGER NOT NULL,
    last_used_at    INTEGER,
    last_used_ip    TEXT,
    revoked_at      INTEGER,
    revoked_by      INTEGER REFERENCES users(id),
    revoked_reason  TEXT    CHECK (revoked_reason IN ('revoked', 'regenerated', 'reported_exposed')),
    CONSTRAINT tokens_revoked CHECK ((revoked_at IS NULL) = (revoked_reason IS NULL)),
    -- An admin revokes or regenerates; an exposure report comes from nobody we know.
    CONSTRAINT tokens_revoked_by CHECK ((revoked_by IS NULL) = (revoked_reason IS NULL OR revoked_reason = 'reported_exposed'))
);
INSERT INTO tokens (id, organization_id, kind, name, name_key, hint, digest, created_by,
                        principal_id, created_at, last_used_at, last_used_ip, revoked_at,
                        revoked_by, revoked_reason)
SELECT id, organization_id, kind, name, name_key, hint, digest, created_by, principal_id,
       created_at, last_used_at, last_used_ip, revoked_at, revoked_by,
       CASE WHEN revoked_at IS NULL THEN NULL ELSE 'revoked' END
  FROM tokens_old;

ALTER TABLE files RENAME TO files_old;
CREATE TABLE files (
    id              INTEGER PRIMARY KEY,
    organization_id INTEGER NOT NULL REFERENCES organizations(id),
    name            TEXT    NOT NULL,
    size            INTEGER NOT NULL,
    sha256          TEXT    NOT NULL,      -- lower-case hex
    token_id        INTEGER NOT NULL REFERENCES tokens(id),
    principal_id    INTEGER NOT NULL REFERENCES users(id),
    created_at      INTEGER NOT NULL
);
INSERT INTO files (id, organization_id, name, size, sha256, token_id, principal_id, created_at)
SELECT id, organization_id, name, size, sha256, token_id, principal_id, created_at FROM files_old;
DROP TABLE files_old;
DROP TABLE tokens_old;
CREATE INDEX files_org ON files (organization_id, id);
CREATE UNIQUE INDEX tokens_digest ON tokens (digest);
CREATE UNIQUE INDEX tokens_active_name ON tokens (organization_id, name_key) WHERE revoked_at IS NULL;
CREATE INDEX tokens_org_list ON tokens (organization_id, id, revoked_at, kind, name_key, last_used_at);
CREATE INDEX tokens_principal ON tokens (principal_id);

-- Who did what to which token or user, from where. Written by the store in the transaction
-- of the change it records; append-only: the triggers below refuse updates and deletes.
-- Names are as they were at the moment of the event; never a secret, password or session.
CREATE TABLE audit_events (
    id              INTEGER PRIMARY KEY,
    organization_id INTEGER NOT NULL REFERENCES organizations(id),
    created_at      INTEGER NOT NULL,
    action          TEXT    NOT NULL,
    actor_kind      TEXT    NOT NULL CHECK (actor_kind IN ('user', 'token', 'anonymous', 'command_line')),
    actor_user_id   INTEGER,               -- the person, or the token's principal
    actor_token_id  INTEGER,
    actor_name      TEXT    NOT NULL,
    target_kind     TEXT    CHECK (target_kind IN ('organization', 'user', 'token', 'file')),
    target_id       INTEGER,
    target_name     TEXT,
    address         TEXT,                  -- the client's address, when there was one
    detail          TEXT    NOT NULL DEFAULT '',
    search_key      TEXT    NOT NULL       -- actor and target names lowercased in Rust
);
-- Newest first, and newest first of one action, per organization. Each carries the search
-- key, so "Filter events" is checked in the index without reading the rows: a page stops
-- after its rows, the count after EVENTS_COUNTED (app/src/model.rs).
CREATE INDEX audit_events_org ON audit_events (organization_id, id, search_key);
CREATE INDEX audit_events_org_action ON audit_events (organization_id, action, id, search_key);
CREATE TRIGGER audit_events_no_update BEFORE UPDATE ON audit_events
BEGIN
    SELECT RAISE(ABORT, 'audit events are append-only');
END;
CREATE TRIGGER audit_events_no_delete BEFORE DELETE ON audit_events
BEGIN
    SELECT RAISE(ABORT, 'audit events are append-only');
END;

-- "Filter events" for text that matches few events: the trigrams of each event's search key
-- (FTS5 without a copy of the text: rowid = the event's id; a query is the needle as a
-- phrase of its trigrams). Filled in the background in batches, not by
-- the change's own transaction (an FTS5 insert per commit cost a third of a change's time):
-- events up to indexed_to are in it, later ones are found by reading them. The store checks
-- every candidate against the row itself.
CREATE VIRTUAL TABLE audit_search USING fts5(
    search_key, content = '', tokenize = 'trigram', columnsize = 0
);
CREATE TABLE audit_search_state (
    id         INTEGER PRIMARY KEY CHECK (id = 1),
    indexed_to INTEGER NOT NULL
);
INSERT INTO audit_search_state (id, indexed_to) VALUES (1, 0);

-- Files ingested through the API. The bytes live on disk, addressed by their SHA-256.
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
CREATE INDEX files_org ON files (organization_id, id);

-- The "Unused 90+ days" filter reads last_used_at: keep listing covered by the index.
DROP INDEX tokens_org_list;
CREATE INDEX tokens_org_list ON tokens (organization_id, id, revoked_at, kind, name_key, last_used_at);

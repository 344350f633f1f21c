-- Organizations are tenants; every other row belongs to exactly one.
CREATE TABLE organizations (
    id          INTEGER PRIMARY KEY,
    name        TEXT    NOT NULL,
    name_key    TEXT    NOT NULL UNIQUE,   -- lower-cased name, for create-admin's lookup
    created_at  INTEGER NOT NULL
);

-- People (kind 'user') and Forwarder Service Accounts (kind 'forwarder').
CREATE TABLE users (
    id              INTEGER PRIMARY KEY,
    organization_id INTEGER NOT NULL REFERENCES organizations(id),
    name            TEXT    NOT NULL,
    email           TEXT,                  -- lower case; NULL for service accounts
    password_hash   TEXT,                  -- Argon2id PHC string; NULL for service accounts
    kind            TEXT    NOT NULL CHECK (kind IN ('user', 'forwarder')),
    role            TEXT    CHECK (role IN ('admin', 'member', 'read_only')),
    status          TEXT    NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'disabled')),
    must_change_password INTEGER NOT NULL DEFAULT 0,
    created_at      INTEGER NOT NULL,
    -- A service account can never sign in nor hold a human role.
    CHECK ((kind = 'user' AND email IS NOT NULL AND role IS NOT NULL)
        OR (kind = 'forwarder' AND email IS NULL AND password_hash IS NULL AND role IS NULL))
);
CREATE UNIQUE INDEX users_email ON users (email) WHERE email IS NOT NULL;
CREATE INDEX users_org ON users (organization_id, id);

-- Console sessions. Only the SHA-256 of the cookie value is stored.
CREATE TABLE sessions (
    id          INTEGER PRIMARY KEY,
    id_hash     BLOB    NOT NULL UNIQUE,
    user_id     INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    created_at  INTEGER NOT NULL,
    last_seen_at INTEGER NOT NULL,
    expires_at  INTEGER NOT NULL          -- absolute lifetime
);
CREATE INDEX sessions_user ON sessions (user_id);

-- Auth tokens. Only the SHA-256 digest of the secret and its last four characters are kept.
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
    CHECK ((revoked_at IS NULL) = (revoked_by IS NULL))
);
CREATE UNIQUE INDEX tokens_digest ON tokens (digest);
CREATE UNIQUE INDEX tokens_active_name ON tokens (organization_id, name_key) WHERE revoked_at IS NULL;
-- Covers listing, filtering and counting an organization's tokens without reading rows.
CREATE INDEX tokens_org_list ON tokens (organization_id, id, revoked_at, kind, name_key);
CREATE INDEX tokens_principal ON tokens (principal_id);

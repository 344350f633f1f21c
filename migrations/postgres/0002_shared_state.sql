-- The same step as migrations/sqlite/0005_shared_state.sql.

-- Users are filtered by a name key lowercased in Rust, as on SQLite (whose lower() knows
-- only ASCII), so both backends match alike. Filled when the server opens the database.
ALTER TABLE users ADD COLUMN name_key TEXT;

-- First-run setup happens once: a second, concurrent setup fails on this key.
CREATE TABLE setup (
    id           INTEGER NOT NULL CHECK (id = 1),
    completed_at BIGINT  NOT NULL,
    CONSTRAINT setup_once PRIMARY KEY (id)
);
INSERT INTO setup (id, completed_at) SELECT 1, min(created_at) FROM users HAVING count(*) > 0;

-- Sign-in throttling, shared by every server instance. One row per key and window; times in
-- milliseconds since the epoch.
CREATE TABLE throttle_windows (
    key          TEXT   PRIMARY KEY,
    window_start BIGINT NOT NULL,
    count        BIGINT NOT NULL,
    -- For an account's key: when its next attempt may start (its queue).
    next_turn    BIGINT
);
CREATE INDEX throttle_windows_start ON throttle_windows (window_start);

-- Addresses that signed in to an account, and when they last did: they skip its queue.
CREATE TABLE known_addresses (
    account TEXT   NOT NULL,
    address TEXT   NOT NULL,
    seen_at BIGINT NOT NULL,
    PRIMARY KEY (account, address)
);
CREATE INDEX known_addresses_seen ON known_addresses (seen_at);

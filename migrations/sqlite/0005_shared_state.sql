-- Users are filtered by a name key lowercased in Rust (Unicode-aware, like token names;
-- SQLite's lower() knows only ASCII). Rows from before this migration get theirs when the
-- server opens the database.
ALTER TABLE users ADD COLUMN name_key TEXT;

-- First-run setup happens once: a second, concurrent setup fails on this row's key.
CREATE TABLE setup (
    id           INTEGER PRIMARY KEY CHECK (id = 1),
    completed_at INTEGER NOT NULL
);
INSERT INTO setup (id, completed_at) SELECT 1, min(created_at) FROM users HAVING count(*) > 0;

-- Sign-in throttling, in the database so that every server instance counts the same
-- failures. One row per key (an account, an address, an account from an address, …) and
-- window; times in milliseconds since the epoch.
CREATE TABLE throttle_windows (
    key          TEXT    PRIMARY KEY,
    window_start INTEGER NOT NULL,
    count        INTEGER NOT NULL,
    -- For an account's key: when its next attempt may start (its queue).
    next_turn    INTEGER
);
CREATE INDEX throttle_windows_start ON throttle_windows (window_start);

-- Addresses that signed in to an account, and when they last did: they skip its queue.
CREATE TABLE known_addresses (
    account TEXT    NOT NULL,
    address TEXT    NOT NULL,
    seen_at INTEGER NOT NULL,
    PRIMARY KEY (account, address)
);
CREATE INDEX known_addresses_seen ON known_addresses (seen_at);

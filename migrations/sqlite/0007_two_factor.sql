-- Two-factor sign-in: authenticator apps (TOTP), recovery codes, passkeys, the organization's
-- policy, and when each session last proved who it is (for re-authentication before
-- sensitive actions).

ALTER TABLE organizations ADD COLUMN require_two_factor INTEGER NOT NULL DEFAULT 0;

-- Sessions that existed before this migration count as authenticated long ago: their next
-- sensitive action asks for "Confirm access".
ALTER TABLE sessions ADD COLUMN authenticated_at INTEGER NOT NULL DEFAULT 0;

-- One authenticator app per user. `secret` is encrypted (XChaCha20-Poly1305 under
-- TOKENWELL_SECRET_KEY, bound to the user id); `enabled_at` is NULL while it is being set
-- up. `last_step` is the last 30-second step whose code was accepted: a code is accepted
-- only for a later step, so each works once, on every instance.
CREATE TABLE totp_factors (
    user_id     INTEGER PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    secret      BLOB    NOT NULL,
    created_at  INTEGER NOT NULL,
    enabled_at  INTEGER,
    last_step   INTEGER NOT NULL DEFAULT 0
);

-- Single-use recovery codes, by their SHA-256 (each holds 80 random bits).
CREATE TABLE recovery_codes (
    id          INTEGER PRIMARY KEY,
    user_id     INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    code_hash   BLOB    NOT NULL,
    used_at     INTEGER
);
CREATE INDEX recovery_codes_user ON recovery_codes (user_id);

-- Passkeys (WebAuthn credentials): the credential as the WebAuthn library serialises it
-- (public key, counter; no secret), by its credential id.
CREATE TABLE passkeys (
    id            INTEGER PRIMARY KEY,
    user_id       INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name          TEXT    NOT NULL,
    credential_id BLOB    NOT NULL,
    credential    TEXT    NOT NULL,
    created_at    INTEGER NOT NULL,
    last_used_at  INTEGER,
    CONSTRAINT passkeys_credential UNIQUE (credential_id)
);
CREATE INDEX passkeys_user ON passkeys (user_id);

-- Sign-ins and WebAuthn ceremonies in progress, by the SHA-256 of a random id held in a
-- cookie (or handed to the page): a password that still needs its second factor, a passkey
-- sign-in, a passkey being added. Each lives five minutes at most.
CREATE TABLE pending_auth (
    id_hash     BLOB    PRIMARY KEY,
    purpose     TEXT    NOT NULL CHECK (purpose IN ('second_factor', 'passkey_sign_in', 'passkey_registration')),
    user_id     INTEGER REFERENCES users (id) ON DELETE CASCADE,
    ceremony    TEXT,
    created_at  INTEGER NOT NULL,
    expires_at  INTEGER NOT NULL
);
CREATE INDEX pending_auth_expires ON pending_auth (expires_at);

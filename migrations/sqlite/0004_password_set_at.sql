-- When the password was last set: an initial password that an admin generated stops
-- working a while after this unless its user replaces it (README, "Security").
ALTER TABLE users ADD COLUMN password_set_at INTEGER;
UPDATE users SET password_set_at = created_at WHERE password_hash IS NOT NULL;

-- When the password was last set: an initial password that an admin generated stops
-- working a while after this unless its user replaces it (README, "Security").
ALTER TABLE users ADD COLUMN password_set_at INTEGER;
-- Chosen passwords count from the account's creation; an initial password still waiting
-- to be replaced counts from this upgrade, so nobody is locked out by the upgrade itself.
UPDATE users SET password_set_at = created_at WHERE password_hash IS NOT NULL AND must_change_password = 0;
UPDATE users SET password_set_at = CAST(strftime('%s', 'now') AS INTEGER)
 WHERE password_hash IS NOT NULL AND must_change_password <> 0;

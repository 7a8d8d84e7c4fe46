-- A per-user token version: tokens carry it, and bumping it revokes every token issued before
-- (account deletion, issue 12), as on SQLite.
ALTER TABLE users ADD COLUMN token_version INTEGER NOT NULL DEFAULT 0;

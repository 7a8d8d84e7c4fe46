-- Token revocation and turns that consolidation gave up on.
-- Bumping a user's token_version invalidates every token issued before (claim "ver").
ALTER TABLE users ADD COLUMN token_version INTEGER NOT NULL DEFAULT 0;

-- A turn whose consolidation failed on the job's last attempt with a non-transient error:
-- the watermark moves past it so later turns still consolidate, and the error stays visible.
CREATE TABLE consolidation_skips (
    user_id    TEXT NOT NULL,
    session_id TEXT NOT NULL,
    turn_index INTEGER NOT NULL,
    job_id     TEXT NOT NULL,
    error      TEXT NOT NULL,
    created_at TEXT NOT NULL,
    PRIMARY KEY (user_id, session_id, turn_index),
    FOREIGN KEY (user_id, session_id) REFERENCES sessions (user_id, session_id) ON DELETE CASCADE
);

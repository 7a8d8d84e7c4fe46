-- Core tables: metadata, users, sessions and their turns and summaries, jobs.
CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

CREATE TABLE users (
    user_id       TEXT PRIMARY KEY,
    username      TEXT NOT NULL UNIQUE COLLATE NOCASE,
    password_hash TEXT NOT NULL,
    display_name  TEXT NOT NULL,
    created_at    TEXT NOT NULL
);

CREATE TABLE sessions (
    user_id    TEXT NOT NULL,
    session_id TEXT NOT NULL,
    topic      TEXT,
    tags       TEXT NOT NULL DEFAULT '[]',
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    turn_count INTEGER NOT NULL DEFAULT 0,
    last_consolidated_turn_index INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (user_id, session_id)
);
CREATE INDEX sessions_by_update ON sessions (user_id, updated_at);

CREATE TABLE turns (
    id          INTEGER PRIMARY KEY,
    user_id     TEXT NOT NULL,
    session_id  TEXT NOT NULL,
    turn_index  INTEGER NOT NULL,
    role        TEXT NOT NULL CHECK (role IN ('user', 'assistant')),
    content     TEXT NOT NULL,
    speaker     TEXT,
    turn_id     TEXT,
    metadata    TEXT,
    token_count INTEGER NOT NULL DEFAULT 0,
    created_at  TEXT NOT NULL,
    compressed  INTEGER NOT NULL DEFAULT 0,
    UNIQUE (user_id, session_id, turn_index),
    FOREIGN KEY (user_id, session_id) REFERENCES sessions (user_id, session_id) ON DELETE CASCADE
);
CREATE UNIQUE INDEX turns_by_client_id ON turns (user_id, session_id, turn_id)
    WHERE turn_id IS NOT NULL;

CREATE TABLE summaries (
    id             INTEGER PRIMARY KEY,
    user_id        TEXT NOT NULL,
    session_id     TEXT NOT NULL,
    boundary_index INTEGER NOT NULL,
    content        TEXT NOT NULL,
    token_count    INTEGER NOT NULL,
    created_at     TEXT NOT NULL,
    FOREIGN KEY (user_id, session_id) REFERENCES sessions (user_id, session_id) ON DELETE CASCADE
);
CREATE INDEX summaries_by_session ON summaries (user_id, session_id, id);

CREATE TABLE jobs (
    job_id            TEXT PRIMARY KEY,
    kind              TEXT NOT NULL,
    user_id           TEXT NOT NULL,
    session_id        TEXT NOT NULL,
    status            TEXT NOT NULL CHECK (status IN ('queued', 'running', 'done', 'failed')),
    priority          INTEGER NOT NULL DEFAULT 0,
    attempts          INTEGER NOT NULL DEFAULT 0,
    max_attempts      INTEGER NOT NULL DEFAULT 3,
    not_before        TEXT NOT NULL,
    lease_expires_at  TEXT,
    created_at        TEXT NOT NULL,
    started_at        TEXT,
    finished_at       TEXT,
    retrieved_context TEXT NOT NULL DEFAULT '',
    force             INTEGER NOT NULL DEFAULT 0,
    result            TEXT,
    error             TEXT,
    cancel_requested  INTEGER NOT NULL DEFAULT 0
);
CREATE UNIQUE INDEX jobs_one_queued ON jobs (user_id, session_id, kind) WHERE status = 'queued';
CREATE INDEX jobs_by_eligibility ON jobs (status, not_before, priority);
CREATE INDEX jobs_by_owner ON jobs (user_id, session_id, created_at);

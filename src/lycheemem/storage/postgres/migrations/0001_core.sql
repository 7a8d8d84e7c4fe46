-- Core tables of the PostgreSQL backend: metadata, users, sessions with their turns and
-- summaries, the job queue and the vectors (pgvector). Timestamps are the ISO strings of
-- lycheemem.clock, as on SQLite, so both backends compare and export them the same way.
CREATE EXTENSION IF NOT EXISTS vector;
CREATE EXTENSION IF NOT EXISTS pg_trgm;

CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

CREATE TABLE users (
    user_id       TEXT PRIMARY KEY,
    username      TEXT NOT NULL,
    password_hash TEXT NOT NULL,
    display_name  TEXT NOT NULL,
    created_at    TEXT NOT NULL
);
CREATE UNIQUE INDEX users_by_name ON users (lower(username));

CREATE TABLE sessions (
    user_id    TEXT NOT NULL,
    session_id TEXT NOT NULL,
    topic      TEXT,
    tags       JSONB NOT NULL DEFAULT '[]',
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    turn_count INTEGER NOT NULL DEFAULT 0,
    last_consolidated_turn_index INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (user_id, session_id)
);
CREATE INDEX sessions_by_update ON sessions (user_id, updated_at);

CREATE TABLE turns (
    id          BIGSERIAL PRIMARY KEY,
    user_id     TEXT NOT NULL,
    session_id  TEXT NOT NULL,
    turn_index  INTEGER NOT NULL,
    role        TEXT NOT NULL CHECK (role IN ('user', 'assistant')),
    content     TEXT NOT NULL,
    speaker     TEXT,
    turn_id     TEXT,
    metadata    JSONB,
    token_count INTEGER NOT NULL DEFAULT 0,
    created_at  TEXT NOT NULL,
    compressed  BOOLEAN NOT NULL DEFAULT false,
    UNIQUE (user_id, session_id, turn_index),
    FOREIGN KEY (user_id, session_id) REFERENCES sessions (user_id, session_id) ON DELETE CASCADE
);
CREATE UNIQUE INDEX turns_by_client_id ON turns (user_id, session_id, turn_id)
    WHERE turn_id IS NOT NULL;

CREATE TABLE summaries (
    id             BIGSERIAL PRIMARY KEY,
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
    seq               BIGSERIAL,
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
    force             BOOLEAN NOT NULL DEFAULT false,
    result            JSONB,
    error             TEXT,
    cancel_requested  BOOLEAN NOT NULL DEFAULT false
);
CREATE UNIQUE INDEX jobs_one_queued ON jobs (user_id, session_id, kind) WHERE status = 'queued';
CREATE INDEX jobs_by_eligibility ON jobs (status, not_before, priority);
CREATE INDEX jobs_by_owner ON jobs (user_id, session_id, created_at);

-- One table for the vectors of records, composites and skills (``kind``). The column type
-- is dimensionless; the HNSW index is an expression index on ``vector::vector(dim)`` that
-- PgVectorIndex.open creates for the configured embedding dimension.
CREATE TABLE vectors (
    kind              TEXT NOT NULL,
    user_id           TEXT NOT NULL,
    item_id           TEXT NOT NULL,
    vector            vector NOT NULL,
    normalized_vector vector,
    memory_type       TEXT NOT NULL DEFAULT '',
    level             INTEGER NOT NULL DEFAULT 0,
    expired           BOOLEAN NOT NULL DEFAULT false,
    PRIMARY KEY (kind, user_id, item_id)
);
CREATE INDEX vectors_by_tenant ON vectors (user_id, kind);

-- Semantic memory on PostgreSQL: records, composites (the memory tree), member links, item
-- sessions, tags, skills, usage logs and skipped turns. Column names and meanings are those of
-- the SQLite tables (sqlite/migrations 0002, 0004, 0006), so the two backends export, import
-- and browse alike. Native types where PostgreSQL has them: JSON columns are JSONB, 0/1 flags
-- are BOOLEAN, ``confidence`` is DOUBLE PRECISION; timestamps stay lycheemem.clock ISO strings.
--
-- Full text: ``fts_text``/``fts_tags`` hold the output of domain.text.terms.fts_document (CJK
-- already split into bigrams, identifiers whole and in parts), exactly as on SQLite. The
-- generated ``fts`` column indexes them with the 'english' configuration (Snowball stemming,
-- like FTS5's porter tokenizer) and weights text A and tags B (bm25 weights 1.0 / 0.5 there).
-- A pg_trgm index on the raw text finds CJK words the bigram tokens miss (one character,
-- or a run that straddles the segmenter's split points).
-- Grants: PgDatabase.migrate grants every table and sequence to lycheemem_app after migrating.

CREATE TABLE memory_records (
    id                   BIGSERIAL PRIMARY KEY,
    record_id            TEXT NOT NULL UNIQUE,
    user_id              TEXT NOT NULL,
    memory_type          TEXT NOT NULL,
    semantic_text        TEXT NOT NULL,
    normalized_text      TEXT NOT NULL,
    entities             JSONB NOT NULL DEFAULT '[]',
    t_ref                TEXT,
    t_valid_from         TEXT,
    t_valid_to           TEXT,
    task_tags            JSONB NOT NULL DEFAULT '[]',
    tool_tags            JSONB NOT NULL DEFAULT '[]',
    constraint_tags      JSONB NOT NULL DEFAULT '[]',
    failure_tags         JSONB NOT NULL DEFAULT '[]',
    affordance_tags      JSONB NOT NULL DEFAULT '[]',
    confidence           DOUBLE PRECISION NOT NULL DEFAULT 0.7,
    source_role          TEXT NOT NULL DEFAULT 'user',
    source_session_id    TEXT,
    source_turn_ids      JSONB NOT NULL DEFAULT '[]',
    source_turn_refs     JSONB NOT NULL DEFAULT '[]',
    sources              JSONB NOT NULL DEFAULT '[]',
    version              INTEGER NOT NULL DEFAULT 1,
    history              JSONB NOT NULL DEFAULT '[]',
    created_at           TEXT NOT NULL,
    updated_at           TEXT NOT NULL,
    retrieval_count      INTEGER NOT NULL DEFAULT 0,
    retrieval_hit_count  INTEGER NOT NULL DEFAULT 0,
    action_success_count INTEGER NOT NULL DEFAULT 0,
    action_fail_count    INTEGER NOT NULL DEFAULT 0,
    last_retrieved_at    TEXT,
    expired              BOOLEAN NOT NULL DEFAULT false,
    expired_at           TEXT,
    expired_reason       TEXT,
    superseded_by        TEXT,
    event_start          TEXT,
    event_end            TEXT,
    fts_text             TEXT NOT NULL DEFAULT '',
    fts_tags             TEXT NOT NULL DEFAULT '',
    fts_owner            TEXT NOT NULL,
    indexed              BOOLEAN NOT NULL DEFAULT false,
    fts tsvector GENERATED ALWAYS AS (
        setweight(to_tsvector('english'::regconfig, fts_text), 'A')
        || setweight(to_tsvector('english'::regconfig, fts_tags), 'B')
    ) STORED
);
CREATE INDEX memory_records_by_type ON memory_records (user_id, expired, memory_type);
CREATE INDEX memory_records_by_update ON memory_records (user_id, updated_at);
CREATE INDEX memory_records_by_event ON memory_records (user_id, event_start);
CREATE INDEX memory_records_by_span_end ON memory_records (user_id, event_end)
    WHERE substr(event_end, 1, 10) <> substr(event_start, 1, 10);
CREATE INDEX memory_records_undated ON memory_records (user_id, created_at)
    WHERE event_start IS NULL;
CREATE INDEX memory_records_by_turn
    ON memory_records (user_id, source_session_id, (source_turn_ids -> 0));
CREATE INDEX memory_records_unindexed ON memory_records (user_id) WHERE NOT indexed;
CREATE INDEX memory_records_fts ON memory_records USING GIN (fts) WITH (fastupdate = off);
CREATE INDEX memory_records_trgm ON memory_records USING GIN (semantic_text gin_trgm_ops)
    WITH (fastupdate = off);

CREATE TABLE composite_records (
    id                   BIGSERIAL PRIMARY KEY,
    composite_id         TEXT NOT NULL UNIQUE,
    user_id              TEXT NOT NULL,
    memory_type          TEXT NOT NULL,
    semantic_text        TEXT NOT NULL,
    normalized_text      TEXT NOT NULL,
    source_record_ids    JSONB NOT NULL DEFAULT '[]',
    child_composite_ids  JSONB NOT NULL DEFAULT '[]',
    level                INTEGER NOT NULL DEFAULT 1,
    synthesis_reason     TEXT NOT NULL DEFAULT '',
    entities             JSONB NOT NULL DEFAULT '[]',
    t_ref                TEXT,
    t_valid_from         TEXT,
    t_valid_to           TEXT,
    task_tags            JSONB NOT NULL DEFAULT '[]',
    tool_tags            JSONB NOT NULL DEFAULT '[]',
    constraint_tags      JSONB NOT NULL DEFAULT '[]',
    failure_tags         JSONB NOT NULL DEFAULT '[]',
    affordance_tags      JSONB NOT NULL DEFAULT '[]',
    confidence           DOUBLE PRECISION NOT NULL DEFAULT 0.7,
    sources              JSONB NOT NULL DEFAULT '[]',
    created_at           TEXT NOT NULL,
    updated_at           TEXT NOT NULL,
    retrieval_count      INTEGER NOT NULL DEFAULT 0,
    retrieval_hit_count  INTEGER NOT NULL DEFAULT 0,
    action_success_count INTEGER NOT NULL DEFAULT 0,
    action_fail_count    INTEGER NOT NULL DEFAULT 0,
    last_retrieved_at    TEXT,
    expired              BOOLEAN NOT NULL DEFAULT false,
    expired_at           TEXT,
    expired_reason       TEXT,
    event_start          TEXT,
    event_end            TEXT,
    fts_text             TEXT NOT NULL DEFAULT '',
    fts_tags             TEXT NOT NULL DEFAULT '',
    fts_owner            TEXT NOT NULL,
    indexed              BOOLEAN NOT NULL DEFAULT false,
    fts tsvector GENERATED ALWAYS AS (
        setweight(to_tsvector('english'::regconfig, fts_text), 'A')
        || setweight(to_tsvector('english'::regconfig, fts_tags), 'B')
    ) STORED
);
CREATE INDEX composite_records_by_level ON composite_records (user_id, expired, level);
CREATE INDEX composite_records_by_update ON composite_records (user_id, updated_at);
CREATE INDEX composite_records_by_event ON composite_records (user_id, event_start);
CREATE INDEX composite_records_by_span_end ON composite_records (user_id, event_end)
    WHERE substr(event_end, 1, 10) <> substr(event_start, 1, 10);
CREATE INDEX composite_records_undated ON composite_records (user_id, created_at)
    WHERE event_start IS NULL;
CREATE INDEX composite_records_unindexed ON composite_records (user_id) WHERE NOT indexed;
CREATE INDEX composite_records_fts ON composite_records USING GIN (fts) WITH (fastupdate = off);
CREATE INDEX composite_records_trgm ON composite_records USING GIN (semantic_text gin_trgm_ops)
    WITH (fastupdate = off);

CREATE TABLE composite_members (
    user_id      TEXT NOT NULL,
    composite_id TEXT NOT NULL,
    member_id    TEXT NOT NULL,
    member_kind  TEXT NOT NULL CHECK (member_kind IN ('record', 'composite')),
    direct       BOOLEAN NOT NULL DEFAULT true,
    PRIMARY KEY (composite_id, member_id)
);
CREATE INDEX composite_members_by_member ON composite_members (user_id, member_id);

CREATE TABLE item_sessions (
    user_id    TEXT NOT NULL,
    session_id TEXT NOT NULL,
    item_id    TEXT NOT NULL,
    PRIMARY KEY (user_id, session_id, item_id)
);
CREATE INDEX item_sessions_by_item ON item_sessions (user_id, item_id);

CREATE TABLE memory_tags (
    user_id   TEXT NOT NULL,
    item_id   TEXT NOT NULL,
    item_kind TEXT NOT NULL CHECK (item_kind IN ('record', 'composite')),
    tag_kind  TEXT NOT NULL,
    tag       TEXT NOT NULL,
    PRIMARY KEY (item_id, tag_kind, tag)
);
CREATE INDEX memory_tags_by_tag ON memory_tags (user_id, tag_kind, tag);

CREATE TABLE skills (
    id                BIGSERIAL PRIMARY KEY,
    skill_id          TEXT NOT NULL UNIQUE,
    user_id           TEXT NOT NULL,
    intent            TEXT NOT NULL,
    doc_markdown      TEXT NOT NULL,
    conditions        TEXT NOT NULL DEFAULT '',
    metadata          JSONB NOT NULL DEFAULT '{}',
    success_count     INTEGER NOT NULL DEFAULT 0,
    fail_count        INTEGER NOT NULL DEFAULT 0,
    usage_count       INTEGER NOT NULL DEFAULT 0,
    last_used         TEXT,
    source_session_id TEXT,
    source_turn_ids   JSONB NOT NULL DEFAULT '[]',
    created_at        TEXT NOT NULL,
    updated_at        TEXT NOT NULL,
    fts_text          TEXT NOT NULL DEFAULT '',
    fts_owner         TEXT NOT NULL,
    indexed           BOOLEAN NOT NULL DEFAULT false,
    fts tsvector GENERATED ALWAYS AS (to_tsvector('english'::regconfig, fts_text)) STORED
);
CREATE INDEX skills_by_update ON skills (user_id, updated_at);
CREATE INDEX skills_fts ON skills USING GIN (fts) WITH (fastupdate = off);
CREATE INDEX skills_trgm ON skills USING GIN ((intent || ' ' || doc_markdown) gin_trgm_ops)
    WITH (fastupdate = off);

-- ``seq`` orders logs written in the same millisecond (SQLite's rowid does it there).
CREATE TABLE usage_logs (
    seq              BIGSERIAL,
    log_id           TEXT PRIMARY KEY,
    user_id          TEXT NOT NULL,
    session_id       TEXT,
    created_at       TEXT NOT NULL,
    query            TEXT NOT NULL,
    mode             TEXT NOT NULL,
    plan             JSONB NOT NULL DEFAULT '{}',
    action_state     JSONB NOT NULL DEFAULT '{}',
    retrieved_ids    JSONB NOT NULL DEFAULT '[]',
    kept_ids         JSONB NOT NULL DEFAULT '[]',
    response_excerpt TEXT,
    user_feedback    TEXT,
    action_outcome   TEXT,
    feedback_source  TEXT,
    feedback_note    TEXT,
    feedback_at      TEXT,
    applied_counters JSONB
);
CREATE INDEX usage_logs_by_session ON usage_logs (user_id, session_id, created_at);

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

-- Row-level security exactly as 0002_row_security.sql: the caller's rows, or every row in the
-- 'system' scope.
DO $$
DECLARE
    t TEXT;
BEGIN
    FOREACH t IN ARRAY ARRAY[
        'memory_records', 'composite_records', 'composite_members', 'item_sessions',
        'memory_tags', 'skills', 'usage_logs', 'consolidation_skips'
    ] LOOP
        EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
        EXECUTE format(
            'CREATE POLICY tenant_only ON %I USING ('
            'user_id = current_setting(''lycheemem.user_id'', true)'
            ' OR current_setting(''lycheemem.scope'', true) = ''system'')'
            ' WITH CHECK ('
            'user_id = current_setting(''lycheemem.user_id'', true)'
            ' OR current_setting(''lycheemem.scope'', true) = ''system'')',
            t
        );
    END LOOP;
END
$$;

-- Full-text and substring candidates of the caller, for index use under row-level security.
-- PostgreSQL evaluates a policy before any condition that is not LEAKPROOF, and neither @@
-- nor LIKE is, so under the app role the GIN indexes above would never be used (a full scan
-- of the table per search). These functions run as the tables' owner, which the policies do
-- not restrict, and apply the policy's own tenant test themselves: they return only row ids
-- of the tenant the transaction names, like the policy would. The app then reads the rows by
-- id as lycheemem_app, under the policies as usual.
CREATE FUNCTION tenant_rows_matching(tbl REGCLASS, q TSQUERY) RETURNS SETOF BIGINT
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, public AS $$
BEGIN
    -- EXECUTE plans with the values known, so the planner sees the tsquery (a cached generic
    -- plan of a static query chose a sequential scan).
    RETURN QUERY EXECUTE format('SELECT id FROM %s WHERE user_id = $1 AND fts @@ $2', tbl)
        USING current_setting('lycheemem.user_id', true), q;
END
$$;
CREATE FUNCTION memory_records_matching(q tsquery) RETURNS SETOF BIGINT
LANGUAGE sql STABLE AS $$ SELECT tenant_rows_matching('public.memory_records', q) $$;
CREATE FUNCTION composite_records_matching(q tsquery) RETURNS SETOF BIGINT
LANGUAGE sql STABLE AS $$ SELECT tenant_rows_matching('public.composite_records', q) $$;
CREATE FUNCTION skills_matching(q tsquery) RETURNS SETOF BIGINT
LANGUAGE sql STABLE AS $$ SELECT tenant_rows_matching('public.skills', q) $$;
-- ``patterns`` are LIKE patterns over semantic_text (the CJK fallback; pg_trgm index).
CREATE FUNCTION tenant_rows_containing(tbl REGCLASS, patterns TEXT[]) RETURNS SETOF BIGINT
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, public AS $$
DECLARE
    p TEXT;
BEGIN
    FOREACH p IN ARRAY patterns LOOP
        RETURN QUERY EXECUTE
            format('SELECT id FROM %s WHERE user_id = $1 AND semantic_text LIKE $2', tbl)
            USING current_setting('lycheemem.user_id', true), p;
    END LOOP;
END
$$;
CREATE FUNCTION memory_records_containing(patterns TEXT[]) RETURNS SETOF BIGINT
LANGUAGE sql STABLE AS $$ SELECT tenant_rows_containing('public.memory_records', patterns) $$;
CREATE FUNCTION composite_records_containing(patterns TEXT[]) RETURNS SETOF BIGINT
LANGUAGE sql STABLE AS $$ SELECT tenant_rows_containing('public.composite_records', patterns) $$;

-- Only the app role (and the owner) may call them. The role is created here if this is the
-- cluster's first migration (PgDatabase.migrate creates it the same way afterwards).
DO $$
BEGIN
    CREATE ROLE lycheemem_app NOLOGIN NOSUPERUSER NOBYPASSRLS;
EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL;
END
$$;
REVOKE ALL ON FUNCTION tenant_rows_matching(REGCLASS, TSQUERY),
    tenant_rows_containing(REGCLASS, TEXT[]) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION tenant_rows_matching(REGCLASS, TSQUERY),
    tenant_rows_containing(REGCLASS, TEXT[]) TO lycheemem_app;

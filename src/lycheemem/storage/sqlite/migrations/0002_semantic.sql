-- Semantic memory: records, composites (the memory tree), tags, provenance links,
-- skills, usage logs, and their FTS5 indexes kept in sync by triggers only.
CREATE TABLE memory_records (
    id                   INTEGER PRIMARY KEY,
    record_id            TEXT NOT NULL UNIQUE,
    user_id              TEXT NOT NULL,
    memory_type          TEXT NOT NULL,
    semantic_text        TEXT NOT NULL,
    normalized_text      TEXT NOT NULL,
    entities             TEXT NOT NULL DEFAULT '[]',
    t_ref                TEXT,
    t_valid_from         TEXT,
    t_valid_to           TEXT,
    task_tags            TEXT NOT NULL DEFAULT '[]',
    tool_tags            TEXT NOT NULL DEFAULT '[]',
    constraint_tags      TEXT NOT NULL DEFAULT '[]',
    failure_tags         TEXT NOT NULL DEFAULT '[]',
    affordance_tags      TEXT NOT NULL DEFAULT '[]',
    confidence           REAL NOT NULL DEFAULT 0.7,
    source_role          TEXT NOT NULL DEFAULT 'user',
    source_session_id    TEXT,
    source_turn_ids      TEXT NOT NULL DEFAULT '[]',
    source_turn_refs     TEXT NOT NULL DEFAULT '[]',
    sources              TEXT NOT NULL DEFAULT '[]',
    version              INTEGER NOT NULL DEFAULT 1,
    history              TEXT NOT NULL DEFAULT '[]',
    created_at           TEXT NOT NULL,
    updated_at           TEXT NOT NULL,
    retrieval_count      INTEGER NOT NULL DEFAULT 0,
    retrieval_hit_count  INTEGER NOT NULL DEFAULT 0,
    action_success_count INTEGER NOT NULL DEFAULT 0,
    action_fail_count    INTEGER NOT NULL DEFAULT 0,
    last_retrieved_at    TEXT,
    expired              INTEGER NOT NULL DEFAULT 0,
    expired_at           TEXT,
    expired_reason       TEXT,
    superseded_by        TEXT,
    event_start          TEXT,
    event_end            TEXT,
    fts_text             TEXT NOT NULL DEFAULT '',
    fts_tags             TEXT NOT NULL DEFAULT '',
    fts_owner            TEXT NOT NULL,
    indexed              INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX memory_records_by_type ON memory_records (user_id, expired, memory_type);
CREATE INDEX memory_records_by_update ON memory_records (user_id, updated_at);
CREATE INDEX memory_records_by_event ON memory_records (user_id, event_start);
CREATE INDEX memory_records_unindexed ON memory_records (indexed) WHERE indexed = 0;

CREATE TABLE composite_records (
    id                   INTEGER PRIMARY KEY,
    composite_id         TEXT NOT NULL UNIQUE,
    user_id              TEXT NOT NULL,
    memory_type          TEXT NOT NULL,
    semantic_text        TEXT NOT NULL,
    normalized_text      TEXT NOT NULL,
    source_record_ids    TEXT NOT NULL DEFAULT '[]',
    child_composite_ids  TEXT NOT NULL DEFAULT '[]',
    level                INTEGER NOT NULL DEFAULT 1,
    synthesis_reason     TEXT NOT NULL DEFAULT '',
    entities             TEXT NOT NULL DEFAULT '[]',
    t_ref                TEXT,
    t_valid_from         TEXT,
    t_valid_to           TEXT,
    task_tags            TEXT NOT NULL DEFAULT '[]',
    tool_tags            TEXT NOT NULL DEFAULT '[]',
    constraint_tags      TEXT NOT NULL DEFAULT '[]',
    failure_tags         TEXT NOT NULL DEFAULT '[]',
    affordance_tags      TEXT NOT NULL DEFAULT '[]',
    confidence           REAL NOT NULL DEFAULT 0.7,
    sources              TEXT NOT NULL DEFAULT '[]',
    created_at           TEXT NOT NULL,
    updated_at           TEXT NOT NULL,
    retrieval_count      INTEGER NOT NULL DEFAULT 0,
    retrieval_hit_count  INTEGER NOT NULL DEFAULT 0,
    action_success_count INTEGER NOT NULL DEFAULT 0,
    action_fail_count    INTEGER NOT NULL DEFAULT 0,
    last_retrieved_at    TEXT,
    expired              INTEGER NOT NULL DEFAULT 0,
    expired_at           TEXT,
    expired_reason       TEXT,
    event_start          TEXT,
    event_end            TEXT,
    fts_text             TEXT NOT NULL DEFAULT '',
    fts_tags             TEXT NOT NULL DEFAULT '',
    fts_owner            TEXT NOT NULL,
    indexed              INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX composite_records_by_level ON composite_records (user_id, expired, level);
CREATE INDEX composite_records_unindexed ON composite_records (indexed) WHERE indexed = 0;

CREATE TABLE composite_members (
    user_id      TEXT NOT NULL,
    composite_id TEXT NOT NULL,
    member_id    TEXT NOT NULL,
    member_kind  TEXT NOT NULL CHECK (member_kind IN ('record', 'composite')),
    direct       INTEGER NOT NULL DEFAULT 1,
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
    id                INTEGER PRIMARY KEY,
    skill_id          TEXT NOT NULL UNIQUE,
    user_id           TEXT NOT NULL,
    intent            TEXT NOT NULL,
    doc_markdown      TEXT NOT NULL,
    conditions        TEXT NOT NULL DEFAULT '',
    metadata          TEXT NOT NULL DEFAULT '{}',
    success_count     INTEGER NOT NULL DEFAULT 0,
    fail_count        INTEGER NOT NULL DEFAULT 0,
    usage_count       INTEGER NOT NULL DEFAULT 0,
    last_used         TEXT,
    source_session_id TEXT,
    source_turn_ids   TEXT NOT NULL DEFAULT '[]',
    created_at        TEXT NOT NULL,
    updated_at        TEXT NOT NULL,
    fts_text          TEXT NOT NULL DEFAULT '',
    fts_owner         TEXT NOT NULL,
    indexed           INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX skills_by_update ON skills (user_id, updated_at);

CREATE TABLE usage_logs (
    log_id           TEXT PRIMARY KEY,
    user_id          TEXT NOT NULL,
    session_id       TEXT,
    created_at       TEXT NOT NULL,
    query            TEXT NOT NULL,
    mode             TEXT NOT NULL,
    plan             TEXT NOT NULL DEFAULT '{}',
    action_state     TEXT NOT NULL DEFAULT '{}',
    retrieved_ids    TEXT NOT NULL DEFAULT '[]',
    kept_ids         TEXT NOT NULL DEFAULT '[]',
    response_excerpt TEXT,
    user_feedback    TEXT,
    action_outcome   TEXT,
    feedback_source  TEXT,
    feedback_note    TEXT,
    feedback_at      TEXT,
    applied_counters TEXT
);
CREATE INDEX usage_logs_by_session ON usage_logs (user_id, session_id, created_at);

CREATE VIRTUAL TABLE memory_records_fts USING fts5(
    fts_text, fts_tags, fts_owner,
    content = 'memory_records', content_rowid = 'id',
    tokenize = "porter unicode61 remove_diacritics 2 tokenchars '_'"
);
CREATE TRIGGER memory_records_fts_insert AFTER INSERT ON memory_records BEGIN
    INSERT INTO memory_records_fts (rowid, fts_text, fts_tags, fts_owner)
    VALUES (new.id, new.fts_text, new.fts_tags, new.fts_owner);
END;
CREATE TRIGGER memory_records_fts_delete AFTER DELETE ON memory_records BEGIN
    INSERT INTO memory_records_fts (memory_records_fts, rowid, fts_text, fts_tags, fts_owner)
    VALUES ('delete', old.id, old.fts_text, old.fts_tags, old.fts_owner);
END;
CREATE TRIGGER memory_records_fts_update AFTER UPDATE OF fts_text, fts_tags, fts_owner
ON memory_records BEGIN
    INSERT INTO memory_records_fts (memory_records_fts, rowid, fts_text, fts_tags, fts_owner)
    VALUES ('delete', old.id, old.fts_text, old.fts_tags, old.fts_owner);
    INSERT INTO memory_records_fts (rowid, fts_text, fts_tags, fts_owner)
    VALUES (new.id, new.fts_text, new.fts_tags, new.fts_owner);
END;

CREATE VIRTUAL TABLE composite_records_fts USING fts5(
    fts_text, fts_tags, fts_owner,
    content = 'composite_records', content_rowid = 'id',
    tokenize = "porter unicode61 remove_diacritics 2 tokenchars '_'"
);
CREATE TRIGGER composite_records_fts_insert AFTER INSERT ON composite_records BEGIN
    INSERT INTO composite_records_fts (rowid, fts_text, fts_tags, fts_owner)
    VALUES (new.id, new.fts_text, new.fts_tags, new.fts_owner);
END;
CREATE TRIGGER composite_records_fts_delete AFTER DELETE ON composite_records BEGIN
    INSERT INTO composite_records_fts (composite_records_fts, rowid, fts_text, fts_tags, fts_owner)
    VALUES ('delete', old.id, old.fts_text, old.fts_tags, old.fts_owner);
END;
CREATE TRIGGER composite_records_fts_update AFTER UPDATE OF fts_text, fts_tags, fts_owner
ON composite_records BEGIN
    INSERT INTO composite_records_fts (composite_records_fts, rowid, fts_text, fts_tags, fts_owner)
    VALUES ('delete', old.id, old.fts_text, old.fts_tags, old.fts_owner);
    INSERT INTO composite_records_fts (rowid, fts_text, fts_tags, fts_owner)
    VALUES (new.id, new.fts_text, new.fts_tags, new.fts_owner);
END;

CREATE VIRTUAL TABLE skills_fts USING fts5(
    fts_text, fts_owner,
    content = 'skills', content_rowid = 'id',
    tokenize = "porter unicode61 remove_diacritics 2 tokenchars '_'"
);
CREATE TRIGGER skills_fts_insert AFTER INSERT ON skills BEGIN
    INSERT INTO skills_fts (rowid, fts_text, fts_owner) VALUES (new.id, new.fts_text, new.fts_owner);
END;
CREATE TRIGGER skills_fts_delete AFTER DELETE ON skills BEGIN
    INSERT INTO skills_fts (skills_fts, rowid, fts_text, fts_owner)
    VALUES ('delete', old.id, old.fts_text, old.fts_owner);
END;
CREATE TRIGGER skills_fts_update AFTER UPDATE OF fts_text, fts_owner ON skills BEGIN
    INSERT INTO skills_fts (skills_fts, rowid, fts_text, fts_owner)
    VALUES ('delete', old.id, old.fts_text, old.fts_owner);
    INSERT INTO skills_fts (rowid, fts_text, fts_owner) VALUES (new.id, new.fts_text, new.fts_owner);
END;

-- Long-document QA: documents and their chunk bank (text, compressed note, term counts).
-- Every row carries user_id and every query filters by it.
CREATE TABLE longdoc_documents (
    user_id      TEXT NOT NULL,
    doc_id       TEXT NOT NULL,
    title        TEXT NOT NULL,
    metadata     TEXT NOT NULL DEFAULT '{}',
    status       TEXT NOT NULL CHECK (status IN ('queued', 'compressing', 'ready', 'failed')),
    error        TEXT,
    n_chars      INTEGER NOT NULL,
    n_tokens     INTEGER NOT NULL,
    n_chunks     INTEGER NOT NULL,
    chunks_done  INTEGER NOT NULL DEFAULT 0,
    chunk_tokens INTEGER NOT NULL,
    ratio        INTEGER NOT NULL,
    note_tokens  INTEGER NOT NULL DEFAULT 0,
    backend      TEXT NOT NULL,
    created_at   TEXT NOT NULL,
    updated_at   TEXT NOT NULL,
    PRIMARY KEY (user_id, doc_id)
);
CREATE INDEX longdoc_documents_by_created ON longdoc_documents (user_id, created_at);
CREATE INDEX longdoc_documents_by_status ON longdoc_documents (status);

CREATE TABLE longdoc_chunks (
    user_id     TEXT NOT NULL,
    doc_id      TEXT NOT NULL,
    chunk_index INTEGER NOT NULL,
    start_char  INTEGER NOT NULL,
    end_char    INTEGER NOT NULL,
    text        TEXT NOT NULL,
    n_tokens    INTEGER NOT NULL,
    terms       TEXT NOT NULL DEFAULT '{}',
    note        TEXT,
    note_tokens INTEGER,
    PRIMARY KEY (user_id, doc_id, chunk_index),
    FOREIGN KEY (user_id, doc_id) REFERENCES longdoc_documents (user_id, doc_id) ON DELETE CASCADE
);

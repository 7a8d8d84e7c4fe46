-- Long-document banks on PostgreSQL: documents, their chunks (text, compressed note, term
-- counts) and the chunk vectors (pgvector), as sqlite/migrations/0003_longdoc.sql plus the
-- LanceDB table ``longdoc_chunk_vectors``. Row-level security as in 0002.
CREATE TABLE longdoc_documents (
    user_id      TEXT NOT NULL,
    doc_id       TEXT NOT NULL,
    title        TEXT NOT NULL,
    metadata     JSONB NOT NULL DEFAULT '{}',
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
    terms       JSONB NOT NULL DEFAULT '{}',
    note        TEXT,
    note_tokens INTEGER,
    PRIMARY KEY (user_id, doc_id, chunk_index),
    FOREIGN KEY (user_id, doc_id) REFERENCES longdoc_documents (user_id, doc_id) ON DELETE CASCADE
);

-- Vectors are read whole per document (the gate scores every chunk), never searched across
-- documents, so no ANN index: the primary key finds a document's rows. The column is
-- dimensionless; a bank opened with another dimension drops the rows of the old one.
CREATE TABLE longdoc_chunk_vectors (
    user_id     TEXT NOT NULL,
    doc_id      TEXT NOT NULL,
    chunk_index INTEGER NOT NULL,
    vector      vector NOT NULL,
    PRIMARY KEY (user_id, doc_id, chunk_index)
);

DO $$
DECLARE
    t TEXT;
BEGIN
    FOREACH t IN ARRAY ARRAY['longdoc_documents', 'longdoc_chunks', 'longdoc_chunk_vectors'] LOOP
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

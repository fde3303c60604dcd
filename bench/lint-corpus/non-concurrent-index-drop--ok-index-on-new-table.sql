CREATE TABLE import_batches (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    source text NOT NULL,
    started_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX import_batches_source_idx ON import_batches (source);
-- Changed our mind within the same migration: the table is still new and empty.
DROP INDEX import_batches_source_idx;
CREATE INDEX import_batches_source_started_at_idx ON import_batches (source, started_at);

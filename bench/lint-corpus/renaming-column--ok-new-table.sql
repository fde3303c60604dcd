CREATE TABLE report_runs (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    startd_at timestamptz
);
ALTER TABLE report_runs RENAME COLUMN startd_at TO started_at;

CREATE TABLE metrics (
    recorded_at timestamptz NOT NULL,
    name text NOT NULL,
    value double precision NOT NULL
) PARTITION BY RANGE (recorded_at);
CREATE TABLE metrics_2025_01 PARTITION OF metrics
    FOR VALUES FROM ('2025-01-01') TO ('2025-02-01');
CREATE INDEX metrics_name_recorded_at_idx ON metrics (name, recorded_at);

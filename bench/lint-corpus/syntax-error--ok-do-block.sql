-- Valid PostgreSQL: an anonymous block with a tagged dollar quote.
SET lock_timeout = '5s';
DO $migration$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_type WHERE typname = 'order_status') THEN
        CREATE TYPE order_status AS ENUM ('pending', 'paid', 'shipped');
    END IF;
END
$migration$;

SET lock_timeout = '5s';
-- expect: syntax-error
CREATE TABLE shipping_zones (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name text NOT NULL,
    countries text[] NOT NULL DEFAULT '{}'
;

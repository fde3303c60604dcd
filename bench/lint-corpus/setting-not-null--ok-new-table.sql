CREATE TABLE webhook_endpoints (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    url text,
    secret text
);
ALTER TABLE webhook_endpoints ALTER COLUMN url SET NOT NULL;

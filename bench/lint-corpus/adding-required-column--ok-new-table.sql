CREATE TABLE api_tokens (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    token_hash text NOT NULL
);
-- The table was created above and is empty.
ALTER TABLE api_tokens ADD COLUMN owner_id bigint NOT NULL;

CREATE TABLE uploads (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    path text NOT NULL
);
ALTER TABLE uploads ADD COLUMN public_id uuid NOT NULL DEFAULT gen_random_uuid();

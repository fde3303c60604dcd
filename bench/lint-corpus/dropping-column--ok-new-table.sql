CREATE TABLE newsletter_signups (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    email text NOT NULL,
    source text
);
ALTER TABLE newsletter_signups DROP COLUMN source;

CREATE TABLE country_codes (
    code text NOT NULL,
    name text NOT NULL
);
ALTER TABLE country_codes ADD CONSTRAINT country_codes_code_key UNIQUE (code);

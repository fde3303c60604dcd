CREATE TABLE discount_codes (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    percent integer NOT NULL
);
ALTER TABLE discount_codes ADD CONSTRAINT discount_codes_percent_range CHECK (percent BETWEEN 1 AND 100);

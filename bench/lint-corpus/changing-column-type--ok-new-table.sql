CREATE TABLE import_rows (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    line_no integer NOT NULL,
    raw text
);
ALTER TABLE import_rows ALTER COLUMN line_no TYPE bigint;

CREATE TABLE email_templates (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    key text NOT NULL,
    body text NOT NULL
);
CREATE UNIQUE INDEX email_templates_key_key ON email_templates (key);
ALTER TABLE email_templates ADD COLUMN locale text NOT NULL DEFAULT 'en';

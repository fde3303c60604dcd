SET lock_timeout = '5s';
-- expect: syntax-error
ALTER TABLE accounts
    ADD COLUMN trial_ends_at timestamptz,
    ADD COLUMN trial_plan text,
;

SET lock_timeout = '5s';
ALTER TABLE accounts ADD COLUMN billing_email text;
ALTER TABLE accounts ADD COLUMN closed_at timestamptz;

SET lock_timeout = '5s';
-- A foreign key on a column added in the same statement with no default: PostgreSQL skips
-- the validation scan, since every row is NULL (parse_utilcmd.c; on PostgreSQL 15 the
-- table's seq_scan count does not move). Only a brief SHARE ROW EXCLUSIVE on payments.
ALTER TABLE invoices ADD COLUMN payment_id bigint REFERENCES payments (id);

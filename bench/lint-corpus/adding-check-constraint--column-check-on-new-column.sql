SET lock_timeout = '5s';
-- The column is new (all NULL) but PostgreSQL still verifies the CHECK over every row
-- (on PostgreSQL 15 the table's seq_scan count goes up by one) under ACCESS EXCLUSIVE.
-- expect: adding-check-constraint
ALTER TABLE products ADD COLUMN weight_grams integer CHECK (weight_grams > 0);

SET lock_timeout = '5s';
-- expect: dropping-table
DROP TABLE legacy_carts;

SET lock_timeout = '5s';
ALTER TABLE orders
    ADD CONSTRAINT orders_user_id_fkey FOREIGN KEY (user_id) REFERENCES users (id) NOT VALID;
-- Separate statement, no explicit transaction: VALIDATE only takes SHARE UPDATE EXCLUSIVE.
ALTER TABLE orders VALIDATE CONSTRAINT orders_user_id_fkey;

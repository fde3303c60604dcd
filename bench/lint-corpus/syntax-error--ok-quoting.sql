-- Valid PostgreSQL: quoted identifiers, doubled quotes, E'' escapes, a ';' in a comment.
SET lock_timeout = '5s';
COMMENT ON COLUMN "users"."email" IS 'Login e-mail; unique per tenant, it''s lower-cased';
COMMENT ON TABLE orders IS E'Customer orders.\nOne row per checkout; see ADR-12.';
/* a block comment; with /* a nested one; */ still a comment */
ALTER TABLE "Order Items" ADD COLUMN "Gift Note" text;

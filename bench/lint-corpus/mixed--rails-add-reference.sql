-- What Rails prints for add_reference :orders, :coupon, foreign_key: true
-- expect: missing-lock-timeout
ALTER TABLE "orders" ADD "coupon_id" bigint;
-- expect: non-concurrent-index
CREATE INDEX "index_orders_on_coupon_id" ON "orders" ("coupon_id");
-- expect: adding-foreign-key
ALTER TABLE "orders" ADD CONSTRAINT "fk_rails_0e7b4c2b5a" FOREIGN KEY ("coupon_id") REFERENCES "coupons" ("id");

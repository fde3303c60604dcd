CREATE TABLE coupon_redemptions (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    coupon_code text NOT NULL,
    redeemed_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX coupon_redemptions_coupon_code_idx ON coupon_redemptions (coupon_code);
CREATE UNIQUE INDEX coupon_redemptions_code_at_key ON coupon_redemptions (coupon_code, redeemed_at);

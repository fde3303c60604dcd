CREATE TABLE tmp_price_import (
    sku text NOT NULL,
    price_cents bigint NOT NULL
);
ALTER TABLE tmp_price_import RENAME TO price_imports;

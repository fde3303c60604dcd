-- A shop schema, as `pg_dump --schema-only` would print it (trimmed).
CREATE TABLE public.customers (
    id bigint NOT NULL,
    email text NOT NULL,
    full_name text DEFAULT '' NOT NULL,
    fax text
);
ALTER TABLE ONLY public.customers ADD CONSTRAINT customers_pkey PRIMARY KEY (id);
CREATE INDEX customers_full_name_idx ON public.customers USING btree (full_name);

CREATE TABLE public.orders (
    id bigint NOT NULL,
    customer_id bigint NOT NULL,
    quantity integer NOT NULL,
    note character varying(100)
);
ALTER TABLE ONLY public.orders ADD CONSTRAINT orders_pkey PRIMARY KEY (id);

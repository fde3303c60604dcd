CREATE TABLE public.users (
    id bigint NOT NULL,
    email text NOT NULL,
    name character varying(100),
    created_at timestamp with time zone DEFAULT now() NOT NULL
);
ALTER TABLE ONLY public.users ADD CONSTRAINT users_pkey PRIMARY KEY (id);
CREATE INDEX users_name_idx ON public.users USING btree (name);

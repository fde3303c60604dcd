-- expect: renaming-column, missing-lock-timeout
ALTER TABLE ONLY public.accounts RENAME plan TO pricing_plan;

-- expect: non-concurrent-index-drop, missing-lock-timeout
DROP INDEX IF EXISTS public.users_created_at_idx;

DROP INDEX CONCURRENTLY IF EXISTS comments_body_trgm_idx;

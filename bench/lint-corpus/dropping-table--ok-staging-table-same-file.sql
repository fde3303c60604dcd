SET lock_timeout = '5s';
CREATE TABLE staging_tag_merge (
    old_id bigint NOT NULL,
    new_id bigint NOT NULL
);
INSERT INTO staging_tag_merge (old_id, new_id) VALUES (17, 4), (23, 4), (31, 9);
UPDATE posts SET title = title WHERE id IN (SELECT old_id FROM staging_tag_merge);
DROP TABLE staging_tag_merge;

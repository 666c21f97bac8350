ALTER TABLE resources DROP COLUMN request_id;

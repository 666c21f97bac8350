ALTER TABLE resources DROP COLUMN attributes;

-- What the upstream said about an object when Threadgate recorded it (a
-- file's purpose, name and size), so lists can be answered from here
-- without asking the upstream about every item.
ALTER TABLE resources ADD COLUMN attributes jsonb NOT NULL DEFAULT '{}'::jsonb;

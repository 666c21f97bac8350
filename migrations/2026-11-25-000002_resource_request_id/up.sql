-- The request that reserved a resource: with kind, profile and created_at, it
-- is what a reconciler needs to settle a row left `pending` by a crash or an
-- upstream answer that never came.
ALTER TABLE resources ADD COLUMN request_id text;

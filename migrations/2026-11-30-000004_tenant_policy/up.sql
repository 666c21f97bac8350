-- The rest of a tenant's policy, set by its admins over REST:
-- * retention_days: conversation state older than this is deleted by the
--   reconciler (NULL: kept);
-- * allowed_tools / allowed_models: what runs and responses may use (NULL:
--   the built-in tool set / any model).
ALTER TABLE tenants
    ADD COLUMN retention_days integer CHECK (retention_days BETWEEN 1 AND 3650),
    ADD COLUMN allowed_tools text[] CHECK (cardinality(allowed_tools) <= 32),
    ADD COLUMN allowed_models text[] CHECK (cardinality(allowed_models) <= 64);

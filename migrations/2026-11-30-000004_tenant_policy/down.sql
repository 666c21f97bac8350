ALTER TABLE tenants
    DROP COLUMN retention_days,
    DROP COLUMN allowed_tools,
    DROP COLUMN allowed_models;

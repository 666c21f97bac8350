DROP TABLE usage_daily;
ALTER TABLE tenants DROP COLUMN limits;

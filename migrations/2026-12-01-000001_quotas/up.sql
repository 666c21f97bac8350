-- Limits a tenant admin set in the policy: a key present holds the limit
-- (a number, or null for none); a key absent follows the configuration.
ALTER TABLE tenants ADD COLUMN limits jsonb NOT NULL DEFAULT '{}'::jsonb;

-- Tokens spent per UTC day, kept beside usage_records as runs are
-- recorded, so a budget check reads two rows instead of summing a day's
-- records. user_id is the nil UUID for the tenant's total.
CREATE TABLE usage_daily (
    tenant_id uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    user_id uuid NOT NULL,
    day date NOT NULL,
    tokens bigint NOT NULL,
    PRIMARY KEY (tenant_id, day, user_id)
);

INSERT INTO usage_daily (tenant_id, user_id, day, tokens)
SELECT tenant_id, coalesce(user_id, '00000000-0000-0000-0000-000000000000'), (recorded_at AT TIME ZONE 'UTC')::date, sum(total_tokens)
FROM usage_records
GROUP BY 1, 2, 3
ON CONFLICT DO NOTHING;

INSERT INTO usage_daily (tenant_id, user_id, day, tokens)
SELECT tenant_id, '00000000-0000-0000-0000-000000000000', (recorded_at AT TIME ZONE 'UTC')::date, sum(total_tokens)
FROM usage_records
WHERE user_id IS NOT NULL
GROUP BY 1, 3
ON CONFLICT (tenant_id, day, user_id) DO UPDATE SET tokens = usage_daily.tokens + excluded.tokens;

-- An Idempotency-Key is bound to the attempt that holds it (its request id,
-- which is also the request id of the rows it reserved). A retry whose
-- holder ended without a known outcome (`unknown`), or crashed, resolves
-- that attempt's rows instead of creating again.
ALTER TABLE idempotency_keys ADD COLUMN holder_request_id text;
ALTER TABLE idempotency_keys DROP CONSTRAINT idempotency_keys_state_check;
ALTER TABLE idempotency_keys ADD CONSTRAINT idempotency_keys_state_check
    CHECK (state IN ('in_progress', 'unknown', 'completed'));
-- Only a completed request has an answer to replay.
ALTER TABLE idempotency_keys DROP CONSTRAINT idempotency_keys_check;
ALTER TABLE idempotency_keys ADD CONSTRAINT idempotency_keys_check
    CHECK (state <> 'completed' OR response_status IS NOT NULL);

-- The rows one request reserved, for that resolution.
CREATE INDEX resources_by_request
    ON resources (tenant_id, request_id)
    WHERE request_id IS NOT NULL;

DROP INDEX resources_by_request;
DELETE FROM idempotency_keys WHERE state = 'unknown';
ALTER TABLE idempotency_keys DROP CONSTRAINT idempotency_keys_check;
ALTER TABLE idempotency_keys ADD CONSTRAINT idempotency_keys_check
    CHECK (state = 'in_progress' OR response_status IS NOT NULL);
ALTER TABLE idempotency_keys DROP CONSTRAINT idempotency_keys_state_check;
ALTER TABLE idempotency_keys ADD CONSTRAINT idempotency_keys_state_check
    CHECK (state IN ('in_progress', 'completed'));
ALTER TABLE idempotency_keys DROP COLUMN holder_request_id;

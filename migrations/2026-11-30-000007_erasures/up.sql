-- Erasing a user: every upstream object they own is deleted, their shares
-- removed, their subject forgotten. The erasure is a row of its own, so
-- its progress survives a crash and `threadgate reconcile` finishes it.

ALTER TABLE users DROP CONSTRAINT users_state_check;
ALTER TABLE users ADD CONSTRAINT users_state_check
    CHECK (state IN ('active', 'disabled', 'erased'));

CREATE TABLE erasures (
    tenant_id uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    id uuid NOT NULL,
    user_id uuid NOT NULL,
    state text NOT NULL DEFAULT 'in_progress'
        CHECK (state IN ('in_progress', 'completed')),
    requested_by_user_id uuid,
    requested_by_api_key_id uuid,
    -- Objects deleted so far, by kind: {"thread": 3, "file": 2, ...}.
    deleted jsonb NOT NULL DEFAULT '{}'::jsonb,
    -- When completed: what the upstream was asked again, and what it still had.
    proof jsonb,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    completed_at timestamptz,
    PRIMARY KEY (tenant_id, id),
    UNIQUE (tenant_id, user_id),
    FOREIGN KEY (tenant_id, user_id) REFERENCES users (tenant_id, id)
);
CREATE INDEX erasures_unfinished ON erasures (created_at) WHERE state = 'in_progress';

-- A run's tokens are charged to the user who started it, whoever's request
-- later sees it finish: its row is written when Threadgate sees the run
-- created (finished = false, no tokens yet) and settled, once, with the
-- usage of its final object. Rows recorded before are all finished.
ALTER TABLE usage_records ADD COLUMN finished boolean NOT NULL DEFAULT true;

-- What `threadgate reconcile` settles: runs started and never seen ending.
CREATE INDEX usage_records_unsettled ON usage_records (recorded_at) WHERE NOT finished;

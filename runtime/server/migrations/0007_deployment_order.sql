-- The order deployments were created in, within one second too (`created_at` counts seconds):
-- which deployment was a host's last, and which the group's last good one.
ALTER TABLE deployments ADD COLUMN seq BIGINT NOT NULL DEFAULT 0;
CREATE INDEX deployments_seq ON deployments (seq);

-- The ceiling of one host's run of a deployment, per group: past it the host fails even while
-- its agent heartbeats (a hook that never ends). Counted from when the agent claimed it.
ALTER TABLE deployment_groups ADD COLUMN max_deployment_minutes BIGINT NOT NULL DEFAULT 60;
ALTER TABLE deployment_hosts ADD COLUMN claimed_at BIGINT;

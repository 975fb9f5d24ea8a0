-- The plan as counts (davit-fleet's Plan, JSON in `deployments.planner`) beside one row per host,
-- which is the truth about that host: `ord` is the order its deployment takes hosts in
-- (unhealthy first, then by name), so a dispatch moves the first pending ones in one statement.
ALTER TABLE deployment_hosts ADD COLUMN ord BIGINT NOT NULL DEFAULT 0;
CREATE INDEX deployment_hosts_pending ON deployment_hosts (deployment, state, ord);
-- An agent's hosts (its command, its report), a host's history, and hosts by state (the reaper).
CREATE INDEX deployment_hosts_agent ON deployment_hosts (agent, deployment);
CREATE INDEX deployment_hosts_host ON deployment_hosts (host);
CREATE INDEX deployment_hosts_state ON deployment_hosts (state);
CREATE INDEX deployments_group ON deployments (app, deployment_group, status);
-- The configuration a deployment rolls out with (davit-fleet's DeploymentConfig, JSON), so that
-- its rollback rolls out the same way; and what made it (NULL: an operator).
ALTER TABLE deployments ADD COLUMN config TEXT;
ALTER TABLE deployments ADD COLUMN cause TEXT;
-- Whether a host that joins the group gets its last good revision by itself (1) or not (0).
ALTER TABLE deployment_groups ADD COLUMN auto_deploy_new_hosts BIGINT NOT NULL DEFAULT 1;

-- Deployments: the plan (davit-fleet's Planner, as JSON) and one row per host.
CREATE TABLE deployments (
    id TEXT PRIMARY KEY,
    app TEXT NOT NULL,
    deployment_group TEXT NOT NULL,
    revision TEXT NOT NULL,         -- the bundle revision id
    store TEXT NOT NULL,            -- where agents pull it from
    status TEXT NOT NULL,           -- InProgress | Succeeded | Failed
    reason TEXT,                    -- why it failed
    planner TEXT NOT NULL,          -- the Planner's state, JSON
    version BIGINT NOT NULL,        -- bumped on every change of `planner` (optimistic locking)
    created_at BIGINT NOT NULL,
    finished_at BIGINT
);

CREATE TABLE deployment_hosts (
    deployment TEXT NOT NULL REFERENCES deployments (id),
    host TEXT NOT NULL,             -- the host's name
    agent TEXT,                     -- its agent, if one enrolled
    state TEXT NOT NULL,            -- Pending | Running | Claimed | Succeeded | Failed | Skipped
    detail TEXT,                    -- the failure, or the agent's last word
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (deployment, host)
);

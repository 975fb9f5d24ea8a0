-- An agent's claim looks for its hosts in one state: by agent and state, not every host of
-- the fleet in that state (which made a claim cost as much as the fleet is large).
CREATE INDEX deployment_hosts_claim ON deployment_hosts (agent, state);

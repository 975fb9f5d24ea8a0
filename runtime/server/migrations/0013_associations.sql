-- State Manager's associations: a package kept at a version (NULL: the newest in the store)
-- on a deployment group's hosts, on a schedule. Each run is a package job whose cause is
-- `association: NAME`.
CREATE TABLE associations (
    name TEXT PRIMARY KEY,
    app TEXT NOT NULL,
    deployment_group TEXT NOT NULL,
    package TEXT NOT NULL,
    version TEXT,
    arguments TEXT NOT NULL,
    store TEXT NOT NULL,
    schedule TEXT NOT NULL,
    timezone TEXT NOT NULL,
    concurrency TEXT,
    max_errors TEXT,
    next_run_at BIGINT,
    last_error TEXT,
    created_at BIGINT NOT NULL
);
CREATE INDEX deployments_cause ON deployments (cause, seq);

-- Image pipelines: a recipe (and its distribution) that builder agents build on a schedule
-- or when asked, with a history of runs.
CREATE TABLE pipelines (
    name TEXT PRIMARY KEY,
    recipe_file TEXT NOT NULL,
    recipe TEXT NOT NULL,
    distribution_file TEXT,
    distribution TEXT,
    -- JSON: [{"app": …, "group": …}]
    groups_json TEXT NOT NULL,
    schedule TEXT,
    timezone TEXT NOT NULL,
    -- 'changed' or 'always'
    start_condition TEXT NOT NULL,
    enabled BIGINT NOT NULL,
    max_failures BIGINT NOT NULL,
    failures BIGINT NOT NULL DEFAULT 0,
    -- JSON: {"key": "value"}
    builder_tags TEXT NOT NULL,
    next_run_at BIGINT,
    created_at BIGINT NOT NULL,
    disabled_because TEXT,
    -- The inputs' digest of the last run that succeeded: "only when dependencies changed".
    last_good_inputs TEXT,
    runs BIGINT NOT NULL DEFAULT 0
);

CREATE TABLE pipeline_runs (
    id TEXT PRIMARY KEY,
    pipeline TEXT NOT NULL REFERENCES pipelines (name),
    seq BIGINT NOT NULL,
    cause TEXT NOT NULL,
    status TEXT NOT NULL,
    -- Whether a run that finds nothing changed is skipped (a scheduled run of a
    -- 'changed' pipeline).
    if_changed BIGINT NOT NULL,
    agent TEXT,
    created_at BIGINT NOT NULL,
    started_at BIGINT,
    ended_at BIGINT,
    inputs TEXT,
    digest TEXT,
    reference TEXT,
    detail TEXT NOT NULL DEFAULT '',
    log TEXT NOT NULL DEFAULT '',
    UNIQUE (pipeline, seq)
);
CREATE INDEX pipeline_runs_status ON pipeline_runs (status, created_at);

-- The server's state. Portable SQL: the same file runs on SQLite and PostgreSQL.
CREATE TABLE tokens (
    hash TEXT PRIMARY KEY,          -- blake3 of the secret; the secret itself is never stored
    kind TEXT NOT NULL,             -- operator | enroll | agent
    agent TEXT,                     -- the agent an agent credential belongs to
    used BIGINT NOT NULL,           -- 1 once an enrollment token has been swapped
    created_at BIGINT NOT NULL
);

CREATE TABLE apps (
    name TEXT PRIMARY KEY,
    created_at BIGINT NOT NULL
);

CREATE TABLE deployment_groups (
    app TEXT NOT NULL REFERENCES apps (name),
    name TEXT NOT NULL,
    tags TEXT NOT NULL,             -- JSON object: the tags a host must have
    hosts TEXT NOT NULL,            -- JSON array: hosts expected whether or not their agent runs
    created_at BIGINT NOT NULL,
    PRIMARY KEY (app, name)
);

CREATE TABLE agents (
    id TEXT PRIMARY KEY,
    hostname TEXT NOT NULL,
    tags TEXT NOT NULL,             -- JSON object
    enrolled_at BIGINT NOT NULL,
    last_seen BIGINT NOT NULL
);

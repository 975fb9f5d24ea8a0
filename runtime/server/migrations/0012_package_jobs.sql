-- A package job is a deployment of kind "package": its package part (davit-api's PackageJob,
-- JSON) says which package, version and operation; NULL for a revision's lifecycle. The
-- group's last good revision, its rollbacks and its new hosts' catch-up consider only the
-- deployments without one.
ALTER TABLE deployments ADD COLUMN package TEXT;

-- What each agent last reported it has installed, one row per package.
CREATE TABLE inventory (
    agent TEXT NOT NULL,
    name TEXT NOT NULL,
    version TEXT,
    state TEXT NOT NULL,
    time TEXT NOT NULL,
    reported_at BIGINT NOT NULL,
    PRIMARY KEY (agent, name)
);

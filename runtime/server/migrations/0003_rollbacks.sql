-- A rollback is a deployment of the last good revision, linked to the one that failed.
ALTER TABLE deployments ADD COLUMN rollback_of TEXT;

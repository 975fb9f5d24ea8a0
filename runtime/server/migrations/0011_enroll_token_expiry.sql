-- When an enrollment token stops enrolling (seconds since the epoch); NULL: never. A revoked
-- token's row is deleted.
ALTER TABLE tokens ADD COLUMN expires_at BIGINT;

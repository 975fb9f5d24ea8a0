-- Enrollment tokens that many hosts may swap (those baked into an image by the `davit/agent`
-- component); a one-time token has 0.
ALTER TABLE tokens ADD COLUMN reusable BIGINT NOT NULL DEFAULT 0;

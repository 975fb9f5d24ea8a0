-- The image a group's hosts should use, recorded by an image distribution: its reference
-- (docker://HOST/REPO:TAG), its manifest digest, when, and the image's name and version.
ALTER TABLE deployment_groups ADD COLUMN image TEXT;

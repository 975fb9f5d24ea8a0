-- What each host's agent reported per lifecycle event: status, time, detail and a log tail.
ALTER TABLE deployment_hosts ADD COLUMN events TEXT;

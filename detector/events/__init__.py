"""Events, clips and alerts: confirmed objects and line/zone rules become events with clips and
snapshots, an event log and index, MQTT messages and webhooks (see docs/usage.md, "Events")."""

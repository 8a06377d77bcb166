"""Settings, the error hierarchy, ids and time: what every other package stands on."""

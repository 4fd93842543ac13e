"""Query service (seed step 16): projects the status-event stream into an SQL read model."""

DROP FUNCTION audit_chain_break(uuid);
DROP TRIGGER audit_events_chain ON audit_events;
DROP FUNCTION audit_events_chain();
DROP FUNCTION audit_chain_append(audit_events);
DROP FUNCTION audit_event_canonical(audit_events, bigint);
DROP TABLE audit_chain_heads;
DROP TABLE audit_chain;

-- Each tenant's audit events form a hash chain, kept beside the events:
-- an event's place in the tenant's sequence, its predecessor's hash, and
-- the SHA-256 of that hash and the event's canonical form. A trigger
-- extends the chain as each event is written, under a lock on the tenant's
-- chain head, so writers on any number of replicas extend one valid chain
-- per tenant. Editing or removing an event (possible only by the table's
-- owner, past the append-only triggers) breaks the chain from that event
-- on, which audit_chain_break() finds.

CREATE TABLE audit_chain (
    tenant_id uuid NOT NULL,
    seq bigint NOT NULL,
    event_id uuid NOT NULL,
    prev_hash bytea NOT NULL,
    hash bytea NOT NULL,
    PRIMARY KEY (tenant_id, seq),
    UNIQUE (event_id)
);

CREATE TABLE audit_chain_heads (
    tenant_id uuid PRIMARY KEY,
    seq bigint NOT NULL,
    hash bytea NOT NULL
);

CREATE TRIGGER audit_chain_append_only
    BEFORE UPDATE OR DELETE ON audit_chain
    FOR EACH ROW EXECUTE FUNCTION audit_events_are_append_only();

-- The canonical form of an event at its place: every recorded field, in a
-- fixed order, as PostgreSQL prints it (writer and verifier agree byte for
-- byte).
CREATE FUNCTION audit_event_canonical(event audit_events, seq bigint) RETURNS bytea
LANGUAGE sql STABLE AS $$
    SELECT convert_to(concat_ws(E'\x1f',
        seq::text,
        event.id::text,
        event.tenant_id::text,
        to_char(event.occurred_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US'),
        coalesce(event.request_id, ''),
        coalesce(event.trace_id, ''),
        coalesce(event.actor_user_id::text, ''),
        coalesce(event.actor_api_key_id::text, ''),
        coalesce(event.auth_method, ''),
        event.action,
        coalesce(event.resource_kind, ''),
        coalesce(event.resource_id::text, ''),
        coalesce(event.upstream_id, ''),
        event.outcome,
        coalesce(event.reason, ''),
        event.details::text
    ), 'UTF8')
$$;

-- Appends `event` to its tenant's chain.
CREATE FUNCTION audit_chain_append(event audit_events) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    head audit_chain_heads%ROWTYPE;
    next_hash bytea;
BEGIN
    INSERT INTO audit_chain_heads (tenant_id, seq, hash)
        VALUES (event.tenant_id, 0, ''::bytea)
        ON CONFLICT (tenant_id) DO NOTHING;
    SELECT * INTO head FROM audit_chain_heads WHERE tenant_id = event.tenant_id FOR UPDATE;
    next_hash := sha256(head.hash || audit_event_canonical(event, head.seq + 1));
    INSERT INTO audit_chain (tenant_id, seq, event_id, prev_hash, hash)
        VALUES (event.tenant_id, head.seq + 1, event.id, head.hash, next_hash);
    UPDATE audit_chain_heads SET seq = head.seq + 1, hash = next_hash
        WHERE tenant_id = event.tenant_id;
END;
$$;

CREATE FUNCTION audit_events_chain() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.tenant_id IS NOT NULL THEN
        PERFORM audit_chain_append(NEW);
    END IF;
    RETURN NULL;
END;
$$;

-- Events written before the chain existed join it, oldest first.
DO $$
DECLARE
    event audit_events%ROWTYPE;
BEGIN
    FOR event IN SELECT * FROM audit_events WHERE tenant_id IS NOT NULL ORDER BY tenant_id, occurred_at, id LOOP
        PERFORM audit_chain_append(event);
    END LOOP;
END;
$$;

CREATE TRIGGER audit_events_chain
    AFTER INSERT ON audit_events
    FOR EACH ROW EXECUTE FUNCTION audit_events_chain();

-- The first place in `tenant`'s chain that does not hold: the event there
-- is missing or not what was hashed, its predecessor's hash is not the one
-- it names, or a place is missing. No row when intact.
CREATE FUNCTION audit_chain_break(tenant uuid) RETURNS TABLE (id uuid, seq bigint)
LANGUAGE sql STABLE AS $$
    SELECT checked.event_id, checked.seq FROM (
        SELECT link.event_id, link.seq, link.hash, link.prev_hash,
               sha256(link.prev_hash || audit_event_canonical(event, link.seq)) AS recomputed,
               lag(link.hash) OVER (ORDER BY link.seq) AS previous,
               lag(link.seq) OVER (ORDER BY link.seq) AS previous_seq
        FROM audit_chain AS link
        LEFT JOIN audit_events AS event ON event.id = link.event_id
        WHERE link.tenant_id = tenant
    ) AS checked
    WHERE checked.recomputed IS NULL
       OR checked.hash <> checked.recomputed
       OR checked.prev_hash <> coalesce(checked.previous, ''::bytea)
       OR checked.seq <> coalesce(checked.previous_seq, 0) + 1
    ORDER BY checked.seq
    LIMIT 1
$$;

DROP FUNCTION audit_chain_break(uuid, bigint, bigint);
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
CREATE OR REPLACE FUNCTION audit_chain_append(event audit_events) RETURNS void
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
DROP FUNCTION audit_event_form(audit_events, bigint, smallint);
DROP FUNCTION audit_event_framed(audit_events, bigint);
DROP FUNCTION audit_field(text);
ALTER TABLE audit_chain DROP COLUMN form;

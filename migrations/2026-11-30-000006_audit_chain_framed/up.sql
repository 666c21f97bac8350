-- The canonical form of an event becomes unambiguous: each field is framed
-- by its length in bytes (or `-` for NULL) instead of joined with a
-- separator, so no value a caller typed (an id, a request id) can move
-- bytes from one field to the next and keep the hash. Links written before
-- this migration keep the separator form they were hashed with (`form` 1);
-- new links use the framed form (`form` 2), and the verifier recomputes
-- each link in its own form.

ALTER TABLE audit_chain ADD COLUMN form smallint NOT NULL DEFAULT 1;

CREATE FUNCTION audit_field(value text) RETURNS bytea
LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE WHEN value IS NULL THEN '\x2d'::bytea
        ELSE convert_to(octet_length(convert_to(value, 'UTF8'))::text || ':', 'UTF8')
             || convert_to(value, 'UTF8')
    END
$$;

CREATE FUNCTION audit_event_framed(event audit_events, seq bigint) RETURNS bytea
LANGUAGE sql STABLE AS $$
    SELECT audit_field(seq::text)
        || audit_field(event.id::text)
        || audit_field(event.tenant_id::text)
        || audit_field(to_char(event.occurred_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US'))
        || audit_field(event.request_id)
        || audit_field(event.trace_id)
        || audit_field(event.actor_user_id::text)
        || audit_field(event.actor_api_key_id::text)
        || audit_field(event.auth_method)
        || audit_field(event.action)
        || audit_field(event.resource_kind)
        || audit_field(event.resource_id::text)
        || audit_field(event.upstream_id)
        || audit_field(event.outcome)
        || audit_field(event.reason)
        || audit_field(event.details::text)
$$;

-- An event's canonical form in the form its link was written with.
CREATE FUNCTION audit_event_form(event audit_events, seq bigint, form smallint) RETURNS bytea
LANGUAGE sql STABLE AS $$
    SELECT CASE form WHEN 1 THEN audit_event_canonical(event, seq)
        ELSE audit_event_framed(event, seq) END
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
    next_hash := sha256(head.hash || audit_event_framed(event, head.seq + 1));
    INSERT INTO audit_chain (tenant_id, seq, event_id, prev_hash, hash, form)
        VALUES (event.tenant_id, head.seq + 1, event.id, head.hash, next_hash, 2);
    UPDATE audit_chain_heads SET seq = head.seq + 1, hash = next_hash
        WHERE tenant_id = event.tenant_id;
END;
$$;

DROP FUNCTION audit_chain_break(uuid);

-- The first place in `tenant`'s chain after `after_seq` and up to
-- `upto_seq` that does not hold: the event there is missing or not what
-- was hashed, its predecessor's hash is not the one it names, or a place
-- is missing. No row when that stretch is intact. The link at `after_seq`
-- is read only as the predecessor of the next, so a long chain is checked
-- in stretches, each one short statement.
CREATE FUNCTION audit_chain_break(tenant uuid, after_seq bigint, upto_seq bigint)
RETURNS TABLE (id uuid, seq bigint)
LANGUAGE sql STABLE AS $$
    SELECT checked.event_id, checked.seq FROM (
        SELECT link.event_id, link.seq, link.hash, link.prev_hash,
               sha256(link.prev_hash || audit_event_form(event, link.seq, link.form)) AS recomputed,
               lag(link.hash) OVER (ORDER BY link.seq) AS previous,
               lag(link.seq) OVER (ORDER BY link.seq) AS previous_seq
        FROM audit_chain AS link
        LEFT JOIN audit_events AS event ON event.id = link.event_id
        WHERE link.tenant_id = tenant AND link.seq >= after_seq AND link.seq <= upto_seq
    ) AS checked
    WHERE checked.seq > after_seq AND (
           checked.recomputed IS NULL
        OR checked.hash <> checked.recomputed
        OR checked.prev_hash <> coalesce(checked.previous, ''::bytea)
        OR checked.seq <> coalesce(checked.previous_seq, 0) + 1)
    ORDER BY checked.seq
    LIMIT 1
$$;

-- An upstream object belongs to one tenant at most. Recording an object the
-- upstream made (an output file, a thread's vector store) must never claim
-- one that any tenant already knows, and this index makes that a constraint
-- rather than a check: a second row with the same upstream id is refused
-- whatever its tenant or kind. It also serves the "known anywhere" lookup.
--
-- Before this rule, recording could let a second row claim an object that
-- another already held (the hole this closes). The first row to record an
-- object keeps it. Every later claim is revoked, so that the index can be
-- built: its grants are removed, it is marked deleted, and it is moved out of
-- its profile (`revoked:<row id>:<profile>`), where no lookup and no
-- reconciler looks. Its history, and the audit events that name it, stay.
WITH claims AS (
    SELECT tenant_id, id,
           row_number() OVER (PARTITION BY upstream_profile, upstream_id
                              ORDER BY created_at, id) AS claim
      FROM resources
     WHERE upstream_id IS NOT NULL
),
revoked AS (
    UPDATE resources r
       SET upstream_profile = 'revoked:' || r.id || ':' || r.upstream_profile,
           state = 'deleted',
           deleted_at = coalesce(r.deleted_at, now()),
           updated_at = now()
      FROM claims
     WHERE claims.tenant_id = r.tenant_id AND claims.id = r.id AND claims.claim > 1
 RETURNING r.tenant_id, r.id
)
DELETE FROM grants g
 USING revoked
 WHERE g.tenant_id = revoked.tenant_id AND g.resource_id = revoked.id;

CREATE UNIQUE INDEX resources_upstream_id_once
    ON resources (upstream_profile, upstream_id)
    WHERE upstream_id IS NOT NULL;

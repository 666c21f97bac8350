-- An upstream object belongs to one tenant at most. Recording an object the
-- upstream made (an output file, a thread's vector store) must never claim
-- one that any tenant already knows, and this index makes that a constraint
-- rather than a check: a second row with the same upstream id is refused
-- whatever its tenant or kind. It also serves the "known anywhere" lookup.
CREATE UNIQUE INDEX resources_upstream_id_once
    ON resources (upstream_profile, upstream_id)
    WHERE upstream_id IS NOT NULL;

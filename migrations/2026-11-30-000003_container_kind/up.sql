-- Containers (code interpreter's sandboxes of the Responses API) are a kind
-- of resource with an owner, like files.
ALTER TABLE resources DROP CONSTRAINT resources_kind_check;
ALTER TABLE resources ADD CONSTRAINT resources_kind_check
    CHECK (kind IN ('assistant', 'thread', 'file', 'vector_store', 'conversation', 'response', 'container'));

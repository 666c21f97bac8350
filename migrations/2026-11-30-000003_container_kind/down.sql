-- Containers leave the vocabulary: their rows go first (grants cascade;
-- nothing is a child of a container, and usage belongs to responses).
DELETE FROM resources WHERE kind = 'container';
ALTER TABLE resources DROP CONSTRAINT resources_kind_check;
ALTER TABLE resources ADD CONSTRAINT resources_kind_check
    CHECK (kind IN ('assistant', 'thread', 'file', 'vector_store', 'conversation', 'response'));

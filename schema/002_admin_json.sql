-- Helpers for authd's admin side, which passes lists to PostgreSQL as one
-- JSON array parameter rather than composing array literals.


-- the strings of a JSON array, in order, as text[] ('[]' gives '{}');
-- NULL stays NULL, so that coalesce() can keep a column unchanged
CREATE FUNCTION authd_json_texts(j jsonb) RETURNS text[]
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
BEGIN ATOMIC
    SELECT coalesce(array_agg(e.value ORDER BY e.n), '{}')
    FROM jsonb_array_elements_text(j) WITH ORDINALITY AS e(value, n);
END;

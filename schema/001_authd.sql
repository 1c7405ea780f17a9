-- authd's database (PostgreSQL 15).
--
-- Applied once by `authd migrate`, inside its transaction, so the file holds
-- no BEGIN or COMMIT (migrate keeps schema_migrations itself).  The rules of
-- the policy document (schema/policy.schema.json) are repeated here as CHECK
-- constraints so that a row the gateway would refuse can never be stored:
-- authd then cannot write a policy document that nginx rejects because of an
-- admin's edit.
--
-- Secrets are stored as SHA-256 digests only (client secrets, codes,
-- refresh tokens, session ids), passwords as scrypt hashes only, private
-- keys as encrypted PKCS#8 only; the constraints refuse anything else.
--
-- Deleting a user or an application removes their grants, codes, refresh
-- tokens and sessions, but never an audit entry (audit_log names actors and
-- applications by value, not by reference) and never a revocation: the
-- access tokens of a deleted grant are revoked and kept until they expire,
-- so that they stay in the policy document's revoked list.


-- Checks shared by several tables.  They are IMMUTABLE so that CHECK
-- constraints may call them.

-- a non-empty string of at most max bytes without control characters:
-- the policy document's "text" (values end up in logs and headers)
CREATE FUNCTION authd_text(s text, max integer) RETURNS boolean
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
    RETURN s <> '' AND octet_length(s) <= max AND s !~ '[\x01-\x1f\x7f]';


-- a one-dimensional array without NULL elements (or an empty one)
CREATE FUNCTION authd_flat(a text[]) RETURNS boolean
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
    RETURN cardinality(a) = 0
           OR (array_ndims(a) = 1 AND array_position(a, NULL) IS NULL);


-- search parameter names as decoded: no "&", "=", space or control
-- character, at most 128 bytes
CREATE FUNCTION authd_param_names(a text[]) RETURNS boolean
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
BEGIN ATOMIC
    SELECT authd_flat(a)
           AND NOT EXISTS (SELECT FROM unnest(a) AS n
                           WHERE n !~ '^[^&=\x01-\x20\x7f]+$'
                              OR octet_length(n) > 128);
END;


-- search_add entries: "name=value", the name a parameter name, the value
-- non-empty, at most 1024 bytes, without control characters
CREATE FUNCTION authd_search_adds(a text[]) RETURNS boolean
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
BEGIN ATOMIC
    SELECT authd_flat(a)
           AND NOT EXISTS (
               SELECT FROM unnest(a) AS e
               WHERE e !~ '^[^&=\x01-\x20\x7f]+=[^\x01-\x1f\x7f]+$'
                  OR octet_length(split_part(e, '=', 1)) > 128
                  OR octet_length(e) - octet_length(split_part(e, '=', 1))
                     - 1 > 1024);
END;


-- every element is a non-empty string matching re
CREATE FUNCTION authd_all_match(a text[], re text) RETURNS boolean
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
BEGIN ATOMIC
    SELECT authd_flat(a)
           AND NOT EXISTS (SELECT FROM unnest(a) AS e WHERE e !~ re);
END;


CREATE FUNCTION authd_distinct(a text[]) RETURNS boolean
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
BEGIN ATOMIC
    SELECT cardinality(a) = (SELECT count(DISTINCT e) FROM unnest(a) AS e);
END;


-- People who log in: beneficiaries (who authorize apps to read their
-- records) and admins (who use the admin API).
CREATE TABLE users (
    id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    username       text NOT NULL UNIQUE
                   CHECK (authd_text(username, 150)
                          AND username = btrim(username)),
    password_hash  text NOT NULL
                   CHECK (password_hash ~ ('^scrypt\$ln=[0-9]+,r=[0-9]+,'
                                           'p=[0-9]+\$[A-Za-z0-9_-]+'
                                           '\$[A-Za-z0-9_-]+$')),
    name           text NOT NULL DEFAULT ''
                   CHECK (name = '' OR authd_text(name, 256)),
    role           text NOT NULL
                   CHECK (role IN ('beneficiary', 'admin')),
    active         boolean NOT NULL DEFAULT true,
    created_at     timestamptz NOT NULL DEFAULT now(),

    -- the target of crosswalk's (user_id, role) reference
    UNIQUE (id, role)
);


-- A beneficiary's patient id on the FHIR server: the "patient" claim of
-- the tokens issued for them.  Only beneficiaries have one, enforced by
-- referencing (id, role) with role fixed; changing such a user's role
-- is refused while the crosswalk row exists.
CREATE TABLE crosswalk (
    user_id     bigint PRIMARY KEY,
    role        text NOT NULL DEFAULT 'beneficiary'
                CHECK (role = 'beneficiary'),
    patient_id  text NOT NULL UNIQUE
                CHECK (patient_id ~ '^[A-Za-z0-9.-]{1,64}$'),
    created_at  timestamptz NOT NULL DEFAULT now(),

    FOREIGN KEY (user_id, role) REFERENCES users (id, role)
        ON DELETE CASCADE
);


-- OAuth clients.  A confidential client has a secret (its SHA-256 only);
-- a public one has none and must use PKCE, which authd requires anyway.
CREATE TABLE applications (
    id                  bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    client_id           text NOT NULL UNIQUE
                        CHECK (client_id ~ '^[A-Za-z0-9._~-]{1,128}$'),
    name                text NOT NULL CHECK (authd_text(name, 256)),
    client_type         text NOT NULL
                        CHECK (client_type IN ('public', 'confidential')),
    client_secret_hash  bytea
                        CHECK (octet_length(client_secret_hash) = 32),

    -- absolute URIs without a fragment (RFC 6749 section 3.1.2), compared
    -- exactly at /authorize and /token
    redirect_uris       text[] NOT NULL
                        CHECK (cardinality(redirect_uris) >= 1
                               AND authd_all_match(redirect_uris,
                                       '^[A-Za-z][A-Za-z0-9+.-]*:'
                                       '[^#\x01-\x20\x7f]+$')
                               AND authd_distinct(redirect_uris)),

    -- scope tokens (RFC 6749 section 3.3) the app may ask for
    allowed_scopes      text[] NOT NULL DEFAULT '{}'
                        CHECK (authd_all_match(allowed_scopes,
                                   '^[\x21\x23-\x5b\x5d-\x7e]+$')
                               AND authd_distinct(allowed_scopes)),
    active              boolean NOT NULL DEFAULT true,
    created_at          timestamptz NOT NULL DEFAULT now(),

    CONSTRAINT applications_secret_iff_confidential
        CHECK ((client_type = 'confidential')
               = (client_secret_hash IS NOT NULL))
);


-- A beneficiary's consent to an application for a scope.  At most one
-- live (not revoked) grant per user and application: a new consent
-- revokes the old grant first, also when it has merely expired, since an
-- index predicate cannot read the clock.
CREATE TABLE grants (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id         bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    application_id  bigint NOT NULL
                    REFERENCES applications (id) ON DELETE CASCADE,
    scope           text NOT NULL CHECK (authd_text(scope, 4096)),
    created_at      timestamptz NOT NULL DEFAULT now(),
    expires_at      timestamptz NOT NULL,
    revoked_at      timestamptz,

    CHECK (expires_at > created_at)
);

CREATE UNIQUE INDEX grants_live ON grants (user_id, application_id)
    WHERE revoked_at IS NULL;
CREATE INDEX grants_user ON grants (user_id, created_at);
CREATE INDEX grants_application ON grants (application_id);


-- Authorization codes, by the SHA-256 of the code, single use (used_at).
-- A code presented twice revokes what was issued for it (access_tokens
-- keeps the code's hash for that).
CREATE TABLE authorization_codes (
    code_hash       bytea PRIMARY KEY CHECK (octet_length(code_hash) = 32),
    application_id  bigint NOT NULL
                    REFERENCES applications (id) ON DELETE CASCADE,
    user_id         bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    grant_id        bigint REFERENCES grants (id) ON DELETE CASCADE,
    redirect_uri    text NOT NULL CHECK (authd_text(redirect_uri, 2048)),
    scope           text NOT NULL CHECK (authd_text(scope, 4096)),

    -- PKCE S256: base64url of a SHA-256 digest
    code_challenge  text NOT NULL
                    CHECK (code_challenge ~ '^[A-Za-z0-9_-]{43}$'),
    nonce           text CHECK (authd_text(nonce, 512)),
    created_at      timestamptz NOT NULL DEFAULT now(),
    expires_at      timestamptz NOT NULL,
    used_at         timestamptz,

    CHECK (expires_at > created_at)
);

CREATE INDEX authorization_codes_expires ON authorization_codes (expires_at);
CREATE INDEX authorization_codes_application
    ON authorization_codes (application_id);
CREATE INDEX authorization_codes_user ON authorization_codes (user_id);
CREATE INDEX authorization_codes_grant ON authorization_codes (grant_id);


-- Refresh tokens, by the SHA-256 of the token.  Each use rotates the
-- token: the old row gets rotated_at and a new row joins the family.  A
-- rotated token presented again revokes the whole family (it was stolen
-- or replayed), which is why the family is kept.
CREATE TABLE refresh_tokens (
    token_hash  bytea PRIMARY KEY CHECK (octet_length(token_hash) = 32),
    family_id   uuid NOT NULL,
    grant_id    bigint NOT NULL REFERENCES grants (id) ON DELETE CASCADE,
    created_at  timestamptz NOT NULL DEFAULT now(),
    expires_at  timestamptz NOT NULL,
    rotated_at  timestamptz,
    revoked_at  timestamptz,

    CHECK (expires_at > created_at)
);

CREATE INDEX refresh_tokens_family ON refresh_tokens (family_id);
CREATE INDEX refresh_tokens_grant ON refresh_tokens (grant_id);
CREATE INDEX refresh_tokens_expires ON refresh_tokens (expires_at);

-- a family has at most one token that can still be used
CREATE UNIQUE INDEX refresh_tokens_family_live ON refresh_tokens (family_id)
    WHERE rotated_at IS NULL AND revoked_at IS NULL;


-- Every access token issued, by jti.  The gateway verifies tokens alone;
-- those revoked before their exp are listed in the policy document.
-- grant_id becomes NULL when the grant is deleted: the row, and its
-- revocation, stay until the token expires.
CREATE TABLE access_tokens (
    jti         text PRIMARY KEY CHECK (authd_text(jti, 256)),
    grant_id    bigint REFERENCES grants (id) ON DELETE SET NULL,
    family_id   uuid,
    code_hash   bytea CHECK (octet_length(code_hash) = 32),
    issued_at   timestamptz NOT NULL DEFAULT now(),
    expires_at  timestamptz NOT NULL,
    revoked_at  timestamptz,

    CHECK (expires_at > issued_at)
);

CREATE INDEX access_tokens_grant ON access_tokens (grant_id);
CREATE INDEX access_tokens_family ON access_tokens (family_id);
CREATE INDEX access_tokens_code ON access_tokens (code_hash);
CREATE INDEX access_tokens_expires ON access_tokens (expires_at);

-- the policy document's revoked list: revoked and not yet expired
CREATE INDEX access_tokens_revoked ON access_tokens (expires_at)
    WHERE revoked_at IS NOT NULL;


-- Signing keys.  published: in the JWKS and the policy, not signing yet
-- (from active_from on it may sign); active: signs (at most one);
-- retired: no longer signs, published until retire_after, when the last
-- token it signed has expired.
CREATE TABLE signing_keys (
    kid                    text PRIMARY KEY
                           CHECK (kid ~ '^[A-Za-z0-9._-]{1,64}$'),
    alg                    text NOT NULL DEFAULT 'ES256'
                           CHECK (alg IN ('ES256', 'RS256')),
    public_jwk             jsonb NOT NULL,
    private_pem_encrypted  text NOT NULL
                           CHECK (private_pem_encrypted LIKE
                                  '-----BEGIN ENCRYPTED PRIVATE KEY-----%'),
    state                  text NOT NULL
                           CHECK (state IN ('published', 'active',
                                            'retired')),
    created_at             timestamptz NOT NULL DEFAULT now(),
    active_from            timestamptz,
    retire_after           timestamptz,

    -- the public JWK is the key's own and holds no private member
    CONSTRAINT signing_keys_public_jwk
        CHECK (jsonb_typeof(public_jwk) = 'object'
               AND public_jwk ->> 'kid' = kid
               AND public_jwk ->> 'alg' = alg
               AND public_jwk ->> 'kty'
                   = CASE alg WHEN 'ES256' THEN 'EC' ELSE 'RSA' END
               AND NOT public_jwk ?| ARRAY['d', 'p', 'q', 'dp', 'dq', 'qi',
                                           'oth', 'k']),
    CONSTRAINT signing_keys_retire_after
        CHECK (state <> 'retired' OR retire_after IS NOT NULL)
);

CREATE UNIQUE INDEX signing_keys_one_active ON signing_keys ((true))
    WHERE state = 'active';


-- The resource types the gateway serves and their controls: one column
-- per field of a resource type in the policy document, with the same
-- rules.  An empty array stands for an absent field, except search_allow
-- whose absence (NULL) differs from an empty list (no parameter passes).
-- url_id_mismatch NULL is the default ("override").
CREATE TABLE resource_types (
    name               text PRIMARY KEY
                       CHECK (name ~ '^[A-Z][A-Za-z]{0,63}$'),
    interactions       text[] NOT NULL DEFAULT '{}'
                       CHECK (authd_flat(interactions)
                              AND interactions <@ ARRAY['read', 'vread',
                                  'search', 'history', 'create', 'update',
                                  'delete']
                              AND authd_distinct(interactions)),
    override_url_id    boolean NOT NULL DEFAULT false,
    url_id_mismatch    text
                       CHECK (url_id_mismatch IN ('override', 'not_found')),
    override_search    boolean NOT NULL DEFAULT false,
    search_block       text[] NOT NULL DEFAULT '{}'
                       CHECK (authd_param_names(search_block)),
    search_add         text[] NOT NULL DEFAULT '{}'
                       CHECK (authd_search_adds(search_add)),
    search_allow       text[] CHECK (authd_param_names(search_allow)),
    widening_allow     text[] NOT NULL DEFAULT '{}'
                       CHECK (authd_param_names(widening_allow)),
    search_action      text NOT NULL DEFAULT 'drop'
                       CHECK (search_action IN ('drop', 'refuse')),
    patient_reference  text CHECK (patient_reference ~ '^[A-Za-z]{1,64}$'),
    created_at         timestamptz NOT NULL DEFAULT now(),
    updated_at         timestamptz NOT NULL DEFAULT now(),

    -- controls that would be ignored without the one they depend on: an
    -- admin who set them would believe in a protection not given
    CONSTRAINT resource_types_url_id_mismatch
        CHECK (url_id_mismatch IS NULL OR override_url_id),
    CONSTRAINT resource_types_search_controls
        CHECK (override_search
               OR (cardinality(search_block) = 0
                   AND cardinality(search_add) = 0
                   AND search_allow IS NULL))
);


-- Browser sessions at /authorize and /apps, by the SHA-256 of the session
-- id.  user_id is NULL until the login succeeds: the login form already
-- needs its CSRF token.
CREATE TABLE sessions (
    id_hash     bytea PRIMARY KEY CHECK (octet_length(id_hash) = 32),
    user_id     bigint REFERENCES users (id) ON DELETE CASCADE,
    csrf_token  text NOT NULL CHECK (csrf_token ~ '^[A-Za-z0-9_-]{16,}$'),
    created_at  timestamptz NOT NULL DEFAULT now(),
    expires_at  timestamptz NOT NULL,

    CHECK (expires_at > created_at)
);

CREATE INDEX sessions_user ON sessions (user_id);
CREATE INDEX sessions_expires ON sessions (expires_at);


-- Failed logins, counted over AUTHD_LOGIN_WINDOW per account and per
-- client address to throttle password guessing.  username is as typed:
-- unknown accounts are throttled like known ones.
CREATE TABLE login_failures (
    id        bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    username  text NOT NULL CHECK (octet_length(username) <= 256),
    address   inet NOT NULL,
    at        timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX login_failures_username ON login_failures (username, at);
CREATE INDEX login_failures_address ON login_failures (address, at);
CREATE INDEX login_failures_at ON login_failures (at);


-- Who did what, append-only.  actor names who acted ("admin:alice",
-- "user:42", "client:demo-app", "system") and client_id the application
-- concerned, by value: entries outlive the users and applications they
-- name.
CREATE TABLE audit_log (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at          timestamptz NOT NULL DEFAULT now(),
    actor       text NOT NULL CHECK (authd_text(actor, 256)),
    action      text NOT NULL CHECK (action ~ '^[a-z][a-z0-9_.]{0,63}$'),
    target      text CHECK (authd_text(target, 512)),
    client_id   text CHECK (authd_text(client_id, 128)),
    request_id  text CHECK (authd_text(request_id, 64)),
    detail      jsonb NOT NULL DEFAULT '{}'
                CHECK (jsonb_typeof(detail) = 'object')
);

CREATE INDEX audit_log_at ON audit_log (at);
CREATE INDEX audit_log_actor ON audit_log (actor, at);
CREATE INDEX audit_log_client ON audit_log (client_id, at)
    WHERE client_id IS NOT NULL;


CREATE FUNCTION authd_audit_log_append_only() RETURNS trigger
    LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_log is append-only: % refused', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END;
$$;

CREATE TRIGGER audit_log_no_change
    BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION authd_audit_log_append_only();

-- a statement trigger: TRUNCATE has no rows, and one with no row to
-- delete must be refused as well
CREATE TRIGGER audit_log_no_truncate
    BEFORE TRUNCATE ON audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION authd_audit_log_append_only();


-- Revocation follows from the data, so that no code path can forget it:
-- a grant revoked revokes its tokens; a grant deleted (with its user or
-- application) revokes its access tokens first, which then stay listed
-- until they expire; a user or application deactivated loses its grants.

CREATE FUNCTION authd_grant_revoke_tokens() RETURNS trigger
    LANGUAGE plpgsql AS $$
DECLARE
    g  bigint;
BEGIN
    IF TG_OP = 'DELETE' THEN
        g := OLD.id;
    ELSE
        g := NEW.id;
    END IF;

    UPDATE access_tokens SET revoked_at = now()
        WHERE grant_id = g AND revoked_at IS NULL AND expires_at > now();

    UPDATE refresh_tokens SET revoked_at = now()
        WHERE grant_id = g AND revoked_at IS NULL;

    IF TG_OP = 'DELETE' THEN
        RETURN OLD;
    END IF;

    RETURN NEW;
END;
$$;

CREATE TRIGGER grants_revoke_tokens
    AFTER UPDATE OF revoked_at ON grants
    FOR EACH ROW
    WHEN (OLD.revoked_at IS NULL AND NEW.revoked_at IS NOT NULL)
    EXECUTE FUNCTION authd_grant_revoke_tokens();

CREATE TRIGGER grants_delete_revoke_tokens
    BEFORE DELETE ON grants
    FOR EACH ROW EXECUTE FUNCTION authd_grant_revoke_tokens();


CREATE FUNCTION authd_deactivate_revoke_grants() RETURNS trigger
    LANGUAGE plpgsql AS $$
BEGIN
    IF TG_TABLE_NAME = 'users' THEN
        UPDATE grants SET revoked_at = now()
            WHERE user_id = NEW.id AND revoked_at IS NULL;
    ELSE
        UPDATE grants SET revoked_at = now()
            WHERE application_id = NEW.id AND revoked_at IS NULL;
    END IF;

    RETURN NEW;
END;
$$;

CREATE TRIGGER users_deactivate
    AFTER UPDATE OF active ON users
    FOR EACH ROW WHEN (OLD.active AND NOT NEW.active)
    EXECUTE FUNCTION authd_deactivate_revoke_grants();

CREATE TRIGGER applications_deactivate
    AFTER UPDATE OF active ON applications
    FOR EACH ROW WHEN (OLD.active AND NOT NEW.active)
    EXECUTE FUNCTION authd_deactivate_revoke_grants();


-- Every change to what the policy document holds is announced on the
-- channel "authd_policy", so that each authd sharing the database can
-- rewrite its gateway's copy (NOTIFY is sent at commit, once per
-- transaction).

CREATE FUNCTION authd_policy_notify() RETURNS trigger
    LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('authd_policy', '');
    RETURN NULL;
END;
$$;

CREATE TRIGGER resource_types_notify
    AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON resource_types
    FOR EACH STATEMENT EXECUTE FUNCTION authd_policy_notify();

CREATE TRIGGER signing_keys_notify
    AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON signing_keys
    FOR EACH STATEMENT EXECUTE FUNCTION authd_policy_notify();

CREATE TRIGGER access_tokens_notify
    AFTER UPDATE OF revoked_at ON access_tokens
    FOR EACH STATEMENT EXECUTE FUNCTION authd_policy_notify();


-- The policy document's serial: a new value for every document written.
CREATE SEQUENCE policy_serial AS bigint;

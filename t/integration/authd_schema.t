#!/usr/bin/perl

# authd's database schema (schema/001_authd.sql) on a throwaway PostgreSQL
# cluster: the file applies cleanly, every constraint refuses what it is
# for (each refusal next to the same statement minus the defect, which
# passes), the audit log refuses UPDATE, DELETE and TRUNCATE, and revoking
# or deleting a grant revokes its tokens and keeps them listed.
#
# Needs root (the cluster runs as postgres) and PostgreSQL 15's binaries.

use strict;
use warnings;

use File::Temp qw(tempdir);
use FindBin;
use Test::More;


my $PGBIN = $ENV{BB_PGBIN} // '/usr/lib/postgresql/15/bin';
my $SCHEMA = "$FindBin::Bin/../../schema/001_authd.sql";

plan skip_all => 'needs root to run PostgreSQL as postgres' if $> != 0;
plan skip_all => "no PostgreSQL at $PGBIN" unless -x "$PGBIN/initdb";

my $dir = tempdir('authd-schema-XXXXXX', TMPDIR => 1, CLEANUP => 1);

chmod 0755, $dir;
system('chown', 'postgres', $dir) == 0 or die "chown failed\n";

sub as_postgres {
    my @cmd = @_;

    return system('runuser', '-u', 'postgres', '--', @cmd) == 0;
}

as_postgres('sh', '-c', "'$PGBIN/initdb' --no-sync -A trust -U postgres "
    . "-D '$dir/data' >'$dir/initdb.log' 2>&1")
    or BAIL_OUT("initdb failed, see $dir/initdb.log");

as_postgres("$PGBIN/pg_ctl", '-D', "$dir/data", '-w', '-s', '-l',
    "$dir/postgres.log", 'start', '-o',
    "-k $dir -c listen_addresses='' -c fsync=off")
    or BAIL_OUT("pg_ctl start failed, see $dir/postgres.log");

END {
    as_postgres("$PGBIN/pg_ctl", '-D', "$dir/data", '-w', '-s', '-m',
        'immediate', 'stop') if defined $dir && -d "$dir/data";
}


# Runs SQL in a transaction that is rolled back (unless $commit); returns
# (ok, output with errors).

sub psql {
    my ($sql, $commit) = @_;

    my $end = $commit ? 'COMMIT' : 'ROLLBACK';
    my $file = "$dir/stmt.sql";

    open my $fh, '>:utf8', $file or die "$file: $!\n";
    print $fh "\\set ON_ERROR_STOP 1\nBEGIN;\n$sql;\n$end;\n";
    close $fh;

    my $out = `psql -X -q -A -t -h $dir -U postgres -d authd -f $file 2>&1`;

    return ($? == 0, $out);
}

sub sql_ok {
    my ($sql, $name) = @_;

    my ($ok, $out) = psql($sql);

    ok($ok, $name) or diag($out);
}

sub sql_fails {
    my ($sql, $re, $name) = @_;

    my ($ok, $out) = psql($sql);

    ok(!$ok && $out =~ $re, $name) or diag($ok ? 'accepted' : $out);
}

sub sql_value {
    my ($sql) = @_;

    my ($ok, $out) = psql($sql, 1);

    die "query failed: $out" unless $ok;
    chomp $out;

    return $out;
}


system('psql', '-X', '-q', '-h', $dir, '-U', 'postgres', '-c',
    'CREATE DATABASE authd') == 0 or BAIL_OUT('CREATE DATABASE failed');

my $applied = `psql -X -q -v ON_ERROR_STOP=1 --single-transaction -h $dir \\
    -U postgres -d authd -f $SCHEMA 2>&1`;

is($?, 0, 'schema applies') or BAIL_OUT($applied);
is($applied, '', 'schema applies without a notice or a warning');


# Fixture shared by the cases: a beneficiary with a crosswalk, an admin, an
# application, a grant with tokens, a key.

my $HASH = "'scrypt\$ln=15,r=8,p=1\$c2FsdA\$aGFzaA'";
my $H32 = "'\\x" . ('ab' x 32) . "'";

sql_value(<<"EOF");
INSERT INTO users (username, password_hash, name, role)
    VALUES ('bene', $HASH, 'Bene Fisher', 'beneficiary'),
           ('root', $HASH, '', 'admin');
INSERT INTO crosswalk (user_id, patient_id)
    SELECT id, 'p1' FROM users WHERE username = 'bene';
INSERT INTO applications (client_id, name, client_type, redirect_uris,
                          allowed_scopes)
    VALUES ('demo-app', 'Demo', 'public',
            '{http://127.0.0.1:8765/callback}',
            '{patient/*.read,openid,offline_access}')
EOF

my $UID = sql_value("SELECT id FROM users WHERE username = 'bene'");
my $ADMIN = sql_value("SELECT id FROM users WHERE username = 'root'");
my $APP = sql_value("SELECT id FROM applications "
    . "WHERE client_id = 'demo-app'");


# users

my $user = "INSERT INTO users (username, password_hash, role) VALUES";

sql_ok("$user ('alice', $HASH, 'beneficiary')", 'user: accepted');
sql_fails("$user ('alice', 'hunter2', 'beneficiary')",
    qr/users_password_hash_check/, 'user: a plaintext password is refused');
sql_fails("$user ('', $HASH, 'beneficiary')",
    qr/users_username_check/, 'user: an empty username is refused');
sql_fails("$user (' alice', $HASH, 'beneficiary')",
    qr/users_username_check/, 'user: a username with a space around');
sql_fails("$user ('alice', $HASH, 'doctor')",
    qr/users_role_check/, 'user: unknown role is refused');
sql_fails("$user ('bene', $HASH, 'beneficiary')",
    qr/users_username_key/, 'user: usernames are unique');


# crosswalk

sql_ok("UPDATE crosswalk SET patient_id = 'p-2.x' WHERE user_id = $UID",
    'crosswalk: a FHIR id is accepted');
sql_fails("UPDATE crosswalk SET patient_id = 'p 2' WHERE user_id = $UID",
    qr/crosswalk_patient_id_check/, 'crosswalk: a space is refused');
sql_fails("INSERT INTO crosswalk (user_id, patient_id) VALUES ($ADMIN, 'p9')",
    qr/crosswalk_user_id_role_fkey/, 'crosswalk: an admin has none');
sql_ok("UPDATE users SET role = 'beneficiary' WHERE id = $ADMIN",
    'users: role of a user without crosswalk may change (control)');
sql_fails("UPDATE users SET role = 'admin' WHERE id = $UID",
    qr/crosswalk_user_id_role_fkey/,
    'users: a beneficiary with a crosswalk stays one');
my $bene2 = "$user ('bene2', $HASH, 'beneficiary'); "
    . "INSERT INTO crosswalk (user_id, patient_id) "
    . "SELECT id, '%s' FROM users WHERE username = 'bene2'";

sql_ok(sprintf($bene2, 'p2'), 'crosswalk: another patient id (control)');
sql_fails(sprintf($bene2, 'p1'), qr/crosswalk_patient_id_key/,
    'crosswalk: patient ids are unique');


# applications

my $app = "INSERT INTO applications (client_id, name, client_type, "
    . "client_secret_hash, redirect_uris) VALUES";

sql_ok("$app ('c1', 'App', 'public', NULL, '{https://a.example/cb}')",
    'application: public, accepted');
sql_ok("$app ('c1', 'App', 'confidential', $H32, '{https://a.example/cb}')",
    'application: confidential with a secret hash, accepted');
sql_fails("$app ('c1', 'App', 'confidential', NULL, '{https://a.example/cb}')",
    qr/applications_secret_iff_confidential/,
    'application: confidential needs a secret');
sql_fails("$app ('c1', 'App', 'public', $H32, '{https://a.example/cb}')",
    qr/applications_secret_iff_confidential/,
    'application: public has no secret');
sql_fails("$app ('c1', 'App', 'confidential', '\\x00', "
    . "'{https://a.example/cb}')",
    qr/applications_client_secret_hash_check/,
    'application: the secret is stored as a SHA-256 only');
sql_fails("$app ('c1', 'App', 'public', NULL, '{https://a.example/cb#x}')",
    qr/applications_redirect_uris_check/,
    'application: a redirect URI with a fragment is refused');
sql_fails("$app ('c1', 'App', 'public', NULL, '{/cb}')",
    qr/applications_redirect_uris_check/,
    'application: a relative redirect URI is refused');
sql_fails("$app ('c1', 'App', 'public', NULL, '{}')",
    qr/applications_redirect_uris_check/,
    'application: at least one redirect URI');
sql_fails("$app ('c1', 'App', 'public', NULL, '{https://a/cb,NULL}')",
    qr/applications_redirect_uris_check/,
    'application: no NULL redirect URI');
sql_fails("$app ('c 1', 'App', 'public', NULL, '{https://a.example/cb}')",
    qr/applications_client_id_check/, 'application: client_id charset');
sql_fails("$app ('demo-app', 'App', 'public', NULL, '{https://a/cb}')",
    qr/applications_client_id_key/, 'application: client_id is unique');
sql_fails("$app ('c1', '', 'public', NULL, '{https://a.example/cb}')",
    qr/applications_name_check/, 'application: a name is required');
sql_ok("UPDATE applications SET allowed_scopes = '{launch/patient}' "
    . "WHERE id = $APP", 'application: scope accepted');
sql_fails("UPDATE applications SET allowed_scopes = '{\"a b\"}' "
    . "WHERE id = $APP", qr/applications_allowed_scopes_check/,
    'application: a scope with a space is refused');
sql_fails("UPDATE applications SET allowed_scopes = '{openid,openid}' "
    . "WHERE id = $APP", qr/applications_allowed_scopes_check/,
    'application: scopes are distinct');


# grants, codes, tokens

my $grant = "INSERT INTO grants (user_id, application_id, scope, expires_at)"
    . " VALUES ($UID, $APP, 'patient/*.read', now() + '1 day')";

sql_ok($grant, 'grant: accepted');
sql_fails("$grant; $grant", qr/grants_live/,
    'grant: one live grant per user and application');
sql_ok("$grant; UPDATE grants SET revoked_at = now(); $grant",
    'grant: a new one once the old is revoked');
sql_fails("INSERT INTO grants (user_id, application_id, scope, expires_at)"
    . " VALUES ($UID, $APP, '', now() + '1 day')",
    qr/grants_scope_check/, 'grant: scope non-empty');

my $code = "INSERT INTO authorization_codes (code_hash, application_id, "
    . "user_id, redirect_uri, scope, code_challenge, expires_at) VALUES";
my $chal = "'" . ('A' x 43) . "'";

sql_ok("$code ($H32, $APP, $UID, 'http://127.0.0.1:8765/callback', "
    . "'openid', $chal, now() + '60 s')", 'code: accepted');
sql_fails("$code ($H32, $APP, $UID, 'http://127.0.0.1:8765/callback', "
    . "'openid', 'plain', now() + '60 s')",
    qr/authorization_codes_code_challenge_check/,
    'code: the challenge is an S256 digest');
sql_fails("$code ('\\x0102', $APP, $UID, 'http://127.0.0.1:8765/callback', "
    . "'openid', $chal, now() + '60 s')",
    qr/authorization_codes_code_hash_check/,
    'code: stored as a SHA-256 only');
sql_fails("$code ($H32, $APP, $UID, 'http://127.0.0.1:8765/callback', "
    . "'openid', $chal, now() - interval '1 s')",
    qr/authorization_codes_check/, 'code: expires after its creation');

my $refresh = "INSERT INTO refresh_tokens (token_hash, family_id, grant_id, "
    . "expires_at) SELECT %s, '00000000-0000-0000-0000-000000000001', id, "
    . "now() + '1 day' FROM grants";

sql_ok("$grant; " . sprintf($refresh, $H32) . "; "
    . "UPDATE refresh_tokens SET rotated_at = now(); "
    . sprintf($refresh, "'\\x" . ('cd' x 32) . "'"),
    'refresh: a rotated token and its successor in one family');
sql_fails("$grant; " . sprintf($refresh, $H32) . "; "
    . sprintf($refresh, "'\\x" . ('cd' x 32) . "'"),
    qr/refresh_tokens_family_live/,
    'refresh: one usable token per family');

sql_fails("INSERT INTO access_tokens (jti, expires_at) "
    . "VALUES (E'a\\nb', now() + '1 h')", qr/access_tokens_jti_check/,
    'access token: a jti with a control character is refused');
sql_ok("INSERT INTO access_tokens (jti, expires_at) "
    . "VALUES ('ab', now() + '1 h')", 'access token: accepted');


# signing keys

my $jwk = '{"kty": "EC", "crv": "P-256", "alg": "ES256", "kid": "k1", '
    . '"x": "x", "y": "y"%s}';
my $key = "INSERT INTO signing_keys (kid, public_jwk, private_pem_encrypted,"
    . " state) VALUES ('k1', '%s', '%s', '%s')";
my $pem = "-----BEGIN ENCRYPTED PRIVATE KEY-----\nMII...\n";

sql_ok(sprintf($key, sprintf($jwk, ''), $pem, 'active'),
    'key: accepted');
sql_fails(sprintf($key, sprintf($jwk, ', "d": "secret"'), $pem, 'active'),
    qr/signing_keys_public_jwk/, 'key: a private member in the JWK');
sql_fails(sprintf($key, sprintf($jwk, ''),
    "-----BEGIN PRIVATE KEY-----\nMII...\n", 'active'),
    qr/signing_keys_private_pem_encrypted_check/,
    'key: an unencrypted private key is refused');
sql_fails(sprintf($key, sprintf($jwk, '') =~ s/"k1"/"k2"/r, $pem, 'active'),
    qr/signing_keys_public_jwk/, 'key: the JWK names its own kid');
sql_fails(sprintf($key, sprintf($jwk, ''), $pem, 'retired'),
    qr/signing_keys_retire_after/, 'key: retired needs retire_after');
sql_fails(sprintf($key, sprintf($jwk, ''), $pem, 'active') . '; '
    . sprintf($key, sprintf($jwk, '') =~ s/k1/k2/gr, $pem, 'active') =~
        s/'k1'/'k2'/r,
    qr/signing_keys_one_active/, 'key: at most one active');


# resource types: the policy document's rules

my $rt = "INSERT INTO resource_types (name, interactions, override_url_id, "
    . "url_id_mismatch, override_search, search_block, search_add, "
    . "search_allow, widening_allow, search_action, patient_reference) "
    . "VALUES ('Patient', %s)";

sub rt_row {
    my (%f) = @_;
    my %row = (
        interactions => "'{read,vread,search,history}'",
        override_url_id => 'true',
        url_id_mismatch => "'not_found'",
        override_search => 'true',
        search_block => "'{_id}'",
        search_add => "'{_id=%PATIENT%}'",
        search_allow => "'{name,identifier:of-type}'",
        widening_allow => "'{_include}'",
        search_action => "'refuse'",
        patient_reference => "'patient'",
        %f,
    );

    return sprintf($rt, join(', ', map { $row{$_} } qw(interactions
        override_url_id url_id_mismatch override_search search_block
        search_add search_allow widening_allow search_action
        patient_reference)));
}

sql_ok(rt_row(), 'resource type: every control, accepted');

sql_fails(rt_row(interactions => "'{read,patch}'"),
    qr/resource_types_interactions_check/,
    'resource type: unknown interaction');
sql_fails(rt_row(interactions => "'{read,read}'"),
    qr/resource_types_interactions_check/,
    'resource type: duplicate interaction');
sql_fails(rt_row(interactions => "'{read,NULL}'"),
    qr/resource_types_interactions_check/,
    'resource type: NULL interaction');
sql_ok(rt_row(interactions => "'{}'"), 'resource type: no interaction');

sql_fails(rt_row(url_id_mismatch => "'ignore'"),
    qr/resource_types_url_id_mismatch_check/,
    'resource type: url_id_mismatch value');
sql_fails(rt_row(override_url_id => 'false'),
    qr/resource_types_url_id_mismatch"/,
    'resource type: url_id_mismatch without override_url_id');
sql_ok(rt_row(override_url_id => 'false', url_id_mismatch => 'NULL'),
    'resource type: neither override_url_id nor url_id_mismatch');

sql_fails(rt_row(override_search => 'false'),
    qr/resource_types_search_controls/,
    'resource type: search controls without override_search');
sql_fails(rt_row(override_search => 'false', search_block => "'{}'",
    search_add => "'{}'"), qr/resource_types_search_controls/,
    'resource type: search_allow alone without override_search');
sql_ok(rt_row(override_search => 'false', search_block => "'{}'",
    search_add => "'{}'", search_allow => 'NULL'),
    'resource type: no search control, no override_search');

sql_fails(rt_row(search_action => "'ignore'"),
    qr/resource_types_search_action_check/,
    'resource type: search_action value');

sql_fails(rt_row(search_block => "'{a&b}'"),
    qr/resource_types_search_block_check/,
    'resource type: parameter name with "&"');
sql_fails(rt_row(search_block => "'{\"a b\"}'"),
    qr/resource_types_search_block_check/,
    'resource type: parameter name with a space');
sql_fails(rt_row(search_block => "'{\"\"}'"),
    qr/resource_types_search_block_check/,
    'resource type: empty parameter name');
sql_fails(rt_row(search_block => "ARRAY['" . ('a' x 129) . "']"),
    qr/resource_types_search_block_check/,
    'resource type: parameter name of 129 bytes');
sql_ok(rt_row(search_block => "ARRAY['" . ('a' x 128) . "']"),
    'resource type: parameter name of 128 bytes');
sql_fails(rt_row(search_allow => "'{a=b}'"),
    qr/resource_types_search_allow_check/,
    'resource type: search_allow name with "="');
sql_fails(rt_row(widening_allow => "'{\"_has \"}'"),
    qr/resource_types_widening_allow_check/,
    'resource type: widening_allow name with a space');
sql_fails(rt_row(search_block => "'{{a},{b}}'"),
    qr/resource_types_search_block_check/,
    'resource type: two-dimensional array');

sql_fails(rt_row(search_add => "'{patient}'"),
    qr/resource_types_search_add_check/, 'resource type: search_add no "="');
sql_fails(rt_row(search_add => "'{=x}'"),
    qr/resource_types_search_add_check/,
    'resource type: search_add empty name');
sql_fails(rt_row(search_add => "'{x=}'"),
    qr/resource_types_search_add_check/,
    'resource type: search_add empty value');
sql_ok(rt_row(search_add => "'{x=a=b c}'"),
    'resource type: search_add value with "=" and a space');
sql_fails(rt_row(search_add => "ARRAY[E'x=a\\tb']"),
    qr/resource_types_search_add_check/,
    'resource type: search_add value with a tab');
sql_fails(rt_row(search_add => "ARRAY['x=" . ('v' x 1025) . "']"),
    qr/resource_types_search_add_check/,
    'resource type: search_add value of 1025 bytes');
sql_ok(rt_row(search_add => "ARRAY['x=" . ('v' x 1024) . "']"),
    'resource type: search_add value of 1024 bytes');
sql_fails(rt_row(search_add => "ARRAY['x=" . ("\x{e9}" x 513) . "']"),
    qr/resource_types_search_add_check/,
    'resource type: search_add value counted in bytes');

sql_fails(rt_row(patient_reference => "'patient.reference'"),
    qr/resource_types_patient_reference_check/,
    'resource type: patient_reference not a field name');

for my $name ('patient', 'Pa-tient', 'P' . ('a' x 64), '') {
    sql_fails(rt_row() =~ s/'Patient'/'$name'/r,
        qr/resource_types_name_check/,
        "resource type: name \"" . substr($name, 0, 10) . "\" refused");
}

sql_ok(rt_row() =~ s/'Patient'/'P${\('a' x 63)}'/r,
    'resource type: name of 64 letters');


# audit log: append-only

sql_value("INSERT INTO audit_log (actor, action, target, client_id) "
    . "VALUES ('admin:root', 'application.create', 'demo-app', 'demo-app')");

sql_ok("INSERT INTO audit_log (actor, action) VALUES ('system', 'key.rotate')",
    'audit: insert accepted');
sql_fails("INSERT INTO audit_log (actor, action) "
    . "VALUES ('system', 'Key Rotate')", qr/audit_log_action_check/,
    'audit: action wording');
sql_fails('UPDATE audit_log SET actor = \'x\'',
    qr/audit_log is append-only: UPDATE refused/, 'audit: UPDATE refused');
sql_fails('DELETE FROM audit_log',
    qr/audit_log is append-only: DELETE refused/, 'audit: DELETE refused');
sql_fails('TRUNCATE audit_log',
    qr/audit_log is append-only: TRUNCATE refused/,
    'audit: TRUNCATE refused');
sql_ok('SELECT count(*) FROM audit_log', 'audit: SELECT (control)');


# revocation follows grants

sql_value(<<"EOF");
$grant;
INSERT INTO access_tokens (jti, grant_id, expires_at)
    SELECT 'live', id, now() + '1 hour' FROM grants;
INSERT INTO access_tokens (jti, grant_id, issued_at, expires_at)
    SELECT 'old', id, now() - interval '2 hours', now() - interval '1 hour'
    FROM grants;
INSERT INTO access_tokens (jti, expires_at) VALUES ('other', now() + '1 h')
EOF

sql_value("UPDATE grants SET revoked_at = now()");

is(sql_value("SELECT string_agg(jti, ',' ORDER BY jti) FROM access_tokens "
    . "WHERE revoked_at IS NOT NULL"), 'live',
    'revoking a grant revokes its unexpired access tokens, only those');

sql_value("UPDATE grants SET revoked_at = NULL; "
    . "UPDATE access_tokens SET revoked_at = NULL");

sql_value("UPDATE users SET active = false WHERE id = $UID");

is(sql_value("SELECT string_agg(jti, ',' ORDER BY jti) FROM access_tokens "
    . "WHERE revoked_at IS NOT NULL") . ' '
    . sql_value("SELECT count(*) FROM grants WHERE revoked_at IS NULL"),
    'live 0', 'deactivating a user revokes its grants and their tokens');

sql_value("UPDATE users SET active = true; "
    . "UPDATE grants SET revoked_at = NULL; "
    . "UPDATE access_tokens SET revoked_at = NULL");

is(sql_value("SELECT count(*) FROM audit_log"), '1', 'audit entry kept');

sql_value("DELETE FROM users WHERE id = $UID");

is(sql_value("SELECT string_agg(jti || ':' || coalesce(grant_id::text, '-')"
    . " || ':' || (revoked_at IS NOT NULL)::text, ',' ORDER BY jti) "
    . "FROM access_tokens"),
    'live:-:true,old:-:false,other:-:false',
    'deleting a user keeps and revokes the access tokens of its grants');
is(sql_value("SELECT count(*) FROM grants"), '0', 'grants deleted');
is(sql_value("SELECT count(*) FROM crosswalk"), '0', 'crosswalk deleted');
is(sql_value("SELECT count(*) FROM audit_log"), '1',
    'the audit entry survives the deletion');

sql_value("DELETE FROM applications WHERE id = $APP");

is(sql_value("SELECT count(*) FROM audit_log WHERE client_id = 'demo-app'"),
    '1', 'the audit entry survives its application');


# the policy serial

is(sql_value("SELECT nextval('policy_serial')"), '1', 'policy_serial starts');
is(sql_value("SELECT nextval('policy_serial')"), '2', 'policy_serial grows');

# policy_refresh() on this cluster: the "db" case of check_authd_policy,
# which builds the document from a database holding this schema

my $build = $ENV{BB_BUILD} // "$FindBin::Bin/../../build";
my $check = "$build/check_authd_policy";

SKIP: {
    skip "$check not built", 1 unless -x $check;

    system('psql', '-X', '-q', '-h', $dir, '-U', 'postgres', '-c',
        'CREATE DATABASE authd_policy') == 0
        or BAIL_OUT('CREATE DATABASE failed');

    my $out = `psql -X -q -v ON_ERROR_STOP=1 --single-transaction \\
        -h $dir -U postgres -d authd_policy -f $SCHEMA 2>&1`;

    is($?, 0, 'schema applies to a second database') or diag($out);

    # the "db" case runs only with the variable: one check more

    my ($without) = `$check 2>&1` =~ /Checks: (\d+)/;

    local $ENV{AUTHD_TEST_DATABASE_URL} =
        "host=$dir dbname=authd_policy user=postgres";

    $out = `$check 2>&1`;

    my ($with) = $out =~ /Checks: (\d+)/;

    ok($? == 0 && defined $with && defined $without
        && $with == $without + 1,
        'policy_refresh() writes the document the database holds')
        or diag($out);
}

done_testing();

#!/usr/bin/perl

# authd's admin side on a real PostgreSQL and a real authd: the create-admin
# and load subcommands, HTTP Basic authentication as an admin (refusals,
# throttling), and each resource of /admin/v1 with its validation errors
# (exact JSON, the field named), nothing stored when a request is refused
# (row counts before and after) or fails half-way (an audit insert made to
# fail), the audit row written in the change's own transaction with the
# admin's id, the policy document rewritten after a change and accepted by
# nginx with the module (nginx -t), SQL metacharacters and odd Unicode
# stored and returned intact or refused cleanly, the body limit, and a
# client secret shown once and never again.
#
# Needs root (the cluster runs as postgres), PostgreSQL 15, nginx, and the
# built authd and module.

use strict;
use warnings;

use Digest::SHA qw(sha256_hex);
use Encode qw(decode_utf8 encode_utf8);
use FindBin;
use JSON::PP;
use MIME::Base64 qw(encode_base64);
use Test::More;
use Time::HiRes qw(sleep);

use lib "$FindBin::Bin/../lib";
use BB::Authd;


plan skip_all => 'needs root to run PostgreSQL as postgres' if $> != 0;

my $TOP = "$FindBin::Bin/../..";
my $BUILD = $ENV{BB_BUILD} // "$TOP/build";
my $MODULE = "$BUILD/nginx/ngx_http_bluebutton_module.so";
my $NGINX = $ENV{BB_NGINX} // '/usr/sbin/nginx';

BAIL_OUT("the module is not built at $MODULE") unless -e $MODULE;

my $JSON = JSON::PP->new->utf8->canonical;

my $ROOT_PASSWORD = 'correct horse battery staple';

# quotes, comment and escape characters, LIKE wildcards, an accent, a
# snowman, an astral emoji, a right-to-left override, a zero-width space
# and a byte order mark

my $ODD = qq{O'Brien"); DROP TABLE users; -- \\ % _ \x{e9}\x{2603}}
    . qq{\x{1F600}\x{202E}\x{200B}\x{FEFF}!};

my $authd = BB::Authd->new(env => {
    AUTHD_MAX_BODY           => 4096,
    AUTHD_LOGIN_MAX_FAILURES => 5,
    AUTHD_LOGIN_WINDOW       => 2,
});
my $pg = $authd->pg;
my $dir = $authd->dir;
my $POLICY = "$dir/policy.json";


# HTTP: api(METHOD, PATH, body => perl value or raw string, auth =>
# "user:password" (the root admin by default, undef for none)) returns
# (status, decoded JSON body or undef, response).

sub api {
    my ($method, $path, %opt) = @_;

    my %headers;
    my $auth = exists $opt{auth} ? $opt{auth} : "root:$ROOT_PASSWORD";

    $headers{Authorization} = 'Basic ' . encode_base64(encode_utf8($auth), '')
        if defined $auth;

    my %args = (headers => \%headers);

    if (exists $opt{body}) {
        $headers{'Content-Type'} = $opt{type} // 'application/json';
        $args{content} = ref $opt{body} ? $JSON->encode($opt{body})
            : $opt{body};
    }

    %headers = (%headers, %{ $opt{headers} }) if $opt{headers};

    my $res = $authd->http->request($method, $authd->admin_url($path),
        \%args);
    my $json = eval { $JSON->decode($res->{content}) };

    return ($res->{status}, $json, $res);
}


sub invalid {
    my ($field, $message) = @_;

    return { error => 'invalid_request', field => $field,
             message => $message };
}


sub value {
    my ($sql) = @_;

    my @rows = $pg->psql(encode_utf8($sql));

    return decode_utf8($rows[0] // '');
}


# a string literal for the test's own SQL

sub lit {
    my ($s) = @_;

    return "'" . ($s =~ s/'/''/gr) . "'";
}


sub count {
    my ($table, $where) = @_;

    return value("SELECT count(*) FROM $table"
        . (defined $where ? " WHERE $where" : ''));
}


# everything an admin edits, to compare before and after a refusal

my @TABLES = qw(users crosswalk applications resource_types grants
    access_tokens signing_keys audit_log);

sub counts {
    return join ',', map { "$_=" . count($_) } @TABLES;
}


sub last_audit {
    my $row = value("SELECT json_build_object('actor', actor, 'action',"
        . " action, 'target', target, 'client_id', client_id, 'detail',"
        . " detail) FROM audit_log ORDER BY id DESC LIMIT 1");

    return $JSON->decode(encode_utf8($row));
}


sub policy {
    open my $fh, '<', $POLICY or return undef;
    local $/;
    my $text = <$fh>;

    return $JSON->decode($text);
}


# nginx -t with the module and a policy file: (accepted, output)

sub nginx_accepts {
    my ($policy) = @_;

    my $conf = "$dir/nginx.conf";
    my $port = BB::Authd::free_port();

    open my $fh, '>', $conf or die "$conf: $!\n";
    print $fh <<"EOF";
pid $dir/nginx.pid;
error_log $dir/nginx-error.log info;
load_module $MODULE;
events { worker_connections 16; }
http {
    client_body_temp_path $dir;
    proxy_temp_path $dir;
    fastcgi_temp_path $dir;
    uwsgi_temp_path $dir;
    scgi_temp_path $dir;
    access_log off;
    bluebutton_policy $policy;
    server { listen 127.0.0.1:$port; }
}
EOF
    close $fh;

    my $out = `$NGINX -t -p $dir -c $conf 2>&1`;

    return ($? == 0, $out);
}


# a subcommand with its standard input from a string

sub run_stdin {
    my ($input, $env, @args) = @_;

    my $file = "$dir/stdin";

    open my $fh, '>', $file or die "$file: $!\n";
    print $fh $input;
    close $fh;

    pipe my $r, my $w or die "pipe: $!\n";

    my $pid = fork // die "fork: $!\n";

    if ($pid == 0) {
        close $r;
        open STDIN, '<', $file;
        open STDOUT, '>&', $w;
        open STDERR, '>&', $w;
        $authd->child_env(%$env);
        exec $BB::Authd::AUTHD, @args;
        die "exec: $!\n";
    }

    close $w;

    my $out = do { local $/; <$r> } // '';

    close $r;
    waitpid $pid, 0;

    return { status => $? >> 8, output => $out };
}


$authd->migrate;

my ($status, $body, $res, $before);


###########################################################################
# create-admin

$res = $authd->run({ AUTHD_ADMIN_PASSWORD => 'short pass' }, 'create-admin',
    'root');
is($res->{status}, 1, 'create-admin: a short password is refused');
like($res->{output},
    qr/create-admin: password: shorter than 12 characters/,
    'create-admin: the reason is given');
is(count('users'), 0, 'create-admin: no user made');

$res = run_stdin('', {}, 'create-admin', 'root');
is($res->{status}, 1, 'create-admin: no password at all is refused');
like($res->{output}, qr/create-admin: no password on standard input/,
    'create-admin: the reason is given');

$res = $authd->run({ AUTHD_ADMIN_PASSWORD => $ROOT_PASSWORD },
    'create-admin', 'root', 'extra');
is($res->{status}, 2, 'create-admin: an extra argument is a usage error');

$res = $authd->run({ AUTHD_ADMIN_PASSWORD => $ROOT_PASSWORD },
    'create-admin', 'root');
is($res->{status}, 0, 'create-admin: with AUTHD_ADMIN_PASSWORD')
    or diag($res->{output});
unlike($res->{output}, qr/\Q$ROOT_PASSWORD\E/,
    'create-admin: the password is not echoed');

my $ROOT = value("SELECT id FROM users WHERE username = 'root'");

is(value("SELECT role || ' ' || active FROM users WHERE id = $ROOT"),
    'admin true', 'create-admin: an active admin');
like(value("SELECT password_hash FROM users WHERE id = $ROOT"),
    qr/^scrypt\$ln=14,r=8,p=1\$/, 'create-admin: scrypt at AUTHD_SCRYPT_LN');
is_deeply(last_audit(), {
    actor => 'cli', action => 'user.create', target => "user:$ROOT",
    client_id => undef,
    detail => { username => 'root', role => 'admin',
                password_set => JSON::PP::true },
}, 'create-admin: audited as the cli, without the password');

$res = $authd->run({ AUTHD_ADMIN_PASSWORD => $ROOT_PASSWORD },
    'create-admin', 'root');
is($res->{status}, 1, 'create-admin: a taken username is refused');
like($res->{output}, qr/create-admin: username: "root" is taken/,
    'create-admin: the reason is given');

# from standard input, with a non-ASCII password

my $SNOW_PASSWORD = "p\x{e4}ssw\x{f6}rd \x{2603} \x{1F600} long";

$res = run_stdin(encode_utf8("$SNOW_PASSWORD\n"), {}, 'create-admin',
    "snow\x{2603}admin");
is($res->{status}, 0, 'create-admin: the password from standard input')
    or diag($res->{output});

$res = run_stdin("no colon\n", {}, 'create-admin', 'co:lon');
is($res->{status}, 1, 'create-admin: a ":" in an admin username is refused');
like($res->{output}, qr/username: an admin's cannot hold ":"/,
    'create-admin: the reason is given');

$authd->start;


###########################################################################
# authentication

($status, $body, $res) = api('GET', '/admin/v1/users', auth => undef);
is($status, 401, 'auth: no credentials, 401');
is($res->{headers}{'www-authenticate'},
    'Basic realm="authd admin", charset="UTF-8"',
    'auth: the challenge names the realm');
is_deeply($body, { error => 'unauthorized',
                   message => 'admin credentials required' },
    'auth: the error body');

($status) = api('GET', '/admin/v1/no-such-thing', auth => undef);
is($status, 401, 'auth: an unknown path is not revealed either');

($status) = api('GET', '/admin/v1/users',
    headers => { Authorization => 'Basic !!!' }, auth => undef);
is($status, 401, 'auth: malformed credentials, 401');

($status) = api('GET', '/admin/v1/users', auth => 'root:wrong password');
is($status, 401, 'auth: a wrong password, 401');

($status) = api('GET', '/admin/v1/users', auth => 'nobody:whatever pass');
is($status, 401, 'auth: an unknown user, 401');

is(count('login_failures'), 2, 'auth: both failures were counted');

($status) = api('GET', '/admin/v1/users',
    auth => "snow\x{2603}admin:$SNOW_PASSWORD");
is($status, 200, 'auth: a non-ASCII username and password work');

($status, $body) = api('GET', '/admin/v1/users');
is($status, 200, 'auth: the admin gets in');

is(value('SELECT string_agg(username, \',\') FROM login_failures'), 'nobody',
    'auth: a success forgives the account\'s failures, not the others\'');

# throttling: past AUTHD_LOGIN_MAX_FAILURES in the window even the right
# password is refused, without a verification; after the window it works

sleep 2.2;

api('GET', '/admin/v1/users', auth => 'root:wrong password') for 1 .. 5;

($status, $body, $res) = api('GET', '/admin/v1/users');
is($status, 429, 'throttle: refused after five failures');
is($res->{headers}{'retry-after'}, '2', 'throttle: Retry-After is the window');
is($body->{error}, 'too_many_requests', 'throttle: the error');

sleep 2.2;

($status) = api('GET', '/admin/v1/users');
is($status, 200, 'throttle: over once the window has passed');


###########################################################################
# routing

($status, $body, $res) = api('PATCH', '/admin/v1/users/1', body => {});
is($status, 405, 'routing: PATCH is not a method of the API');

($status, $body, $res) = api('DELETE', '/admin/v1/users');
is($status, 405, 'routing: DELETE on a collection, 405');
is($res->{headers}{allow}, 'GET, POST', 'routing: Allow lists the methods');
is_deeply($body, { error => 'method_not_allowed',
                   message => 'method DELETE not allowed here' },
    'routing: the 405 body');

($status, $body) = api('GET', '/admin/v1/users?role=admin');
is_deeply([ $status, $body ],
    [ 400, invalid('role', 'unknown parameter "role"') ],
    'routing: a list refuses a filter it does not have');

($status, $body) = api('GET', '/admin/v1/nothing');
is_deeply([ $status, $body ],
    [ 404, { error => 'not_found', message => 'no such resource' } ],
    'routing: an unknown resource, 404');


###########################################################################
# keys (first, so that a policy document can be written)

($status, $body) = api('GET', '/admin/v1/keys');
is_deeply([ $status, $body ], [ 200, [] ], 'keys: none at first');

($status, $body) = api('POST', '/admin/v1/keys/rotate');
is($status, 200, 'keys: rotate');
is(scalar @$body, 1, 'keys: one key');

my $KID = $body->[0]{kid};

is($body->[0]{state}, 'active', 'keys: the first key signs at once');
ok(!grep({ exists $body->[0]{public_jwk}{$_} } qw(d p q dp dq qi k)),
    'keys: no private member in the listing');
unlike($JSON->encode($body), qr/PRIVATE KEY|private_pem/,
    'keys: no private material at all');
is_deeply(last_audit(), {
    actor => "admin:$ROOT", action => 'key.rotate', target => "key:$KID",
    client_id => undef,
    detail => { state => 'active', active_from => $body->[0]{active_from} },
}, 'keys: rotation audited with the admin id');

ok(-e $POLICY, 'keys: the policy document is written');
is_deeply([ map { $_->{kid} } @{ policy()->{keys}{keys} } ], [ $KID ],
    'keys: the policy holds the key');

($status, $body) = api('POST', '/admin/v1/keys/rotate');
is(scalar @$body, 2, 'keys: a second rotation adds a key');
is($body->[0]{state}, 'active', 'keys: the new key signs (no publish delay)');
is($body->[1]{state}, 'retired', 'keys: the old one is retired');
ok(defined $body->[1]{retire_after}, 'keys: with a retire_after');
is_deeply([ sort map { $_->{kid} } @{ policy()->{keys}{keys} } ],
    [ sort map { $_->{kid} } @$body ],
    'keys: the policy publishes both');


###########################################################################
# resource types

my $PATIENT = {
    interactions     => [ 'read', 'vread', 'search' ],
    override_url_id  => JSON::PP::true,
    url_id_mismatch  => 'not_found',
    override_search  => JSON::PP::true,
    search_block     => [ '_id' ],
    search_add       => [ '_id=%PATIENT%' ],
};

# what the gateway's parser writes back: every field, defaults included
my $PATIENT_OUT = {
    %$PATIENT,
    widening_allow => [],
    search_action  => 'drop',
};

($status, $body) = api('GET', '/admin/v1/resource-types');
is_deeply([ $status, $body ], [ 200, [] ], 'types: none at first');

my $serial = policy()->{serial};

($status, $body, $res) = api('PUT', '/admin/v1/resource-types/Patient',
    body => $PATIENT);
is($status, 201, 'types: PUT creates');
is($res->{headers}{location}, '/admin/v1/resource-types/Patient',
    'types: Location of the new type');
is_deeply($body, $PATIENT_OUT, 'types: the stored type comes back');

is_deeply(last_audit(), {
    actor => "admin:$ROOT", action => 'resource_type.create',
    target => 'resource_type:Patient', client_id => undef,
    detail => { type => $PATIENT_OUT },
}, 'types: creation audited with the admin id');
is(value("SELECT (SELECT xmin FROM resource_types WHERE name = 'Patient')"
    . "::text = (SELECT xmin FROM audit_log ORDER BY id DESC LIMIT 1)::text"),
    't', 'types: the row and its audit row were written by one transaction');

isnt(policy()->{serial}, $serial, 'types: the policy was rewritten');
is_deeply(policy()->{resource_types}{Patient}, $PATIENT_OUT,
    'types: the policy holds the new type');

my ($ok, $out) = nginx_accepts($POLICY);
ok($ok, 'types: nginx -t accepts the policy authd wrote') or diag($out);

# the negative control: the same document with a misspelt control

{
    my $doc = policy();
    $doc->{resource_types}{Patient}{overide_url_id} = JSON::PP::true;

    open my $fh, '>', "$dir/tampered.json" or die;
    print $fh $JSON->encode($doc);
    close $fh;

    ($ok, $out) = nginx_accepts("$dir/tampered.json");
    ok(!$ok, 'types: nginx -t refuses a tampered copy');
    like($out, qr/unknown field "overide_url_id"/,
        'types: naming the misspelt field');
}

($status, $body) = api('GET', '/admin/v1/resource-types/Patient');
is_deeply([ $status, $body ], [ 200, $PATIENT_OUT ], 'types: GET one');

($status, $body) = api('GET', '/admin/v1/resource-types');
is_deeply([ $status, $body ], [ 200, [ { name => 'Patient', %$PATIENT_OUT } ] ],
    'types: GET the list');

# what a GET gives, a PUT takes back unchanged

($status, $body) = api('PUT', '/admin/v1/resource-types/Patient',
    body => $PATIENT_OUT);
is_deeply([ $status, $body ], [ 200, $PATIENT_OUT ],
    'types: a GET result PUT back replaces with the same');
is(last_audit()->{action}, 'resource_type.replace', 'types: audited');

# SQL metacharacters and odd Unicode in the strings a type holds

my $COVERAGE = {
    interactions    => [ 'read', 'search' ],
    override_search => JSON::PP::true,
    search_block    => [ "x'--\x{e9}\x{2603}", 'beneficiary' ],
    search_add      => [ "beneficiary=Patient/%PATIENT%", "_tag=$ODD" ],
    search_action   => 'refuse',
    patient_reference => 'beneficiary',
};

($status, $body) = api('PUT', '/admin/v1/resource-types/Coverage',
    body => { name => 'Coverage', %$COVERAGE });
is($status, 201, 'types: odd strings accepted');
is_deeply($body->{search_add}, $COVERAGE->{search_add},
    'types: search_add returned intact');
is_deeply($body->{search_block}, $COVERAGE->{search_block},
    'types: search_block returned intact');
is(value("SELECT search_add[2] FROM resource_types WHERE name = 'Coverage'"),
    "_tag=$ODD", 'types: stored intact');
is_deeply(policy()->{resource_types}{Coverage}{search_add},
    $COVERAGE->{search_add}, 'types: written intact into the policy');

($ok, $out) = nginx_accepts($POLICY);
ok($ok, 'types: nginx -t accepts the odd strings') or diag($out);

# refusals: nothing changes, the field is named

my @bad_types = (
    [ 'search_add without "="',
      'Coverage', { override_search => JSON::PP::true,
                    search_add => [ 'a=b', 'patient' ] },
      invalid('search_add[1]', 'search_add[1]: "patient" has no "="') ],
    [ 'an unknown field',
      'Coverage', { overide_url_id => JSON::PP::true },
      invalid('overide_url_id', 'unknown field "overide_url_id"') ],
    [ 'a wrong type',
      'Coverage', { override_search => 'yes' },
      invalid('override_search',
              'override_search: expected true or false, got "yes"') ],
    [ 'an unknown interaction',
      'Coverage', { interactions => [ 'read', 'patch' ] },
      invalid('interactions[1]',
              'interactions[1]: unknown interaction "patch"') ],
    [ 'a control that depends on another',
      'Coverage', { search_block => [ 'x' ] },
      invalid('search_block',
              'search_block is set but override_search is not true') ],
    [ 'a lowercase type name',
      'coverage', {},
      invalid('name', 'name: invalid resource type name "coverage"') ],
    [ 'a non-ASCII type name',
      "Cov\x{e9}rage", {},
      invalid('name',
              'name: invalid resource type name "Cov\\xC3\\xA9rage"') ],
    [ 'a name in the body that is not the path\'s',
      'Coverage', { name => 'Patient' },
      invalid('name', 'name: does not match the resource type "Coverage"') ],
);

for my $case (@bad_types) {
    my ($what, $name, $type, $error) = @$case;

    $before = counts();
    my $doc = policy();

    my $path = '/admin/v1/resource-types/' . join '',
        map { sprintf '%%%02X', ord } split //, encode_utf8($name);

    ($status, $body) = api('PUT', $path, body => $type);
    is_deeply([ $status, $body ], [ 400, $error ], "types: $what, 400");
    is(counts(), $before, "types: $what: nothing stored, nothing audited");
    is(policy()->{serial}, $doc->{serial},
        "types: $what: the policy is not rewritten");
}

is_deeply((api('GET', '/admin/v1/resource-types/Coverage'))[1]{search_add},
    $COVERAGE->{search_add}, 'types: the refused edits left Coverage as is');

# bodies that are not a type

my @bad_bodies = (
    [ 'not JSON', '{"interactions": [', 'application/json',
      { error => 'invalid_request', message => 'invalid JSON at line 1 '
        . 'column 18: \']\' expected near end of file' } ],
    [ 'an array', '[]', 'application/json',
      { error => 'invalid_request', message => 'expected a JSON object' } ],
    [ 'a NUL in a string', '{"search_action": "dr\u0000op"}',
      'application/json', undef ],
    [ 'a form', 'interactions=read', 'application/x-www-form-urlencoded',
      { error => 'invalid_request',
        message => 'expected Content-Type application/json' } ],
    [ 'a duplicate key', '{"override_search": true, "override_search": '
      . 'false}', 'application/json', undef ],
);

for my $case (@bad_bodies) {
    my ($what, $raw, $type, $error) = @$case;

    $before = counts();

    ($status, $body) = api('PUT', '/admin/v1/resource-types/Other',
        body => $raw, type => $type);
    is($status, 400, "types: $what, 400");
    is_deeply($body, $error, "types: $what: the error") if $error;
    is($body->{error}, 'invalid_request', "types: $what: invalid_request");
    is(counts(), $before, "types: $what: nothing stored");
}

# the body limit (AUTHD_MAX_BODY 4096)

$before = counts();

($status, $body) = api('PUT', '/admin/v1/resource-types/Big',
    body => { widening_allow => [ map { "p$_" } 1 .. 1000 ] });
is($status, 413, 'types: a body over AUTHD_MAX_BODY, 413');
is_deeply($body, { error => 'request_too_large' }, 'types: the 413 body');
is(counts(), $before, 'types: nothing stored');

# delete

$serial = policy()->{serial};

($status, $body, $res) = api('DELETE', '/admin/v1/resource-types/Coverage');
is($status, 204, 'types: DELETE');
is($res->{content} // '', '', 'types: no body');
is_deeply(last_audit(), {
    actor => "admin:$ROOT", action => 'resource_type.delete',
    target => 'resource_type:Coverage', client_id => undef, detail => {},
}, 'types: deletion audited');
ok(!exists policy()->{resource_types}{Coverage},
    'types: the policy no longer holds it');
isnt(policy()->{serial}, $serial, 'types: at a new serial');

($status, $body) = api('GET', '/admin/v1/resource-types/Coverage');
is_deeply([ $status, $body ],
    [ 404, { error => 'not_found',
             message => 'no resource type "Coverage"' } ],
    'types: GET of a deleted type, 404');

($status) = api('DELETE', '/admin/v1/resource-types/Coverage');
is($status, 404, 'types: DELETE again, 404');


###########################################################################
# applications

my $PUBLIC = {
    name           => "Demo $ODD",
    client_type    => 'public',
    redirect_uris  => [ 'http://127.0.0.1:8765/callback',
                       'com.example.app:/cb' ],
    allowed_scopes => [ 'patient/*.read', 'openid', 'offline_access' ],
};

($status, $body, $res) = api('POST', '/admin/v1/applications',
    body => $PUBLIC);
is($status, 201, 'apps: create a public client');

my $APP = $body->{id};
my $APP_CLIENT = $body->{client_id};

is($res->{headers}{location}, "/admin/v1/applications/$APP",
    'apps: Location of the new application');
like($APP_CLIENT, qr/^[A-Za-z0-9_-]{22}$/, 'apps: a generated client_id');
ok(!exists $body->{client_secret}, 'apps: a public client gets no secret');
is($body->{name}, $PUBLIC->{name}, 'apps: the odd name comes back intact');
is_deeply([ @$body{qw(client_type redirect_uris allowed_scopes active)} ],
    [ 'public', $PUBLIC->{redirect_uris}, $PUBLIC->{allowed_scopes},
      JSON::PP::true ], 'apps: the fields as given, active');
is(value("SELECT name FROM applications WHERE id = $APP"), $PUBLIC->{name},
    'apps: the odd name is stored intact');
is(value("SELECT client_secret_hash IS NULL FROM applications"
    . " WHERE id = $APP"), 't', 'apps: no secret hash');
is_deeply(last_audit(), {
    actor => "admin:$ROOT", action => 'application.create',
    target => "application:$APP", client_id => $APP_CLIENT,
    detail => $PUBLIC,
}, 'apps: creation audited');
is(value("SELECT (SELECT xmin FROM applications WHERE id = $APP)::text"
    . " = (SELECT xmin FROM audit_log ORDER BY id DESC LIMIT 1)::text"),
    't', 'apps: the row and its audit row in one transaction');

# a confidential client: its secret is shown once

my $CONF_APP = {
    name          => 'Confidential',
    client_type   => 'confidential',
    redirect_uris => [ 'https://app.example.org/callback' ],
};

($status, $body) = api('POST', '/admin/v1/applications', body => $CONF_APP);
is($status, 201, 'apps: create a confidential client');

my $CAPP = $body->{id};
my $SECRET = $body->{client_secret};

like($SECRET, qr/^[A-Za-z0-9_-]{43}$/, 'apps: a 32-byte secret, base64url');
is_deeply($body->{allowed_scopes}, [], 'apps: no scope unless given');
is(value("SELECT encode(client_secret_hash, 'hex') FROM applications"
    . " WHERE id = $CAPP"), sha256_hex($SECRET),
    'apps: only its SHA-256 is stored');

($status, $body) = api('GET', "/admin/v1/applications/$CAPP");
is($status, 200, 'apps: GET one');
ok(!exists $body->{client_secret}, 'apps: GET does not show the secret');

($status, $body) = api('GET', '/admin/v1/applications');
is_deeply([ map { $_->{id} } @$body ], [ $APP, $CAPP ], 'apps: GET the list');
unlike($JSON->encode($body), qr/\Q$SECRET\E|secret/,
    'apps: the list shows no secret');
unlike(value('SELECT string_agg(detail::text, \' \') FROM audit_log'),
    qr/\Q$SECRET\E/, 'apps: the audit log holds no secret');

# a new secret

($status, $body) = api('POST', "/admin/v1/applications/$CAPP/secret");
is($status, 200, 'apps: rotate the secret');

my $SECRET2 = $body->{client_secret};

like($SECRET2, qr/^[A-Za-z0-9_-]{43}$/, 'apps: a new secret');
isnt($SECRET2, $SECRET, 'apps: another one');
is(value("SELECT encode(client_secret_hash, 'hex') FROM applications"
    . " WHERE id = $CAPP"), sha256_hex($SECRET2), 'apps: its hash stored');
is_deeply(last_audit(), {
    actor => "admin:$ROOT", action => 'application.secret_rotate',
    target => "application:$CAPP", client_id => $body->{client_id},
    detail => {},
}, 'apps: rotation audited without the secret');

($status, $body) = api('POST', "/admin/v1/applications/$APP/secret");
is_deeply([ $status, $body ],
    [ 409, { error => 'conflict', field => 'client_type',
             message => 'client_type: a public client has no secret' } ],
    'apps: a public client has no secret to rotate');

# update

($status, $body) = api('PUT', "/admin/v1/applications/$APP", body => {
    name => "Renamed \x{2603}",
    redirect_uris => [ 'https://app.example.org/new' ],
    allowed_scopes => [ 'patient/Coverage.rs' ],
});
is($status, 200, 'apps: update');
is_deeply([ @$body{qw(name client_id client_type redirect_uris
                      allowed_scopes active)} ],
    [ "Renamed \x{2603}", $APP_CLIENT, 'public',
      [ 'https://app.example.org/new' ], [ 'patient/Coverage.rs' ],
      JSON::PP::true ], 'apps: the fields given changed, the rest kept');
is(last_audit()->{action}, 'application.update', 'apps: update audited');

# refusals

my @bad_apps = (
    [ 'no name', { %$PUBLIC, name => undef },
      invalid('name', 'missing field "name"') ],
    [ 'an empty name', { %$PUBLIC, name => '' },
      invalid('name', 'name: must not be empty') ],
    [ 'a control character in the name', { %$PUBLIC, name => "a\x{7}b" },
      invalid('name', 'name: holds a control character') ],
    [ 'a number for a name', { %$PUBLIC, name => 7 },
      invalid('name', 'name: expected a string') ],
    [ 'an unknown client_type', { %$PUBLIC, client_type => 'secret' },
      invalid('client_type',
              'client_type: "secret" is neither "public" nor '
              . '"confidential"') ],
    [ 'a client_secret given', { %$PUBLIC, client_secret => 'x' x 43 },
      invalid('client_secret', 'unknown field "client_secret"') ],
    [ 'a client_id given', { %$PUBLIC, client_id => 'mine' },
      invalid('client_id', 'unknown field "client_id"') ],
    [ 'no redirect URI', { %$PUBLIC, redirect_uris => [] },
      invalid('redirect_uris', 'redirect_uris: at least one is required') ],
    [ 'a redirect URI that is not a list',
      { %$PUBLIC, redirect_uris => 'https://a.example/cb' },
      invalid('redirect_uris', 'redirect_uris: expected an array of strings') ],
    [ 'a redirect URI that is not a string',
      { %$PUBLIC, redirect_uris => [ 'https://a.example/cb', 5 ] },
      invalid('redirect_uris[1]', 'redirect_uris[1]: expected a string') ],
    [ 'plain http to another host',
      { %$PUBLIC, redirect_uris => [ 'https://a.example/cb',
                                     'http://example.com/cb' ] },
      invalid('redirect_uris[1]', 'redirect_uris[1]: redirect_uri '
              . '"http://example.com/cb": http is allowed only on '
              . 'localhost, 127.0.0.1 and [::1]') ],
    [ 'a fragment',
      { %$PUBLIC, redirect_uris => [ 'https://a.example/cb#x' ] },
      invalid('redirect_uris[0]', 'redirect_uris[0]: redirect_uri '
              . '"https://a.example/cb#x" has a fragment') ],
    [ 'a non-ASCII redirect URI',
      { %$PUBLIC, redirect_uris => [ "https://a.example/\x{2603}" ] },
      invalid('redirect_uris[0]', 'redirect_uris[0]: redirect_uri holds '
              . 'whitespace, a control or a non-ASCII character') ],
    [ 'a repeated redirect URI',
      { %$PUBLIC, redirect_uris => [ 'https://a.example/cb',
                                     'https://a.example/cb' ] },
      invalid('redirect_uris[1]', 'redirect_uris[1]: '
              . '"https://a.example/cb" is repeated') ],
    [ 'an unknown scope',
      { %$PUBLIC, allowed_scopes => [ 'openid', 'patient/*.admin' ] },
      invalid('allowed_scopes[1]',
              'allowed_scopes[1]: invalid scope "patient/*.admin"') ],
    [ 'a scope with SQL in it',
      { %$PUBLIC, allowed_scopes => [ "openid'; DROP TABLE users; --" ] },
      invalid('allowed_scopes[0]', 'allowed_scopes[0]: invalid scope '
              . '"openid\';\\x20DROP\\x20TABLE\\x20users;\\x20--"') ],
    [ 'a repeated scope',
      { %$PUBLIC, allowed_scopes => [ 'openid', 'openid' ] },
      invalid('allowed_scopes[1]', 'allowed_scopes[1]: "openid" is '
              . 'repeated') ],
    [ 'active as a string', { %$PUBLIC, active => 'true' },
      invalid('active', 'active: expected true or false') ],
);

for my $case (@bad_apps) {
    my ($what, $app, $error) = @$case;

    my %app = %$app;

    delete @app{ grep { !defined $app{$_} } keys %app };

    $before = counts();

    ($status, $body) = api('POST', '/admin/v1/applications', body => \%app);
    is_deeply([ $status, $body ], [ 400, $error ], "apps: $what, 400");
    is(counts(), $before, "apps: $what: nothing stored, nothing audited");
}

$before = counts();

($status, $body) = api('PUT', "/admin/v1/applications/$APP",
    body => { client_type => 'confidential' });
is_deeply([ $status, $body ],
    [ 400, invalid('client_type', 'unknown field "client_type"') ],
    'apps: the client type cannot change');

($status, $body) = api('PUT', "/admin/v1/applications/$APP",
    body => { name => 'ok', redirect_uris => [ 'ftp:x' ] });
is($status, 400, 'apps: an update with one bad field, 400');
is($body->{field}, 'redirect_uris[0]', 'apps: naming it');
is(value("SELECT name FROM applications WHERE id = $APP"),
    "Renamed \x{2603}", 'apps: the good field of it was not applied');
is(counts(), $before, 'apps: nothing stored');

for my $id ('999999', 'abc', '0', '1e3') {
    ($status, $body) = api('GET', "/admin/v1/applications/$id");
    is($status, 404, "apps: GET of application \"$id\", 404");

    ($status) = api('PUT', "/admin/v1/applications/$id",
        body => { name => 'x' });
    is($status, 404, "apps: PUT of application \"$id\", 404");
}

is_deeply((api('GET', '/admin/v1/applications/999999'))[1],
    { error => 'not_found', message => 'no application "999999"' },
    'apps: the 404 body');


###########################################################################
# users

my $BOB = {
    username   => $ODD,
    password   => "bob's password \x{2603}",
    name       => "Bob $ODD",
    patient_id => 'p-1.x',
};

($status, $body, $res) = api('POST', '/admin/v1/users', body => $BOB);
is($status, 201, 'users: create a beneficiary with odd strings');

my $BOB_ID = $body->{id};

is($res->{headers}{location}, "/admin/v1/users/$BOB_ID",
    'users: Location of the new user');
is_deeply($body, {
    id => $BOB_ID, username => $ODD, name => "Bob $ODD",
    role => 'beneficiary', active => JSON::PP::true, patient_id => 'p-1.x',
    created_at => $body->{created_at},
}, 'users: the user comes back intact, without any password');
is(value("SELECT username || '|' || name FROM users WHERE id = $BOB_ID"),
    "$ODD|Bob $ODD", 'users: stored intact');
like(value("SELECT password_hash FROM users WHERE id = $BOB_ID"),
    qr/^scrypt\$ln=14,r=8,p=1\$[A-Za-z0-9_-]+\$[A-Za-z0-9_-]+$/,
    'users: the password stored as an scrypt hash');
is(value("SELECT patient_id FROM crosswalk WHERE user_id = $BOB_ID"),
    'p-1.x', 'users: the crosswalk row');
is_deeply(last_audit(), {
    actor => "admin:$ROOT", action => 'user.create',
    target => "user:$BOB_ID", client_id => undef,
    detail => { username => $ODD, name => "Bob $ODD", patient_id => 'p-1.x',
                password_set => JSON::PP::true },
}, 'users: creation audited without the password');
is(value("SELECT (SELECT xmin FROM users WHERE id = $BOB_ID)::text"
    . " = (SELECT xmin FROM crosswalk WHERE user_id = $BOB_ID)::text"
    . " AND (SELECT xmin FROM crosswalk WHERE user_id = $BOB_ID)::text"
    . " = (SELECT xmin FROM audit_log ORDER BY id DESC LIMIT 1)::text"),
    't', 'users: user, crosswalk and audit rows in one transaction');

($status, $body) = api('POST', '/admin/v1/users', body => {
    username => 'alice', password => 'alice password', name => 'Alice',
    patient_id => 'p2',
});
is($status, 201, 'users: create another');

my $ALICE = $body->{id};

($status, $body, $res) = api('GET', '/admin/v1/users');
is_deeply([ map { $_->{id} } @$body ], [ $ROOT, 2, $BOB_ID, $ALICE ],
    'users: GET the list');
unlike($res->{content}, qr/password|scrypt/, 'users: no hash in the list');

($status, $body) = api('GET', "/admin/v1/users/$ALICE");
is_deeply([ $status, @$body{qw(username name role patient_id)} ],
    [ 200, 'alice', 'Alice', 'beneficiary', 'p2' ], 'users: GET one');

# refusals

my @bad_users = (
    [ 'a taken username',
      { username => 'alice', password => 'another password' },
      409, { error => 'conflict', field => 'username',
             message => 'username: "alice" is taken' } ],
    [ 'a taken patient_id',
      { username => 'carol', password => 'carol password',
        patient_id => 'p2' },
      409, { error => 'conflict', field => 'patient_id',
             message => 'patient_id: "p2" belongs to another user' } ],
    [ 'no password', { username => 'carol' },
      400, invalid('password', 'missing field "password"') ],
    [ 'no username', { password => 'carol password' },
      400, invalid('username', 'missing field "username"') ],
    [ 'a short password',
      { username => 'carol', password => "\x{2603}" x 7 },
      400, invalid('password', 'password: shorter than 8 characters') ],
    [ 'a short admin password',
      { username => 'carol', password => 'eleven char', role => 'admin' },
      400, invalid('password', 'password: shorter than 12 characters') ],
    [ 'an unknown role',
      { username => 'carol', password => 'carol password',
        role => 'superuser' },
      400, invalid('role', 'role: "superuser" is neither "beneficiary" nor '
                   . '"admin"') ],
    [ 'a patient_id for an admin',
      { username => 'carol', password => 'carol password long',
        role => 'admin', patient_id => 'p9' },
      400, invalid('patient_id', 'patient_id: only a beneficiary has one') ],
    [ 'a malformed patient_id',
      { username => 'carol', password => 'carol password',
        patient_id => "p'1" },
      400, invalid('patient_id', 'patient_id: "p\'1" is not 1 to 64 '
                   . 'letters, digits, "." or "-"') ],
    [ 'a patient_id with a space',
      { username => 'carol', password => 'carol password',
        patient_id => 'p 1' },
      400, invalid('patient_id', 'patient_id: "p\\x201" is not 1 to 64 '
                   . 'letters, digits, "." or "-"') ],
    [ 'a username with a leading space',
      { username => ' carol', password => 'carol password' },
      400, invalid('username', 'username: starts or ends with a space') ],
    [ 'a username with a newline',
      { username => "car\nol", password => 'carol password' },
      400, invalid('username', 'username: holds a control character') ],
    [ 'a username over 150 bytes',
      { username => "\x{e9}" x 76, password => 'carol password' },
      400, invalid('username', 'username: longer than 150 bytes') ],
    [ 'a password hash given',
      { username => 'carol', password => 'carol password',
        password_hash => 'scrypt$ln=14,r=8,p=1$a$b' },
      400, invalid('password_hash', 'unknown field "password_hash"') ],
    [ 'active as a number',
      { username => 'carol', password => 'carol password', active => 1 },
      400, invalid('active', 'active: expected true or false') ],
);

for my $case (@bad_users) {
    my ($what, $user, $code, $error) = @$case;

    $before = counts();

    ($status, $body) = api('POST', '/admin/v1/users', body => $user);
    is_deeply([ $status, $body ], [ $code, $error ], "users: $what, $code");
    is(counts(), $before, "users: $what: nothing stored, nothing audited");
}

# grants for the updates below and for the grants section

sub grant {
    my ($user, $app, $jti) = @_;

    my $id = value("INSERT INTO grants (user_id, application_id, scope,"
        . " expires_at) VALUES ($user, $app, 'patient/*.read',"
        . " now() + interval '1 day') RETURNING id");

    value("INSERT INTO access_tokens (jti, grant_id, expires_at)"
        . " VALUES ('$jti', $id, now() + interval '1 hour')");
    value("INSERT INTO refresh_tokens (token_hash, family_id, grant_id,"
        . " expires_at) VALUES (sha256('$jti'), gen_random_uuid(), $id,"
        . " now() + interval '1 day')");
    value("INSERT INTO sessions (id_hash, user_id, csrf_token, expires_at)"
        . " VALUES (sha256('s-$jti'), $user, 'csrf-token-of-$jti',"
        . " now() + interval '1 hour')");

    return $id;
}

sub revoked_jtis {
    return [ sort map { $_->{jti} } @{ policy()->{revoked} // [] } ];
}

my $BOB_GRANT = grant($BOB_ID, $APP, 'jti-bob-1');

# update: name, then the patient_id, which revokes the grants

($status, $body) = api('PUT', "/admin/v1/users/$BOB_ID",
    body => { name => 'Robert' });
is_deeply([ $status, @$body{qw(name username patient_id)} ],
    [ 200, 'Robert', $ODD, 'p-1.x' ], 'users: update the name alone');
is(value("SELECT revoked_at IS NULL FROM grants WHERE id = $BOB_GRANT"), 't',
    'users: a new name keeps the grants');
is_deeply(last_audit(), {
    actor => "admin:$ROOT", action => 'user.update',
    target => "user:$BOB_ID", client_id => undef,
    detail => { name => 'Robert' },
}, 'users: the update audited');

$before = counts();

($status, $body) = api('PUT', "/admin/v1/users/$BOB_ID",
    body => { patient_id => 'p2' });
is_deeply([ $status, $body ],
    [ 409, { error => 'conflict', field => 'patient_id',
             message => 'patient_id: "p2" belongs to another user' } ],
    'users: a taken patient_id, 409');
is(counts(), $before, 'users: nothing changed');

($status, $body) = api('PUT', "/admin/v1/users/$BOB_ID",
    body => { patient_id => 'p-3' });
is_deeply([ $status, $body->{patient_id} ], [ 200, 'p-3' ],
    'users: a new patient_id');
is(value("SELECT (revoked_at IS NOT NULL)::text FROM grants"
    . " WHERE id = $BOB_GRANT"), 'true',
    'users: the grants made for the old patient_id are revoked');
is(value("SELECT (revoked_at IS NOT NULL)::text FROM access_tokens"
    . " WHERE jti = 'jti-bob-1'"), 'true', 'users: with their access tokens');
is_deeply(revoked_jtis(), [ 'jti-bob-1' ],
    'users: the revoked jti reaches the policy');

($status, $body) = api('PUT', "/admin/v1/users/$BOB_ID",
    body => { patient_id => undef });
is_deeply([ $status, $body->{patient_id} ], [ 200, undef ],
    'users: patient_id null removes the crosswalk row');
is(count('crosswalk', "user_id = $BOB_ID"), 0, 'users: gone');

# a new password ends the browser sessions

is(count('sessions', "user_id = $ALICE"), 0, 'users: alice has no session');

my $ALICE_GRANT = grant($ALICE, $CAPP, 'jti-alice-1');
my $old_hash = value("SELECT password_hash FROM users WHERE id = $ALICE");

($status, $body) = api('PUT', "/admin/v1/users/$ALICE",
    body => { password => 'alice new password' });
is($status, 200, 'users: a new password');
isnt(value("SELECT password_hash FROM users WHERE id = $ALICE"), $old_hash,
    'users: a new hash');
is(count('sessions', "user_id = $ALICE"), 0, 'users: the sessions ended');
is(value("SELECT revoked_at IS NULL FROM grants WHERE id = $ALICE_GRANT"),
    't', 'users: the grants stay');
is_deeply(last_audit()->{detail}, { password_set => JSON::PP::true },
    'users: audited without the password');

$before = counts();

($status, $body) = api('PUT', "/admin/v1/users/$ALICE",
    body => { password => 'short' });
is_deeply([ $status, $body ],
    [ 400, invalid('password', 'password: shorter than 8 characters') ],
    'users: a short new password, 400');

($status, $body) = api('PUT', "/admin/v1/users/$ALICE",
    body => { username => 'alicia' });
is_deeply([ $status, $body ],
    [ 400, invalid('username', 'unknown field "username"') ],
    'users: the username cannot change');

($status, $body) = api('PUT', "/admin/v1/users/$ALICE",
    body => { role => 'admin' });
is_deeply([ $status, $body ],
    [ 400, invalid('role', 'unknown field "role"') ],
    'users: nor the role');
is(counts(), $before, 'users: nothing changed');

# admins made through the API

($status, $body) = api('POST', '/admin/v1/users', body => {
    username => 'admin2', password => 'second admin password',
    role => 'admin',
});
is($status, 201, 'users: create an admin');

my $ADMIN2 = $body->{id};

($status) = api('GET', '/admin/v1/users',
    auth => 'admin2:second admin password');
is($status, 200, 'users: the new admin gets in');

($status) = api('GET', '/admin/v1/users', auth => 'alice:alice new password');
is($status, 401, 'users: a beneficiary does not');

($status, $body) = api('POST', '/admin/v1/users', body => {
    username => 'tele:phone', password => 'second admin password',
    role => 'admin',
});
is_deeply([ $status, $body ],
    [ 400, invalid('username', 'username: an admin\'s cannot hold ":"') ],
    'users: no ":" in an admin username');

($status, $body) = api('PUT', "/admin/v1/users/$ROOT",
    body => { active => JSON::PP::false });
is_deeply([ $status, $body ],
    [ 409, { error => 'conflict', field => 'active',
             message => 'active: an admin cannot deactivate their own '
                        . 'account' } ],
    'users: an admin cannot deactivate themselves');

($status, $body) = api('DELETE', "/admin/v1/users/$ROOT");
is_deeply([ $status, $body ],
    [ 409, { error => 'conflict',
             message => 'an admin cannot delete their own account' } ],
    'users: nor delete themselves');

($status, $body) = api('PUT', "/admin/v1/users/$ADMIN2",
    body => { active => JSON::PP::false });
is_deeply([ $status, $body->{active} ], [ 200, JSON::PP::false ],
    'users: deactivate another admin');

($status) = api('GET', '/admin/v1/users',
    auth => 'admin2:second admin password');
is($status, 401, 'users: an inactive admin is refused');

# delete

($status) = api('DELETE', "/admin/v1/users/$ADMIN2");
is($status, 204, 'users: delete');
is(count('users', "id = $ADMIN2"), 0, 'users: gone');
is_deeply(last_audit(), {
    actor => "admin:$ROOT", action => 'user.delete',
    target => "user:$ADMIN2", client_id => undef,
    detail => { username => 'admin2', role => 'admin' },
}, 'users: deletion audited');

for my $id ('999999', 'x', '-1') {
    ($status, $body) = api('GET', "/admin/v1/users/$id");
    is($status, 404, "users: GET of user \"$id\", 404");

    ($status) = api('DELETE', "/admin/v1/users/$id");
    is($status, 404, "users: DELETE of user \"$id\", 404");
}

is_deeply((api('PUT', '/admin/v1/users/999999', body => { name => 'x' }))[1],
    { error => 'not_found', message => 'no user "999999"' },
    'users: the 404 body');


###########################################################################
# grants

($status, $body) = api('GET', "/admin/v1/grants?user=$ALICE");
is($status, 200, 'grants: list by user');
is_deeply([ map { [ @$_{qw(id user_id username application_id client_id
                           scope revoked_at)} ] } @$body ],
    [ [ $ALICE_GRANT, $ALICE, 'alice', $CAPP,
        (api('GET', "/admin/v1/applications/$CAPP"))[1]{client_id},
        'patient/*.read', undef ] ], 'grants: alice\'s grant');

($status, $body) = api('GET', "/admin/v1/grants?application=$APP");
is_deeply([ map { $_->{id} } @$body ], [ $BOB_GRANT ],
    'grants: list by application');

($status, $body) = api('GET', '/admin/v1/grants');
is_deeply([ map { $_->{id} } @$body ], [ $BOB_GRANT, $ALICE_GRANT ],
    'grants: list all');

($status, $body) = api('GET', "/admin/v1/grants/$ALICE_GRANT");
is_deeply([ $status, $body->{id} ], [ 200, $ALICE_GRANT ], 'grants: GET one');

for my $case (
    [ 'user=abc', invalid('user', 'user: expected an id') ],
    [ "user=1%27%20OR%201=1", invalid('user', 'user: expected an id') ],
    [ 'owner=1', invalid('owner', 'unknown parameter "owner"') ],
    [ 'user=1&user=2', invalid('user', 'user: given more than once') ],
) {
    ($status, $body) = api('GET', "/admin/v1/grants?$case->[0]");
    is_deeply([ $status, $body ], [ 400, $case->[1] ],
        "grants: ?$case->[0], 400");
}

$serial = policy()->{serial};

($status) = api('DELETE', "/admin/v1/grants/$ALICE_GRANT");
is($status, 204, 'grants: revoke');
is(value("SELECT (revoked_at IS NOT NULL)::text FROM grants"
    . " WHERE id = $ALICE_GRANT"), 'true', 'grants: revoked');
is(value("SELECT (revoked_at IS NOT NULL)::text FROM access_tokens"
    . " WHERE jti = 'jti-alice-1'"), 'true', 'grants: its access token too');
is(value("SELECT (revoked_at IS NOT NULL)::text FROM refresh_tokens"
    . " WHERE grant_id = $ALICE_GRANT"), 'true',
    'grants: its refresh token too');
is_deeply(revoked_jtis(), [ 'jti-alice-1', 'jti-bob-1' ],
    'grants: the revoked jti reaches the policy');
isnt(policy()->{serial}, $serial, 'grants: a new policy serial');
is_deeply(last_audit(), {
    actor => "admin:$ROOT", action => 'grant.revoke',
    target => "grant:$ALICE_GRANT",
    client_id => (api('GET', "/admin/v1/applications/$CAPP"))[1]{client_id},
    detail => { user_id => $ALICE },
}, 'grants: revocation audited');

($ok, $out) = nginx_accepts($POLICY);
ok($ok, 'grants: nginx -t accepts the policy with revocations')
    or diag($out);

$before = counts();

($status) = api('DELETE', "/admin/v1/grants/$ALICE_GRANT");
is($status, 204, 'grants: revoking again is no error');
is(counts(), $before, 'grants: and changes nothing');

($status, $body) = api('DELETE', '/admin/v1/grants/999999');
is_deeply([ $status, $body ],
    [ 404, { error => 'not_found', message => 'no grant "999999"' } ],
    'grants: an unknown grant, 404');

# deleting a user deletes their grants, and keeps their tokens revoked

my $CAROL_GRANT;

($status, $body) = api('POST', '/admin/v1/users', body => {
    username => 'carol', password => 'carol password', patient_id => 'p4',
});
my $CAROL = $body->{id};

$CAROL_GRANT = grant($CAROL, $APP, 'jti-carol-1');

($status) = api('DELETE', "/admin/v1/users/$CAROL");
is($status, 204, 'users: delete a user with a grant');
is(count('grants', "id = $CAROL_GRANT"), 0, 'users: the grant went too');
is_deeply(revoked_jtis(), [ 'jti-alice-1', 'jti-bob-1', 'jti-carol-1' ],
    'users: its token stays revoked in the policy');

# deleting an application does the same

($status, $body) = api('POST', '/admin/v1/applications', body => {
    name => 'Doomed', client_type => 'public',
    redirect_uris => [ 'https://doomed.example/cb' ],
});
my $DOOMED = $body->{id};
my $DOOMED_GRANT = grant($ALICE, $DOOMED, 'jti-doomed-1');

($status) = api('DELETE', "/admin/v1/applications/$DOOMED");
is($status, 204, 'apps: delete');
is(count('applications', "id = $DOOMED"), 0, 'apps: gone');
is(count('grants', "id = $DOOMED_GRANT"), 0, 'apps: with its grants');
ok(grep({ $_ eq 'jti-doomed-1' } @{ revoked_jtis() }),
    'apps: their tokens revoked in the policy');
is(last_audit()->{action}, 'application.delete', 'apps: deletion audited');

($status) = api('DELETE', "/admin/v1/applications/$DOOMED");
is($status, 404, 'apps: delete again, 404');

# deactivating an application revokes its grants

my $BOB_GRANT2 = grant($BOB_ID, $APP, 'jti-bob-2');

($status, $body) = api('PUT', "/admin/v1/applications/$APP",
    body => { active => JSON::PP::false });
is_deeply([ $status, $body->{active} ], [ 200, JSON::PP::false ],
    'apps: deactivate');
ok(grep({ $_ eq 'jti-bob-2' } @{ revoked_jtis() }),
    'apps: its tokens revoked in the policy');


###########################################################################
# the audit log

($status, $body) = api('GET', '/admin/v1/audit?limit=1000');
is($status, 200, 'audit: the log');
is(scalar @$body, count('audit_log'), 'audit: every entry');
is_deeply([ map { $_->{id} } @$body ], [ sort { $a <=> $b } map { $_->{id} }
    @$body ], 'audit: in time order');

my @all = @$body;

($status, $body) = api('GET', '/admin/v1/audit?limit=3');
is_deeply([ map { $_->{id} } @$body ], [ map { $_->{id} } @all[0 .. 2] ],
    'audit: limit keeps the first entries');

($status, $body) = api('GET', '/admin/v1/audit');
is(scalar @$body, @all < 100 ? scalar @all : 100, 'audit: 100 by default');

($status, $body) = api('GET', "/admin/v1/audit?user=$ALICE");
ok(@$body > 0 && !grep({ $_->{target} ne "user:$ALICE" } @$body),
    'audit: by user: the entries about alice');

($status, $body) = api('GET', "/admin/v1/audit?user=$ROOT&limit=1000");
is(scalar @$body, scalar grep({ $_->{actor} eq "admin:$ROOT"
    || ($_->{target} // '') eq "user:$ROOT" } @all),
    'audit: by user: what the admin did');

($status, $body) = api('GET', "/admin/v1/audit?application=$CAPP");
is_deeply([ map { $_->{action} } @$body ],
    [ 'application.create', 'application.secret_rotate', 'grant.revoke' ],
    'audit: by application');

my $mid = $all[5]{at} =~ s/([^A-Za-z0-9._~:-])/sprintf '%%%02X', ord $1/ger;

($status, $body) = api('GET', "/admin/v1/audit?since=$mid&limit=1000");
is($body->[0]{id}, $all[5]{id}, 'audit: since is inclusive');

($status, $body) = api('GET', "/admin/v1/audit?until=$mid");
ok(!grep({ $_->{id} >= $all[5]{id} } @$body), 'audit: until is exclusive');

($status, $body) = api('GET', '/admin/v1/audit?since=2999-01-01');
is_deeply([ $status, $body ], [ 200, [] ], 'audit: nothing in the future');

($status, $body) = api('GET', '/admin/v1/audit?until=1999-12-31T23:59:59Z');
is_deeply([ $status, $body ], [ 200, [] ], 'audit: nothing in the past');

for my $case (
    [ 'since=yesterday', invalid('since', 'since: expected a time such as '
      . '2024-01-02T03:04:05Z') ],
    [ "until=2024-01-01%27%3B--", invalid('until', 'until: expected a time '
      . 'such as 2024-01-02T03:04:05Z') ],
    [ 'since=2024-13-01', invalid('since', 'since: expected a time such as '
      . '2024-01-02T03:04:05Z') ],
    [ 'limit=0', invalid('limit', 'limit: expected 1 to 1000') ],
    [ 'limit=1001', invalid('limit', 'limit: expected 1 to 1000') ],
    [ 'limit=ten', invalid('limit', 'limit: expected 1 to 1000') ],
    [ 'application=demo', invalid('application',
      'application: expected an id') ],
    [ 'actor=cli', invalid('actor', 'unknown parameter "actor"') ],
) {
    ($status, $body) = api('GET', "/admin/v1/audit?$case->[0]");
    is_deeply([ $status, $body ], [ 400, $case->[1] ],
        "audit: ?$case->[0], 400");
}

is(value('SELECT count(*) FROM audit_log WHERE detail::text ~* '
    . "'\"password\"|scrypt'"), 0, 'audit: no password anywhere');


###########################################################################
# the policy document

($status, $body) = api('GET', '/admin/v1/policy');
is($status, 200, 'policy: GET');

{
    my $file = policy();

    is($body->{policy_version}, 1, 'policy: version 1');
    like($body->{serial}, qr/\S/, 'policy: a serial');
    is_deeply([ @$body{qw(issuer audience keys resource_types revoked)} ],
        [ @$file{qw(issuer audience keys resource_types revoked)} ],
        'policy: the document as written after the last change');
}


###########################################################################
# a change whose audit row fails is not made

$pg->psql(<<'EOF2');
CREATE FUNCTION test_audit_fail() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.detail::text LIKE '%audit-fails%' THEN
        RAISE EXCEPTION 'audit refused by the test';
    END IF;
    RETURN NEW;
END;
$$;
CREATE TRIGGER test_audit_fail BEFORE INSERT ON audit_log
    FOR EACH ROW EXECUTE FUNCTION test_audit_fail();
EOF2

my $SERVER_ERROR = { error => 'server_error', message => 'internal error' };

for my $case (
    [ 'a user', 'POST', '/admin/v1/users',
      { username => 'audit-fails', password => 'audit password' } ],
    [ 'an application', 'POST', '/admin/v1/applications',
      { name => 'audit-fails', client_type => 'confidential',
        redirect_uris => [ 'https://a.example/cb' ] } ],
    [ 'a resource type', 'PUT', '/admin/v1/resource-types/Failing',
      { interactions => [ 'read' ], widening_allow => [ 'audit-fails' ] } ],
    [ 'a user update', 'PUT', "/admin/v1/users/$ALICE",
      { name => 'audit-fails', patient_id => 'p77' } ],
) {
    my ($what, $method, $path, $req) = @$case;

    $before = counts();
    $serial = policy()->{serial};

    ($status, $body) = api($method, $path, body => $req);
    is_deeply([ $status, $body ], [ 500, $SERVER_ERROR ],
        "rollback: $what whose audit fails, 500");
    is(counts(), $before, "rollback: $what: nothing stored");
    is(policy()->{serial}, $serial, "rollback: $what: policy untouched");
}

is(value("SELECT name || ' ' || patient_id FROM users JOIN crosswalk"
    . " ON user_id = id WHERE id = $ALICE"), 'Alice p2',
    'rollback: the user update was not applied in part');

$pg->psql('DROP TRIGGER test_audit_fail ON audit_log');


###########################################################################
# authd load

sub write_json {
    my ($name, $data) = @_;

    my $file = "$dir/$name";

    open my $fh, '>', $file or die "$file: $!\n";
    print $fh ref $data ? $JSON->encode($data) : $data;
    close $fh;

    return $file;
}

# everything a fixture sets, times of change aside

sub state_dump {
    return value(<<'EOF2');
SELECT json_build_object(
    'users', (SELECT json_agg(to_jsonb(u) - 'created_at' ORDER BY id)
              FROM users u),
    'crosswalk', (SELECT json_agg(to_jsonb(x) - 'created_at'
                                  ORDER BY user_id) FROM crosswalk x),
    'applications', (SELECT json_agg(to_jsonb(a) - 'created_at' ORDER BY id)
                     FROM applications a),
    'resource_types', (SELECT json_agg(to_jsonb(t) - 'created_at'
                                       - 'updated_at' ORDER BY name)
                       FROM resource_types t),
    'grants', (SELECT json_agg(to_jsonb(g) ORDER BY id) FROM grants g))
EOF2
}

my $FIXTURE = "$TOP/conf/authd-load.json";
my %DEMO = (AUTHD_DEMO_PASSWORD => 'demo password 1');

$before = count('audit_log', "actor = 'cli'");
$serial = policy()->{serial};

$res = $authd->run(\%DEMO, 'load', $FIXTURE);
is($res->{status}, 0, 'load: the demo fixture') or diag($res->{output});
like($res->{output}, qr/loaded 6 entries from \Q$FIXTURE\E/,
    'load: says what it did');
unlike($res->{output}, qr/demo password 1/, 'load: no password in output');

is(value("SELECT u.role || ' ' || x.patient_id FROM users u"
    . " JOIN crosswalk x ON x.user_id = u.id WHERE username = 'demo'"),
    'beneficiary p1', 'load: the beneficiary and the crosswalk');
is(value("SELECT client_type || ' ' || array_to_string(redirect_uris, ',')"
    . " FROM applications WHERE client_id = 'demo-app'"),
    'public http://127.0.0.1:8765/callback', 'load: the application');
is(count('audit_log', "actor = 'cli'"), $before + 6,
    'load: every entry audited as the cli');

{
    my $fixture = do {
        open my $fh, '<', $FIXTURE or die;
        local $/;
        $JSON->decode(<$fh>);
    };

    for my $entry (grep { $_->{model} eq 'resource_types' } @$fixture) {
        my %type = %{ $entry->{fields} };
        my $name = delete $type{name};

        is_deeply({ map { $_ => policy()->{resource_types}{$name}{$_} }
                    keys %type }, \%type,
            "load: the policy holds $name as the fixture gives it");
    }
}

isnt(policy()->{serial}, $serial, 'load: the policy was rewritten');

($ok, $out) = nginx_accepts($POLICY);
ok($ok, 'load: nginx -t accepts the policy') or diag($out);

my $dump = state_dump();
my $demo_hash = value("SELECT password_hash FROM users"
    . " WHERE username = 'demo'");

$res = $authd->run(\%DEMO, 'load', $FIXTURE);
is($res->{status}, 0, 'load: the same fixture again') or diag($res->{output});
is(state_dump(), $dump, 'load: twice leaves the state of once');
is(value("SELECT password_hash FROM users WHERE username = 'demo'"),
    $demo_hash, 'load: the same password keeps its hash');

# a fixture of every kind of entry, with odd strings

my $CLIENT_SECRET = 'a loaded client secret, long enough';

my $OWN = [
    { model => 'resource_types',
      fields => { name => 'Observation', interactions => [ 'read' ],
                  override_search => JSON::PP::true,
                  search_add => [ "code=$ODD" ] } },
    { model => 'applications',
      fields => { client_id => 'loaded-app.1~x', name => $ODD,
                  client_type => 'confidential',
                  client_secret_env => 'LOADED_SECRET',
                  redirect_uris => [ 'https://loaded.example/cb' ],
                  allowed_scopes => [ 'patient/*.rs', 'openid' ],
                  active => JSON::PP::false } },
    { model => 'users',
      fields => { username => "loaded $ODD", name => $ODD,
                  password_env => 'LOADED_PASSWORD' } },
    { model => 'crosswalk',
      fields => { username => "loaded $ODD", patient_id => 'p-loaded' } },
    { model => 'users',
      fields => { username => 'loaded-admin', role => 'admin',
                  password_env => 'LOADED_ADMIN_PASSWORD' } },
];

my %OWN_ENV = (
    LOADED_SECRET         => $CLIENT_SECRET,
    LOADED_PASSWORD       => "p\x{e4}ssword \x{2603}",
    LOADED_ADMIN_PASSWORD => 'loaded admin password',
);

$OWN_ENV{LOADED_PASSWORD} = encode_utf8($OWN_ENV{LOADED_PASSWORD});

my $own = write_json('own.json', $OWN);

$res = $authd->run(\%OWN_ENV, 'load', $own);
is($res->{status}, 0, 'load: a fixture of every model') or diag($res->{output});
is(value("SELECT encode(client_secret_hash, 'hex') || ' ' || active || ' '"
    . " || name FROM applications WHERE client_id = 'loaded-app.1~x'"),
    sha256_hex($CLIENT_SECRET) . " false $ODD",
    'load: a confidential client, its secret as SHA-256, inactive');
is(value("SELECT name || '|' || patient_id FROM users JOIN crosswalk"
    . " ON user_id = id WHERE username = " . lit("loaded $ODD")),
    "$ODD|p-loaded",
    'load: odd strings stored intact');
is_deeply(policy()->{resource_types}{Observation}{search_add},
    [ "code=$ODD" ], 'load: the new type in the policy');
unlike(value('SELECT string_agg(detail::text, \' \') FROM audit_log'),
    qr/\Q$CLIENT_SECRET\E|loaded admin password/,
    'load: no secret in the audit log');

($status) = api('GET', '/admin/v1/users',
    auth => 'loaded-admin:loaded admin password');
is($status, 200, 'load: the loaded admin gets in');

$dump = state_dump();

$res = $authd->run(\%OWN_ENV, 'load', $own);
is($res->{status}, 0, 'load: again');
is(state_dump(), $dump, 'load: the same state');

# the same user loaded as an admin loses their crosswalk row

$OWN->[2]{fields}{role} = 'admin';
$OWN->[2]{fields}{username} = 'loaded-bene';
splice @$OWN, 3, 1;

my $SHORT_ADMIN = [ $OWN->[0], $OWN->[2] ];

$OWN->[2] = { %{ $OWN->[2] } };
$OWN->[2]{fields} = { %{ $OWN->[2]{fields} },
                      password_env => 'LOADED_ADMIN_PASSWORD' };

# refusals: the whole file is rolled back

my @bad_loads = (
    [ 'an unknown field in the last entry',
      [ @$OWN[0 .. 1],
        { model => 'users', fields => { username => 'frank',
                                        pasword_env => 'X' } } ],
      '[2].fields: unknown field "pasword_env"' ],
    [ 'an unknown model',
      [ $OWN->[0], { model => 'user', fields => {} } ],
      '[1].model: unknown model "user"' ],
    [ 'an entry without fields',
      [ $OWN->[0], { model => 'users' } ],
      '[1]: missing field "fields"' ],
    [ 'an unset secret variable',
      [ { model => 'applications',
          fields => { %{ $OWN->[1]{fields} },
                      client_secret_env => 'NOPE_UNSET' } } ],
      '[0].fields.client_secret_env: "NOPE_UNSET" is not set' ],
    [ 'a short secret',
      [ { model => 'applications',
          fields => { %{ $OWN->[1]{fields} },
                      client_secret_env => 'SHORT_SECRET' } } ],
      '[0].fields.client_secret_env: the secret in "SHORT_SECRET" is '
      . 'shorter than 16 bytes' ],
    [ 'a public client with a secret',
      [ { model => 'applications',
          fields => { %{ $OWN->[1]{fields} }, client_type => 'public' } } ],
      '[0].fields.client_secret_env: a public client has no secret' ],
    [ 'a search_add without "="',
      [ $OWN->[1], { model => 'resource_types',
          fields => { name => 'Claim', override_search => JSON::PP::true,
                      search_add => [ 'patient' ] } } ],
      '[1].fields.search_add[0]: "patient" has no "="' ],
    [ 'a crosswalk for nobody',
      [ $OWN->[0], { model => 'crosswalk',
          fields => { username => 'ghost', patient_id => 'p-ghost' } } ],
      '[1].fields.username: no user "ghost"' ],
    [ 'a crosswalk for an admin',
      [ $OWN->[0], { model => 'crosswalk',
          fields => { username => 'root', patient_id => 'p-root' } } ],
      '[1].fields.username: "root" is not a beneficiary' ],
    [ 'a crosswalk to a taken patient_id',
      [ $OWN->[0], { model => 'crosswalk',
          fields => { username => 'demo', patient_id => 'p2' } } ],
      '[1].fields.patient_id: "p2" belongs to another user' ],
    [ 'an invalid client_id',
      [ { model => 'applications',
          fields => { %{ $OWN->[1]{fields} }, client_id => 'a b' } } ],
      '[0].fields.client_id: invalid client_id "a b"' ],
    [ 'a duplicate key',
      '[{"model": "users", "model": "users", "fields": {}}]',
      qr/line 1 column \d+: duplicate object key/ ],
    [ 'not JSON', '[{"model": ', qr/line 1 column \d+: / ],
    [ 'not an array', '{}', 'expected an array of entries' ],
    [ 'an admin password too short', $SHORT_ADMIN,
      '[1].fields.password_env: the password in "LOADED_PASSWORD" is '
      . 'shorter than 12 characters' ],
);

for my $case (@bad_loads) {
    my ($what, $data, $message) = @$case;

    my $file = write_json('bad.json', $data);

    $before = counts();
    $dump = state_dump();
    $serial = policy()->{serial};

    $res = $authd->run({ %OWN_ENV, SHORT_SECRET => 'fifteen bytes..' },
        'load', $file);
    is($res->{status}, 1, "load: $what: refused");
    like($res->{output}, ref $message ? $message
        : qr/load: \Q$file\E: \Q$message\E\n/, "load: $what: the message")
        or diag($res->{output});
    is(counts(), $before, "load: $what: nothing stored, nothing audited");
    is(state_dump(), $dump, "load: $what: nothing changed");
    is(policy()->{serial}, $serial, "load: $what: the policy untouched");
}

$res = $authd->run('load');
is($res->{status}, 2, 'load: without a file, a usage error');

# the good part of the last fixture, once the bad entries are gone

$res = $authd->run(\%OWN_ENV, 'load', write_json('roles.json', $OWN));
is($res->{status}, 0, 'load: a user whose role is admin')
    or diag($res->{output});
is(value("SELECT role FROM users WHERE username = 'loaded-bene'"), 'admin',
    'load: the role set');


###########################################################################
# the log

{
    my $log = $authd->log;

    for my $secret ($ROOT_PASSWORD, $SECRET, $SECRET2, $CLIENT_SECRET,
        'alice new password', 'second admin password', 'wrong password',
        encode_utf8($SNOW_PASSWORD), encode_utf8($BOB->{password}))
    {
        unlike($log, qr/\Q$secret\E/, 'log: no password nor secret');
    }

    is_deeply([ grep { !/admin_insert_audit.*audit refused by the test/
                       && !/libmicrohttpd: Error decoding basic auth/ }
                $authd->error_lines ], [],
        'log: no error but those the test caused');
}

done_testing();

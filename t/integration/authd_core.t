#!/usr/bin/perl

# authd's core on a real PostgreSQL: migrations applied once each, both
# listeners, settings refused at start-up, recovery from a PostgreSQL
# restart, the access log, the security headers and the body limit.  The
# schema here is the test's own, so that this tests migrate, not
# schema/*.sql.

use strict;
use warnings;

use File::Path qw(make_path);
use IO::Socket::INET;
use JSON::PP;
use Test::More;

use lib 't/lib';
use BB::Authd;


# a schema of the test's own: no policy document can be made from it

my $authd = BB::Authd->new(env => { AUTHD_MAX_BODY => 1024,
    AUTHD_POLICY_PATH => '' });
my $pg = $authd->pg;
my $schema = $authd->dir . '/schema';

make_path($schema);
$authd->set_env(AUTHD_SCHEMA_DIR => $schema);


sub schema_file {
    my ($name, $sql) = @_;

    open my $fh, '>', "$schema/$name" or die "open $name: $!\n";
    print $fh $sql;
    close $fh;
}


sub versions {
    return join ',', $pg->psql(
        'SELECT version FROM schema_migrations ORDER BY version');
}


# migrate: each file once, in name order, each in its own transaction

schema_file('002_second.sql', "INSERT INTO first VALUES (2);\n");
schema_file('001_first.sql', "CREATE TABLE first (x int);\n"
    . "INSERT INTO first VALUES (1);\n");
schema_file('notes.txt', "not SQL\n");

my $res = $authd->run('migrate');

is($res->{status}, 0, 'migrate succeeds') or diag($res->{output});
like($res->{output}, qr/applied "001_first\.sql".*applied "002_second\.sql"/s,
    'files applied in name order');
like($res->{output}, qr/2 schema files applied/, 'two files applied');
is(versions(), '001_first,002_second', 'both recorded');
is(join(',', $pg->psql('SELECT x FROM first ORDER BY x')), '1,2',
    'both files ran');

$res = $authd->run('migrate');

is($res->{status}, 0, 'second migrate succeeds');
like($res->{output}, qr/schema up to date/, 'second migrate applies nothing');
unlike($res->{output}, qr/applied "/, 'no file applied again');
is(join(',', $pg->psql('SELECT x FROM first ORDER BY x')), '1,2',
    'no file ran again');

# a failing file leaves nothing behind, and stops the files after it

schema_file('003_broken.sql', "CREATE TABLE third (x int);\n"
    . "INSERT INTO nowhere VALUES (3);\n");
schema_file('004_after.sql', "CREATE TABLE fourth (x int);\n");

$res = $authd->run('migrate');

isnt($res->{status}, 0, 'migrate with a broken file fails');
like($res->{output},
    qr/PQexec\("script"\) failed: relation "nowhere" does not exist/,
    'the failure is named');
like($res->{output}, qr/applying ".*003_broken\.sql" failed/,
    'the file is named');
is(versions(), '001_first,002_second', 'the broken file is not recorded');
is(join(',', $pg->psql("SELECT count(*) FROM pg_tables"
    . " WHERE tablename IN ('third', 'fourth')")), '0',
    'neither the broken file nor the next one left a table');

schema_file('003_broken.sql', "CREATE TABLE third (x int);\n");

$res = $authd->run('migrate');

is($res->{status}, 0, 'migrate succeeds once the file is fixed')
    or diag($res->{output});
is(versions(), '001_first,002_second,003_broken,004_after',
    'the fixed file and the next one recorded');

# settings refused at start-up, naming the setting; secrets never shown

my @bad = (
    [ { AUTHD_LISTEN => 'nonsense' },
      qr/invalid AUTHD_LISTEN "nonsense": expected host:port/ ],
    [ { AUTHD_ADMIN_LISTEN => '127.0.0.1:99999' },
      qr/invalid AUTHD_ADMIN_LISTEN "127\.0\.0\.1:99999": port out of range/ ],
    [ { AUTHD_THREADS => '0' },
      qr/invalid AUTHD_THREADS "0": less than 1/ ],
    [ { AUTHD_MAX_BODY => 'lots' },
      qr/invalid AUTHD_MAX_BODY "lots": expected a number/ ],
    [ { AUTHD_ISSUER => undef },
      qr/setting AUTHD_ISSUER is required/ ],
    [ { AUTHD_KEY_PASSPHRASE => 'tiny-pass' },
      qr/invalid AUTHD_KEY_PASSPHRASE: shorter than 16 characters/ ],
);

for my $case (@bad) {
    my ($env, $re) = @$case;
    my ($name) = keys %$env;

    $res = $authd->run($env, 'serve');

    isnt($res->{status}, 0, "serve refuses bad $name");
    like($res->{output}, $re, "the message names $name");
}

unlike($authd->run({ AUTHD_KEY_PASSPHRASE => 'tiny-pass' }, 'serve')
    ->{output}, qr/tiny-pass/, 'the bad passphrase is not shown');

# a listening address already taken: serve stops, naming it

my $taken = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => 0,
    Proto => 'tcp', Listen => 1) or die "bind: $!\n";
my $taken_addr = '127.0.0.1:' . $taken->sockport;

$res = $authd->run({ AUTHD_ADMIN_LISTEN => $taken_addr }, 'serve');

isnt($res->{status}, 0, 'serve stops when its address is taken');
like($res->{output}, qr/MHD_start_daemon\(\) failed on "\Q$taken_addr\E"/,
    'the address is named');

close $taken;

# serve: /healthz on both listeners, with the security headers

$authd->start(no_migrate => 1);

my $http = $authd->http;

for my $url ($authd->url('/healthz'), $authd->admin_url('/healthz')) {
    $res = $http->get($url);

    is($res->{status}, 200, "$url answers");
    is_deeply(decode_json($res->{content}), { status => 'ok' },
        "$url says ok");
}


sub security_headers {
    my ($res, $what) = @_;

    my $h = $res->{headers};

    is($h->{'x-frame-options'}, 'DENY', "$what: X-Frame-Options");
    like($h->{'content-security-policy'} // '',
        qr/(?:^|; )frame-ancestors 'none'(?:;|$)/, "$what: CSP");
    is($h->{'x-content-type-options'}, 'nosniff',
        "$what: X-Content-Type-Options");
    is($h->{'referrer-policy'}, 'no-referrer', "$what: Referrer-Policy");
    is($h->{'cache-control'}, 'no-store', "$what: Cache-Control");
}

security_headers($http->get($authd->url('/healthz')), 'public 200');
security_headers($http->get($authd->admin_url('/healthz')), 'admin 200');

$res = $http->get($authd->url('/nowhere'));
is($res->{status}, 404, 'an unknown path is 404');
security_headers($res, '404');

$res = $http->request('DELETE', $authd->url('/healthz'));
is($res->{status}, 405, 'another method is 405');
is($res->{headers}{allow}, 'GET', 'with the methods allowed');
security_headers($res, '405');

# the body limit: announced, or found while reading a chunked body

my $small = 'a=' . ('b' x 500);
my $big = 'a=' . ('b' x 2000);

$res = $http->post($authd->url('/healthz'), {
    headers => { 'content-type' => 'application/x-www-form-urlencoded' },
    content => $small,
});
is($res->{status}, 405, 'a body under the limit is read');

$res = $http->post($authd->url('/healthz'), {
    headers => { 'content-type' => 'application/x-www-form-urlencoded' },
    content => $big,
});
is($res->{status}, 413, 'a body over the limit is 413');
security_headers($res, '413');

my @chunks = (('b' x 400) x 5);

$res = $http->post($authd->url('/healthz'), {
    content => sub { shift @chunks },
});
is($res->{status}, 413, 'a chunked body over the limit is 413');

@chunks = (('b' x 400) x 2);

$res = $http->post($authd->url('/healthz'), {
    content => sub { shift @chunks },
});
is($res->{status}, 405, 'a chunked body under the limit is read');

# the access line: path without the query string

$res = $http->get($authd->url('/healthz?state=s3cr3t-value&x=1'));
is($res->{status}, 200, 'a query string is accepted');

my @access = grep { m{ GET /healthz } } split /\n/, $authd->log;

ok(@access > 0, 'requests have access lines');
like($access[-1],
    qr/ info req=[0-9a-f]{32} GET \/healthz 200 \d+ms client_id=-$/,
    'access line format');
unlike($authd->log, qr/s3cr3t|\?/, 'no query string in the log');

is_deeply([ $authd->error_lines ], [], 'no error in the log so far');

# a PostgreSQL restart: authd recovers without a restart of its own

$pg->restart;

$res = $http->get($authd->url('/healthz'));
is($res->{status}, 200, '/healthz after a PostgreSQL restart');
like($authd->log, qr/database connection reset/, 'the connection was reset');

$pg->stop;

$res = $http->get($authd->url('/healthz'));
is($res->{status}, 503, '/healthz while PostgreSQL is down');
is_deeply(decode_json($res->{content}), { status => 'unavailable' },
    'says unavailable');

$pg->start;

$res = $http->get($authd->url('/healthz'));
is($res->{status}, 200, '/healthz once PostgreSQL is back');
$res = $http->get($authd->admin_url('/healthz'));
is($res->{status}, 200, 'admin /healthz once PostgreSQL is back');

# SIGTERM stops it cleanly

is($authd->stop, 0, 'serve exits 0 on SIGTERM');
like($authd->log, qr/ info req=- stopped$/m, 'and says so');

done_testing();

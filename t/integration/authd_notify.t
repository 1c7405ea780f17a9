#!/usr/bin/perl

# Two authd sidecars on one PostgreSQL, each writing its own gateway's
# policy file: a change made through one (a resource type through the
# admin API, a revocation) reaches the other's file within about a second,
# announced on the authd_policy channel; and still does after PostgreSQL
# restarts.
#
# Needs root (the cluster runs as postgres) and the built authd.

use strict;
use warnings;

use FindBin;
use JSON::PP;
use MIME::Base64 qw(encode_base64);
use Test::More;
use Time::HiRes qw(sleep time);

use lib "$FindBin::Bin/../lib";
use BB::Authd;


plan skip_all => 'needs root to run PostgreSQL as postgres' if $> != 0;

my $JSON = JSON::PP->new->utf8->canonical;
my $ADMIN_PASSWORD = 'notify admin password';

my $a = BB::Authd->new(name => 'authd_notify_a');
my $b = BB::Authd->new(name => 'authd_notify_b', pg => $a->pg);

$a->start;
$b->start;

my $res = $a->run({ AUTHD_ADMIN_PASSWORD => $ADMIN_PASSWORD },
    'create-admin', 'root');
is($res->{status}, 0, 'an admin is made') or diag($res->{output});


sub policy {
    my ($authd) = @_;

    open my $fh, '<', $authd->dir . '/policy.json' or return undef;
    local $/;
    my $doc = eval { $JSON->decode(<$fh>) };

    return $doc;
}


# Wait up to 3 s for the document to satisfy the check; the seconds taken,
# or undef.

sub within {
    my ($authd, $check) = @_;

    my $start = time;

    while (time - $start < 3) {
        my $doc = policy($authd);

        return time - $start if $doc && $check->($doc);
        sleep 0.05;
    }

    return undef;
}


sub admin {
    my ($authd, $method, $path, $body) = @_;

    return $authd->http->request($method, $authd->admin_url($path), {
        headers => {
            Authorization  => 'Basic '
                . encode_base64("root:$ADMIN_PASSWORD", ''),
            'Content-Type' => 'application/json',
        },
        (defined $body ? (content => $JSON->encode($body)) : ()),
    });
}


# no key yet, so no policy; the first key, made through A, reaches both

ok(!defined policy($b), 'no policy before there is a key');

$res = admin($a, POST => '/admin/v1/keys/rotate');
ok($res->{status} == 200 || $res->{status} == 201, 'a key made through A')
    or diag("$res->{status} $res->{content}");

ok(defined within($a, sub { @{ $_[0]{keys}{keys} } == 1 }),
    'A wrote its policy with the key');
ok(defined within($b, sub { @{ $_[0]{keys}{keys} } == 1 }),
    'B wrote its policy with the key');
is((policy($b) // {})->{keys}{keys}[0]{kid},
    (policy($a) // {})->{keys}{keys}[0]{kid}, 'the same key in both');

# a resource type added through A reaches B's file

$res = admin($a, PUT => '/admin/v1/resource-types/Coverage', {
    interactions => ['read', 'search'], override_search => JSON::PP::true,
    search_add => ['beneficiary=Patient/%PATIENT%'],
    patient_reference => 'beneficiary' });
is($res->{status}, 201, 'Coverage created through A') or diag($res->{content});

ok(defined within($b, sub { exists $_[0]{resource_types}{Coverage} }),
    'B\'s policy has Coverage');

# control: A's own file has it too

ok(defined within($a, sub { exists $_[0]{resource_types}{Coverage} }),
    'A\'s policy has Coverage');

# after PostgreSQL restarts, B listens again

$a->pg->restart;

# the pool and the listener reconnect: give the listener its retry

sleep 1.5;

$res = admin($a, DELETE => '/admin/v1/resource-types/Coverage');
ok($res->{status} == 204 || $res->{status} == 200,
    'Coverage deleted through A after the restart')
    or diag("$res->{status} $res->{content}");

ok(defined within($b, sub { !exists $_[0]{resource_types}{Coverage} }),
    'B\'s policy loses Coverage after the restart');

like($b->log, qr/listening for policy changes on "authd_policy"/,
    'B says it listens');
# the restart shows as a lost connection and refused reconnections only

my @errors = grep { !/policy listener(?: lost|: PQconnectdb)/ }
    $b->error_lines;

is(join("\n", @errors), '', 'B logs no other error');

$a->stop;
$b->stop;

done_testing();

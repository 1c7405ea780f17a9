#!/usr/bin/perl

# Request rewriting at the gateway: which requests reach the upstream, and
# exactly as what.  Ids and searches of patient-linked types are bound to
# the token's patient, widening parameters disappear, the query is one
# canonical form ending in _format=json; unknown types, forbidden
# interactions and hostile paths are refused without calling the upstream.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/../lib";

use Test::More;

use BB::Test qw(error_lines query_pairs);


my $t = BB::Test->new;

$t->keygen(kid => 'k1');

my $CONF = <<'EOF';
daemon off;
master_process on;
worker_processes 1;
pid %%DIR%%/nginx.pid;
error_log %%DIR%%/error.log info;

load_module %%MODULE%%;

events {
    worker_connections 64;
}

http {
    client_body_temp_path %%DIR%%/client_body_temp;
    proxy_temp_path %%DIR%%/proxy_temp;
    fastcgi_temp_path %%DIR%%/fastcgi_temp;
    uwsgi_temp_path %%DIR%%/uwsgi_temp;
    scgi_temp_path %%DIR%%/scgi_temp;

    access_log %%DIR%%/access.log;

    # long enough for the over-long URI to reach the module
    large_client_header_buffers 4 16k;

    bluebutton_policy %%POLICY%%;

    server {
        listen 127.0.0.1:%%PORT%%;
        server_name localhost;

        location /v1/fhir/ {
            bluebutton on;
            bluebutton_upstream_base http://127.0.0.1:%%UPSTREAM_PORT%%/fhir;
            bluebutton_public_base http://127.0.0.1:%%PORT%%/v1/fhir;

            # the module rewrites Location itself
            proxy_redirect off;
            proxy_pass http://127.0.0.1:%%UPSTREAM_PORT%%/fhir/;
        }
    }
}
EOF

$t->write_policy($t->policy);
$t->start($CONF);


my $SCOPE = 'patient/Patient.rs patient/ExplanationOfBenefit.rs '
    . 'patient/Coverage.cruds';

my $p1 = $t->mint(scope => $SCOPE);
my $nopatient = $t->mint(scope => $SCOPE, patient => undef);


# The contract fixes the parameters the upstream receives and their order
# (the client's kept ones, then the type's search_add, then _format=json),
# and that the query is percent-encoded canonically; it leaves open which
# safe characters stay unencoded.  A query is checked as its decoded pairs,
# plus the bytes it may hold: '&' and '=' only as separators, no '+', ';',
# '#', space or quote, '%' only before two hex digits.  ('|', FHIR's token
# separator, is allowed raw: FHIR servers read it so.)

sub query {
    my (@pairs) = @_;

    return \@pairs;
}


sub check_query {
    my ($name, $raw, $pairs) = @_;

    is_deeply(query_pairs($raw), $pairs, "$name: upstream parameters");
    like($raw // '', qr/^(?:[A-Za-z0-9\-._~:,|\/*@!\$&=]|%[0-9A-F]{2})*$/,
        "$name: upstream query canonically encoded");
}


sub request {
    my ($method, $path, $token, $body, %headers) = @_;

    $headers{Authorization} = "Bearer $token" if defined $token;

    $t->clear_upstream_log;

    return $t->http($method, $path, \%headers, $body);
}


# A request the gateway must forward: the client status and the one exact
# request the upstream received.

sub forwarded {
    my ($name, $method, $path, $expect, %opt) = @_;

    my $res = request($method, $path, $opt{token} // $p1, $opt{body},
        %{ $opt{headers} // {} });

    is($res->{status}, $opt{status} // 200,
        "$name: " . ($opt{status} // 200));

    my $req = $t->upstream_one($name) // {};

    is($req->{method}, $method, "$name: upstream method");

    if (ref $expect) {
        my ($upath, $pairs) = @$expect;

        is($req->{uri_path}, $upath, "$name: upstream path");
        check_query($name, $req->{query}, $pairs);

    } else {
        is($req->{path}, $expect, "$name: upstream target");
    }

    return ($res, $req);
}


# A request the gateway must answer itself: status, an OperationOutcome,
# nothing forwarded.

sub refused {
    my ($name, $res, $status) = @_;

    is($res->{status}, $status, "$name: $status");
    like($res->{headers}{'content-type'} // '', qr{^application/fhir\+json},
        "$name: FHIR JSON body");
    is(($res->{json} // {})->{resourceType}, 'OperationOutcome',
        "$name: OperationOutcome");
    $t->upstream_saw_nothing($name);
}


# Ids of Patient are the token's patient.

my $mark = $t->log_mark;

forwarded('Patient read of another id', GET => '/v1/fhir/Patient/p2',
    '/fhir/Patient/p1?_format=json');
forwarded('Patient read of the own id', GET => '/v1/fhir/Patient/p1',
    '/fhir/Patient/p1?_format=json');
forwarded('Patient vread of another id',
    GET => '/v1/fhir/Patient/p2/_history/1',
    '/fhir/Patient/p1/_history/1?_format=json');
forwarded('Patient history of another id',
    GET => '/v1/fhir/Patient/p2/_history',
    '/fhir/Patient/p1/_history?_format=json');
forwarded('Patient read with _format=xml',
    GET => '/v1/fhir/Patient/p1?_format=xml',
    '/fhir/Patient/p1?_format=json');

is(join("\n", error_lines($t->log_since($mark))), '',
    'Patient reads: error log clean');


# Searches are bound to the patient; the client's own patient parameters,
# in every spelling, go.

forwarded('Patient search without parameters', GET => '/v1/fhir/Patient',
    [ '/fhir/Patient', query([ _id => 'p1' ], [ _format => 'json' ]) ]);

forwarded('Patient search with another _id',
    GET => '/v1/fhir/Patient?_id=p2&name=smith',
    [ '/fhir/Patient', query([ name => 'smith' ], [ _id => 'p1' ],
                             [ _format => 'json' ]) ]);

forwarded('EOB search with patient parameters in every spelling',
    GET => '/v1/fhir/ExplanationOfBenefit?patient=p2&type=carrier'
        . '&Patient=p2&pat%69ent=p2&patient:missing=true'
        . '&patient.identifier=x&patient=p3&_count=10',
    [ '/fhir/ExplanationOfBenefit',
      query([ type => 'carrier' ], [ _count => '10' ], [ patient => 'p1' ],
            [ _format => 'json' ]) ]);

forwarded('EOB search with widening parameters',
    GET => '/v1/fhir/ExplanationOfBenefit'
        . '?_include=ExplanationOfBenefit:patient'
        . '&_revinclude=Provenance:target&_has:Coverage:beneficiary:status=a'
        . '&_filter=status%20eq%20active&_contained=true'
        . '&_containedType=contained&type=carrier',
    [ '/fhir/ExplanationOfBenefit',
      query([ type => 'carrier' ], [ patient => 'p1' ],
            [ _format => 'json' ]) ]);

{
    my $name = 'value holding encoded = and &';
    my (undef, $req) = forwarded($name,
        GET => '/v1/fhir/ExplanationOfBenefit?type=a%3Db%26c',
        '/fhir/ExplanationOfBenefit?type=a%3Db%26c&patient=p1&_format=json');

    is_deeply(query_pairs($req->{query}),
        [ [ type => 'a=b&c' ], [ patient => 'p1' ], [ _format => 'json' ] ],
        "$name: one parameter, value whole");
}

forwarded('search with _format=xml',
    GET => '/v1/fhir/ExplanationOfBenefit?_format=xml&type=carrier'
        . '&_format=json',
    '/fhir/ExplanationOfBenefit?type=carrier&patient=p1&_format=json');

forwarded('Coverage search with another beneficiary',
    GET => '/v1/fhir/Coverage?beneficiary=Patient/p2&status=active',
    [ '/fhir/Coverage', query([ status => 'active' ],
                              [ beneficiary => 'Patient/p1' ],
                              [ _format => 'json' ]) ]);


# POST _search: the form body is judged and rewritten like a query.

{
    my $name = 'POST EOB/_search with another patient';
    my ($res, $req) = forwarded($name,
        POST => '/v1/fhir/ExplanationOfBenefit/_search',
        '/fhir/ExplanationOfBenefit/_search',
        body    => 'patient=p2&type=carrier&_include=x&pat%69ent=p3',
        headers => { 'Content-Type' => 'application/x-www-form-urlencoded' });

    # the parameters, _format=json among them, travel in the body alone

    is($req->{body}, 'type=carrier&patient=p1&_format=json',
        "$name: canonical form body");
    is($req->{headers}{'content-length'}, length($req->{body} // ''),
        "$name: Content-Length of the new body");
    like($req->{headers}{'content-type'} // '',
        qr{^application/x-www-form-urlencoded}, "$name: Content-Type kept");
}

{
    my $name = 'POST EOB/_search with parameters in the query too';
    my (undef, $req) = forwarded($name,
        POST => '/v1/fhir/ExplanationOfBenefit/_search?type=carrier&patient=p2',
        '/fhir/ExplanationOfBenefit/_search',
        body    => '_count=5',
        headers => { 'Content-Type' =>
                     'application/x-www-form-urlencoded; charset=UTF-8' });

    # which of query and body comes first is left open; the patient and
    # _format=json close the list

    my $pairs = query_pairs($req->{body});
    my @client = sort { $a->[0] cmp $b->[0] } @$pairs[0 .. $#$pairs - 2];

    is_deeply(\@client, [ [ _count => '5' ], [ type => 'carrier' ] ],
        "$name: the client's parameters from both");
    is_deeply([ @$pairs[-2, -1] ], [ [ patient => 'p1' ], [ _format => 'json' ] ],
        "$name: patient and _format=json last");
}

for my $type ('application/json', 'text/plain') {
    my $name = "POST EOB/_search with Content-Type $type";

    refused($name, request(POST => '/v1/fhir/ExplanationOfBenefit/_search',
        $p1, 'patient=p2', 'Content-Type' => $type), 415);
}


# Refusals: unknown or miscased types 404, interactions the policy does
# not allow 403, methods a path never takes 405.

for my $case (
    [ 'type not in the policy', GET => '/v1/fhir/Observation', 404 ],
    [ 'read of a type not in the policy', GET => '/v1/fhir/Observation/o1',
      404 ],
    [ 'unknown type', GET => '/v1/fhir/Foo/1', 404 ],
    [ 'type in lower case', GET => '/v1/fhir/patient/p1', 404 ],
    [ 'type in upper case', GET => '/v1/fhir/PATIENT', 404 ],
    [ 'Coverage history (not allowed)',
      GET => '/v1/fhir/Coverage/cov-1/_history', 403 ],
    [ 'Coverage vread (not allowed)',
      GET => '/v1/fhir/Coverage/cov-1/_history/1', 403 ],
    [ 'DELETE Coverage (not allowed)', DELETE => '/v1/fhir/Coverage/cov-1',
      403 ],
    [ 'PUT Coverage (not allowed)', PUT => '/v1/fhir/Coverage/cov-1', 403,
      '{"resourceType":"Coverage","id":"cov-1"}' ],
    [ 'POST Coverage (not allowed)', POST => '/v1/fhir/Coverage', 403,
      '{"resourceType":"Coverage"}' ],
    [ 'PATCH Coverage/id', PATCH => '/v1/fhir/Coverage/cov-1', 405, '[]' ],
    [ 'POST Coverage/id', POST => '/v1/fhir/Coverage/cov-1', 405, '{}' ],
) {
    my ($name, $method, $path, $status, $body) = @$case;

    refused($name, request($method, $path, $p1, $body,
        defined $body ? ('Content-Type' => 'application/fhir+json') : ()),
        $status);
}


# Hostile paths: 400, nothing forwarded.  Written byte for byte.

for my $case (
    [ 'encoded slash and dot-dot', '/v1/fhir/Patient/..%2FCoverage' ],
    [ 'encoded slash in the id', '/v1/fhir/Patient/p1%2Fx' ],
    [ 'dot-dot segment', '/v1/fhir/Patient/../Coverage/cov-2' ],
    [ 'dot segment', '/v1/fhir/Patient/./p1' ],
    [ 'empty segment after the base', '/v1/fhir//Patient/p1' ],
    [ 'empty segment inside', '/v1/fhir/Patient//p1' ],
    [ 'semicolon', '/v1/fhir/Patient/p1;x=y' ],
    [ 'encoded NUL', '/v1/fhir/Patient/p1%00' ],
    [ 'encoded control character', '/v1/fhir/Patient/p1%01' ],
    [ 'raw control character', "/v1/fhir/Patient/p\x01" ],
    [ 'backslash', '/v1/fhir/Patient/p1\\x' ],
    [ 'over-long URI',
      '/v1/fhir/ExplanationOfBenefit?type=' . ('a' x 2100) ],
) {
    my ($name, $target) = @$case;

    $t->clear_upstream_log;

    my $res = $t->raw_get($target, $p1);

    is($res->{status}, 400, "hostile path, $name: 400");
    $t->upstream_saw_nothing("hostile path, $name");
}

{
    my $name = 'long URI under the limit';
    my $type = 'a' x 1500;

    $t->clear_upstream_log;

    my $res = $t->raw_get("/v1/fhir/ExplanationOfBenefit?type=$type", $p1);

    is($res->{status}, 200, "$name: 200");
    is(($t->upstream_one($name) // {})->{path},
        "/fhir/ExplanationOfBenefit?type=$type&patient=p1&_format=json",
        "$name: upstream target");
}


# A token without a patient claim gets nothing of a patient-bound type.

for my $case (
    [ 'Patient read', '/v1/fhir/Patient/p1' ],
    [ 'Patient search', '/v1/fhir/Patient' ],
    [ 'EOB search', '/v1/fhir/ExplanationOfBenefit' ],
    [ 'Coverage search', '/v1/fhir/Coverage' ],
) {
    my ($name, $path) = @$case;

    refused("$name without patient claim", request(GET => $path, $nopatient),
        403);
}


# Reads of patient-linked types: a resource of another patient is not
# found, although the upstream was asked.

for my $case (
    [ 'ExplanationOfBenefit', 'eob-1', 'eob-2', 'patient' ],
    [ 'Coverage', 'cov-1', 'cov-2', 'beneficiary' ],
) {
    my ($type, $own, $other, $field) = @$case;

    my ($res) = forwarded("$type read of the patient's own", GET =>
        "/v1/fhir/$type/$own", "/fhir/$type/$own?_format=json");

    is($res->{json}{id}, $own, "$type/$own: the resource");
    is($res->{json}{$field}{reference}, 'Patient/p1', "$type/$own: p1's");

    ($res) = forwarded("$type read of another patient's", GET =>
        "/v1/fhir/$type/$other", "/fhir/$type/$other?_format=json",
        status => 404);

    is(($res->{json} // {})->{resourceType}, 'OperationOutcome',
        "$type/$other: OperationOutcome");
    unlike($res->{body}, qr/Patient\/p2|claim-\Q$other\E|"$type"/,
        "$type/$other: nothing of the resource in the answer");
}

forwarded('EOB read of an id the upstream does not know',
    GET => '/v1/fhir/ExplanationOfBenefit/eob-9',
    '/fhir/ExplanationOfBenefit/eob-9?_format=json', status => 404);


# The other per-type controls, with a policy that uses them: an id that is
# not the token's patient is not found; EOB refuses a blocked parameter and
# widening parameters other than the one it allows; Coverage keeps only the
# parameters its allowlist names (and those shaping the result).

{
    my $policy = $t->policy;
    my $types = $policy->{resource_types};

    $types->{Patient}{url_id_mismatch} = 'not_found';
    $types->{ExplanationOfBenefit}{search_block} = ['provider'];
    $types->{ExplanationOfBenefit}{search_action} = 'refuse';
    $types->{ExplanationOfBenefit}{widening_allow} = ['_include'];
    $types->{Coverage}{search_allow} = [ 'status', '_lastUpdated' ];

    $t->write_policy($policy);
    $t->start($CONF);
}

refused('not_found: Patient read of another id',
    request(GET => '/v1/fhir/Patient/p2', $p1), 404);

forwarded('not_found: Patient read of the own id', GET => '/v1/fhir/Patient/p1',
    '/fhir/Patient/p1?_format=json');

refused('search_action refuse: blocked parameter',
    request(GET => '/v1/fhir/ExplanationOfBenefit?provider=x&type=carrier',
            $p1), 400);

refused('search_action refuse: widening parameter not allowed',
    request(GET => '/v1/fhir/ExplanationOfBenefit?_revinclude=Provenance:x',
            $p1), 400);

forwarded('widening_allow',
    GET => '/v1/fhir/ExplanationOfBenefit'
        . '?_include=ExplanationOfBenefit:provider&type=carrier',
    [ '/fhir/ExplanationOfBenefit',
      query([ _include => 'ExplanationOfBenefit:provider' ],
            [ type => 'carrier' ], [ patient => 'p1' ],
            [ _format => 'json' ]) ]);

forwarded('search_allow',
    GET => '/v1/fhir/Coverage?status=active&payor=org-1&_count=5',
    [ '/fhir/Coverage', query([ status => 'active' ], [ _count => '5' ],
                              [ beneficiary => 'Patient/p1' ],
                              [ _format => 'json' ]) ]);

is(join("\n", error_lines($t->error_log)), '',
    'no error, crit, alert or emerg line in the whole error log');

done_testing;

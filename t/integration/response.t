#!/usr/bin/perl

# Responses through the gateway: backend URLs become public ones in JSON,
# XML and the Location headers (at URL boundaries only, also when the
# upstream compresses), upstream failures become a 502 OperationOutcome, the
# CapabilityStatement is filtered to the policy, and the SMART configuration
# is served without a token or an upstream call.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/../lib";

use Test::More;

use BB::Test qw(error_lines);


my $t = BB::Test->new(slow => 4);

$t->keygen(kid => 'k1');
$t->write_policy($t->policy);
$t->set_var(CLOSED_PORT => BB::Test::free_port());

$t->start(<<'EOF');
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

    bluebutton_policy %%POLICY%%;

    server {
        listen 127.0.0.1:%%PORT%%;
        server_name localhost;

        location /v1/fhir/ {
            bluebutton on;
            bluebutton_upstream_base http://127.0.0.1:%%UPSTREAM_PORT%%/fhir;
            bluebutton_public_base http://127.0.0.1:%%PORT%%/v1/fhir;
            bluebutton_smart_authorize_url https://auth.test/authorize;
            bluebutton_smart_token_url https://auth.test/token;
            bluebutton_smart_revoke_url https://auth.test/revoke;
            bluebutton_smart_introspect_url https://auth.test/introspect;

            # the module rewrites Location itself
            proxy_redirect off;
            proxy_read_timeout 2s;
            proxy_pass http://127.0.0.1:%%UPSTREAM_PORT%%/fhir/;
        }

        # the same gateway in front of a port nobody listens on
        location /down/fhir/ {
            bluebutton on;
            bluebutton_upstream_base http://127.0.0.1:%%CLOSED_PORT%%/fhir;
            bluebutton_public_base http://127.0.0.1:%%PORT%%/down/fhir;

            proxy_redirect off;
            proxy_pass http://127.0.0.1:%%CLOSED_PORT%%/fhir/;
        }
    }
}
EOF


my $PUBLIC = $t->public_base;
my $BACKEND = $t->upstream_base;
my $OUTSIDE = 'http://127.0.0.1:' . $t->upstream_port . '/fhirX';
my $AUTH = 'https://auth.test';


sub get {
    my ($path, $patient, %headers) = @_;

    $headers{Authorization} = 'Bearer ' . $t->mint(patient => $patient)
        if defined $patient;

    $t->clear_upstream_log;

    return $t->http(GET => $path, \%headers);
}


# No backend URL may be left, at a boundary or not; the /fhirX/ one must
# stay as it was.

sub rewritten {
    my ($name, $res, $outside) = @_;

    my @left = $res->{body} =~ m{\Q$BACKEND\E(?!X)}g;

    is(scalar @left, 0, "$name: no backend URL left");

    if ($outside) {
        like($res->{body}, qr{\Q$OUTSIDE\E/identifier/},
            "$name: the /fhirX/ URL untouched");
    }

    if (defined $res->{headers}{'content-length'}) {
        is($res->{headers}{'content-length'}, length $res->{body},
            "$name: Content-Length of the rewritten body");
    }
}


sub bad_gateway {
    my ($name, $res) = @_;

    is($res->{status}, 502, "$name: 502");
    like($res->{headers}{'content-type'} // '', qr{^application/fhir\+json},
        "$name: FHIR JSON body");
    is(($res->{json} // {})->{resourceType}, 'OperationOutcome',
        "$name: OperationOutcome");
    is((($res->{json} // {})->{issue} // [{}])->[0]{severity}, 'error',
        "$name: severity error");
}


sub upstream_target {
    my ($name, $expect) = @_;

    is(($t->upstream_one($name) // {})->{path}, $expect,
        "$name: upstream target");
}


# JSON: body, Location, Content-Location.

{
    my $name = 'JSON read';
    my $mark = $t->log_mark;
    my $res = get('/v1/fhir/Patient/p1', 'p1');

    is($res->{status}, 200, "$name: 200");
    upstream_target($name, '/fhir/Patient/p1?_format=json');
    is($res->{json}{link}[0]{other}{reference}, "$PUBLIC/Patient/p1",
        "$name: reference in the body rewritten");
    is($res->{json}{identifier}[0]{system}, "$OUTSIDE/identifier/mbi",
        "$name: /fhirX/ system untouched");
    is($res->{headers}{location}, "$PUBLIC/Patient/p1/_history/1",
        "$name: Location rewritten");
    is($res->{headers}{'content-location'}, "$PUBLIC/Patient/p1",
        "$name: Content-Location rewritten");
    rewritten($name, $res, 1);

    is(join("\n", error_lines($t->log_since($mark))), '',
        "$name: error log clean");
}

{
    my $name = 'JSON search Bundle';
    my $res = get('/v1/fhir/ExplanationOfBenefit?type=carrier', 'p1');

    is($res->{status}, 200, "$name: 200");
    upstream_target($name,
        '/fhir/ExplanationOfBenefit?type=carrier&patient=p1&_format=json');
    is($res->{json}{link}[0]{url},
        "$PUBLIC/ExplanationOfBenefit?type=carrier&patient=p1&_format=json",
        "$name: self link rewritten");
    is($res->{json}{entry}[0]{fullUrl}, "$PUBLIC/ExplanationOfBenefit/eob-1",
        "$name: fullUrl rewritten");
    is($res->{json}{entry}[0]{resource}{extension}[0]{url},
        "$PUBLIC/StructureDefinition/x", "$name: extension url rewritten");
    rewritten($name, $res, 1);
}


# XML bodies are rewritten too.

{
    my $name = 'XML read';
    my $res = get('/v1/fhir/Patient/xml', 'xml');

    is($res->{status}, 200, "$name: 200");
    upstream_target($name, '/fhir/Patient/xml?_format=json');
    like($res->{headers}{'content-type'} // '', qr{^application/fhir\+xml},
        "$name: still XML");
    like($res->{body}, qr{<reference value="\Q$PUBLIC\E/Patient/xml"/>},
        "$name: reference rewritten");
    is($res->{headers}{location}, "$PUBLIC/Patient/xml/_history/1",
        "$name: Location rewritten");
    rewritten($name, $res, 1);
}


# A compressed answer the gateway did not ask for is inflated, checked and
# rewritten.

for my $type (qw(Patient ExplanationOfBenefit)) {
    my $name = "gzip-compressed $type read";

    # Patient ids are the token's patient; EOB gz belongs to p1

    my $res = get("/v1/fhir/$type/gz", $type eq 'Patient' ? 'gz' : 'p1',
        'Accept-Encoding' => 'identity');

    is($res->{status}, 200, "$name: 200");
    upstream_target($name, "/fhir/$type/gz?_format=json");
    ok(!defined $res->{headers}{'content-encoding'},
        "$name: sent uncompressed");
    is(($res->{json} // {})->{id}, 'gz', "$name: the resource");
    is($res->{headers}{'content-location'}, "$PUBLIC/$type/gz",
        "$name: Content-Location rewritten");
    rewritten($name, $res, 1);
}


# Upstream failures: 502 OperationOutcome.

{
    my $name = 'upstream 500';
    my $res = get('/v1/fhir/ExplanationOfBenefit/boom', 'p1');

    bad_gateway($name, $res);
    upstream_target($name, '/fhir/ExplanationOfBenefit/boom?_format=json');
    unlike($res->{body}, qr/simulated failure/,
        "$name: the upstream's outcome not passed on");
}

{
    my $name = 'upstream down';

    bad_gateway($name, get('/down/fhir/Patient/p1', 'p1'));
}

{
    my $name = 'upstream timeout';
    my $mark = $t->log_mark;
    my $res = get('/v1/fhir/ExplanationOfBenefit/slow', 'p1');

    # the upstream would have answered 200: the 502 is the read timeout's

    bad_gateway($name, $res);
    upstream_target($name, '/fhir/ExplanationOfBenefit/slow?_format=json');
    like($t->log_since($mark), qr/upstream timed out/,
        "$name: nginx says the upstream timed out");
}


# The CapabilityStatement: no token needed; only the policy's types, their
# allowed interactions, no system-level ones, and the SMART endpoints.

{
    my $name = 'metadata';
    my $res = get('/v1/fhir/metadata');

    is($res->{status}, 200, "$name: 200 without a token");

    my $req = $t->upstream_one($name) // {};

    is($req->{method}, 'GET', "$name: upstream method");

    # the contract fixes the path; it leaves the query open

    like($req->{path} // '', qr{^/fhir/metadata(\?_format=json)?$},
        "$name: upstream target");
    ok(!exists $req->{headers}{authorization}, "$name: no Authorization");

    my $cs = $res->{json} // {};
    my $rest = $cs->{rest}[0] // {};
    my %types = map { $_->{type} => [ sort map { $_->{code} }
                                      @{ $_->{interaction} // [] } ] }
        @{ $rest->{resource} // [] };

    is($cs->{resourceType}, 'CapabilityStatement', "$name: resourceType");
    is_deeply([ sort keys %types ],
        [qw(Coverage ExplanationOfBenefit Patient)], "$name: policy types");
    is_deeply($types{ExplanationOfBenefit}, [qw(read search-type)],
        "$name: ExplanationOfBenefit interactions");
    is_deeply($types{Coverage}, [qw(read search-type)],
        "$name: Coverage interactions");

    # "history" in the policy may appear as instance and type history

    my @patient = grep { $_ ne 'history-type' } @{ $types{Patient} // [] };

    is_deeply(\@patient, [qw(history-instance read search-type vread)],
        "$name: Patient interactions");
    ok(!@{ $rest->{interaction} // [] }, "$name: no system interactions");
    ok(!@{ $rest->{operation} // [] }, "$name: no system operations");

    my ($oauth) = grep {
        ($_->{url} // '') eq
            'http://fhir-registry.smarthealthit.org/StructureDefinition/'
            . 'oauth-uris'
    } @{ $rest->{security}{extension} // [] };
    my %uris = map { $_->{url} => $_->{valueUri} }
        @{ ($oauth // {})->{extension} // [] };

    ok($oauth, "$name: SMART oauth-uris extension");
    is($uris{authorize}, "$AUTH/authorize", "$name: authorize URL");
    is($uris{token}, "$AUTH/token", "$name: token URL");
    is($uris{revoke}, "$AUTH/revoke", "$name: revoke URL");
    is($uris{introspect}, "$AUTH/introspect", "$name: introspect URL");
    is($cs->{implementation}{url}, $PUBLIC, "$name: implementation url");
    rewritten($name, $res, 0);
}

{
    my $name = 'smart-configuration';
    my $res = get('/v1/fhir/.well-known/smart-configuration');

    is($res->{status}, 200, "$name: 200 without a token");
    like($res->{headers}{'content-type'} // '', qr{^application/json},
        "$name: JSON");

    my $doc = $res->{json} // {};

    is($doc->{authorization_endpoint}, "$AUTH/authorize",
        "$name: authorization_endpoint");
    is($doc->{token_endpoint}, "$AUTH/token", "$name: token_endpoint");
    is($doc->{revocation_endpoint}, "$AUTH/revoke",
        "$name: revocation_endpoint");
    is($doc->{introspection_endpoint}, "$AUTH/introspect",
        "$name: introspection_endpoint");
    $t->upstream_saw_nothing($name);
}

# the failures above log errors; none of them may crash a worker

is(join("\n", grep { /\[(crit|alert|emerg)\]/ } split /\n/, $t->error_log),
    '', 'no crit, alert or emerg line in the whole error log');

done_testing;

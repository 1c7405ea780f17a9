#!/usr/bin/perl

# The access decision is taken once per request.  After an internal
# redirect (here error_page on an upstream failure) the module neither
# verifies the token again nor re-decides on the original request line:
# the decision and its response checks stay those of the first pass.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/../lib";

use Test::More;

use BB::Test qw(error_lines);


my $t = BB::Test->new;

$t->keygen(kid => 'k1');
$t->write_policy($t->policy);

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

    log_format decided '$request_uri $uri $bluebutton_patient '
                       '$bluebutton_client_id';
    access_log %%DIR%%/access.log decided;

    bluebutton_policy %%POLICY%%;

    server {
        listen 127.0.0.1:%%PORT%%;
        server_name localhost;

        # on in the server: the redirect target is guarded as well
        bluebutton on;
        bluebutton_upstream_base http://127.0.0.1:%%UPSTREAM_PORT%%/fhir;
        bluebutton_public_base http://127.0.0.1:%%PORT%%/v1/fhir;

        location /v1/fhir/ {
            proxy_redirect off;
            proxy_intercept_errors on;
            error_page 500 = /v1/fhir/Patient/fallback;
            proxy_pass http://127.0.0.1:%%UPSTREAM_PORT%%/fhir/;
        }
    }
}
EOF


my $token = $t->mint(patient => 'p1');

$t->clear_upstream_log;

my $mark = $t->log_mark;
my $res = $t->http(GET => '/v1/fhir/ExplanationOfBenefit/boom',
    { Authorization => "Bearer $token" });

# the first pass forwards the rewritten read; the redirect target goes as
# nginx names it, not re-decided from the original request line (which
# would send the EOB read again) nor rewritten as a new request (which
# would override the Patient id with p1)

my @seen = map { "$_->{method} $_->{path}" } @{ $t->upstream_requests };

is_deeply(\@seen, [
    'GET /fhir/ExplanationOfBenefit/boom?_format=json',
    'GET /fhir/Patient/fallback',
], 'upstream saw the read, then the redirect target as it is');

# the response check of the first decision still holds: the Patient
# resource names no ExplanationOfBenefit patient, so nothing is shown

is($res->{status}, 404, 'redirected answer withheld: 404');
is(($res->{json} // {})->{resourceType}, 'OperationOutcome',
    'withheld with an OperationOutcome');
unlike($res->{body}, qr/fallback/, 'nothing of the resource shown');

# the claims of the one verification are still there after the redirect;
# nginx writes the access line after the response, so wait for it

my $access = '';

for (1 .. 40) {
    $access = $t->access_log;
    last if $access ne '';
    select(undef, undef, undef, 0.05);
}

like($access,
    qr{^/v1/fhir/ExplanationOfBenefit/boom /v1/fhir/Patient/fallback p1 }m,
    'variables survive the internal redirect');

my $log = $t->log_since($mark);

is(scalar(() = $log =~ /bluebutton refused/g), 0,
    'no second decision logged');
is(join("\n", grep { !/withheld/ } error_lines($log)), '',
    'error log clean but for the withheld resource');
unlike($log, qr/\Q$token\E/, 'error log does not hold the token');

done_testing();

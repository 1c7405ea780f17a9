#!/usr/bin/perl

# Access tokens at the gateway: what a request without one, with a bad one,
# or with one lacking the scope gets back, what reaches the upstream, what is
# logged (the reason, never the token), the request variables, and a
# revocation that must win over the token cache.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/../lib";

use Crypt::PK::ECC;
use Digest::SHA qw(hmac_sha256);
use Test::More;

use BB::Test qw(b64url b64url_decode error_lines json_encode);


my $t = BB::Test->new;

my $k1 = $t->keygen(kid => 'k1');
my $k2 = $t->keygen(kid => 'k2', alg => 'RS256');
my $k9 = $t->keygen(kid => 'k9', unlisted => 1);
my $impostor = $t->keygen(kid => 'k1', unlisted => 1);

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

    # room for the over-size token to reach the module
    large_client_header_buffers 4 32k;

    log_format bb '$status $uri patient=$bluebutton_patient '
                  'client=$bluebutton_client_id sub=$bluebutton_sub '
                  'jti=$bluebutton_jti scope="$bluebutton_scope"';
    access_log %%DIR%%/access.log bb;

    bluebutton_policy %%POLICY%%;
    bluebutton_policy_check 1s;

    server {
        listen 127.0.0.1:%%PORT%%;
        server_name localhost;

        location /v1/fhir/ {
            bluebutton on;
            bluebutton_upstream_base http://127.0.0.1:%%UPSTREAM_PORT%%/fhir;
            bluebutton_public_base http://127.0.0.1:%%PORT%%/v1/fhir;

            add_header X-BB-Patient $bluebutton_patient always;
            add_header X-BB-Client $bluebutton_client_id always;
            add_header X-BB-Sub $bluebutton_sub always;
            add_header X-BB-Scope $bluebutton_scope always;
            add_header X-BB-Jti $bluebutton_jti always;

            # the module rewrites Location itself
            proxy_redirect off;
            proxy_pass http://127.0.0.1:%%UPSTREAM_PORT%%/fhir/;
        }

        location /pass/fhir/ {
            bluebutton on;
            bluebutton_realm partner;
            bluebutton_pass_authorization on;
            bluebutton_upstream_base http://127.0.0.1:%%UPSTREAM_PORT%%/fhir;
            bluebutton_public_base http://127.0.0.1:%%PORT%%/pass/fhir;

            # the module rewrites Location itself
            proxy_redirect off;
            proxy_pass http://127.0.0.1:%%UPSTREAM_PORT%%/fhir/;
        }
    }
}
EOF


sub get {
    my ($path, $token, %headers) = @_;

    $headers{Authorization} = "Bearer $token" if defined $token;

    return $t->http(GET => $path, \%headers);
}


# The checks every refusal shares: status, an OperationOutcome that does not
# echo the token, nothing forwarded.  Returns the decoded outcome's reason.

sub refused {
    my ($res, $status, $name, $token) = @_;

    is($res->{status}, $status, "$name: $status");
    like($res->{headers}{'content-type'} // '', qr{^application/fhir\+json},
        "$name: FHIR JSON body");

    my $outcome = $res->{json} // {};
    my $issue = $outcome->{issue}[0] // {};

    is($outcome->{resourceType}, 'OperationOutcome',
        "$name: OperationOutcome");
    is($issue->{severity}, 'error', "$name: severity error");
    ok(defined $issue->{code} && length $issue->{code}, "$name: issue code");

    if (defined $token) {
        unlike_token($res->{body}, $token, "$name: body");
    }

    $t->upstream_saw_nothing($name);

    return $issue->{diagnostics};
}


# Neither the token nor any long part of it (a signature, a payload) may
# appear in text.

sub unlike_token {
    my ($text, $token, $name) = @_;

    my @parts = grep { length > 16 } $token, split /\./, $token;
    my @found = grep { index($text, $_) >= 0 } @parts;

    is(scalar @found, 0, "$name does not hold the token");
}


sub check_invalid {
    my ($name, $token, $reason) = @_;

    $t->clear_upstream_log;

    my $mark = $t->log_mark;
    my $res = get('/v1/fhir/Patient/p1', $token);
    my $diag = refused($res, 401, $name, $token);
    my $www = $res->{headers}{'www-authenticate'} // '';

    like($www, qr/^Bearer realm="bluebutton", error="invalid_token", (?x)
                  error_description="[^"]+"$/,
        "$name: WWW-Authenticate invalid_token");

    my ($described) = $www =~ /error_description="([^"]*)"/;

    ok(defined $diag && length $diag, "$name: a reason in the outcome");

    # a quoted-string of RFC 6750 holds no '"' or '\\': the header may
    # carry the reason with those replaced

    (my $quotable = $diag // '') =~ tr/"\\/''/;

    is($described, $quotable, "$name: the same reason in both places");
    like($diag // '', $reason, "$name: reason") if $reason;

    my $log = $t->log_since($mark);
    my @info = grep { /\[info\]/ && index($_, $diag // "\0") >= 0 }
        split /\n/, $log;

    ok(scalar @info, "$name: reason logged at info")
        or diag($log);
    unlike_token($log, $token, "$name: error log");
    is(scalar(error_lines($log)), 0, "$name: nothing logged as an error");
}


# Tokens made by hand, for what no signer would produce.

sub hs256 {
    my ($secret) = @_;

    my $input = b64url(json_encode({ alg => 'HS256', kid => 'k1',
                                     typ => 'at+jwt' }))
        . '.' . b64url(json_encode($t->claims));

    return "$input." . b64url(hmac_sha256($input, $secret));
}


sub es256 {
    my ($header, $payload) = @_;

    my $key = Crypt::PK::ECC->new($k1->{private});
    my $input = b64url($header) . '.' . b64url($payload);

    return "$input." . b64url($key->sign_message_rfc7518($input, 'SHA256'));
}


sub der_signature {
    my ($raw) = @_;

    my $seq = join '', map {
        my $int = $_;

        $int =~ s/^\x00+//;
        $int = "\x00$int" if ord($int) & 0x80;
        "\x02" . chr(length $int) . $int;
    } substr($raw, 0, 32), substr($raw, 32, 32);

    return "\x30" . chr(length $seq) . $seq;
}


sub with_signature {
    my ($token, $sig) = @_;

    my ($h, $p) = split /\./, $token;

    return "$h.$p.$sig";
}


my $now = time;


# The happy path: a valid token reads the token's patient; what the
# upstream receives carries neither the token nor Accept-Encoding, and the
# error log stays clean.

{
    my $name = 'valid ES256 token';
    my $token = $t->mint(jti => 'jti-happy');

    $t->clear_upstream_log;

    my $mark = $t->log_mark;
    my $res = get('/v1/fhir/Patient/p1', $token, 'Accept-Encoding' => 'gzip');

    is($res->{status}, 200, "$name: 200");
    is($res->{json}{resourceType}, 'Patient', "$name: a Patient");
    is($res->{json}{id}, 'p1', "$name: the token's patient");

    my $req = $t->upstream_one($name) // {};

    is($req->{method}, 'GET', "$name: upstream method");
    is($req->{path}, '/fhir/Patient/p1?_format=json', "$name: upstream target");
    ok(!exists $req->{headers}{authorization},
        "$name: Authorization not forwarded");
    ok(!exists $req->{headers}{'accept-encoding'},
        "$name: Accept-Encoding not forwarded");

    is($res->{headers}{'x-bb-patient'}, 'p1', "$name: \$bluebutton_patient");
    is($res->{headers}{'x-bb-client'}, 'client-1',
        "$name: \$bluebutton_client_id");
    is($res->{headers}{'x-bb-sub'}, 'user-1', "$name: \$bluebutton_sub");
    is($res->{headers}{'x-bb-scope'}, BB::Test::default_scope(),
        "$name: \$bluebutton_scope");
    is($res->{headers}{'x-bb-jti'}, 'jti-happy', "$name: \$bluebutton_jti");

    my $log = $t->log_since($mark);

    is(join("\n", error_lines($log)), '', "$name: error log clean");
    unlike_token($log, $token, "$name: error log");

    my $access = '';

    for (1 .. 20) {
        $access = $t->access_log;
        last if $access =~ /jti=jti-happy/;
        select undef, undef, undef, 0.05;
    }

    like($access, qr{^200 /v1/fhir/Patient/p1 patient=p1 client=client-1 (?x)
                     sub=user-1 \s jti=jti-happy \s scope="patient/}m,
        "$name: variables in the access log");
    unlike_token($access, $token, "$name: access log");
}

{
    my $name = 'valid RS256 token';
    my $token = $t->mint(key => $k2);

    $t->clear_upstream_log;

    my $res = get('/v1/fhir/Patient/p1', $token);

    is($res->{status}, 200, "$name: 200");
    is(($t->upstream_one($name) // {})->{path},
        '/fhir/Patient/p1?_format=json', "$name: upstream target");
}

{
    my $name = 'token signed outside bb-mint';
    my $token = es256(json_encode({ alg => 'ES256', kid => 'k1',
                                    typ => 'at+jwt' }),
                      json_encode($t->claims));

    is(get('/v1/fhir/Patient/p1', $token)->{status}, 200, "$name: 200");
}


# Positive controls next to the limits the invalid cases cross.

for my $case (
    [ 'exp inside the leeway', { iat => $now - 60, exp => $now - 10 } ],
    [ 'nbf inside the leeway', { nbf => $now + 10 } ],
    [ 'nbf past', { nbf => $now - 10 } ],
    [ 'lifetime at the maximum', { iat => $now, exp => $now + 3600 } ],
    [ 'aud array holding ours', { aud => [ 'https://other.test',
                                           BB::Test->audience ] } ],
    [ 'large token under the size limit', { pad => 'x' x 4000 } ],
) {
    my ($name, $claims) = @$case;

    $t->clear_upstream_log;

    my $res = get('/v1/fhir/Patient/p1', $t->sign(claims => $claims));

    is($res->{status}, 200, "$name: 200");
    is(($t->upstream_one($name) // {})->{path},
        '/fhir/Patient/p1?_format=json', "$name: upstream target");
}


# No token, or no bearer token.

{
    my $name = 'no Authorization';

    $t->clear_upstream_log;

    my $res = get('/v1/fhir/Patient/p1');

    refused($res, 401, $name);
    is($res->{headers}{'www-authenticate'}, 'Bearer realm="bluebutton"',
        "$name: WWW-Authenticate realm, no error code");

    $res = get('/pass/fhir/Patient/p1');
    is($res->{status}, 401, "$name, other realm: 401");
    is($res->{headers}{'www-authenticate'}, 'Bearer realm="partner"',
        "$name: bluebutton_realm");
}

{
    my $name = 'Basic credentials';

    $t->clear_upstream_log;

    my $res = $t->http(GET => '/v1/fhir/Patient/p1',
        { Authorization => 'Basic dXNlcjpwYXNzd29yZA==' });

    # the contract allows either answer to a non-Bearer scheme

    ok($res->{status} == 400 || $res->{status} == 401,
        "$name: 400 or 401 (got $res->{status})");

    if ($res->{status} == 401) {
        like($res->{headers}{'www-authenticate'} // '',
            qr/^Bearer realm="bluebutton"/, "$name: WWW-Authenticate Bearer");
    }

    $t->upstream_saw_nothing($name);
}

{
    my $name = 'empty bearer token';

    $t->clear_upstream_log;

    my $res = $t->http(GET => '/v1/fhir/Patient/p1',
        { Authorization => 'Bearer ' });

    is($res->{status}, 401, "$name: 401");
    $t->upstream_saw_nothing($name);
}


# Invalid tokens: 401 invalid_token, the reason in the answer and the log,
# the token in neither.

{
    my $good = $t->sign;
    my ($h, $p, $s) = split /\./, $good;
    my $sig = b64url_decode($s);

    my $flipped = $sig;
    substr($flipped, 10, 1) = chr(ord(substr($flipped, 10, 1)) ^ 0x01);

    # the last base64url character of a 64-byte signature carries four
    # unused bits; setting one keeps the decoded bytes of a lax decoder

    my $alphabet = join '', 'A' .. 'Z', 'a' .. 'z', 0 .. 9, '-', '_';
    my $last = index($alphabet, substr($s, -1));
    my $loose = substr($s, 0, -1) . substr($alphabet, $last | 1, 1);

    my $payload_plus = $p;
    substr($payload_plus, 4, 1) = '+';

    my @cases = (
        [ 'expired', $t->sign(claims => { iat => $now - 400,
                                          exp => $now - 100 }),
          qr/^token expired$/ ],
        [ 'nbf in the future', $t->sign(claims => { nbf => $now + 600 }) ],
        [ 'wrong issuer', $t->sign(claims => { iss => 'https://evil.test' }) ],
        [ 'wrong audience',
          $t->sign(claims => { aud => 'https://other.test' }) ],
        [ 'aud array without ours',
          $t->sign(claims => { aud => [ 'https://other.test' ] }) ],
        [ 'alg none',
          b64url(json_encode({ alg => 'none', kid => 'k1', typ => 'at+jwt' }))
          . ".$p." ],
        [ 'HS256 keyed with the public key PEM', hs256($t->public_pem($k1)) ],
        [ 'HS256 keyed with the JWK', hs256($k1->{jwk_text}) ],
        [ 'unknown kid', $t->sign(key => $k9), qr/^unknown kid "k9"$/ ],
        [ 'no kid', $t->sign(header => { kid => undef }) ],
        [ 'signed by another key with a known kid',
          $t->sign(key => $impostor) ],
        [ 'ES256 token on the RS256 key', $t->sign(header => { kid => 'k2' }) ],
        [ 'signature with a flipped bit', with_signature($good,
                                                         b64url($flipped)) ],
        [ 'DER-encoded signature', with_signature($good,
                                                  b64url(der_signature($sig)))
        ],
        [ 'truncated signature', with_signature($good,
                                    b64url(substr($sig, 0, 63))) ],
        [ 'empty signature', "$h.$p." ],
        [ 'two segments', "$h.$p" ],
        [ 'four segments', "$good.$s" ],
        [ 'base64 padding', "$good==" ],
        [ 'base64 standard alphabet', "$h.$payload_plus.$s" ],
        [ 'non-canonical base64 trailing bits', "$h.$p.$loose" ],
        [ 'payload not JSON', es256(json_encode({ alg => 'ES256',
                                                  kid => 'k1',
                                                  typ => 'at+jwt' }),
                                    'not json') ],
        [ 'over the size limit', $t->sign(claims => { pad => 'x' x 9000 }) ],
        [ 'typ JWT', $t->sign(header => { typ => 'JWT' }) ],
        [ 'no typ', $t->sign(header => { typ => undef }) ],
        [ 'lifetime over the maximum', $t->sign(claims => {
                                           iat => $now,
                                           exp => $now + 7200 }) ],
        [ 'exp not a number', $t->sign(claims => {
                                  exp => '' . ($now + 300) }) ],
        (map { [ "no $_ claim", $t->sign(claims => { $_ => undef }) ] }
            qw(iss aud exp iat sub client_id jti)),
    );

    for my $case (@cases) {
        check_invalid(@$case);
    }
}


# Malformed requests around the token.

{
    my $name = 'two Authorization headers';
    my $token = $t->mint;

    $t->clear_upstream_log;

    # nginx itself refuses a repeated Authorization header ("client sent
    # duplicate header line") before any module runs, so the answer is
    # nginx's own 400 page, not an OperationOutcome

    my $res = $t->http(GET => '/v1/fhir/Patient/p1',
        { Authorization => [ "Bearer $token", "Bearer $token" ] });

    is($res->{status}, 400, "$name: 400");
    unlike_token($res->{body}, $token, "$name: body");
    $t->upstream_saw_nothing($name);
}

for my $case (
    [ 'access_token in the query, no header', undef ],
    [ 'access_token in the query beside a header', 1 ],
) {
    my ($name, $with_header) = @$case;
    my $token = $t->mint;

    $t->clear_upstream_log;

    my $mark = $t->log_mark;
    my $res = get("/v1/fhir/Patient/p1?access_token=$token",
        $with_header ? $token : undef);

    # refused like any token the gateway will not accept, and withheld
    # from the logs

    refused($res, 401, $name, $token);
    like($res->{headers}{'www-authenticate'} // '',
        qr/^Bearer realm="bluebutton", error="invalid_token", error_description="access token in the query string"\z/,
        "$name: invalid_token");
    unlike_token($t->log_since($mark), $token, "$name: error log");
}


# Scopes: v1 and v2 forms grant, others do not; a refusal names the v2
# scope that was needed.

for my $case (
    [ 'v1 read', 'patient/Patient.read', 200, 200 ],
    [ 'v1 wildcard', 'patient/Patient.*', 200, 200 ],
    [ 'v2 rs', 'patient/Patient.rs', 200, 200 ],
    [ 'v2 cruds', 'patient/Patient.cruds', 200, 200 ],
    [ 'v2 r only', 'patient/Patient.r', 200, 's' ],
    [ 'v2 s only', 'patient/Patient.s', 'r', 200 ],
    [ 'other type only', 'patient/Coverage.read', 'r', 's' ],
    [ 'user scope', 'user/Patient.read', 'r', 's' ],
    [ 'v2 with a query restriction', 'patient/Patient.rs?_id=p1', 'r', 's' ],
    [ 'no usable scope', 'openid profile', 'r', 's' ],
) {
    my ($name, $scope, $read, $search) = @$case;
    my $token = $t->mint(scope => $scope);

    for my $op ([ 'read', '/v1/fhir/Patient/p1', $read,
                  '/fhir/Patient/p1?_format=json' ],
                [ 'search', '/v1/fhir/Patient', $search, undef ])
    {
        my ($what, $path, $expect, $target) = @$op;
        my $label = "scope \"$scope\" ($name), $what";

        $t->clear_upstream_log;

        my $res = get($path, $token);

        if ($expect eq '200') {
            is($res->{status}, 200, "$label: 200");

            my $req = $t->upstream_one($label) // {};

            is($req->{path}, $target, "$label: upstream target")
                if defined $target;
            next;
        }

        refused($res, 403, $label, $token);
        like($res->{headers}{'www-authenticate'} // '',
            qr/^Bearer realm="bluebutton", (?x)
               error="insufficient_scope" .* scope="patient\/Patient\.$expect"/,
            "$label: insufficient_scope naming patient/Patient.$expect");
    }
}

{
    my $name = 'token without scope claim';

    $t->clear_upstream_log;

    # a token that grants nothing: refused as invalid or as insufficient,
    # the contract does not choose

    my $token = $t->sign(claims => { scope => undef });
    my $res = get('/v1/fhir/Patient/p1', $token);

    ok($res->{status} == 401 || $res->{status} == 403,
        "$name: 401 or 403 (got $res->{status})");
    $t->upstream_saw_nothing($name);
}


# bluebutton_pass_authorization on forwards the header as it came.

{
    my $name = 'bluebutton_pass_authorization on';
    my $token = $t->mint;

    $t->clear_upstream_log;

    my $res = get('/pass/fhir/Patient/p1', $token);

    is($res->{status}, 200, "$name: 200");

    my $req = $t->upstream_one($name) // {};

    is($req->{path}, '/fhir/Patient/p1?_format=json', "$name: upstream target");
    is($req->{headers}{authorization}, "Bearer $token",
        "$name: Authorization forwarded");
}


# Revocation: the policy's "revoked" list wins over a cached verification.

{
    my $name = 'revoked jti';
    my $token = $t->mint(jti => 'jti-revoked');
    my $other = $t->mint(jti => 'jti-kept');

    $t->clear_upstream_log;

    is(get('/v1/fhir/Patient/p1', $token)->{status}, 200,
        "$name: accepted before revocation");
    is(get('/v1/fhir/Patient/p1', $token)->{status}, 200,
        "$name: accepted again (cached)");
    is(get('/v1/fhir/Patient/p1', $other)->{status}, 200,
        "$name: other token accepted");

    $t->write_policy($t->policy(revoked => [
        { jti => 'jti-revoked', exp => $now + 3600 } ]));
    $t->wait_policy;
    $t->clear_upstream_log;

    my $mark = $t->log_mark;
    my $res = get('/v1/fhir/Patient/p1', $token);
    my $diag = refused($res, 401, $name, $token);

    is($diag, 'token revoked', "$name: reason");
    like($res->{headers}{'www-authenticate'} // '',
        qr/error="invalid_token", error_description="token revoked"/,
        "$name: WWW-Authenticate");
    like($t->log_since($mark), qr/\[info\].*token revoked/,
        "$name: logged at info");

    $t->clear_upstream_log;
    is(get('/v1/fhir/Patient/p1', $other)->{status}, 200,
        "$name: a token not revoked still passes");
}

is(join("\n", error_lines($t->error_log)), '',
    'no error, crit, alert or emerg line in the whole error log');

done_testing;

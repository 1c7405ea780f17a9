#!/usr/bin/perl

# authd's public side on a real PostgreSQL and a real authd: discovery
# documents and JWKS; the authorization code flow with PKCE over HTTP as a
# browser and an app drive it (login form, consent with a checkbox per
# scope, code, token) with the access token checked against /jwks.json as
# the gateway would; an existing grant skipping consent and prompt=consent
# forcing it; deny; a code used twice and a rotated refresh token used
# again revoking what they issued; /revoke, /introspect, /userinfo; /apps
# and /logout; client authentication; bad input on every endpoint answered
# with a clear 4xx and nothing stored (row counts before and after); CSRF;
# login throttling; cookie and framing headers; key rotation; and no
# token, code, secret, password or session id in authd's log.
#
# Needs root (the cluster runs as postgres) and the built authd.

use strict;
use warnings;

use Crypt::JWT qw(decode_jwt);
use Digest::SHA qw(sha256);
use Encode qw(encode_utf8);
use FindBin;
use HTML::Entities qw(decode_entities);
use JSON::PP;
use MIME::Base64 qw(encode_base64 encode_base64url);
use Test::More;
use Time::HiRes qw(sleep time);
use URI::Escape qw(uri_escape_utf8 uri_unescape);

use lib "$FindBin::Bin/../lib";
use BB::Authd;


plan skip_all => 'needs root to run PostgreSQL as postgres' if $> != 0;

my $JSON = JSON::PP->new->utf8->canonical;

my $WINDOW = 4;
my $AUDIENCE = 'http://127.0.0.1:8080/v1/fhir';

my %PASSWORD = (
    alice => 'alice password 1',
    bob   => 'bob password 22',
    carol => 'carol password 333',
);

my $SECRET = 'confidential-client-secret-0123456789';
my $PUBLIC_CB = 'http://127.0.0.1:8765/callback';
my $CONF_CB = 'https://app.example/cb?from=authd';

# quotes, comment and escape characters, LIKE wildcards, markup, an
# accent, a snowman, an astral emoji, a right-to-left override, a
# zero-width space and a byte order mark

my $ODD = qq{O'Brien"); DROP TABLE grants; -- \\ % _ <b>&amp;}
    . qq{\x{e9}\x{2603}\x{1F600}\x{202E}\x{200B}\x{FEFF}};

my $authd = BB::Authd->new(env => {
    AUTHD_LOGIN_MAX_FAILURES => 3,
    AUTHD_LOGIN_WINDOW       => $WINDOW,
    AUTHD_MAX_BODY           => 8192,
    AUTHD_AUDIENCE           => $AUDIENCE,
});
my $pg = $authd->pg;
my $dir = $authd->dir;
my $ISSUER = $authd->url;

# every secret handed out, to look for in the log at the end
my %secrets = map { $_ => 1 } (values %PASSWORD, $SECRET);

$authd->start;


# The fixture: beneficiaries alice (patient p-alice) and bob (no
# crosswalk), carol for the throttling test, a public app and a
# confidential one whose name needs escaping.

my $fixture = [
    { model => 'resource_types', fields => {
        name => 'Patient', interactions => ['read'],
        override_url_id => JSON::PP::true } },
    { model => 'applications', fields => {
        client_id => 'demo-public', name => 'Demo public app',
        client_type => 'public', redirect_uris => [$PUBLIC_CB],
        allowed_scopes => ['openid', 'fhirUser', 'profile',
            'launch/patient', 'offline_access', 'patient/*.read'] } },
    { model => 'applications', fields => {
        client_id => 'demo-conf',
        name => '<script>alert("x")</script> & Co',
        client_type => 'confidential', client_secret_env => 'CONF_SECRET',
        redirect_uris => [$CONF_CB],
        allowed_scopes => ['patient/Patient.read', 'patient/Coverage.read',
            'launch/patient', 'offline_access', 'openid'] } },
    (map { { model => 'users', fields => {
        username => $_, name => ucfirst($_) . ' Example',
        role => 'beneficiary', password_env => uc($_) . '_PASSWORD' } } }
        sort keys %PASSWORD),
    { model => 'crosswalk', fields => {
        username => 'alice', patient_id => 'p-alice' } },
    { model => 'crosswalk', fields => {
        username => 'carol', patient_id => 'p-carol' } },
];

{
    open my $fh, '>', "$dir/fixture.json" or die "fixture: $!\n";
    print $fh $JSON->encode($fixture);
    close $fh;

    my $res = $authd->run({ CONF_SECRET => $SECRET,
        map { (uc($_) . '_PASSWORD' => $PASSWORD{$_}) } keys %PASSWORD },
        'load', "$dir/fixture.json");

    is($res->{status}, 0, 'the fixture loads') or diag($res->{output});
}

my ($ALICE) = $pg->psql("SELECT id FROM users WHERE username = 'alice'");
my ($BOB) = $pg->psql("SELECT id FROM users WHERE username = 'bob'");


# ---------------------------------------------------------------- helpers

sub query_string {
    my (@pairs) = @_;

    my @out;

    while (@pairs) {
        my ($k, $v) = splice @pairs, 0, 2;
        next unless defined $v;
        push @out, uri_escape_utf8($k) . '=' . uri_escape_utf8($v);
    }

    return join '&', @out;
}


sub query_params {
    my ($url) = @_;

    my ($q) = $url =~ /\?(.*)$/ or return {};
    my %p;

    for my $pair (split /&/, $q) {
        my ($k, $v) = split /=/, $pair, 2;
        $v //= '';
        $v =~ tr/+/ /;
        $p{uri_unescape($k)} = Encode::decode_utf8(uri_unescape($v));
    }

    return \%p;
}


sub pkce {
    my $verifier = encode_base64url(join '', map { chr int rand 256 } 1..32);

    return ($verifier, encode_base64url(sha256($verifier)));
}


sub count {
    my ($table, $where) = @_;

    my ($n) = $pg->psql("SELECT count(*) FROM $table"
        . ($where ? " WHERE $where" : ''));

    return $n;
}


sub counts {
    return join ',', map { count($_) } qw(grants authorization_codes
        refresh_tokens access_tokens audit_log);
}


sub header {
    my ($res, $name) = @_;

    my $v = $res->{headers}{lc $name};

    return ref $v ? join("\n", @$v) : $v;
}


sub cookies_set {
    my ($res) = @_;

    my $v = $res->{headers}{'set-cookie'} // [];

    return ref $v ? @$v : ($v);
}


# the hidden fields of the first form of a page, and its action

sub form_fields {
    my ($html) = @_;

    my @pairs;

    $html = Encode::decode_utf8($html);

    while ($html =~ /<input type="hidden" name="([^"]*)" value="([^"]*)">/g)
    {
        push @pairs, decode_entities($1), decode_entities($2);
    }

    return @pairs;
}


sub decode_json_body {
    my ($res) = @_;

    return eval { $JSON->decode($res->{content}) };
}


my $http = HTTP::Tiny->new(max_redirect => 0, timeout => 30);


# the back channel: POST a form (pairs, or a raw body) to an endpoint

sub post {
    my ($path, $pairs, %opt) = @_;

    my %headers = ('Content-Type' => $opt{type}
        // 'application/x-www-form-urlencoded');

    $headers{Authorization} = 'Basic ' . encode_base64($opt{basic}, '')
        if defined $opt{basic};
    $headers{Authorization} = $opt{authorization}
        if defined $opt{authorization};

    my $body = ref $pairs ? query_string(@$pairs) : $pairs;

    return $http->request('POST', $authd->url($path),
        { headers => \%headers, content => $body });
}


sub conf_basic {
    return uri_escape_utf8('demo-conf') . ':' . uri_escape_utf8($SECRET);
}


# A browser: keeps the session cookie.

package Browser {
    sub new { bless { jar => {} }, shift }

    sub request {
        my ($self, $method, $url, $pairs) = @_;

        $url = $authd->url($url) if $url =~ m{^/};

        my %headers;
        my $cookie = join '; ', map { "$_=$self->{jar}{$_}" }
            sort keys %{ $self->{jar} };

        $headers{Cookie} = $cookie if $cookie ne '';

        my %args = (headers => \%headers);

        if (defined $pairs) {
            $headers{'Content-Type'} = 'application/x-www-form-urlencoded';
            $args{content} = ref $pairs ? main::query_string(@$pairs)
                : $pairs;
        }

        my $res = $http->request($method, $url, \%args);

        for my $c (main::cookies_set($res)) {
            my ($name, $value) = $c =~ /^([^=]+)=([^;]*)/ or next;

            if ($c =~ /Max-Age=0(?:;|$)/) {
                delete $self->{jar}{$name};
            } else {
                $self->{jar}{$name} = $value;
                $secrets{$value} = 1 if $value ne '';
            }
        }

        return $res;
    }

    sub get { $_[0]->request('GET', $_[1]) }
    sub post { $_[0]->request('POST', $_[1], $_[2]) }
    sub session { $_[0]{jar}{authd_session} }
}


sub authorize_url {
    my (%p) = @_;

    my @order = qw(response_type client_id redirect_uri scope state
        code_challenge code_challenge_method nonce prompt aud);

    return '/authorize?' . query_string(map { ($_ => $p{$_}) } @order);
}


sub public_request {
    my (%p) = @_;

    my ($verifier, $challenge) = pkce();

    my %req = (
        response_type         => 'code',
        client_id             => 'demo-public',
        redirect_uri          => $PUBLIC_CB,
        scope                 => 'openid fhirUser launch/patient '
            . 'offline_access patient/*.read',
        state                 => 'st-' . int rand 1e9,
        code_challenge        => $challenge,
        code_challenge_method => 'S256',
        nonce                 => 'n-' . int rand 1e9,
        %p,
    );

    return (\%req, $verifier);
}


# Sign in through the login form the authorization request shows; returns
# the response to the GET that follows the login.

sub sign_in {
    my ($b, $req, $user) = @_;

    my $res = $b->get(authorize_url(%$req));

    return $res unless $res->{status} == 200
        && $res->{content} =~ /name="password"/;

    $res = $b->post('/authorize', [ form_fields($res->{content}),
        action => 'login', username => $user,
        password => $PASSWORD{$user} ]);

    return $res unless $res->{status} == 303;

    return $b->get(header($res, 'location'));
}


# Approve a consent page with the given scopes checked (all by default);
# returns the redirect's query parameters and the response.

sub approve {
    my ($b, $page, @scopes) = @_;

    @scopes = Encode::decode_utf8($page->{content})
        =~ /name="scope_item" value="([^"]*)"/g unless @scopes;

    my $res = $b->post('/authorize', [ form_fields($page->{content}),
        action => 'approve',
        map { (scope_item => decode_entities($_)) } @scopes ]);

    return (query_params(header($res, 'location') // ''), $res);
}


sub exchange {
    my ($code, $verifier, %opt) = @_;

    my $client = $opt{client} // 'demo-public';
    my @pairs = (grant_type => 'authorization_code', code => $code,
        redirect_uri => $opt{redirect_uri}
            // ($client eq 'demo-conf' ? $CONF_CB : $PUBLIC_CB),
        code_verifier => $verifier);

    my $res = $client eq 'demo-conf'
        ? post('/token', \@pairs, basic => conf_basic())
        : post('/token', [ @pairs, client_id => $client ]);

    my $body = decode_json_body($res);

    if ($body) {
        $secrets{$body->{$_}} = 1
            for grep { defined $body->{$_} }
                qw(access_token refresh_token id_token);
    }

    return ($res, $body);
}


sub refresh {
    my ($rt, %opt) = @_;

    my @pairs = (grant_type => 'refresh_token', refresh_token => $rt,
        (defined $opt{scope} ? (scope => $opt{scope}) : ()));

    my $res = ($opt{client} // '') eq 'demo-conf'
        ? post('/token', \@pairs, basic => conf_basic())
        : post('/token', [ @pairs, client_id => 'demo-public' ]);

    my $body = decode_json_body($res);

    if ($body) {
        $secrets{$body->{$_}} = 1
            for grep { defined $body->{$_} } qw(access_token refresh_token);
    }

    return ($res, $body);
}


sub introspect {
    my ($token) = @_;

    my $res = post('/introspect', [ token => $token ],
        basic => conf_basic());

    return decode_json_body($res);
}


sub jwks {
    return $http->get($authd->url('/jwks.json'))->{content};
}


# the claims of an access token checked against the JWKS, as the gateway
# checks it: ES256, typ at+jwt, a kid it publishes

sub verify_at {
    my ($token) = @_;

    my ($header, $claims) = eval {
        decode_jwt(token => $token, kid_keys => jwks(),
            accepted_alg => 'ES256', decode_header => 1, verify_exp => 1,
            verify_iss => $ISSUER, verify_aud => $AUDIENCE);
    };

    return ($header, $claims, $@);
}


sub policy_revoked {
    open my $fh, '<', "$dir/policy.json" or return {};
    my $doc = $JSON->decode(do { local $/; <$fh> });
    close $fh;

    return { map { ($_->{jti} => $_->{exp}) } @{ $doc->{revoked} // [] } };
}


sub grant_scope {
    my ($user, $client) = @_;

    my ($scope) = $pg->psql("SELECT g.scope FROM grants g JOIN applications"
        . " a ON a.id = g.application_id WHERE g.user_id = $user AND"
        . " a.client_id = '$client' AND g.revoked_at IS NULL");

    return $scope;
}


# A full flow for alice with the public app; returns the token response.

sub alice_tokens {
    my ($b, %p) = @_;

    my ($req, $verifier) = public_request(%p);
    my $res = sign_in($b, $req, 'alice');
    my $q;

    if ($res->{status} == 200) {
        ($q) = approve($b, $res);
    } else {
        $q = query_params(header($res, 'location') // '');
    }

    $secrets{$q->{code}} = 1 if defined $q->{code};

    return exchange($q->{code}, $verifier);
}


# ------------------------------------------------------------- discovery

{
    my %expect_common = (
        issuer => $ISSUER,
        authorization_endpoint => "$ISSUER/authorize",
        token_endpoint => "$ISSUER/token",
        jwks_uri => "$ISSUER/jwks.json",
        revocation_endpoint => "$ISSUER/revoke",
        introspection_endpoint => "$ISSUER/introspect",
        userinfo_endpoint => "$ISSUER/userinfo",
    );

    for my $path ('/.well-known/openid-configuration',
        '/.well-known/oauth-authorization-server',
        '/.well-known/smart-configuration')
    {
        my $res = $http->get($authd->url($path));
        my $doc = decode_json_body($res);

        is($res->{status}, 200, "$path answers 200");
        like(header($res, 'content-type'), qr{^application/json},
            "$path is JSON");
        is(header($res, 'access-control-allow-origin'), '*',
            "$path: any origin may read it");

        for my $k (sort keys %expect_common) {
            is($doc->{$k}, $expect_common{$k}, "$path $k");
        }

        is_deeply($doc->{response_types_supported}, ['code'],
            "$path: code only");
        is_deeply($doc->{grant_types_supported},
            ['authorization_code', 'refresh_token'], "$path: grant types");
        is_deeply($doc->{code_challenge_methods_supported}, ['S256'],
            "$path: S256 only");
        is_deeply($doc->{token_endpoint_auth_methods_supported},
            ['client_secret_basic', 'client_secret_post', 'none'],
            "$path: client authentication methods");
        ok($doc->{authorization_response_iss_parameter_supported},
            "$path: iss in the authorization response");
        ok((grep { $_ eq 'offline_access' } @{ $doc->{scopes_supported} }),
            "$path lists its scopes");
    }

    my $smart = decode_json_body($http->get(
        $authd->url('/.well-known/smart-configuration')));

    ok((grep { $_ eq 'launch-standalone' } @{ $smart->{capabilities} }),
        'SMART capabilities listed');
    is($smart->{management_endpoint}, "$ISSUER/apps",
        'SMART management endpoint is /apps');

    my $res = $http->get($authd->url('/jwks.json'));
    my $set = decode_json_body($res);

    is($res->{status}, 200, '/jwks.json answers 200');
    is(scalar @{ $set->{keys} }, 1, 'one key published');
    is($set->{keys}[0]{kty}, 'EC', 'an EC key');
    is($set->{keys}[0]{alg}, 'ES256', 'for ES256');
    ok(!exists $set->{keys}[0]{d}, 'without its private part');

    my ($kid) = $pg->psql("SELECT kid FROM signing_keys WHERE state ="
        . " 'active'");

    is($set->{keys}[0]{kid}, $kid, 'the active key is the one published');
    my ($pem) = $pg->psql("SELECT private_pem_encrypted FROM signing_keys");

    is($pem, '-----BEGIN ENCRYPTED PRIVATE KEY-----',
        'its private key is stored encrypted');

    $res = $http->request('POST', $authd->url('/jwks.json'));
    is($res->{status}, 405, 'POST /jwks.json: 405');
}


# ------------------------------------------------------ the code flow

my ($first_at, $first_rt);

{
    my $b = Browser->new;
    my ($req, $verifier) = public_request();

    my $res = $b->get(authorize_url(%$req));

    is($res->{status}, 200, 'authorize without a session: the login page');
    like($res->{content}, qr{<label for="username">Username</label>},
        'the username field is labelled');
    like($res->{content}, qr{<input id="username" name="username"},
        'the username input has the label\'s id');
    like($res->{content}, qr{<label for="password">Password</label>},
        'the password field is labelled');
    like($res->{content}, qr{name="csrf_token" value="[A-Za-z0-9_-]{43}"},
        'the login form carries a CSRF token');
    like($res->{content}, qr{Demo public app}, 'the page names the app');
    unlike($res->{content}, qr{<script}i, 'no script on the page');

    is(header($res, 'x-frame-options'), 'DENY', 'X-Frame-Options DENY');
    like(header($res, 'content-security-policy'),
        qr/frame-ancestors 'none'/, 'CSP frame-ancestors none');
    like(header($res, 'content-type'), qr{^text/html; charset=utf-8},
        'an HTML page');
    is(header($res, 'cache-control'), 'no-store', 'pages are not cached');

    my ($cookie) = cookies_set($res);

    like($cookie, qr/^authd_session=[A-Za-z0-9_-]{43};/,
        'a session cookie is set before the login');
    like($cookie, qr/; HttpOnly/, 'the cookie is HttpOnly');
    like($cookie, qr/; SameSite=Lax/, 'the cookie is SameSite=Lax');
    unlike($cookie, qr/Secure/, 'not Secure with AUTHD_COOKIE_SECURE off');
    like($cookie, qr/Path=\//, 'the cookie is for the whole site');

    my $pre = $b->session;

    $res = $b->post('/authorize', [ form_fields($res->{content}),
        action => 'login', username => 'alice',
        password => 'wrong password' ]);

    is($res->{status}, 200, 'a wrong password shows the form again');
    like($res->{content}, qr/Incorrect username or password/,
        'saying the credentials are wrong');

    $res = $b->post('/authorize', [ form_fields($res->{content}),
        action => 'login', username => 'alice',
        password => $PASSWORD{alice} ]);

    is($res->{status}, 303, 'the login redirects (303)');
    like(header($res, 'location'), qr{^/authorize\?}, 'back to /authorize');
    isnt($b->session, $pre, 'the login gives a new session id');

    my ($hash) = $pg->psql("SELECT encode(id_hash, 'hex') FROM sessions"
        . " WHERE user_id = $ALICE");

    is($hash, unpack('H*', sha256($b->session)),
        'the session is stored as the SHA-256 of its id');

    $res = $b->get(header($res, 'location'));

    is($res->{status}, 200, 'the consent page');
    like($res->{content}, qr/Share your records/, 'it asks for consent');

    my @items = $res->{content} =~ /name="scope_item" value="([^"]*)"/g;

    is_deeply(\@items, [ split / /, $req->{scope} ],
        'one checkbox per requested scope');
    like($res->{content}, qr/<label for="scope-0">/,
        'each checkbox is labelled');
    like($res->{content}, qr/value="approve">Approve</, 'an Approve button');
    like($res->{content}, qr/value="deny">Deny</, 'a Deny button');
    like($res->{content}, qr/Signed in as Alice Example/,
        'it names the user');

    my ($q, $r) = approve($b, $res);

    is($r->{status}, 303, 'approve redirects');
    like(header($r, 'location'), qr/^\Q$PUBLIC_CB\E\?code=/,
        'to the redirect URI with a code');
    is($q->{state}, $req->{state}, 'state comes back');
    is($q->{iss}, $ISSUER, 'iss comes back (RFC 9207)');
    like($q->{code}, qr/^[A-Za-z0-9_-]{43}$/, 'a 256-bit code');
    $secrets{$q->{code}} = 1;

    my ($stored) = $pg->psql("SELECT encode(code_hash, 'hex') FROM"
        . " authorization_codes ORDER BY created_at DESC LIMIT 1");

    is($stored, unpack('H*', sha256($q->{code})),
        'the code is stored as its SHA-256');
    is(grant_scope($ALICE, 'demo-public'), $req->{scope},
        'the grant holds the approved scopes');

    my ($tr, $body) = exchange($q->{code}, $verifier);

    is($tr->{status}, 200, 'the code exchanges for tokens')
        or diag($tr->{content});
    is(header($tr, 'cache-control'), 'no-store', 'Cache-Control no-store');
    is(header($tr, 'pragma'), 'no-cache', 'Pragma no-cache');
    is(header($tr, 'access-control-allow-origin'), '*',
        'browser apps may read it (CORS)');
    is($body->{token_type}, 'Bearer', 'token_type Bearer');
    is($body->{expires_in}, 3600, 'expires_in is the access token TTL');
    is($body->{scope}, $req->{scope}, 'scope granted');
    is($body->{patient}, 'p-alice', 'patient in the response');
    like($body->{refresh_token}, qr/^[A-Za-z0-9_-]{43}$/,
        'a refresh token (offline_access)');

    my ($header, $claims, $err) = verify_at($body->{access_token});

    ok($claims, 'the access token verifies with the published JWKS')
        or diag($err);
    is($header->{typ}, 'at+jwt', 'typ at+jwt');
    is($header->{alg}, 'ES256', 'alg ES256');
    is($claims->{sub}, $ALICE, 'sub is the user id');
    is($claims->{client_id}, 'demo-public', 'client_id claim');
    is($claims->{scope}, $req->{scope}, 'scope claim');
    is($claims->{patient}, 'p-alice', 'patient claim');
    is($claims->{exp} - $claims->{iat}, 3600, 'exp = iat + TTL');
    ok(abs($claims->{iat} - time) < 30, 'iat is now');
    like($claims->{jti}, qr/^[A-Za-z0-9_-]{22,}$/, 'a random jti');
    is(count('access_tokens', "jti = '$claims->{jti}'"
        . " AND expires_at = to_timestamp($claims->{exp})"), 1,
        'the jti is recorded with its expiry');

    my ($ih, $ic) = eval {
        decode_jwt(token => $body->{id_token}, kid_keys => jwks(),
            accepted_alg => 'ES256', decode_header => 1);
    };

    ok($ic, 'an ID token comes with openid') or diag($@);
    is($ih->{typ}, 'JWT', 'the ID token is no access token (typ JWT)');
    is($ic->{aud}, 'demo-public', 'for the client');
    is($ic->{nonce}, $req->{nonce}, 'with the nonce');
    is($ic->{fhirUser}, 'Patient/p-alice', 'and fhirUser');

    ($first_at, $first_rt) = ($body->{access_token}, $body->{refresh_token});

    # userinfo with the access token

    $res = $http->get($authd->url('/userinfo'),
        { headers => { Authorization => "Bearer $first_at" } });
    my $info = decode_json_body($res);

    is($res->{status}, 200, 'userinfo answers');
    is_deeply($info, { sub => $ALICE, patient => 'p-alice',
        name => 'Alice Example', fhirUser => 'Patient/p-alice' },
        'userinfo: sub, patient, name, fhirUser');

    $res = $http->request('POST', $authd->url('/userinfo'),
        { headers => { Authorization => "Bearer $first_at" } });
    is($res->{status}, 200, 'userinfo answers a POST too');

    $res = $http->get($authd->url('/userinfo'));
    is($res->{status}, 401, 'userinfo without a token: 401');
    like(header($res, 'www-authenticate'), qr/^Bearer realm=/,
        'with a Bearer challenge');

    $res = $http->get($authd->url('/userinfo'),
        { headers => { Authorization => "Bearer x.y.z" } });
    is($res->{status}, 401, 'userinfo with garbage: 401');
    like(header($res, 'www-authenticate'), qr/error="invalid_token"/,
        'invalid_token');

    # the same code twice: refused, and what it issued is revoked

    my ($again, $abody) = exchange($q->{code}, $verifier);

    is($again->{status}, 400, 'a code used twice: 400');
    is($abody->{error}, 'invalid_grant', 'invalid_grant');

    my ($rr, $rbody) = refresh($first_rt);

    is($rbody->{error}, 'invalid_grant',
        'the refresh token of the first use no longer works');
    is(count('access_tokens', "jti = '$claims->{jti}' AND revoked_at IS"
        . " NOT NULL"), 1, 'its access token is revoked');
    ok(exists policy_revoked()->{$claims->{jti}},
        'and listed in the policy document for the gateway');
    is(count('audit_log', "action = 'code.reuse'"), 1, 'the reuse audited');

    $res = $http->get($authd->url('/userinfo'),
        { headers => { Authorization => "Bearer $first_at" } });
    is($res->{status}, 401, 'userinfo refuses the revoked token');

    # an existing grant skips consent

    ($req, $verifier) = public_request();
    $res = $b->get(authorize_url(%$req));

    is($res->{status}, 302, 'a grant covering the scopes skips consent');
    $q = query_params(header($res, 'location'));
    ok($q->{code}, 'a code at once');
    $secrets{$q->{code}} = 1;
    is($q->{state}, $req->{state}, 'with state');

    ($tr, $body) = exchange($q->{code}, $verifier);
    is($tr->{status}, 200, 'that code works');

    # narrower requests are covered too

    ($req, $verifier) = public_request(scope => 'openid patient/*.read');
    $res = $b->get(authorize_url(%$req));
    is($res->{status}, 302, 'a narrower request is covered by the grant');

    # prompt=consent forces the page

    ($req, $verifier) = public_request(prompt => 'consent');
    $res = $b->get(authorize_url(%$req));
    is($res->{status}, 200, 'prompt=consent shows the consent page');
    like($res->{content}, qr/name="scope_item"/, 'with its checkboxes');

    # per-scope choice: leave offline_access and fhirUser unchecked

    ($q) = approve($b, $res, 'openid', 'launch/patient', 'patient/*.read');
    $secrets{$q->{code}} = 1;
    ($tr, $body) = exchange($q->{code}, $verifier);

    is($body->{scope}, 'openid launch/patient patient/*.read',
        'the token has only the scopes left checked');
    ok(!exists $body->{refresh_token},
        'no refresh token without offline_access');
    is(grant_scope($ALICE, 'demo-public'),
        'openid launch/patient patient/*.read',
        'the grant now holds the scopes chosen');

    ($header, $claims) = verify_at($body->{access_token});
    is($claims->{scope}, 'openid launch/patient patient/*.read',
        'the token\'s scope claim too');

    # the narrowed grant no longer covers offline_access: consent again

    ($req, $verifier) = public_request();
    $res = $b->get(authorize_url(%$req));
    is($res->{status}, 200, 'a scope beyond the grant asks again');

    # deny

    my $fields = [ form_fields($res->{content}) ];
    $res = $b->post('/authorize', [ @$fields, action => 'deny' ]);
    $q = query_params(header($res, 'location'));

    is($res->{status}, 303, 'deny redirects');
    is($q->{error}, 'access_denied', 'with access_denied');
    is($q->{state}, $req->{state}, 'and state');
    is($q->{iss}, $ISSUER, 'and iss');
    ok(!exists $q->{code}, 'and no code');

    # prompt=none: covered gives a code, not covered consent_required

    ($req) = public_request(scope => 'openid', prompt => 'none');
    $res = $b->get(authorize_url(%$req));
    ok(query_params(header($res, 'location'))->{code},
        'prompt=none with a covering grant: a code');

    ($req) = public_request(prompt => 'none');
    $res = $b->get(authorize_url(%$req));
    is(query_params(header($res, 'location'))->{error}, 'consent_required',
        'prompt=none beyond the grant: consent_required');

    ($req) = public_request(prompt => 'none');
    $res = Browser->new->get(authorize_url(%$req));
    is($res->{status}, 302, 'prompt=none without a session redirects');
    is(query_params(header($res, 'location'))->{error}, 'login_required',
        'with login_required');

    # prompt=login asks for the password again, then goes on

    ($req, $verifier) = public_request(scope => 'openid',
        prompt => 'login');
    $res = $b->get(authorize_url(%$req));
    like($res->{content}, qr/name="password"/,
        'prompt=login shows the login form to a signed-in user');
    $res = $b->post('/authorize', [ form_fields($res->{content}),
        action => 'login', username => 'alice',
        password => $PASSWORD{alice} ]);
    unlike(header($res, 'location'), qr/prompt=login/,
        'after the login, prompt=login is not asked again');
    $res = $b->get(header($res, 'location'));
    is($res->{status}, 302, 'and the covering grant gives a code');
}


# ----------------------------------------- refresh rotation and reuse

{
    my $b = Browser->new;
    my ($tr, $body) = alice_tokens($b);

    ok($body->{refresh_token}, 'a fresh refresh token') or diag($tr->{content});

    my $rt0 = $body->{refresh_token};
    my ($h, $c0) = verify_at($body->{access_token});

    my ($r1, $b1) = refresh($rt0);

    is($r1->{status}, 200, 'the refresh token rotates') or diag($r1->{content});
    isnt($b1->{refresh_token}, $rt0, 'into a new one');
    is($b1->{scope}, $body->{scope}, 'with the grant\'s scope');
    is($b1->{patient}, 'p-alice', 'and the patient');

    my ($h1, $c1) = verify_at($b1->{access_token});
    ok($c1, 'the new access token verifies');
    isnt($c1->{jti}, $c0->{jti}, 'with a new jti');

    my ($r2, $b2) = refresh($b1->{refresh_token}, scope => 'patient/*.read');
    is($r2->{status}, 200, 'a refresh may narrow the scope');
    is($b2->{scope}, 'patient/*.read', 'to what it asks');

    my ($r3, $b3) = refresh($b2->{refresh_token},
        scope => 'patient/*.read patient/Observation.read');
    is($b3->{error}, 'invalid_scope', 'but not widen it');

    my ($r4, $b4) = refresh($b2->{refresh_token}, scope => $ODD);
    is($b4->{error}, 'invalid_scope', 'odd characters in scope: invalid_scope');

    my ($r5, $b5) = refresh($b2->{refresh_token});
    is($r5->{status}, 200, 'the token still works after those refusals');

    # the rotated rt0 again: the family goes

    my $before = policy_revoked();
    my ($r6, $b6) = refresh($rt0);

    is($b6->{error}, 'invalid_grant', 'a rotated token used again: refused');
    like($b6->{error_description}, qr/family is revoked/,
        'saying its family is revoked');

    my ($r7, $b7) = refresh($b5->{refresh_token});
    is($b7->{error}, 'invalid_grant', 'the newest of the family is revoked');

    my ($fam) = $pg->psql("SELECT count(*) FROM access_tokens WHERE jti IN"
        . " ('$c0->{jti}', '$c1->{jti}') AND revoked_at IS NOT NULL");
    is($fam, 2, 'the family\'s access tokens are revoked');
    ok(exists policy_revoked()->{$c1->{jti}},
        'and reach the policy document');
    is(count('audit_log', "action = 'refresh.reuse'"), 1,
        'the replay audited');
}


# ------------------------------------- confidential client, introspect

my ($conf_at, $conf_rt, $conf_jti);

{
    my $b = Browser->new;
    my ($verifier, $challenge) = pkce();
    my %req = (response_type => 'code', client_id => 'demo-conf',
        redirect_uri => $CONF_CB, state => $ODD,
        scope => 'launch/patient patient/Patient.read offline_access',
        code_challenge => $challenge, code_challenge_method => 'S256');

    my $res = sign_in($b, \%req, 'alice');

    like($res->{content},
        qr{&lt;script&gt;alert\(&quot;x&quot;\)&lt;/script&gt; &amp; Co},
        'the app\'s name is escaped on the consent page');
    unlike($res->{content}, qr{<script>alert}, 'never raw');

    my ($q, $r) = approve($b, $res);

    like(header($r, 'location'), qr/^\Q$CONF_CB\E&code=/,
        'a redirect URI with a query gets the code appended');
    is($q->{state}, $ODD, 'an odd state comes back intact');
    $secrets{$q->{code}} = 1;

    # client authentication at /token

    my @pairs = (grant_type => 'authorization_code', code => $q->{code},
        redirect_uri => $CONF_CB, code_verifier => $verifier);
    my $n = counts();

    $res = post('/token', \@pairs, basic => 'demo-conf:wrong');
    is($res->{status}, 401, 'a wrong secret: 401');
    is(decode_json_body($res)->{error}, 'invalid_client', 'invalid_client');
    like(header($res, 'www-authenticate'), qr/^Basic /,
        'WWW-Authenticate Basic after a Basic attempt');

    $res = post('/token', [ @pairs, client_id => 'demo-conf' ]);
    is($res->{status}, 401, 'a confidential client without its secret: 401');
    ok(!defined header($res, 'www-authenticate'),
        'no Basic challenge when Basic was not tried');

    $res = post('/token', [ @pairs, client_secret => $SECRET ],
        basic => conf_basic());
    is($res->{status}, 400, 'Basic and client_secret both: 400');
    is(decode_json_body($res)->{error}, 'invalid_request', 'invalid_request');

    $res = post('/token', [ @pairs, client_id => 'demo-public' ],
        basic => conf_basic());
    is(decode_json_body($res)->{error}, 'invalid_request',
        'a client_id differing from Basic: invalid_request');

    $res = post('/token', [ @pairs, client_id => 'nobody',
        client_secret => 'x' ]);
    is(decode_json_body($res)->{error}, 'invalid_client',
        'an unknown client: invalid_client');

    is(counts(), $n, 'nothing stored by the refused requests');
    is(count('authorization_codes', 'used_at IS NOT NULL AND code_hash ='
        . " '\\x" . unpack('H*', sha256($q->{code})) . "'"), 0,
        'and the code is not spent');

    # client_secret_post

    $res = post('/token', [ @pairs, client_id => 'demo-conf',
        client_secret => $SECRET ]);
    my $body = decode_json_body($res);

    is($res->{status}, 200, 'client_secret_post works')
        or diag($res->{content});
    $secrets{$_} = 1 for grep { defined } @$body{qw(access_token
        refresh_token)};

    ($conf_at, $conf_rt) = ($body->{access_token}, $body->{refresh_token});
    (undef, my $claims) = verify_at($conf_at);
    $conf_jti = $claims->{jti};

    is($claims->{client_id}, 'demo-conf', 'a token for demo-conf');
    is($claims->{scope}, 'launch/patient patient/Patient.read offline_access',
        'with the narrowed type scope');

    # introspection

    my $i = introspect($conf_at);
    is($i->{active}, JSON::PP::true, 'introspect: the access token is active');
    is($i->{client_id}, 'demo-conf', 'client_id');
    is($i->{sub}, $ALICE, 'sub');
    is($i->{patient}, 'p-alice', 'patient');
    is($i->{scope}, $claims->{scope}, 'scope');
    is($i->{exp}, $claims->{exp}, 'exp');
    is($i->{iat}, $claims->{iat}, 'iat');
    is($i->{token_type}, 'Bearer', 'token_type');

    $i = introspect($conf_rt);
    is($i->{active}, JSON::PP::true, 'introspect: the refresh token too');
    is($i->{scope}, $claims->{scope}, 'with the grant\'s scope');

    is(introspect('no-such-token')->{active}, JSON::PP::false,
        'an unknown token is inactive');
    is(introspect($ODD)->{active}, JSON::PP::false,
        'so is an odd one');

    my ($other) = alice_tokens(Browser->new, scope => 'openid');
    my $other_at = decode_json_body($other)->{access_token};
    is(introspect($other_at)->{active}, JSON::PP::false,
        'another client\'s token is inactive to this client');

    $res = post('/introspect', [ token => $conf_at,
        client_id => 'demo-public' ]);
    is($res->{status}, 401, 'a public client may not introspect');

    $res = post('/introspect', [ token => $conf_at ]);
    is($res->{status}, 401, 'nor an anonymous one');

    # revoke the access token, then the refresh token

    $res = post('/revoke', [ token => $conf_at,
        token_type_hint => 'access_token' ], basic => conf_basic());
    is($res->{status}, 200, 'revoke an access token: 200');
    is(introspect($conf_at)->{active}, JSON::PP::false,
        'then it is inactive');
    ok(exists policy_revoked()->{$conf_jti}, 'and in the policy document');

    $res = post('/revoke', [ token => $conf_rt ], basic => conf_basic());
    is($res->{status}, 200, 'revoke a refresh token: 200');
    is(introspect($conf_rt)->{active}, JSON::PP::false,
        'then it is inactive');

    my ($rr, $rb) = refresh($conf_rt, client => 'demo-conf');
    is($rb->{error}, 'invalid_grant', 'and refuses to refresh');

    $res = post('/revoke', [ token => 'never-issued' ],
        basic => conf_basic());
    is($res->{status}, 200, 'revoking an unknown token: 200 all the same');

    $res = post('/revoke', [ token => $conf_at ]);
    is($res->{status}, 401, 'revoke needs client authentication');

    $res = post('/revoke', [ token => $other_at, client_id => 'demo-conf' ],
        basic => conf_basic());
    is(count('access_tokens', 'revoked_at IS NULL AND jti = '
        . "'" . (verify_at($other_at))[1]{jti} . "'"), 1,
        'another client\'s token is not revoked');
}


# ---------------------------------------------- beneficiary without a crosswalk

{
    my $b = Browser->new;
    my ($req, $verifier) = public_request();
    my $res = sign_in($b, $req, 'bob');

    is($res->{status}, 403, 'patient scopes for a user without a crosswalk:'
        . ' refused');
    like($res->{content}, qr/not linked to Medicare records/,
        'with a clear page');

    $res = $b->post('/authorize', [ form_fields($res->{content}),
        action => 'deny' ]);
    is(query_params(header($res, 'location'))->{error}, 'access_denied',
        'its button returns access_denied to the app');

    ($req, $verifier) = public_request(scope => 'openid profile');
    $res = sign_in($b, $req, 'bob');

    like($res->{content}, qr/Demo public app/, 'other scopes can be granted');
    my ($q) = approve($b, $res);
    $secrets{$q->{code}} = 1;
    my ($tr, $body) = exchange($q->{code}, $verifier);

    is($tr->{status}, 200, 'and exchanged');
    ok(!exists $body->{patient}, 'without a patient');
    my (undef, $claims) = verify_at($body->{access_token});
    ok(!exists $claims->{patient}, 'the token has no patient claim');
    is($claims->{sub}, $BOB, 'bob\'s token');
}


# ---------------------------------------------------- bad input: /authorize

{
    my $b = Browser->new;
    my ($req) = public_request();
    my $n = counts();

    my @page_errors = (
        [ 'no client_id', { %$req, client_id => undef },
          qr/does not name a valid application/ ],
        [ 'an unknown client_id', { %$req, client_id => 'nobody' },
          qr/No active application/ ],
        [ 'an odd client_id', { %$req, client_id => $ODD },
          qr/does not name a valid application/ ],
        [ 'no redirect_uri', { %$req, redirect_uri => undef },
          qr/no valid redirect_uri/ ],
        [ 'an unregistered redirect_uri',
          { %$req, redirect_uri => "$PUBLIC_CB/other" },
          qr/not registered/ ],
        [ 'a redirect_uri differing in case',
          { %$req, redirect_uri => uc $PUBLIC_CB }, qr/not registered/ ],
        [ 'an odd redirect_uri', { %$req, redirect_uri => $ODD },
          qr/not registered/ ],
    );

    for my $case (@page_errors) {
        my ($name, $p, $re) = @$case;
        my $res = $b->get(authorize_url(%$p));

        is($res->{status}, 400, "$name: 400");
        like($res->{content}, $re, "$name: an error page");
        ok(!defined header($res, 'location'), "$name: never redirected");
    }

    my $res = $b->get(authorize_url(%$req) . '&client_id=demo-public');
    is($res->{status}, 400, 'a repeated client_id: a 400 page');
    like($res->{content}, qr/given more than once/, 'saying so');

    $res = $b->get(authorize_url(%$req) . '&scope=openid');
    is($res->{status}, 400, 'a repeated scope: a 400 page, not redirected');

    my @redirect_errors = (
        [ 'response_type token', { response_type => 'token' },
          'unsupported_response_type' ],
        [ 'no response_type', { response_type => undef },
          'invalid_request' ],
        [ 'no code_challenge', { code_challenge => undef },
          'invalid_request' ],
        [ 'method plain', { code_challenge_method => 'plain' },
          'invalid_request' ],
        [ 'no code_challenge_method', { code_challenge_method => undef },
          'invalid_request' ],
        [ 'a short code_challenge', { code_challenge => 'abc' },
          'invalid_request' ],
        [ 'no scope', { scope => undef }, 'invalid_scope' ],
        [ 'a scope the app may not have', { scope => 'patient/*.write' },
          'invalid_scope' ],
        [ 'an unknown scope', { scope => 'openid admin' },
          'invalid_scope' ],
        [ 'an odd scope', { scope => $ODD }, 'invalid_scope' ],
        [ 'SQL in scope', { scope => "openid'; DELETE FROM grants; --" },
          'invalid_scope' ],
        [ 'an unknown prompt', { prompt => 'select_account' },
          'invalid_request' ],
        [ 'prompt none with login', { prompt => 'none login' },
          'invalid_request' ],
        [ 'an aud of another server', { aud => 'https://evil.example/fhir' },
          'invalid_request' ],
        [ 'a control character in nonce', { nonce => "a\x01b" },
          'invalid_request' ],
    );

    for my $case (@redirect_errors) {
        my ($name, $p, $error) = @$case;
        my $res = $b->get(authorize_url(%$req, %$p));
        my $q = query_params(header($res, 'location') // '');

        is($res->{status}, 302, "$name: redirected");
        like(header($res, 'location') // '', qr/^\Q$PUBLIC_CB\E\?/,
            "$name: to the registered URI");
        is($q->{error}, $error, "$name: $error");
        is($q->{state}, $req->{state}, "$name: with state");
        is($q->{iss}, $ISSUER, "$name: with iss");
        unlike($q->{error_description} // '', qr/["\\]/,
            "$name: a description without quote or backslash");
    }

    $res = $b->get(authorize_url(%$req, aud => "$AUDIENCE/"));
    is($res->{status}, 200, 'aud with a trailing slash is this server');

    $res = $b->get(authorize_url(%$req, state => "a\x7fb"));
    my $q = query_params(header($res, 'location') // '');
    is($q->{error}, 'invalid_request', 'a control character in state');
    ok(!exists $q->{state}, 'such a state is not sent back');

    is(counts(), $n, 'no grant, code or token stored by refused requests');

    # the POST side: CSRF and forms; prompt=consent so that the page shows

    ($req) = public_request(prompt => 'consent');
    $res = $b->get(authorize_url(%$req));
    my @fields = form_fields($res->{content});
    my %f = @fields;

    my @no_csrf = grep { $_ ne 'csrf_token' && $_ ne $f{csrf_token} }
        @fields;
    $res = $b->post('/authorize', [ @no_csrf, action => 'login',
        username => 'alice', password => $PASSWORD{alice} ]);
    is($res->{status}, 403, 'login without its CSRF token: 403');

    my @wrong = map { $_ eq $f{csrf_token} ? 'A' x 43 : $_ } @fields;
    $res = $b->post('/authorize', [ @wrong, action => 'login',
        username => 'alice', password => $PASSWORD{alice} ]);
    is($res->{status}, 403, 'login with a wrong CSRF token: 403');

    $res = Browser->new->post('/authorize', [ @fields, action => 'login',
        username => 'alice', password => $PASSWORD{alice} ]);
    is($res->{status}, 403, 'login from another browser (no session): 403');

    $res = $b->request('POST', '/authorize', undef);
    is($res->{status}, 400, 'a POST without a form: 400');

    $res = $b->post('/authorize', [ @fields, action => 'approve',
        scope_item => 'openid' ]);
    like($res->{content}, qr/name="password"/,
        'approve before the login shows the login form');

    $res = $b->post('/authorize', [ @fields, action => 'login',
        username => 'alice', password => $PASSWORD{alice} ]);
    $res = $b->get(header($res, 'location'));
    @fields = form_fields($res->{content});
    %f = @fields;

    my $codes = count('authorization_codes');

    @wrong = map { $_ eq $f{csrf_token} ? 'B' x 43 : $_ } @fields;
    $res = $b->post('/authorize', [ @wrong, action => 'approve',
        scope_item => 'openid' ]);
    is($res->{status}, 403, 'approve with a wrong CSRF token: 403');

    $res = $b->post('/authorize', [ @fields, action => 'approve',
        scope_item => 'patient/*.write' ]);
    is($res->{status}, 400, 'approving a scope not offered: 400');

    $res = $b->post('/authorize', [ @fields, action => 'approve' ]);
    is(query_params(header($res, 'location'))->{error}, 'access_denied',
        'approving nothing: access_denied');

    $res = $b->post('/authorize', [ @fields, action => 'approve',
        scope_item => 'openid', client_id => 'demo-conf' ]);
    is($res->{status}, 400, 'a client_id added to the form: 400');

    $res = $b->post('/authorize', [ (map { $_ eq $PUBLIC_CB
        ? 'https://evil.example/cb' : $_ } @fields), action => 'approve',
        scope_item => 'openid' ]);
    is($res->{status}, 400, 'a redirect_uri changed in the form: 400');
    ok(!defined header($res, 'location'), 'and not sent there');

    is(count('authorization_codes'), $codes,
        'no code made by the refused forms');
}


# ------------------------------------------------------ bad input: /token

{
    my $b = Browser->new;
    my ($req, $verifier) = public_request();
    my $res = sign_in($b, $req, 'alice');
    my ($q) = $res->{status} == 302
        ? (query_params(header($res, 'location'))) : approve($b, $res);
    my $code = $q->{code};
    $secrets{$code} = 1;

    my @good = (grant_type => 'authorization_code', code => $code,
        redirect_uri => $PUBLIC_CB, code_verifier => $verifier,
        client_id => 'demo-public');

    # the good request with some values replaced, in the same order

    my $with = sub {
        my (%over) = @_;
        my @p = @good;

        for (my $i = 0; $i < @p; $i += 2) {
            $p[$i + 1] = $over{$p[$i]} if exists $over{$p[$i]};
        }

        return [ @p ];
    };
    my $n = counts();

    my @cases = (
        [ 'a JSON body', $JSON->encode({ @good }),
          { type => 'application/json' }, 400, 'invalid_request' ],
        [ 'no content type', query_string(@good), { type => '' }, 400,
          'invalid_request' ],
        [ 'a repeated code', [ @good, code => $code ], {}, 400,
          'invalid_request' ],
        [ 'a repeated grant_type',
          [ @good, grant_type => 'authorization_code' ], {}, 400,
          'invalid_request' ],
        [ 'no grant_type', $with->(grant_type => ''), {}, 400,
          'invalid_request' ],
        [ 'grant_type password', $with->(grant_type => 'password'), {},
          400, 'unsupported_grant_type' ],
        [ 'no code', $with->(code => ''), {}, 400, 'invalid_request' ],
        [ 'no code_verifier', $with->(code_verifier => ''), {}, 400,
          'invalid_request' ],
        [ 'a short code_verifier', $with->(code_verifier => 'abc'), {},
          400, 'invalid_request' ],
        [ 'no redirect_uri', $with->(redirect_uri => ''), {}, 400,
          'invalid_request' ],
        [ 'no client at all', $with->(client_id => ''), {}, 401,
          'invalid_client' ],
        [ 'an odd client_id', $with->(client_id => $ODD), {}, 401,
          'invalid_client' ],
        [ 'SQL in code', $with->(code => "x' OR '1'='1"), {}, 400,
          'invalid_grant' ],
        [ 'odd Unicode in code', $with->(code => $ODD), {}, 400,
          'invalid_grant' ],
        [ 'a control character in code', $with->(code => "a\x01"), {},
          400, 'invalid_request' ],
    );

    for my $case (@cases) {
        my ($name, $body, $opt, $status, $error) = @$case;
        my $res = post('/token', $body, %$opt);

        is($res->{status}, $status, "/token, $name: $status");
        is(eval { decode_json_body($res)->{error} }, $error,
            "/token, $name: $error");
    }

    $res = post('/token', query_string(@good) =~ s/code=[^&]*/code=%zz/r);
    is($res->{status}, 400, '/token, a malformed percent escape: 400');
    like(decode_json_body($res)->{error}, qr/^invalid_(?:request|grant)$/,
        '/token, a malformed percent escape: an RFC 6749 error');

    $res = post('/token', 'code=' . ('x' x 9000));
    is($res->{status}, 413, '/token, an oversized body: 413');

    is(counts(), $n, '/token: nothing stored by the bad requests');
    is(count('authorization_codes', 'used_at IS NOT NULL AND code_hash ='
        . " '\\x" . unpack('H*', sha256($code)) . "'"), 0,
        '/token: the code is not spent by them');

    # these do spend the code: it is the right code from the right client

    my ($r1, $b1) = exchange($code, $verifier,
        redirect_uri => "$PUBLIC_CB/x");
    is($b1->{error}, 'invalid_grant', 'another redirect_uri: invalid_grant');
    like($b1->{error_description}, qr/redirect_uri/, 'saying which');

    ($r1, $b1) = exchange($code, $verifier);
    is($b1->{error}, 'invalid_grant', 'a failed try spends the code');

    ($req, $verifier) = public_request();
    $res = $b->get(authorize_url(%$req));
    $q = query_params(header($res, 'location') // '');
    $secrets{$q->{code}} = 1 if $q->{code};
    my ($wrong_verifier) = pkce();
    ($r1, $b1) = exchange($q->{code}, $wrong_verifier);
    is($b1->{error}, 'invalid_grant', 'a wrong code_verifier: invalid_grant');
    like($b1->{error_description}, qr/code_verifier/, 'saying so');

    # other endpoints

    for my $path ('/revoke', '/introspect') {
        my $res = post($path, [ token => 'a', token => 'b' ],
            basic => conf_basic());
        is(decode_json_body($res)->{error}, 'invalid_request',
            "$path: a repeated token: invalid_request");

        $res = post($path, [], basic => conf_basic());
        is(decode_json_body($res)->{error}, 'invalid_request',
            "$path: no token: invalid_request");

        $res = post($path, $JSON->encode({ token => 'a' }),
            type => 'application/json', basic => conf_basic());
        is(decode_json_body($res)->{error}, 'invalid_request',
            "$path: JSON: invalid_request");

        $res = $http->request('GET', $authd->url($path));
        is($res->{status}, 405, "GET $path: 405");
    }

    $res = $http->get($authd->url('/token'));
    is($res->{status}, 405, 'GET /token: 405');
}


# ------------------------------------------ bad input: every POST endpoint

{
    my $n = counts();

    for my $path ('/token', '/revoke', '/introspect', '/authorize', '/apps',
        '/apps/revoke', '/logout')
    {
        my $res = post($path, 'token=' . ('x' x 9000));
        is($res->{status}, 413, "$path: an oversized body: 413");

        $res = post($path, $JSON->encode({ token => 'x' }),
            type => 'application/json', basic => conf_basic());
        is($res->{status}, 400, "$path: a JSON body: 400");

        # /logout without a session just says the user is signed out

        $res = post($path, "token=\x{00}\x{ff}%00%ff", basic => conf_basic());
        ok($res->{status} >= 400 && $res->{status} < 500
            || ($path eq '/logout' && $res->{status} == 200),
            "$path: binary bytes: a 4xx");
    }

    # odd values in the login form: refused like a wrong password

    my $b = Browser->new;
    my $res = $b->get('/apps');
    my @fields = form_fields($res->{content});

    for my $user ($ODD, "alice' OR '1'='1", 'x' x 300, "alice\x{0}") {
        $res = $b->post('/apps', [ @fields, action => 'login',
            username => $user, password => $ODD ]);
        is($res->{status}, 200, 'an odd username: the form again');
        like($res->{content}, qr/Incorrect username or password/,
            'as a wrong password');
    }

    $res = $http->get($authd->url('/userinfo'),
        { headers => { Authorization => "Bearer x' OR '1'='1; --" } });
    is($res->{status}, 401, 'userinfo with SQL for a token: 401');

    is(counts(), $n, 'nothing stored by any of these');

    # failed logins above count against the address: let them age out

    $pg->psql('DELETE FROM login_failures');
}


# ------------------------------------------------------- /apps, /logout

{
    my $b = Browser->new;

    my $res = $b->get('/apps');
    is($res->{status}, 200, '/apps without a session: the login page');
    like($res->{content}, qr/name="password"/, 'a login form');

    my @fields = form_fields($res->{content});

    $res = $b->post('/apps', [ @fields, action => 'login',
        username => 'alice', password => $PASSWORD{alice} ]);
    is($res->{status}, 303, 'the login redirects');
    is(header($res, 'location'), '/apps', 'to /apps');

    # a token under the public app's grant, to see it revoked

    my ($tr, $body) = alice_tokens($b);
    my (undef, $claims) = verify_at($body->{access_token});

    $res = $b->get('/apps');
    like($res->{content}, qr/Demo public app/, 'the apps are listed');
    like($res->{content}, qr/&lt;script&gt;/,
        'with their names escaped');
    like($res->{content}, qr/name="client_id" value="demo-public"/,
        'a Revoke button per app');
    like($res->{content}, qr/Read and search all your records/,
        'the access in plain words');

    @fields = form_fields($res->{content});
    my %f = @fields;

    $res = $b->post('/apps/revoke', [ csrf_token => 'C' x 43,
        client_id => 'demo-public' ]);
    is($res->{status}, 403, 'revoke with a wrong CSRF token: 403');
    ok(grant_scope($ALICE, 'demo-public'), 'the grant stays');

    $res = Browser->new->post('/apps/revoke', [ csrf_token => $f{csrf_token},
        client_id => 'demo-public' ]);
    is($res->{status}, 403, 'revoke without the session: 403');

    $res = $b->post('/apps/revoke', [ csrf_token => $f{csrf_token},
        client_id => 'demo-public' ]);
    is($res->{status}, 303, 'revoke redirects');
    is(header($res, 'location'), '/apps', 'back to /apps');
    ok(!defined grant_scope($ALICE, 'demo-public'), 'the grant is revoked');
    is(count('access_tokens', "jti = '$claims->{jti}' AND revoked_at IS NOT"
        . ' NULL'), 1, 'its access token is revoked');
    ok(exists policy_revoked()->{$claims->{jti}},
        'and listed in the policy document');

    my ($rr, $rb) = refresh($body->{refresh_token});
    is($rb->{error}, 'invalid_grant', 'its refresh token no longer works');

    $res = $b->get('/apps');
    unlike($res->{content}, qr/value="demo-public"/, 'the app is gone');

    # sign out

    $res = $b->get('/logout');
    like($res->{content}, qr{action="/logout"}, 'a sign-out form');
    @fields = form_fields($res->{content});
    %f = @fields;

    $res = $b->post('/logout', [ csrf_token => 'D' x 43 ]);
    is($res->{status}, 403, 'logout with a wrong CSRF token: 403');

    my $session = $b->session;

    $res = $b->post('/logout', [ csrf_token => $f{csrf_token} ]);
    is($res->{status}, 200, 'logout');
    like($res->{content}, qr/signed out/, 'says so');
    ok(!defined $b->session, 'the cookie is deleted');
    is(count('sessions', "id_hash = '\\x" . unpack('H*', sha256($session))
        . "'"), 0, 'and the session');

    my ($req) = public_request();
    $res = $b->get(authorize_url(%$req));
    like($res->{content}, qr/name="password"/,
        'after logout the login form again');
}


# ------------------------------------------------------------ key rotation

{
    my ($old) = $pg->psql("SELECT kid FROM signing_keys WHERE state ="
        . " 'active'");
    my ($tr, $body) = alice_tokens(Browser->new, scope => 'openid');
    my $old_at = $body->{access_token};

    my $res = $authd->run({ AUTHD_KEY_PUBLISH_DELAY => 2 }, 'keys',
        'rotate');
    is($res->{status}, 0, 'keys rotate') or diag($res->{output});

    my ($new) = $res->{output} =~ /^([A-Za-z0-9_-]{43})$/m;
    ok($new, 'prints the new kid');

    sleep 1.1;

    my %jwks = map { ($_->{kid} => 1) } @{ $JSON->decode(jwks())->{keys} };
    ok($jwks{$new} && $jwks{$old}, 'both keys are published');

    ($tr, $body) = alice_tokens(Browser->new, scope => 'openid');
    my ($h) = verify_at($body->{access_token});
    is($h->{kid}, $old, 'the old key signs until the delay passes');

    sleep 2.2;

    ($tr, $body) = alice_tokens(Browser->new, scope => 'openid');
    ($h) = verify_at($body->{access_token});
    is($h->{kid}, $new, 'then the new one signs');

    my (undef, $c, $err) = verify_at($old_at);
    ok($c, 'a token of the old key still verifies') or diag($err);
    is(join(',', $pg->psql("SELECT state FROM signing_keys WHERE kid ="
        . " '$old'")), 'retired', 'the old key is retired');
    ok(count('signing_keys', "kid = '$old' AND retire_after > now()"
        . " + interval '3600 seconds'"), 'until its last token expires');

    my $doc = $JSON->decode(do { local (@ARGV, $/) = "$dir/policy.json"; <> });
    is_deeply([ sort map { $_->{kid} } @{ $doc->{keys}{keys} } ],
        [ sort $old, $new ], 'the policy document publishes both');
}


# ---------------------------------------------------------- throttling

{
    my $b = Browser->new;
    my $res = $b->get('/apps');
    my @fields = form_fields($res->{content});

    sleep $WINDOW + 0.5;

    for my $i (1..3) {
        $res = $b->post('/apps', [ @fields, action => 'login',
            username => 'carol', password => "wrong $i" ]);
        is($res->{status}, 200, "failure $i: the form again");
    }

    $res = $b->post('/apps', [ @fields, action => 'login',
        username => 'carol', password => $PASSWORD{carol} ]);
    is($res->{status}, 429, 'after 3 failures even the right password: 429');
    like(header($res, 'retry-after'), qr/^[1-9][0-9]*$/,
        'with Retry-After in seconds');
    ok(header($res, 'retry-after') <= $WINDOW, 'no longer than the window');
    like($res->{content}, qr/Too many failed sign-ins/, 'the page says so');
    like($res->{content}, qr/name="password"/, 'with the form');
    is(count('login_failures', "username = 'carol'"), 3,
        'a refused attempt is not counted again');

    $res = $b->post('/apps', [ @fields, action => 'login',
        username => 'alice', password => $PASSWORD{alice} ]);
    is($res->{status}, 429, 'the address is throttled for other accounts');

    sleep $WINDOW + 0.5;

    $res = $b->post('/apps', [ @fields, action => 'login',
        username => 'carol', password => $PASSWORD{carol} ]);
    is($res->{status}, 303, 'after the window the login works');

    # an unknown account is refused like a known one with a wrong password:
    # the same status and page (its cost is the benchmark's business)

    $b = Browser->new;
    $res = $b->get('/apps');
    @fields = form_fields($res->{content});

    my @pages;

    for my $user ('carol', 'no-such-user') {
        $pg->psql('DELETE FROM login_failures');

        my $r = $b->post('/apps', [ @fields, action => 'login',
            username => $user, password => 'wrong' ]);

        push @pages, [ $r->{status},
            $r->{content} =~ m{<p role="alert"><strong>([^<]*)</strong>}
                ? $1 : '(no message)' ];
    }

    is_deeply($pages[1], $pages[0],
        'an unknown user gets the answer a wrong password gets');
    isnt($pages[0][1], '(no message)', 'that answer says why');
}


# --------------------------------------------- the gateway accepts it

# The nginx module, reading the policy document authd writes, lets an
# authd token through and refuses it once revoked.

SKIP: {
    my $build = $ENV{BB_BUILD} // "$FindBin::Bin/../../build";

    skip 'the module or bb-mint is not built', 6
        unless -e "$build/nginx/ngx_http_bluebutton_module.so"
            && -e "$build/bb-mint";

    require BB::Test;

    my $t = BB::Test->new(name => 'authd_oauth_gateway');

    # nginx's workers (nobody) read the policy document where authd writes
    # it

    chmod 0755, $dir;
    $t->start_upstream;
    $t->start(<<"EOF");
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

    bluebutton_policy $dir/policy.json;
    bluebutton_policy_check 1s;

    server {
        listen 127.0.0.1:%%PORT%%;
        server_name localhost;

        location /v1/fhir/ {
            bluebutton on;
            bluebutton_upstream_base http://127.0.0.1:%%UPSTREAM_PORT%%/fhir;
            bluebutton_public_base http://127.0.0.1:%%PORT%%/v1/fhir;
            proxy_redirect off;
            proxy_pass http://127.0.0.1:%%UPSTREAM_PORT%%/fhir/;
        }
    }
}
EOF

    my ($tr, $body) = alice_tokens(Browser->new,
        scope => 'openid patient/*.read');
    my $at = $body->{access_token};

    my $res = $t->http('GET', '/v1/fhir/Patient/p-alice',
        { Authorization => "Bearer $at" });

    is($res->{status}, 200, 'the gateway accepts an authd access token')
        or diag($res->{body});
    like($res->{body}, qr/"id"\s*:\s*"p-alice"/,
        'and serves the token\'s patient');

    $res = $t->http('GET', '/v1/fhir/Patient/p-alice');
    is($res->{status}, 401, 'without the token: 401');

    $res = post('/revoke', [ token => $at, client_id => 'demo-public' ]);
    is($res->{status}, 200, 'the app revokes it');

    # the gateway checks the policy file every second

    my $status;

    for (1..40) {
        $status = $t->http('GET', '/v1/fhir/Patient/p-alice',
            { Authorization => "Bearer $at" })->{status};
        last if $status == 401;
        sleep 0.1;
    }

    is($status, 401, 'then the gateway refuses it');

    my @errors = grep { /\[(?:error|crit|alert|emerg)\]/ }
        split /\n/, BB::Authd::slurp($t->dir . '/error.log');
    is(scalar @errors, 0, 'nginx logged no error') or diag("@errors");

    $t->stop;
}


# ------------------------------------------------- Secure cookies

{
    my $secure = BB::Authd->new(name => 'authd_oauth_secure', pg => $pg,
        env => { AUTHD_COOKIE_SECURE => 'true' });

    $secure->start;

    my $res = $secure->http->get($secure->url('/apps'));
    my ($cookie) = cookies_set($res);

    like($cookie, qr/; Secure/, 'AUTHD_COOKIE_SECURE on: the cookie is Secure');
    like($cookie, qr/; HttpOnly/, 'and HttpOnly');

    $secure->stop;
}


# ---------------------------------------------------------------- the log

{
    $authd->stop;

    my $log = $authd->log;

    like($log, qr{req=\S+ POST /token 200 \d+ms client_id=demo-public},
        'one access line per request, with the client');
    unlike($log, qr{/authorize\?}, 'no query string in the log');

    my @found = grep { length($_) >= 8 && index($log, $_) >= 0 }
        sort keys %secrets;

    is(scalar @found, 0, 'no token, code, secret, password or session id'
        . ' in the log (' . scalar(keys %secrets) . ' checked)')
        or diag("found: @found");

    my @errors = $authd->error_lines;
    is(scalar @errors, 0, 'no error in the log') or diag(join "\n", @errors);
}


done_testing();

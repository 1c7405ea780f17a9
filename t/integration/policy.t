#!/usr/bin/perl

# The policy document and the configuration around it: nginx -t refuses an
# invalid or missing policy naming the file and the problem, and refuses
# contradictory directives; a running gateway picks up a replaced policy
# within about a second, and keeps the previous one when the replacement is
# invalid.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/../lib";

use Test::More;

use BB::Test qw(error_lines);


my $t = BB::Test->new;

my $k1 = $t->keygen(kid => 'k1');
my $k2 = $t->keygen(kid => 'k2', unlisted => 1);


# The configuration of this file; the tests vary the policy line and the
# location's directives (%%POLICY_LINE%% and %%LOCATION%% below).

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

    %%POLICY_LINE%%
    bluebutton_policy_check 1s;

    server {
        listen 127.0.0.1:%%PORT%%;
        server_name localhost;

        location /v1/fhir/ {
            %%LOCATION%%
            # the module rewrites Location itself
            proxy_redirect off;
            proxy_pass http://127.0.0.1:%%UPSTREAM_PORT%%/fhir/;
        }
    }
}
EOF

my $LOCATION = <<'EOF';
bluebutton on;
            bluebutton_upstream_base http://127.0.0.1:%%UPSTREAM_PORT%%/fhir;
            bluebutton_public_base http://127.0.0.1:%%PORT%%/v1/fhir;
EOF


sub conf {
    my (%opt) = @_;

    my $policy = exists $opt{policy} ? $opt{policy} : $t->policy_path;
    my $text = $CONF;
    my $line = defined $policy ? "bluebutton_policy $policy;" : '';

    $text =~ s/%%POLICY_LINE%%/$line/;
    $text =~ s/%%LOCATION%%\n/$opt{location} \/\/ $LOCATION/e;

    return $text;
}


sub refused_config {
    my ($name, $conf, @patterns) = @_;

    my $res = $t->nginx_test($conf);

    isnt($res->{status}, 0, "$name: nginx -t fails");
    like($res->{output}, qr/\[emerg\]/, "$name: emerg message");

    for my $pattern (@patterns) {
        like($res->{output}, $pattern, "$name: message");
    }

    return $res;
}


sub accepted_config {
    my ($name, $conf) = @_;

    my $res = $t->nginx_test($conf);

    is($res->{status}, 0, "$name: nginx -t succeeds")
        or diag($res->{output});
    like($res->{output}, qr/test is successful/, "$name: test is successful");
}


# A policy file of the test's own, next to the usual one.

sub policy_file {
    my ($name, $policy) = @_;

    return $t->write_policy($policy, $t->dir . "/$name.json");
}


# nginx -t on policies.

$t->write_policy($t->policy);

accepted_config('valid policy', conf());

{
    my $policy = $t->policy;

    $policy->{resource_types}{Patient}{foo} = 1;

    my $path = policy_file('unknown-field', $policy);

    refused_config('unknown field', conf(policy => $path),
        qr/\Qbluebutton_policy "$path": resource_types.Patient: \E(?x)
           \Qunknown field "foo"\E/);
}

{
    my $policy = $t->policy;

    push @{ $policy->{resource_types}{Coverage}{search_add} }, 'patient';

    my $path = policy_file('search-add', $policy);

    refused_config('search_add without "="', conf(policy => $path),
        qr/\Qbluebutton_policy "$path": \E(?x)
           \Qresource_types.Coverage.search_add[1]: "patient" has no "="\E/);
}

# The problem named: the wording beyond these words is the module's.

for my $case (
    [ 'not JSON', '{"policy_version": 1, "issuer": ', qr/line 1/ ],
    [ 'a JSON array', '[]', qr/object/ ],
    [ 'unknown interaction', sub {
          push @{ $_[0]{resource_types}{Coverage}{interactions} }, 'patch';
      }, qr/resource_types\.Coverage\.interactions.*"patch"/ ],
    [ 'no issuer', sub { delete $_[0]{issuer} }, qr/"issuer"/ ],
    [ 'no audience', sub { delete $_[0]{audience} }, qr/"audience"/ ],
    [ 'symmetric key', sub {
          push @{ $_[0]{keys}{keys} }, { kty => 'oct', alg => 'HS256',
                                         kid => 'h1', k => 'c2VjcmV0' };
      }, qr/keys\.keys\[1\]/ ],
    [ 'unknown url_id_mismatch', sub {
          $_[0]{resource_types}{Patient}{url_id_mismatch} = 'ignore';
      }, qr/resource_types\.Patient\.url_id_mismatch.*"ignore"/ ],
    [ 'unknown search_action', sub {
          $_[0]{resource_types}{Coverage}{search_action} = 'pass';
      }, qr/resource_types\.Coverage\.search_action.*"pass"/ ],
) {
    my ($name, $change, $problem) = @$case;
    my $policy = $change;

    if (ref $change) {
        $policy = $t->policy;
        $change->($policy);
    }

    my $file = $name;

    $file =~ s/\W+/-/g;

    my $path = policy_file($file, $policy);

    refused_config("policy $name", conf(policy => $path),
        qr/\Qbluebutton_policy "$path": \E.*$problem/);
}

{
    my $path = $t->dir . '/missing.json';

    refused_config('missing policy file', conf(policy => $path),
        qr/\Qbluebutton_policy "$path"\E/,
        qr/No such file or directory/);
}


# nginx -t on directives that contradict each other.

refused_config('bluebutton on without bluebutton_policy',
    conf(policy => undef), qr/bluebutton_policy/);

refused_config('bluebutton on without bluebutton_upstream_base',
    conf(location => "bluebutton on;\n"
         . "            bluebutton_public_base http://127.0.0.1/v1/fhir;\n"),
    qr/bluebutton_upstream_base/);

refused_config('bluebutton on without bluebutton_public_base',
    conf(location => "bluebutton on;\n"
         . "            bluebutton_upstream_base http://127.0.0.1/fhir;\n"),
    qr/bluebutton_public_base/);

accepted_config('bluebutton off needs neither base', conf(location => "\n"));

accepted_config('bluebutton_policy alone, no location using it',
    conf(location => "bluebutton off;\n"));


# A running gateway and a replaced policy.

my $without_coverage = $t->policy;

delete $without_coverage->{resource_types}{Coverage};

$t->write_policy($without_coverage);
$t->start(conf());

my $token = $t->mint(key => $k1);
my $token2 = $t->mint(key => $k2);


sub coverage {
    my ($tok) = @_;

    $t->clear_upstream_log;

    return $t->http(GET => '/v1/fhir/Coverage/cov-1',
        { Authorization => 'Bearer ' . ($tok // $token) });
}


{
    my $name = 'type not in the first policy';
    my $res = coverage();

    is($res->{status}, 404, "$name: 404");
    $t->upstream_saw_nothing($name);
    is(coverage($token2)->{status}, 401, "$name: key k2 unknown yet");
}

{
    my $name = 'replaced policy adding Coverage and key k2';
    my $mark = $t->log_mark;

    $t->write_policy($t->policy(keys => [ $k1, $k2 ]));
    $t->wait_policy;

    my $res = coverage();

    is($res->{status}, 200, "$name: Coverage read now 200");
    is(($t->upstream_one($name) // {})->{path},
        '/fhir/Coverage/cov-1?_format=json', "$name: upstream target");
    is(coverage($token2)->{status}, 200, "$name: key k2 accepted");
    is(join("\n", error_lines($t->log_since($mark))), '',
        "$name: error log clean");
}

for my $case (
    [ 'not JSON', '{"policy_version": 1, "issuer": ', qr/./ ],
    [ 'unknown field', sub { $_[0]{resource_types}{Patient}{foo} = 1 },
      qr/\Qresource_types.Patient: unknown field "foo"\E/ ],
) {
    my ($what, $change, $problem) = @$case;
    my $name = "replaced policy $what";
    my $policy = $change;

    if (ref $change) {
        $policy = $t->policy(keys => [ $k1 ]);
        $change->($policy);
    }

    my $mark = $t->log_mark;

    $t->write_policy($policy);
    $t->wait_policy;

    my $res = coverage();

    is($res->{status}, 200, "$name: previous policy still in force");
    is(coverage($token2)->{status}, 200, "$name: previous keys too");

    my $path = $t->policy_path;
    my @lines = grep { /previous policy/ } split /\n/, $t->log_since($mark);

    ok(scalar @lines, "$name: logged")
        or diag($t->log_since($mark));
    like($lines[0] // '', qr/\Q$path\E.* keeps the previous policy/,
        "$name: the contract's wording");
    like($lines[0] // '', qr/\[(warn|error|crit|alert)\]/,
        "$name: logged as a problem");
    like($lines[0] // '', qr/\Q$path\E/, "$name: names the file");
    like($lines[0] // '', $problem, "$name: names the problem");
}

{
    my $name = 'valid policy after an invalid one';

    $t->write_policy($without_coverage);
    $t->wait_policy;

    my $res = coverage();

    is($res->{status}, 404, "$name: Coverage gone again");
    $t->upstream_saw_nothing($name);
    is(coverage($token2)->{status}, 401, "$name: key k2 gone again");
}

# the invalid replacements log errors; nothing worse may happen

is(join("\n", grep { /\[(crit|alert|emerg)\]/ } split /\n/, $t->error_log),
    '', 'no crit, alert or emerg line in the whole error log');

done_testing;

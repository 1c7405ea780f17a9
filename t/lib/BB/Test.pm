package BB::Test;

# Harness for the gateway's integration tests.
#
# Each test file makes one BB::Test object: a private directory under
# t/integration/tmp/, a free loopback port for nginx, and a running test FHIR
# server (t/integration/upstream.pl) that logs every request it receives.
# The test writes its own complete nginx.conf, with %%NAME%% placeholders for
# what only the harness knows (directory, ports, module path), and runs a
# real nginx on it with the built module.  Keys and tokens come from bb-mint.
#
# The directory is removed at the end when every test passed; otherwise (or
# with BB_KEEP=1) it is kept and its path printed, with the logs inside.

use strict;
use warnings;

use Cwd qw(abs_path);
use Exporter qw(import);
use File::Basename qw(basename dirname);
use File::Path qw(make_path remove_tree);
use File::Temp qw(tempdir);
use HTTP::Tiny;
use IO::Socket::INET;
use JSON::PP;
use POSIX qw(WNOHANG);
use Test::More;
use Time::HiRes qw(sleep time);


our @EXPORT_OK = qw(query_pairs error_lines json_encode b64url
    b64url_decode);


my $TOP = abs_path(dirname(__FILE__) . '/../../..');
my $BUILD = $ENV{BB_BUILD} // "$TOP/build";

our $MODULE = "$BUILD/nginx/ngx_http_bluebutton_module.so";
our $MINT = "$BUILD/bb-mint";
our $NGINX = $ENV{BB_NGINX} // '/usr/sbin/nginx';

our $ISSUER = 'https://auth.bluebutton.test';
our $AUDIENCE = 'https://api.bluebutton.test/v1/fhir';

my $JSON = JSON::PP->new->canonical->utf8;
my @instances;
my $serial = 0;


sub new {
    my ($class, %opt) = @_;

    for my $file ([ $MODULE, 'the module' ], [ $MINT, 'bb-mint' ]) {
        next if -e $file->[0];

        BAIL_OUT("$file->[1] not found at $file->[0]: build it first "
            . "(cmake -S . -B build && cmake --build build)");
    }

    BAIL_OUT("nginx not found at $NGINX") unless -x $NGINX;

    my $name = $opt{name} // basename($0, '.t');
    my $tmp = $ENV{BB_TMP} // "$TOP/t/integration/tmp";

    make_path($tmp);

    my $dir = tempdir("$name-XXXXXX", DIR => $tmp);

    # nginx workers run as nobody when the master is root; they read the
    # policy from here.

    chmod 0755, $dir;

    my $self = bless {
        dir      => $dir,
        port     => free_port(),
        keys     => [],
        upstream => undef,
        nginx    => undef,
        vars     => {},
    }, $class;

    push @instances, $self;

    $self->start_upstream($opt{slow} // 4);

    return $self;
}


sub dir { $_[0]{dir} }
sub port { $_[0]{port} }
sub upstream_port { $_[0]{upstream_port} }
sub audience { $AUDIENCE }
sub policy_path { "$_[0]{dir}/policy.json" }


# The base URLs of the usual location: what clients see, and what the test
# upstream writes in its responses.

sub public_base {
    my ($self, $prefix) = @_;

    return "http://127.0.0.1:$self->{port}" . ($prefix // '/v1/fhir');
}


sub upstream_base {
    my ($self) = @_;

    return "http://127.0.0.1:$self->{upstream_port}/fhir";
}


sub free_port {
    my $sock = IO::Socket::INET->new(
        LocalAddr => '127.0.0.1',
        LocalPort => 0,
        Proto     => 'tcp',
        Listen    => 1,
    ) or die "harness: cannot bind a free port: $!\n";

    my $port = $sock->sockport;

    close $sock;

    return $port;
}


sub start_upstream {
    my ($self, $slow) = @_;

    my $script = "$TOP/t/integration/upstream.pl";
    my $portfile = "$self->{dir}/upstream.port";

    my $pid = fork // die "harness: fork: $!\n";

    if ($pid == 0) {

        # its own process group, so that stopping it also stops the
        # children still serving a slow request

        setpgrp(0, 0);
        open STDOUT, '>>', "$self->{dir}/upstream.stderr";
        open STDERR, '>&', \*STDOUT;
        exec $^X, $script, $self->{dir}, $slow;
        die "harness: exec $script: $!\n";
    }

    $self->{upstream} = $pid;

    my $deadline = time + 10;

    until (-s $portfile) {
        if (waitpid($pid, WNOHANG) == $pid) {
            $self->{upstream} = undef;
            die "harness: upstream.pl exited: "
                . slurp("$self->{dir}/upstream.stderr") . "\n";
        }

        die "harness: upstream.pl did not start\n" if time > $deadline;
        sleep 0.05;
    }

    chomp($self->{upstream_port} = slurp($portfile));
}


# Replace the %%NAME%% placeholders of a configuration text.

sub expand {
    my ($self, $text) = @_;

    my %vars = (
        DIR           => $self->{dir},
        MODULE        => $MODULE,
        PORT          => $self->{port},
        UPSTREAM_PORT => $self->{upstream_port},
        POLICY        => $self->policy_path,
        %{ $self->{vars} },
    );

    $text =~ s{%%(\w+)%%}{
        exists $vars{$1} ? $vars{$1} : die "harness: unknown %%$1%%\n"
    }ge;

    return $text;
}


# A placeholder of the test's own, e.g. a closed port.

sub set_var {
    my ($self, $name, $value) = @_;

    $self->{vars}{$name} = $value;
}


sub write_file {
    my ($self, $name, $data) = @_;

    my $path = $name =~ m{^/} ? $name : "$self->{dir}/$name";
    my $tmp = "$path.tmp." . $$ . '.' . $serial++;

    open my $fh, '>', $tmp or die "harness: open $tmp: $!\n";
    binmode $fh;
    print $fh $data;
    close $fh or die "harness: close $tmp: $!\n";
    chmod 0644, $tmp;
    rename $tmp, $path or die "harness: rename $tmp: $!\n";

    return $path;
}


# Start nginx on a complete configuration text (which holds "daemon off;")
# and wait until it accepts connections.

sub start {
    my ($self, $conf) = @_;

    $self->stop;

    my $path = $self->write_file('nginx.conf', $self->expand($conf));
    my @cmd = ($NGINX, '-p', "$self->{dir}/", '-c', $path,
               '-e', "$self->{dir}/error.log");

    my $pid = fork // die "harness: fork: $!\n";

    if ($pid == 0) {
        open STDOUT, '>>', "$self->{dir}/nginx.stderr";
        open STDERR, '>&', \*STDOUT;
        exec @cmd;
        die "harness: exec $NGINX: $!\n";
    }

    $self->{nginx} = $pid;

    my $deadline = time + 10;

    while (1) {
        my $sock = IO::Socket::INET->new(
            PeerAddr => '127.0.0.1',
            PeerPort => $self->{port},
            Proto    => 'tcp',
        );

        last if $sock;

        if (waitpid($pid, WNOHANG) == $pid) {
            $self->{nginx} = undef;
            die "harness: nginx exited at start-up:\n"
                . slurp("$self->{dir}/nginx.stderr")
                . slurp("$self->{dir}/error.log") . "\n";
        }

        die "harness: nginx does not listen on $self->{port}\n"
            if time > $deadline;
        sleep 0.05;
    }
}


sub stop {
    my ($self) = @_;

    my $pid = delete $self->{nginx} or return;

    kill 'TERM', $pid;

    my $deadline = time + 10;

    while (waitpid($pid, WNOHANG) != $pid) {
        if (time > $deadline) {
            kill 'KILL', $pid;
            waitpid($pid, 0);
            last;
        }

        sleep 0.05;
    }
}


sub stop_upstream {
    my ($self) = @_;

    my $pid = delete $self->{upstream} or return;

    kill 'TERM', -$pid;
    waitpid($pid, 0);
}


# Run "nginx -t" on a configuration text; returns the exit status and what
# nginx printed.

sub nginx_test {
    my ($self, $conf) = @_;

    my $path = $self->write_file('test-' . $serial++ . '.conf',
        $self->expand($conf));

    my $out = '';

    open my $fh, '-|', join(' ', map { shell_quote($_) } $NGINX, '-t',
        '-p', "$self->{dir}/", '-c', $path,
        '-e', "$self->{dir}/test-error.log") . ' 2>&1'
        or die "harness: run $NGINX: $!\n";

    {
        local $/;
        $out = <$fh> // '';
    }

    close $fh;

    return { status => $? >> 8, output => $out, conf => $path };
}


sub shell_quote {
    my ($s) = @_;

    $s =~ s/'/'\\''/g;

    return "'$s'";
}


# Policy documents.

sub write_policy {
    my ($self, $policy, $path) = @_;

    my $text = ref $policy ? JSON::PP->new->canonical->pretty->encode($policy)
                           : $policy;

    return $self->write_file($path // $self->policy_path, $text);
}


# The usual policy: the three Blue Button types, each reading only its
# patient's records, and the keys made so far.

sub policy {
    my ($self, %opt) = @_;

    my @keys = map { $_->{jwk} } @{ $opt{keys} // $self->{keys} };

    my %types = (
        Patient => {
            interactions    => [qw(read vread search history)],
            override_url_id => JSON::PP::true,
            override_search => JSON::PP::true,
            search_add      => ['_id=%PATIENT%'],
        },
        ExplanationOfBenefit => {
            interactions      => [qw(read search)],
            override_search   => JSON::PP::true,
            search_add        => ['patient=%PATIENT%'],
            patient_reference => 'patient',
        },
        Coverage => {
            interactions      => [qw(read search)],
            override_search   => JSON::PP::true,
            search_add        => ['beneficiary=Patient/%PATIENT%'],
            patient_reference => 'beneficiary',
        },
    );

    return {
        policy_version => 1,
        issuer         => $ISSUER,
        audience       => $AUDIENCE,
        keys           => { keys => \@keys },
        resource_types => \%types,
        revoked        => $opt{revoked} // [],
    };
}


# Keys and tokens, from bb-mint.

sub keygen {
    my ($self, %opt) = @_;

    my $kid = $opt{kid} // die "harness: keygen needs a kid\n";
    my $alg = $opt{alg} // 'ES256';
    my $private = "$self->{dir}/key-$kid-$serial.pem";
    my $jwkfile = "$self->{dir}/key-$kid-" . $serial++ . '.json';

    run_mint('keygen', '--kid', $kid, '--alg', $alg, '--private', $private,
        '--jwk', $jwkfile);

    my $text = slurp($jwkfile);
    my $jwk = $JSON->decode($text);

    $jwk = $jwk->{keys}[0] if ref $jwk->{keys} eq 'ARRAY';

    my $key = {
        kid      => $kid,
        alg      => $alg,
        private  => $private,
        jwk      => $jwk,
        jwk_text => $text,
    };

    push @{ $self->{keys} }, $key unless $opt{unlisted};

    return $key;
}


# The public key of a key pair in PEM, as an attacker would find it.

sub public_pem {
    my ($self, $key) = @_;

    return run_cmd('openssl', 'pkey', '-in', $key->{private}, '-pubout');
}


my %MINT_OPTION = (
    iss       => '--iss',
    aud       => '--aud',
    sub       => '--sub',
    client_id => '--client-id',
    scope     => '--scope',
    patient   => '--patient',
    jti       => '--jti',
    ttl       => '--ttl',
    iat       => '--iat',
    nbf       => '--nbf',
);


# A token from "bb-mint token"; the claims default to the usual ones (p1,
# read scopes on the three types) and an undef value leaves a claim out.

sub mint {
    my ($self, %opt) = @_;

    my $key = delete $opt{key} // $self->{keys}[0];
    my %claims = (
        iss       => $ISSUER,
        aud       => $AUDIENCE,
        sub       => 'user-1',
        client_id => 'client-1',
        scope     => default_scope(),
        patient   => 'p1',
        jti       => 'jti-' . $$ . '-' . $serial++,
        ttl       => 300,
        %opt,
    );

    my @args = ('token', '--key', $key->{private}, '--kid', $key->{kid},
        '--alg', $key->{alg});

    for my $name (sort keys %claims) {
        my $option = $MINT_OPTION{$name}
            or die "harness: mint has no claim \"$name\"\n";

        push @args, $option, $claims{$name} if defined $claims{$name};
    }

    return run_mint(@args);
}


sub default_scope {
    return 'patient/Patient.read patient/ExplanationOfBenefit.read '
        . 'patient/Coverage.read';
}


# The usual claims as a hash, for tokens made with sign().

sub claims {
    my ($self, %opt) = @_;

    my $now = time_now();
    my %claims = (
        iss       => $ISSUER,
        aud       => $AUDIENCE,
        sub       => 'user-1',
        client_id => 'client-1',
        scope     => default_scope(),
        patient   => 'p1',
        jti       => 'jti-' . $$ . '-' . $serial++,
        iat       => $now,
        exp       => $now + 300,
        %opt,
    );

    delete @claims{ grep { !defined $claims{$_} } keys %claims };

    return \%claims;
}


# A token from "bb-mint sign" over any header and payload.  The header
# defaults to {alg, kid, typ: at+jwt} of the key, with "header" entries
# added (undef removes one); "header_json" gives it verbatim instead.  The
# payload is claims() with "claims" entries, or "payload_json" verbatim.

sub sign {
    my ($self, %opt) = @_;

    my $key = $opt{key} // $self->{keys}[0];
    my $header = $opt{header_json};
    my $payload = $opt{payload_json};

    if (!defined $header) {
        my %h = (
            alg => $key->{alg},
            kid => $key->{kid},
            typ => 'at+jwt',
            %{ $opt{header} // {} },
        );

        delete @h{ grep { !defined $h{$_} } keys %h };
        $header = $JSON->encode(\%h);
    }

    $payload //= $JSON->encode($self->claims(%{ $opt{claims} // {} }));

    return run_mint('sign', '--key', $key->{private}, '--header', $header,
        '--payload', $payload);
}


sub run_mint {
    my $out = run_cmd($MINT, @_);

    $out =~ s/\s+\z//;

    return $out;
}


sub run_cmd {
    my (@cmd) = @_;

    open my $fh, '-|', @cmd or die "harness: run $cmd[0]: $!\n";

    my $out = do { local $/; <$fh> } // '';

    close $fh;

    die "harness: \"@cmd[0,1]\" failed with status " . ($? >> 8) . "\n"
        if $?;

    return $out;
}


sub time_now {
    return int(CORE::time());
}


# HTTP to nginx.  Returns {status, reason, headers (lower-case names, an
# array for repeated ones), body, json (when the body parses)}.

sub http {
    my ($self, $method, $path, $headers, $body) = @_;

    my $ua = HTTP::Tiny->new(keep_alive => 0, timeout => 30,
        max_redirect => 0);

    my $res = $ua->request($method, "http://127.0.0.1:$self->{port}$path", {
        headers => $headers // {},
        defined $body ? (content => $body) : (),
    });

    return finish_response({
        status  => $res->{status},
        reason  => $res->{reason},
        headers => $res->{headers},
        body    => $res->{content} // '',
    });
}


# A request written byte for byte (for targets no client library sends);
# "Connection: close" and HTTP/1.0 keep the answer simple to read.

sub raw {
    my ($self, $request) = @_;

    my $sock = IO::Socket::INET->new(
        PeerAddr => '127.0.0.1',
        PeerPort => $self->{port},
        Proto    => 'tcp',
        Timeout  => 30,
    ) or die "harness: connect: $!\n";

    print $sock $request;

    my $data = do { local $/; <$sock> } // '';

    close $sock;

    my ($head, $body) = split /\r\n\r\n/, $data, 2;
    my ($line, @lines) = split /\r\n/, $head // '';
    my ($status, $reason) = ($line // '') =~ m{^HTTP/\d\.\d (\d{3}) ?(.*)};
    my %headers;

    for (@lines) {
        my ($name, $value) = /^([^:]+):\s*(.*)$/ or next;

        $name = lc $name;

        if (exists $headers{$name}) {
            $headers{$name} = [ ref $headers{$name} ? @{ $headers{$name} }
                                                    : $headers{$name},
                                $value ];
        } else {
            $headers{$name} = $value;
        }
    }

    return finish_response({
        status  => $status // 0,
        reason  => $reason,
        headers => \%headers,
        body    => $body // '',
    });
}


sub raw_get {
    my ($self, $target, $token) = @_;

    return $self->raw("GET $target HTTP/1.0\r\n"
        . "Host: 127.0.0.1:$self->{port}\r\n"
        . (defined $token ? "Authorization: Bearer $token\r\n" : '')
        . "Connection: close\r\n\r\n");
}


sub finish_response {
    my ($res) = @_;

    my $json = eval { $JSON->decode($res->{body}) };

    $res->{json} = $json if ref $json;

    return $res;
}


# What the test upstream received: one hash per request, with "target"
# (path and raw query as received), "uri_path" and "query" (undef when the
# target has no "?").

sub upstream_requests {
    my ($self) = @_;

    my $log = "$self->{dir}/upstream.log";

    return [] unless -e $log;

    my @requests;

    for my $line (split /\n/, slurp($log)) {
        my $req = $JSON->decode($line);

        ($req->{uri_path}, $req->{query}) = split /\?/, $req->{path}, 2;
        push @requests, $req;
    }

    return \@requests;
}


sub clear_upstream_log {
    my ($self) = @_;

    unlink "$self->{dir}/upstream.log";
}


# Test::More checks of what reached the upstream since the last clear.

sub upstream_saw_nothing {
    my ($self, $name) = @_;

    my $requests = $self->upstream_requests;

    is(scalar @$requests, 0, "$name: nothing forwarded")
        or diag(explain([ map { "$_->{method} $_->{path}" } @$requests ]));
}


# The one request the upstream saw, or undef after a failed test.

sub upstream_one {
    my ($self, $name) = @_;

    my $requests = $self->upstream_requests;

    is(scalar @$requests, 1, "$name: one request forwarded")
        or diag(explain([ map { "$_->{method} $_->{path}" } @$requests ]));

    return $requests->[0];
}


sub error_log {
    my ($self) = @_;

    return slurp("$self->{dir}/error.log");
}


sub access_log {
    my ($self) = @_;

    return slurp("$self->{dir}/access.log");
}


# The size of the error log now, to read what a request adds to it.

sub log_mark {
    my ($self) = @_;

    return -s "$self->{dir}/error.log" // 0;
}


sub log_since {
    my ($self, $mark) = @_;

    return substr($self->error_log, $mark // 0);
}


# The lines at error level or worse.

sub error_lines {
    my ($text) = @_;

    return grep { /\[(error|crit|alert|emerg)\]/ } split /\n/, $text;
}


# Wait for a replaced policy file to be picked up: workers stat() it every
# bluebutton_policy_check (1s in the tests).

sub wait_policy {
    sleep 1.5;
}


# A decoded list of [name, value] pairs from a query string or form body.

sub query_pairs {
    my ($query) = @_;

    return [] unless defined $query && length $query;

    return [ map {
        my ($n, $v) = split /=/, $_, 2;
        [ pct_decode($n), pct_decode($v // '') ]
    } split /&/, $query ];
}


sub pct_decode {
    my ($s) = @_;

    $s =~ tr/+/ /;
    $s =~ s/%([0-9A-Fa-f]{2})/chr hex $1/ge;

    return $s;
}


sub json_encode { $JSON->encode($_[0]) }


sub b64url {
    require MIME::Base64;

    my $s = MIME::Base64::encode_base64($_[0], '');

    $s =~ tr{+/}{-_};
    $s =~ s/=+$//;

    return $s;
}


sub b64url_decode {
    require MIME::Base64;

    my $s = $_[0];

    $s =~ tr{-_}{+/};
    $s .= '=' x ((4 - length($s) % 4) % 4);

    return MIME::Base64::decode_base64($s);
}


sub slurp {
    my ($path) = @_;

    open my $fh, '<', $path or return '';
    binmode $fh;

    local $/;

    return <$fh> // '';
}


sub cleanup {
    my ($self) = @_;

    $self->stop;
    $self->stop_upstream;

    if (Test::More->builder->is_passing && !$ENV{BB_KEEP}) {
        remove_tree($self->{dir});
    } else {
        diag("test directory kept: $self->{dir}");
    }
}


END {
    local $?;

    $_->cleanup for @instances;
}


1;

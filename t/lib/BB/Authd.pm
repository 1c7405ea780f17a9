package BB::Authd;

# Runs the built authd for integration tests.
#
# Each BB::Authd object has a private directory under t/integration/tmp/,
# two free loopback ports (public and admin) and a PostgreSQL cluster
# (BB::Pg, made unless one is given).  Its settings are the test defaults
# below plus the test's own; the environment authd sees holds no other
# AUTHD_* variable nor DATABASE_URL.  run() runs a subcommand and returns
# its status and output; start() runs "authd migrate" then "authd serve"
# and waits until /healthz answers 200; stop() sends SIGTERM.  authd's
# stderr goes to authd.log in the directory, which is removed at the end
# when every test passed (kept, with its path printed, otherwise or with
# BB_KEEP=1).

use strict;
use warnings;

use Cwd qw(abs_path);
use File::Basename qw(basename dirname);
use File::Path qw(make_path remove_tree);
use File::Temp qw(tempdir);
use HTTP::Tiny;
use IO::Socket::INET;
use POSIX qw(WNOHANG);
use Test::More;
use Time::HiRes qw(sleep time);

use BB::Pg;


my $TOP = abs_path(dirname(__FILE__) . '/../../..');
my $BUILD = $ENV{BB_BUILD} // "$TOP/build";

our $AUTHD = "$BUILD/authd";

my @instances;


sub new {
    my ($class, %opt) = @_;

    BAIL_OUT("authd not found at $AUTHD: build it first "
        . "(cmake -S . -B build && cmake --build build)") unless -x $AUTHD;

    my $name = $opt{name} // basename($0, '.t');
    my $tmp = $ENV{BB_TMP} // "$TOP/t/integration/tmp";

    make_path($tmp);

    my $dir = tempdir("$name-XXXXXX", DIR => $tmp);
    my $pg = $opt{pg} // BB::Pg->new;
    my $port = free_port();
    my $admin_port = free_port();

    my $self = bless {
        dir        => $dir,
        pg         => $pg,
        port       => $port,
        admin_port => $admin_port,
        pid        => undef,
        http       => HTTP::Tiny->new(timeout => 10, max_redirect => 0),
        env        => {
            DATABASE_URL           => $pg->url,
            AUTHD_LISTEN           => "127.0.0.1:$port",
            AUTHD_ADMIN_LISTEN     => "127.0.0.1:$admin_port",
            AUTHD_ISSUER           => "http://127.0.0.1:$port",
            AUTHD_AUDIENCE         => 'http://127.0.0.1:8080/v1/fhir',
            AUTHD_POLICY_PATH      => "$dir/policy.json",
            AUTHD_KEY_PASSPHRASE   => 'integration test passphrase',
            AUTHD_SCRYPT_LN        => 14,
            AUTHD_COOKIE_SECURE    => 'false',
            AUTHD_THREADS          => 2,
            AUTHD_DB_POOL          => 4,
            AUTHD_LOG_LEVEL        => 'info',
            %{ $opt{env} // {} },
        },
    }, $class;

    push @instances, $self;

    return $self;
}


sub dir { $_[0]{dir} }
sub pg { $_[0]{pg} }
sub port { $_[0]{port} }
sub admin_port { $_[0]{admin_port} }
sub http { $_[0]{http} }
sub log_path { "$_[0]{dir}/authd.log" }
sub log { slurp($_[0]->log_path) }


sub url {
    my ($self, $path) = @_;

    return "http://127.0.0.1:$self->{port}" . ($path // '');
}


sub admin_url {
    my ($self, $path) = @_;

    return "http://127.0.0.1:$self->{admin_port}" . ($path // '');
}


# Change a setting for the next run() or start(); undef removes it.

sub set_env {
    my ($self, %env) = @_;

    for my $name (keys %env) {
        if (defined $env{$name}) {
            $self->{env}{$name} = $env{$name};
        } else {
            delete $self->{env}{$name};
        }
    }
}


# The environment of a child: the settings only, over the rest of ours.

sub child_env {
    my ($self, %extra) = @_;

    for my $name (keys %ENV) {
        delete $ENV{$name}
            if $name =~ /^AUTHD_/ || $name eq 'DATABASE_URL';
    }

    my %env = (%{ $self->{env} }, %extra);

    for my $name (keys %env) {
        $ENV{$name} = $env{$name} if defined $env{$name};
    }
}


# Run a subcommand to its end: { status, output } (stdout and stderr).
# A hash reference first gives settings for this run only.

sub run {
    my ($self, @args) = @_;

    my %extra = ref $args[0] eq 'HASH' ? %{ shift @args } : ();

    pipe my $r, my $w or die "authd: pipe: $!\n";

    my $pid = fork // die "authd: fork: $!\n";

    if ($pid == 0) {
        close $r;
        open STDOUT, '>&', $w;
        open STDERR, '>&', $w;
        $self->child_env(%extra);
        exec $AUTHD, @args;
        die "authd: exec $AUTHD: $!\n";
    }

    close $w;

    my $out = do { local $/; <$r> } // '';

    close $r;
    waitpid $pid, 0;

    return { status => $? >> 8, signal => $? & 127, output => $out };
}


sub migrate {
    my ($self) = @_;

    my $res = $self->run('migrate');

    die "authd: migrate failed:\n$res->{output}" if $res->{status} != 0;

    return $res;
}


# Migrate, then serve until /healthz answers 200 on both listeners.

sub start {
    my ($self, %opt) = @_;

    $self->stop;
    $self->migrate unless $opt{no_migrate};

    my $pid = fork // die "authd: fork: $!\n";

    if ($pid == 0) {
        open STDOUT, '>>', $self->log_path;
        open STDERR, '>&', \*STDOUT;
        $self->child_env;
        exec $AUTHD, 'serve';
        die "authd: exec $AUTHD: $!\n";
    }

    $self->{pid} = $pid;

    my $deadline = time + 10;

    for my $url ($self->url('/healthz'), $self->admin_url('/healthz')) {
        while (1) {
            my $res = $self->{http}->get($url);

            last if $res->{status} == 200;

            if (waitpid($pid, WNOHANG) == $pid) {
                $self->{pid} = undef;
                die "authd: serve exited at start-up:\n" . $self->log . "\n";
            }

            die "authd: $url does not answer 200\n" . $self->log . "\n"
                if time > $deadline;

            sleep 0.05;
        }
    }

    return $pid;
}


# SIGTERM, then the exit status (undef when it had to be killed).

sub stop {
    my ($self) = @_;

    my $pid = delete $self->{pid} or return;

    kill 'TERM', $pid;

    my $deadline = time + 10;

    while (waitpid($pid, WNOHANG) != $pid) {
        if (time > $deadline) {
            kill 'KILL', $pid;
            waitpid($pid, 0);
            return undef;
        }

        sleep 0.05;
    }

    return $?;
}


# Log lines at the error or fatal level.

sub error_lines {
    my ($self) = @_;

    return grep { /^\S+ (?:error|fatal) / } split /\n/, $self->log;
}


sub free_port {
    my $sock = IO::Socket::INET->new(
        LocalAddr => '127.0.0.1',
        LocalPort => 0,
        Proto     => 'tcp',
        Listen    => 1,
    ) or die "authd: cannot bind a free port: $!\n";

    my $port = $sock->sockport;

    close $sock;

    return $port;
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

    if (Test::More->builder->is_passing && !$ENV{BB_KEEP}) {
        remove_tree($self->{dir});
    } else {
        diag("test directory kept: $self->{dir}");
    }

    # the cluster goes with the last reference to it

    delete $self->{pg};
}


END {
    local $?;

    $_->cleanup for @instances;
    @instances = ();
}


1;

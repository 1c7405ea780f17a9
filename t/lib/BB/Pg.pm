package BB::Pg;

# A throwaway PostgreSQL 15 cluster for integration tests.
#
# initdb (--no-sync) makes a cluster in a private directory; the server
# listens only on a Unix socket in a directory of its own (no TCP port, so
# clusters of concurrent tests never collide) and runs with fsync off.  As
# root, every PostgreSQL command runs as the postgres user through runuser;
# as any other user, directly.  The cluster is stopped and its directory
# removed when the object goes away (kept with BB_KEEP=1).

use strict;
use warnings;

use File::Path qw(remove_tree);
use File::Temp qw(tempdir);
use POSIX qw(WNOHANG);
use Time::HiRes qw(sleep time);


our $BIN = $ENV{BB_PG_BIN} // '/usr/lib/postgresql/15/bin';


sub new {
    my ($class, %opt) = @_;

    for my $tool (qw(initdb pg_ctl psql)) {
        die "pg: $BIN/$tool not found (apt-get install postgresql)\n"
            unless -x "$BIN/$tool";
    }

    my $dir = tempdir('bb-pg-XXXXXX', TMPDIR => 1);

    my $self = bless {
        dir     => $dir,
        data    => "$dir/data",
        socket  => "$dir/socket",
        db      => $opt{db} // 'authd',
        running => 0,
        owner   => $$,
    }, $class;

    mkdir $self->{socket} or die "pg: mkdir $self->{socket}: $!\n";

    if ($> == 0) {
        my (undef, undef, $uid, $gid) = getpwnam('postgres')
            or die "pg: no postgres user\n";

        chown $uid, $gid, $dir, $self->{socket};
    }

    chmod 0700, $dir;

    $self->run_pg("$BIN/initdb", '-D', $self->{data}, '--no-sync',
        '-A', 'trust', '-U', 'postgres', '-E', 'UTF8', '--locale=C');

    $self->start;
    $self->psql('postgres', "CREATE DATABASE $self->{db}");

    return $self;
}


sub dir { $_[0]{dir} }
sub socket_dir { $_[0]{socket} }


# What authd's DATABASE_URL holds.

sub url {
    my ($self) = @_;

    return "postgresql:///$self->{db}?host=$self->{socket}&user=postgres";
}


sub start {
    my ($self) = @_;

    $self->run_pg("$BIN/pg_ctl", '-D', $self->{data}, '-w', '-t', '30',
        '-l', "$self->{dir}/postgres.log",
        '-o', "-k $self->{socket} -c listen_addresses='' -c fsync=off"
            . " -c full_page_writes=off -c synchronous_commit=off",
        'start');

    $self->{running} = 1;
}


sub stop {
    my ($self) = @_;

    return unless $self->{running};

    $self->run_pg("$BIN/pg_ctl", '-D', $self->{data}, '-w', '-t', '30',
        '-m', 'fast', 'stop');

    $self->{running} = 0;
}


sub restart {
    my ($self) = @_;

    $self->stop;
    $self->start;
}


# Run SQL through psql in the test database (or another one); returns the
# output rows, fields separated by '|'.  Dies on an error.

sub psql {
    my ($self, @args) = @_;

    my $db = @args > 1 ? shift @args : $self->{db};
    my ($sql) = @args;

    my $out = $self->run_pg("$BIN/psql", '-X', '-q', '-A', '-t',
        '-v', 'ON_ERROR_STOP=1', '-h', $self->{socket}, '-U', 'postgres',
        '-d', $db, '-c', $sql);

    return split /\n/, $out;
}


# Run a PostgreSQL program as the postgres user, from "/" (the postgres
# user may not enter the test's directory); returns its output, dies with
# it when the program fails.

sub run_pg {
    my ($self, @cmd) = @_;

    unshift @cmd, 'runuser', '-u', 'postgres', '--' if $> == 0;

    pipe my $r, my $w or die "pg: pipe: $!\n";

    my $pid = fork // die "pg: fork: $!\n";

    if ($pid == 0) {
        close $r;
        open STDOUT, '>&', $w;
        open STDERR, '>&', $w;
        chdir '/';
        exec @cmd;
        die "pg: exec $cmd[0]: $!\n";
    }

    close $w;

    my $out = do { local $/; <$r> } // '';

    close $r;
    waitpid $pid, 0;

    die "pg: @cmd failed:\n$out" if $? != 0;

    return $out;
}


sub DESTROY {
    my ($self) = @_;

    # only the process that made the cluster removes it, not a child of
    # a fork()

    return if $$ != $self->{owner};

    local ($?, $@);

    eval { $self->stop };

    if ($ENV{BB_KEEP}) {
        print STDERR "# PostgreSQL cluster kept in $self->{dir}\n";
        return;
    }

    remove_tree($self->{dir});
}


1;

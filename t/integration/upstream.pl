#!/usr/bin/perl

# A small FHIR server standing in for the backend behind the gateway.
#
# It listens on a free loopback port, writes that port to DIR/upstream.port
# once it accepts connections, and appends one JSON line per request to
# DIR/upstream.log: the method, the request target exactly as it arrived
# (path and raw query), the headers and the body.  The tests read that log
# to assert what the gateway forwarded, and that it forwarded nothing when
# it refused a request.
#
# Every absolute URL it writes starts with its own base
# http://127.0.0.1:<port>/fhir, so that the tests can check the gateway
# rewrites them; one URL in each resource starts with .../fhirX/ instead and
# must come back untouched.  A few resource ids simulate failures:
#
#   boom   answers 500
#   slow   sleeps SLOW seconds (default 4) before answering
#   gz     gzip-compresses the body whatever the request accepts
#   xml    answers application/fhir+xml
#
# usage: upstream.pl DIR [SLOW]

use strict;
use warnings;

use Fcntl qw(:flock O_WRONLY O_APPEND O_CREAT);
use HTTP::Daemon;
use HTTP::Response;
use HTTP::Status qw(status_message);
use IO::Compress::Gzip qw(gzip $GzipError);
use JSON::PP;
use URI;


my $dir = shift @ARGV or die "usage: upstream.pl DIR [SLOW]\n";
my $slow = shift @ARGV // 4;

my $json = JSON::PP->new->canonical->utf8;

# Which patient each patient-linked resource belongs to.  The special ids
# belong to p1 so that a p1 token reaches the failure they simulate.

my %owner = (
    ExplanationOfBenefit => { 'eob-1' => 'p1', 'eob-2' => 'p2' },
    Coverage             => { 'cov-1' => 'p1', 'cov-2' => 'p2' },
);

my %special = map { $_ => 1 } qw(boom slow gz xml);


# HTTP::Daemon turns the request target into a URI object, which escapes
# what it considers unsafe; this class keeps the target as it arrived.

package BB::Upstream::RawURI;

our $target;

sub new {
    my ($class, $str, $scheme) = @_;

    $target = $str;
    return URI->new($str, $scheme);
}


package main;

my $daemon = HTTP::Daemon->new(
    LocalAddr => '127.0.0.1',
    LocalPort => 0,
    ReuseAddr => 1,
    Listen    => 128,
) or die "upstream: listen: $!\n";

my $port = $daemon->sockport;
my $base = "http://127.0.0.1:$port/fhir";
my $outside = "http://127.0.0.1:$port/fhirX";

write_file("$dir/upstream.port.tmp", "$port\n");
rename "$dir/upstream.port.tmp", "$dir/upstream.port"
    or die "upstream: rename: $!\n";

$SIG{CHLD} = 'IGNORE';
$SIG{TERM} = sub { exit 0 };

while (1) {
    my $conn = $daemon->accept or next;
    my $pid = fork;

    if (!defined $pid) {
        warn "upstream: fork: $!\n";
        $conn->close;
        next;
    }

    if ($pid == 0) {
        serve($conn);
        exit 0;
    }

    $conn->close;
}


sub serve {
    my ($conn) = @_;

    $conn->timeout(30);

    while (my $req = next_request($conn)) {
        log_request($req);
        $conn->send_response(respond($req));
    }

    $conn->close;
}


sub next_request {
    my ($conn) = @_;

    local $HTTP::URI_CLASS = 'BB::Upstream::RawURI';
    local $BB::Upstream::RawURI::target;

    my $req = $conn->get_request or return undef;

    $req->{bb_target} = $BB::Upstream::RawURI::target;

    return $req;
}


sub log_request {
    my ($req) = @_;

    my (%headers, @list);

    for my $name ($req->headers->header_field_names) {
        my @values = $req->headers->header($name);

        push @list, [ $name, $_ ] for @values;
        $headers{ lc $name } = join ', ', @values;
    }

    my $line = $json->encode({
        method       => $req->method,
        path         => $req->{bb_target},
        protocol     => $req->protocol,
        headers      => \%headers,
        header_list  => \@list,
        body         => $req->content,
        time         => time,
    });

    sysopen my $fh, "$dir/upstream.log", O_WRONLY | O_APPEND | O_CREAT
        or die "upstream: open log: $!\n";
    flock $fh, LOCK_EX;
    syswrite $fh, "$line\n";
    close $fh;
}


sub respond {
    my ($req) = @_;

    my ($path, $query) = split /\?/, $req->{bb_target}, 2;
    $query //= '';

    my $method = $req->method;

    if ($path eq '/fhir/metadata' && $method eq 'GET') {
        return fhir(200, capability());
    }

    if ($path =~ m{^/fhir/(\w+)/_search$} && $method eq 'POST') {
        return fhir(200, searchset($1, $req->content));
    }

    if ($path =~ m{^/fhir/(\w+)$} && $method eq 'GET') {
        return fhir(200, searchset($1, $query));
    }

    if ($path =~ m{^/fhir/(\w+)/_history$} && $method eq 'GET') {
        return fhir(200, history($1, undef));
    }

    if ($path =~ m{^/fhir/(\w+)/([^/]+)(/_history(?:/([^/]+))?)?$}
        && $method eq 'GET')
    {
        my ($type, $id, $hist, $vid) = ($1, $2, $3, $4);

        if ($hist && !defined $vid) {
            return failure($id) // fhir(200, history($type, $id));
        }

        return read_resource($type, $id);
    }

    return fhir(404, outcome('not-found', "no route for $method $path"));
}


sub read_resource {
    my ($type, $id) = @_;

    my $fail = failure($id);
    return $fail if $fail;

    my $resource = resource($type, $id)
        or return fhir(404, outcome('not-found', "$type/$id not found"));

    my %headers = (
        'Location'         => "$base/$type/$id/_history/1",
        'Content-Location' => "$base/$type/$id",
    );

    if ($id eq 'xml') {
        return HTTP::Response->new(200, 'OK',
            [ 'Content-Type' => 'application/fhir+xml;charset=utf-8',
              %headers ],
            xml_resource($type, $id));
    }

    my $body = $json->encode($resource);

    if ($id eq 'gz') {
        my $gz;

        gzip(\$body => \$gz) or die "upstream: gzip: $GzipError\n";

        return HTTP::Response->new(200, 'OK',
            [ 'Content-Type'     => 'application/fhir+json;charset=utf-8',
              'Content-Encoding' => 'gzip',
              %headers ],
            $gz);
    }

    return HTTP::Response->new(200, 'OK',
        [ 'Content-Type' => 'application/fhir+json;charset=utf-8',
          %headers ],
        $body);
}


# The failure a special id simulates, or undef.

sub failure {
    my ($id) = @_;

    if ($id eq 'boom') {
        return fhir(500, outcome('exception', 'simulated failure'));
    }

    if ($id eq 'slow') {
        sleep $slow;
    }

    return undef;
}


sub resource {
    my ($type, $id) = @_;

    if ($type eq 'Patient') {
        return {
            resourceType => 'Patient',
            id           => $id,
            meta         => { versionId => '1' },
            identifier   => [ { system => "$outside/identifier/mbi",
                                value  => "mbi-$id" } ],
            link         => [ { type  => 'seealso',
                                other => { reference =>
                                           "$base/Patient/$id" } } ],
            name         => [ { family => "Family-$id" } ],
        };
    }

    if ($owner{$type}) {
        my $patient = $owner{$type}{$id};

        $patient //= 'p1' if $special{$id};
        return undef unless defined $patient;

        my $field = $type eq 'Coverage' ? 'beneficiary' : 'patient';

        return {
            resourceType => $type,
            id           => $id,
            meta         => { versionId => '1' },
            $field       => { reference => "Patient/$patient" },
            identifier   => [ { system => "$outside/identifier/claim",
                                value  => "claim-$id" } ],
            extension    => [ { url => "$base/StructureDefinition/x",
                                valueString => 'x' } ],
        };
    }

    return {
        resourceType => $type,
        id           => $id,
        extension    => [ { url => "$base/StructureDefinition/x",
                            valueString => 'x' } ],
    };
}


sub xml_resource {
    my ($type, $id) = @_;

    return <<"XML";
<?xml version="1.0" encoding="UTF-8"?>
<$type xmlns="http://hl7.org/fhir">
  <id value="$id"/>
  <identifier>
    <system value="$outside/identifier/mbi"/>
    <value value="mbi-$id"/>
  </identifier>
  <link>
    <other><reference value="$base/$type/$id"/></other>
  </link>
</$type>
XML
}


sub searchset {
    my ($type, $query) = @_;

    my $id = $type eq 'ExplanationOfBenefit' ? 'eob-1'
           : $type eq 'Coverage'             ? 'cov-1'
           : 'p1';
    my $resource = resource($type, $id);

    return {
        resourceType => 'Bundle',
        type         => 'searchset',
        total        => 1,
        link         => [ { relation => 'self',
                            url      => "$base/$type?$query" } ],
        entry        => [ { fullUrl  => "$base/$type/$id",
                            resource => $resource } ],
    };
}


sub history {
    my ($type, $id) = @_;

    my $rid = $id // ($type eq 'ExplanationOfBenefit' ? 'eob-1'
                    : $type eq 'Coverage'             ? 'cov-1'
                    : 'p1');
    my $resource = resource($type, $rid);
    my $self = defined $id ? "$base/$type/$id/_history"
                           : "$base/$type/_history";

    return {
        resourceType => 'Bundle',
        type         => 'history',
        total        => $resource ? 1 : 0,
        link         => [ { relation => 'self', url => $self } ],
        entry        => $resource
                        ? [ { fullUrl  => "$base/$type/$rid",
                              resource => $resource,
                              request  => { method => 'PUT',
                                            url    => "$type/$rid" } } ]
                        : [],
    };
}


sub capability {
    my @all = map { { code => $_ } }
        qw(read vread update patch delete history-instance history-type
           create search-type);

    my @resources = map {
        {
            type        => $_,
            profile     => "$base/StructureDefinition/$_",
            interaction => [ @all ],
            searchParam => [ { name => '_id', type => 'token' } ],
        }
    } qw(Patient ExplanationOfBenefit Coverage Observation);

    return {
        resourceType   => 'CapabilityStatement',
        status         => 'active',
        date           => '2024-01-01',
        kind           => 'instance',
        fhirVersion    => '4.0.1',
        format         => [ 'application/fhir+json', 'application/fhir+xml' ],
        implementation => { description => 'test upstream', url => $base },
        rest           => [ {
            mode        => 'server',
            resource    => \@resources,
            interaction => [ map { { code => $_ } }
                             qw(transaction batch search-system
                                history-system) ],
            operation   => [ { name       => 'everything',
                               definition => "$base/OperationDefinition/x" } ],
        } ],
    };
}


sub outcome {
    my ($code, $text) = @_;

    return {
        resourceType => 'OperationOutcome',
        issue        => [ { severity    => 'error',
                            code        => $code,
                            diagnostics => $text } ],
    };
}


sub fhir {
    my ($status, $doc) = @_;

    return HTTP::Response->new($status, status_message($status),
        [ 'Content-Type' => 'application/fhir+json;charset=utf-8' ],
        $json->encode($doc));
}


sub write_file {
    my ($path, $data) = @_;

    open my $fh, '>', $path or die "upstream: open $path: $!\n";
    print $fh $data;
    close $fh or die "upstream: close $path: $!\n";
}

#!/usr/bin/perl

# The demo's app: runs the authorization code flow with PKCE against authd
# as a browser and an app would (authorize, the login form, the consent
# page, the token endpoint) and prints the access token.
#
# usage: demo-client.pl ISSUER CLIENT_ID REDIRECT_URI USERNAME PASSWORD_FILE

use strict;
use warnings;

use Digest::SHA qw(sha256);
use HTML::Entities qw(decode_entities);
use HTTP::Tiny;
use JSON::PP;
use MIME::Base64 qw(encode_base64url);
use URI::Escape qw(uri_escape uri_unescape);


my ($issuer, $client_id, $redirect, $username, $password_file) = @ARGV;

die "usage: demo-client.pl ISSUER CLIENT_ID REDIRECT_URI USERNAME "
    . "PASSWORD_FILE\n" unless defined $password_file;

open my $fh, '<', $password_file or die "$password_file: $!\n";
chomp(my $password = <$fh>);
close $fh;

my $http = HTTP::Tiny->new(max_redirect => 0, timeout => 10);
my %jar;


sub form {
    my (@pairs) = @_;

    my @out;

    while (@pairs) {
        my ($k, $v) = splice @pairs, 0, 2;
        push @out, uri_escape($k) . '=' . uri_escape($v);
    }

    return join '&', @out;
}


sub browse {
    my ($method, $url, $pairs) = @_;

    $url = "$issuer$url" if $url =~ m{^/};

    my %headers;
    $headers{Cookie} = join '; ', map { "$_=$jar{$_}" } keys %jar if %jar;

    my %args = (headers => \%headers);

    if ($pairs) {
        $headers{'Content-Type'} = 'application/x-www-form-urlencoded';
        $args{content} = form(@$pairs);
    }

    my $res = $http->request($method, $url, \%args);
    my $set = $res->{headers}{'set-cookie'} // [];

    for my $c (ref $set ? @$set : ($set)) {
        $jar{$1} = $2 if $c =~ /^([^=]+)=([^;]*)/;
    }

    return $res;
}


sub hidden {
    my ($html) = @_;

    my @pairs;

    while ($html =~ /<input type="hidden" name="([^"]*)" value="([^"]*)">/g)
    {
        push @pairs, decode_entities($1), decode_entities($2);
    }

    return @pairs;
}


sub fail {
    my ($what, $res) = @_;

    die "demo-client: $what: $res->{status}\n";
}


my $verifier = encode_base64url(join '', map { chr int rand 256 } 1 .. 32);
my $state = encode_base64url(join '', map { chr int rand 256 } 1 .. 12);

my $res = browse(GET => '/authorize?' . form(
    response_type => 'code', client_id => $client_id,
    redirect_uri => $redirect, state => $state,
    scope => 'launch/patient openid fhirUser patient/*.rs',
    code_challenge => encode_base64url(sha256($verifier)),
    code_challenge_method => 'S256'));

fail('authorize', $res) unless $res->{status} == 200;

# the login form, then the consent page with every scope approved

$res = browse(POST => '/authorize', [ hidden($res->{content}),
    action => 'login', username => $username, password => $password ]);
fail('login', $res) unless $res->{status} == 303;

$res = browse(GET => $res->{headers}{location});

if ($res->{status} == 200) {
    my @scopes = $res->{content} =~ /name="scope_item" value="([^"]*)"/g;

    $res = browse(POST => '/authorize', [ hidden($res->{content}),
        action => 'approve',
        map { (scope_item => decode_entities($_)) } @scopes ]);
}

my ($query) = ($res->{headers}{location} // '') =~ /\?(.*)$/
    or fail('consent', $res);
my %p = map { map { uri_unescape($_) } split /=/, $_, 2 } split /&/, $query;

die "demo-client: authorization refused: $p{error}\n" if $p{error};
die "demo-client: state does not match\n" if ($p{state} // '') ne $state;

$res = $http->request('POST', "$issuer/token", {
    headers => { 'Content-Type' => 'application/x-www-form-urlencoded' },
    content => form(grant_type => 'authorization_code', code => $p{code},
        redirect_uri => $redirect, client_id => $client_id,
        code_verifier => $verifier) });

fail('token', $res) unless $res->{status} == 200;

print decode_json($res->{content})->{access_token}, "\n";

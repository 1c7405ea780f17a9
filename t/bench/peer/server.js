// The peer of authd's token endpoint benchmark: node-oidc-provider set up
// to issue what authd issues.  One public client that must use PKCE S256,
// access tokens as ES256-signed JWTs for one resource (the FHIR base), a
// refresh token with every code exchange (the scope holds offline_access)
// and a new one on every refresh, the old one consumed.
//
// Before it listens it creates the codes and refresh tokens the benchmark
// spends (mint.js) through the provider's own models, so they live in its
// in-memory adapter as if /authorize had issued them.  It prints
// "peer: ready" on stdout once it accepts requests.
//
// Settings (env): PEER_PORT, PEER_RESOURCE, PEER_SCOPE, PEER_CLIENT_ID,
// PEER_REDIRECT_URI, PEER_CODE_CHALLENGE, PEER_POOL (credentials of each
// kind), PEER_OUT (directory for the files "codes" and "refresh").

import { generateKeyPairSync } from 'node:crypto';

import Provider from 'oidc-provider';
import MemoryAdapter from 'oidc-provider/lib/adapters/memory_adapter.js';
import LRU from 'oidc-provider/lib/helpers/lru.js';

import { mint } from './mint.js';


function setting(name, fallback) {
    const value = process.env[name] ?? fallback;

    if (value === undefined || value === '') {
        console.error(`peer: ${name} is not set`);
        process.exit(1);
    }

    return value;
}


const port = Number(setting('PEER_PORT', '8410'));
const issuer = `http://127.0.0.1:${port}`;
const resource = setting('PEER_RESOURCE', 'http://127.0.0.1:8080/v1/fhir');
const scope = setting('PEER_SCOPE',
                      'patient/ExplanationOfBenefit.rs offline_access');
const clientId = setting('PEER_CLIENT_ID', 'bench-app');
const redirectUri = setting('PEER_REDIRECT_URI',
                            'http://127.0.0.1:9999/callback');
const codeChallenge = setting('PEER_CODE_CHALLENGE');
const pool = Number(setting('PEER_POOL'));
const out = setting('PEER_OUT');

// the scopes the resource server knows: everything asked for but the
// OAuth-only ones, as authd puts them into the access token

const resourceScope = scope.split(' ')
    .filter((s) => s !== 'offline_access' && s !== 'openid')
    .join(' ');

const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const jwk = { ...privateKey.export({ format: 'jwk' }),
              kid: 'bench', alg: 'ES256', use: 'sig' };

// The in-memory adapter as the provider ships it, but with room for the
// whole pool: its default store keeps about 1,000 entries and would drop
// the credentials created in advance before the load reaches them.

const store = new LRU({ maxSize: 8 * pool + 1000000 });

const provider = new Provider(issuer, {
    adapter: (model) => new MemoryAdapter(model, store, 0),
    clients: [{
        client_id: clientId,
        token_endpoint_auth_method: 'none',
        application_type: 'web',
        id_token_signed_response_alg: 'ES256',
        grant_types: ['authorization_code', 'refresh_token'],
        response_types: ['code'],
        redirect_uris: [redirectUri],
    }],
    jwks: { keys: [jwk] },
    pkce: { required: () => true },

    // the SMART "patient" claim authd puts into its tokens; authd reads
    // it from the crosswalk, here it follows from the account id

    extraTokenClaims: (ctx, token) => ({
        patient: `bench-patient-${token.accountId}`,
    }),
    rotateRefreshToken: true,
    features: {
        devInteractions: { enabled: false },
        resourceIndicators: {
            enabled: true,
            defaultResource: () => resource,
            useGrantedResource: () => true,
            getResourceServerInfo: () => ({
                scope: resourceScope,
                audience: resource,
                accessTokenTTL: 3600,
                accessTokenFormat: 'jwt',
                jwt: { sign: { alg: 'ES256' } },
            }),
        },
    },
    ttl: {
        AccessToken: 3600,

        // codes are created before the load starts, so they must outlive
        // the whole run; authd's are inserted with the same lifetime

        AuthorizationCode: 3600,
        RefreshToken: 14 * 24 * 3600,
        Grant: 365 * 24 * 3600,
        IdToken: 3600,
        Interaction: 3600,
        Session: 3600,
    },
});

// a refused request must show in the output, not only as a status

provider.on('grant.error', (ctx, err) => {
    if (!provider.benchErrors) {
        provider.benchErrors = 0;
    }
    provider.benchErrors += 1;

    if (provider.benchErrors <= 5) {
        console.error(`peer: token error: ${err.message}`
                      + ` ${err.error_description ?? ''}`);
    }
});

await mint(provider, {
    clientId, redirectUri, resource, scope, resourceScope, codeChallenge,
    pool, out,
});

const server = provider.listen(port, '127.0.0.1', () => {
    console.log('peer: ready');
});

server.keepAliveTimeout = 60000;

process.on('SIGTERM', () => {
    server.close();
    process.exit(0);
});

// Creates the credentials the benchmark spends, through the provider's own
// models, as its /authorize and /token would have stored them: for each
// code and each refresh token a Grant of its own (one beneficiary each,
// as in authd's run), the code bound to the PKCE challenge and the
// redirect URI, the refresh token as a code exchange leaves it.  Writes
// one value per line to OUT/codes and OUT/refresh.

import { createWriteStream } from 'node:fs';
import { once } from 'node:events';


async function newGrant(provider, clientId, accountId, resource, o) {
    const grant = new provider.Grant({ accountId, clientId });

    grant.addOIDCScope('offline_access');
    grant.addResourceScope(resource, o.resourceScope);

    return grant.save();
}


async function writeLine(stream, line) {
    if (!stream.write(`${line}\n`)) {
        await once(stream, 'drain');
    }
}


async function close(stream) {
    stream.end();
    await once(stream, 'finish');
}


export async function mint(provider, o) {
    const client = await provider.Client.find(o.clientId);
    const codes = createWriteStream(`${o.out}/codes`);
    const refresh = createWriteStream(`${o.out}/refresh`);
    const started = Date.now();

    if (!client) {
        throw new Error(`no client "${o.clientId}"`);
    }

    for (let i = 0; i < o.pool; i++) {
        const accountId = `code-user-${i}`;
        const grantId = await newGrant(provider, o.clientId, accountId,
                                       o.resource, o);
        const code = new provider.AuthorizationCode({
            accountId,
            client,
            grantId,
            redirectUri: o.redirectUri,
            scope: o.scope,
            resource: o.resource,
            codeChallenge: o.codeChallenge,
            codeChallengeMethod: 'S256',
        });

        await writeLine(codes, await code.save());
    }

    for (let i = 0; i < o.pool; i++) {
        const accountId = `refresh-user-${i}`;
        const grantId = await newGrant(provider, o.clientId, accountId,
                                       o.resource, o);
        const token = new provider.RefreshToken({
            accountId,
            client,
            grantId,
            gty: 'authorization_code',
            scope: o.scope,
            resource: o.resource,
            rotations: 0,
        });

        await writeLine(refresh, await token.save());
    }

    await close(codes);
    await close(refresh);

    console.error(`peer: created ${o.pool} codes and ${o.pool} refresh`
                  + ` tokens in ${Date.now() - started} ms`);
}

#ifndef TOOL_JWS_H
#define TOOL_JWS_H

#include <openssl/evp.h>


/* b64url(header) "." b64url(payload) "." b64url(signature), or NULL */
char *tool_jws_compact(EVP_PKEY *pkey, const char *header,
    const char *payload);


#endif /* TOOL_JWS_H */

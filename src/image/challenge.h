/* WWW-Authenticate challenges (RFC 7235 section 4.1) and the Bearer token
 * request URL registries expect (the Docker token authentication spec).
 *
 *   WWW-Authenticate = 1#challenge
 *   challenge  = auth-scheme [ 1*SP ( token68 / #auth-param ) ]
 *   auth-param = token BWS "=" BWS ( token / quoted-string )
 *
 * Schemes and parameter names are case-insensitive: both are stored
 * lowercased. Values keep their case, quoted-string escapes removed. */
#pragma once

#include <stddef.h>

#include "base/error.h"

typedef struct rk_auth_param {
    char *name; /* lowercased */
    char *value;
} rk_auth_param;

typedef struct rk_challenge {
    char *scheme;  /* lowercased: "bearer", "basic" */
    char *token68; /* the token68 form ("Negotiate abc=="), or NULL */
    size_t n_params;
    rk_auth_param *params;
} rk_challenge;

typedef struct rk_challenges {
    size_t n;
    rk_challenge *v; /* in header order */
} rk_challenges;

/* Parse one header value (several headers can be joined with ", "). Fails
 * on malformed input with `invalid WWW-Authenticate header: ...`. A
 * parameter given twice in one challenge is an error. */
int rk_challenges_parse(const char *header, rk_challenges **ret,
                        rk_error **err);
void rk_challenges_free(rk_challenges *c);
static inline void rk_challenges_freep(rk_challenges **c)
{
    rk_challenges_free(*c);
    *c = 0;
}
#define _cleanup_challenges_ __attribute__((cleanup(rk_challenges_freep)))

/* The first challenge with this scheme (case-insensitive), or NULL. */
const rk_challenge *rk_challenges_find(const rk_challenges *c,
                                       const char *scheme);
/* The value of a parameter (name case-insensitive), or NULL. */
const char *rk_challenge_param(const rk_challenge *c, const char *name);

/* Percent-encode everything except RFC 3986 unreserved characters. */
char *rk_url_escape(const char *s);

/* "REALM?service=SERVICE&scope=S1&scope=S2" with the values
 * percent-encoded; '&' instead of '?' when the realm already has a query.
 * service may be NULL (left out), scopes may be NULL or empty. The realm
 * must be an http:// or https:// URL without spaces, control characters or
 * fragment. */
int rk_bearer_token_url(const char *realm, const char *service,
                        const char *const *scopes, char **ret, rk_error **err);

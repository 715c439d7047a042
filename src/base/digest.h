/* sha256 digests in the "sha256:<64 lowercase hex>" form registries use. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "base/error.h"

#define RK_DIGEST_LEN 71 /* "sha256:" + 64 hex digits */

typedef struct rk_sha256 {
    void *ctx; /* EVP_MD_CTX */
} rk_sha256;

int rk_sha256_init(rk_sha256 *h);
void rk_sha256_update(rk_sha256 *h, const void *data, size_t len);
/* Writes "sha256:<hex>" (RK_DIGEST_LEN + 1 bytes) and frees the context. */
void rk_sha256_final(rk_sha256 *h, char out[RK_DIGEST_LEN + 1]);
void rk_sha256_free(rk_sha256 *h);
void rk_sha256_buf(const void *data, size_t len, char out[RK_DIGEST_LEN + 1]);

/* Is `d` a well-formed sha256 digest ("sha256:" + exactly 64 lowercase hex)? */
bool rk_digest_valid(const char *d);
/* Fails with a message naming the digest unless rk_digest_valid(). Digests
 * from the network become file names, so this check guards the store. */
int rk_digest_check(const char *d, rk_error **err);
/* The hex part of a valid digest. */
static inline const char *rk_digest_hex(const char *d) { return d + 7; }
/* Short form for humans: the first 12 hex digits. */
char *rk_digest_short(const char *d);

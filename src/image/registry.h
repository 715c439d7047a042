/* A client for one repository on one registry (the OCI distribution API).
 *
 * Auth (anonymous or credentialed Bearer tokens, Basic), retries with
 * backoff, resumable blob downloads and parallel transfers live here. It
 * does not know what the bytes mean: the caller verifies digests and
 * unpacks. Transfers use libcurl; connections are reused across requests. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/digest.h"
#include "base/error.h"

typedef struct rk_registry rk_registry;

typedef struct rk_registry_opts {
    const char *host;     /* host[:port] as named ("docker.io", "127.0.0.1:5000") */
    const char *path;     /* repository path on that host ("library/debian") */
    bool insecure;        /* registries.conf insecure=true: TLS unverified, HTTP fallback */
    int tls_verify;       /* -1 default, 0 --tls-verify=false, 1 --tls-verify=true */
    /* Extra CA certificates, added to the system store: CERT_DIR/NAME.crt,
     * and a client certificate CERT_DIR/NAME.cert with its NAME.key; NULL
     * means containers-certs.d(5): /etc/containers/certs.d/HOST/, then
     * /etc/docker/certs.d/HOST/. */
    const char *cert_dir;
    const char *user;     /* explicit credentials, else the auth files are read */
    const char *password;
    /* Retry policy; 0 means the default (5 attempts, 250 ms first backoff). */
    int max_attempts;
    int backoff_ms;
} rk_registry_opts;

int rk_registry_new(const rk_registry_opts *o, rk_registry **ret, rk_error **err);
void rk_registry_free(rk_registry *r);
static inline void rk_registry_freep(rk_registry **r)
{
    rk_registry_free(*r);
    *r = 0;
}
#define _cleanup_registry_ __attribute__((cleanup(rk_registry_freep)))

/* "http://127.0.0.1:5000" once known (after the first request). */
const char *rk_registry_base_url(const rk_registry *r);
/* Requests made so far (for tests and --debug). */
unsigned rk_registry_request_count(const rk_registry *r);

typedef struct rk_fetched {
    char *data;
    size_t len;
    char *content_type;
    char digest[RK_DIGEST_LEN + 1]; /* sha256 of data */
} rk_fetched;
void rk_fetched_clear(rk_fetched *f);

/* GET a manifest by tag or digest. When fetched by digest the content must
 * hash to it. Errors name the reference and carry the registry's message. */
int rk_registry_get_manifest(rk_registry *r, const char *tag_or_digest,
                             rk_fetched *out, rk_error **err);
/* HEAD a manifest: the digest the registry would serve (from
 * Docker-Content-Digest), or NULL in *ret_digest when it does not say. */
int rk_registry_head_manifest(rk_registry *r, const char *tag_or_digest,
                              char **ret_digest, rk_error **err);
/* GET a small blob (a config) into memory, verified by size and digest. */
int rk_registry_get_blob(rk_registry *r, const char *digest, int64_t size,
                         rk_fetched *out, rk_error **err);

/* A streamed blob download. Bytes reach on_data in order, exactly once,
 * across retries and resumed connections (Range: bytes=N-). */
typedef struct rk_blob_job {
    const char *digest;
    int64_t size;   /* from the descriptor; more bytes than this is an error */
    int64_t offset; /* bytes the caller already has (resume from a partial file) */
    char *const *urls; /* foreign layer URLs, tried when the registry has none */
    int (*on_data)(void *ctx, const void *buf, size_t len, rk_error **err);
    void (*on_progress)(void *ctx, int64_t done, int64_t total);
    void *ctx;
    /* Called once the last byte arrived; may verify and commit. */
    int (*on_done)(void *ctx, rk_error **err);
    int64_t received; /* out: offset + bytes delivered */
} rk_blob_job;

/* Download all jobs, at most max_parallel at a time. Fails as soon as one
 * job fails for good (after retries), aborting the others. */
int rk_registry_fetch_blobs(rk_registry *r, rk_blob_job *jobs, size_t n,
                            unsigned max_parallel, rk_error **err);

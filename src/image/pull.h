/* Pulling an image into the store: resolve the reference through
 * registries.conf, fetch and verify the manifest, the config and the layers,
 * unpack the layers while they download, then name the image in index.json.
 *
 * The library never prints: progress is reported through an event
 * callback, which the command line turns into bars or status lines. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/error.h"
#include "image/store.h"

enum rk_pull_event_kind {
    RK_PULL_EV_RESOLVING,    /* message: the reference and where it is tried */
    RK_PULL_EV_MANIFEST,     /* digest: the manifest chosen; n_layers known */
    RK_PULL_EV_LAYER_EXISTS, /* layer_index already in the store */
    RK_PULL_EV_LAYER_START,  /* layer_index starts downloading (total = size) */
    RK_PULL_EV_LAYER_PROGRESS,
    RK_PULL_EV_LAYER_DONE,   /* downloaded, verified and unpacked */
    RK_PULL_EV_UP_TO_DATE,   /* nothing to download */
    RK_PULL_EV_DONE,         /* digest: the image ID */
    RK_PULL_EV_NOTE,         /* message: a fallback or retry worth telling */
};

typedef struct rk_pull_event {
    enum rk_pull_event_kind kind;
    const char *ref;     /* the normalized reference being pulled */
    const char *digest;  /* manifest, layer or image digest, by kind */
    const char *message;
    size_t layer_index, n_layers;
    int64_t done, total;
} rk_pull_event;

typedef void (*rk_pull_event_cb)(void *ctx, const rk_pull_event *ev);

typedef struct rk_pull_opts {
    const char *platform;  /* "os/arch[/variant]" or NULL for the host's */
    int tls_verify;        /* -1 default, 0 false, 1 true */
    const char *cert_dir;  /* containers-certs.d directory, NULL for the default */
    unsigned max_parallel; /* layer downloads at once; 0 = 4 */
    rk_pull_event_cb on_event;
    void *ctx;
    /* Only for tests: retry policy passed to the registry client. */
    int max_attempts;
    int backoff_ms;
} rk_pull_opts;

typedef struct rk_pull_result {
    char *image_id;   /* config digest */
    char *ref_name;   /* the name it is stored under */
    char *repo_digest;
    bool downloaded;  /* false when the image was already up to date */
} rk_pull_result;
void rk_pull_result_clear(rk_pull_result *r);

/* Pull `ref` into the store. Errors name the reference and, for a bad
 * blob, its digest; a bad reference, a blocked registry or an unknown
 * platform have err->status 125. */
int rk_pull(rk_store *s, const char *ref, const rk_pull_opts *o,
            rk_pull_result *ret, rk_error **err);

/* rk_pull() lives in the core and costs nothing until it is called: it
 * dlopens racker-pull.so (libcurl, libarchive and friends) on first use
 * and calls this function in it. Programs linked with the network half
 * (the tests) call it directly. */
int rk_pull_direct(rk_store *s, const char *ref, const rk_pull_opts *o,
                   rk_pull_result *ret, rk_error **err);
#define RK_PULL_MODULE "racker-pull.so"

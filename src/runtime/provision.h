/* Provisioning: installing systemd (and curl, wget) into an OS image that
 * lacks it, with the image's own package manager, so that it can boot.
 *
 * Contract (written by the lead; the implementation lives in
 * src/runtime/provision.c, the pure detection in src/image/osrelease.c):
 *   - detection reads /etc/os-release (ID, ID_LIKE, VERSION_ID) of the
 *     merged image through image/layers.h, never by running anything;
 *   - provisioning runs the family's commands in a non-booted container
 *     of the base image with the host's network and resolv.conf, keeps
 *     the container's writable layer and stores it as a derived image
 *     (rk_store_commit_derived) keyed by the base image ID and the recipe
 *     (a digest of the commands), so the next run finds it at once;
 *   - a failure leaves no derived image and its error carries the last
 *     lines of the package manager's output. */
#pragma once

#include <stdbool.h>

#include "base/error.h"
#include "image/osrelease.h"
#include "image/store.h"

typedef struct rk_provision_opts {
    const char *containers_dir; /* <store>/containers */
    const char *rundir;         /* --runroot */
    /* Each line the package manager prints, as it comes (NULL: quiet). */
    void (*on_line)(void *ctx, const char *line);
    void *ctx;
    /* The derived image's name; NULL: made from the base's first name,
     * "localhost/racker-provisioned/debian:bookworm" for docker.io's
     * debian:bookworm (other registries keep their host in the path). */
    const char *name;
} rk_provision_opts;

/* What provisioning would do with an image, from its files alone (its
 * os-release, /bin/sh and which package managers it has). */
typedef enum rk_provision_kind {
    RK_PROVISION_NOT_OS,     /* no /etc/os-release nor /usr/lib/os-release:
                              * an application image */
    RK_PROVISION_UNKNOWN_OS, /* an os-release of no family Racker knows
                              * (Alpine, say) */
    RK_PROVISION_IMPOSSIBLE, /* a known family, but provisioning cannot work:
                              * no package manager, systemd too old, no
                              * /bin/sh, an os-release that does not parse */
    RK_PROVISION_READY,      /* recipe holds what would run */
} rk_provision_kind;

typedef struct rk_provision_plan {
    rk_provision_kind kind;
    rk_os_release os;   /* parsed (empty for NOT_OS and unparsable files) */
    rk_recipe recipe;   /* READY only */
    char *reason;       /* why not, one line (every kind but READY) */
} rk_provision_plan;

void rk_provision_plan_clear(rk_provision_plan *p);
/* Fill *ret for an image (its layer_dirs; none at all is NOT_OS). Only an
 * I/O error reading the layers returns -1. */
int rk_provision_inspect(const rk_image *img, rk_provision_plan *ret, rk_error **err);

/* The name a derived image gets by default: the prefix + the base's first
 * name, without docker.io's "docker.io/library/" and with another
 * registry's host as a path component ("127.0.0.1:5000" ->
 * "127.0.0.1-5000"); the tag is kept (a digest-only name gets the first 12
 * digits of the base ID as its tag). A base without names, or a name that
 * would be too long: ".../image:<12 digits>". */
#define RK_PROVISION_NAME_PREFIX "localhost/racker-provisioned/"
char *rk_provision_derived_name(const rk_image *base);

/* The stored derived image of base for the current recipe, or NULL in
 * *ret (0 returned) when there is none yet. */
int rk_provision_find(rk_store *s, const rk_image *base, rk_image **ret, rk_error **err);

/* Provision base (when rk_provision_find has nothing) and return the
 * derived image. Error status 125; err->msg is one line, then, when the
 * package manager ran, its last lines (each indented by two spaces). The
 * message does not name the image: the caller wraps it ("provisioning
 * debian:bookworm: ...").
 *
 * Concurrent calls for the same base (two `racker run` at once) serialize
 * on <store>/locks/provision-<base hex>: the second waits and then finds
 * the first one's image. The container is named
 * racker-provision-<base hex, 12 digits>; one left by a killed racker is
 * removed by the next lock holder. on_line is called from a helper thread
 * (with every signal blocked), one line at a time, never concurrently. */
int rk_provision(rk_store *s, const rk_image *base, const rk_provision_opts *o,
                 rk_image **ret, rk_error **err);

/* The image store under --root (default /var/lib/racker).
 *
 * On-disk layout (see docs/ARCHITECTURE.md):
 *   oci-layout, index.json    an OCI image layout that skopeo and umoci read;
 *                             index.json lists one manifest per reference
 *                             (annotation org.opencontainers.image.ref.name)
 *   blobs/sha256/<hex>        manifests, configs and compressed layers
 *   layers/<chainid-hex>/     one unpacked layer in overlayfs format
 *                             (whiteouts as 0:0 char devices, opaque dirs
 *                             as trusted.overlay.opaque=y), shared by every
 *                             image whose layer chain starts the same way
 *     root/                   the layer's files
 *   containers/<id>/          containers (written by the runtime); each has
 *                             container.json naming its "image_id"
 *   locks/                    flock files: one per blob and per layer
 *   store.lock                shared by writers, exclusive for prune
 *   tmp/                      temporaries; anything here can be deleted by
 *                             the next writer that holds its lock */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/error.h"
#include "image/manifest.h"

typedef struct rk_store rk_store;

/* Open (and create if needed) the store at root. */
int rk_store_open(const char *root, rk_store **ret, rk_error **err);
void rk_store_close(rk_store *s);
static inline void rk_store_closep(rk_store **s)
{
    rk_store_close(*s);
    *s = 0;
}
#define _cleanup_store_ __attribute__((cleanup(rk_store_closep)))

const char *rk_store_root(const rk_store *s);
/* <root>/containers, created on open. */
const char *rk_store_containers_dir(const rk_store *s);

typedef struct rk_image {
    char *id;              /* the config digest (Docker's image ID) */
    char *manifest_digest; /* the OCI manifest index.json refers to */
    char *repo_digest;     /* what the registry served for the tag (index or
                            * manifest digest), or NULL for local images */
    char **refs;           /* every reference naming this image, sorted */
    rk_image_config *config;
    rk_platform platform;
    size_t n_layers;
    char **layer_dirs;      /* absolute paths of layer roots, bottom first */
    char **layer_chain_ids; /* "sha256:..." per layer, bottom first */
    int64_t size;           /* sum of compressed layer sizes */
    int64_t created;        /* seconds since the epoch, from the config; 0 if unknown */
    char *pulled;           /* RFC 3339 time the image was stored */
} rk_image;

void rk_image_free(rk_image *img);
static inline void rk_image_freep(rk_image **i)
{
    rk_image_free(*i);
    *i = 0;
}
#define _cleanup_image_ __attribute__((cleanup(rk_image_freep)))

/* Find an image by reference ("debian:bookworm", "docker.io/library/debian",
 * "name@sha256:..."), by full or short (at least 4 hex digits, unique) ID,
 * or by "sha256:<id>". Not found: -1 with errno-like err->errnum ENOENT and
 * the message `no such image: REF`. */
int rk_store_find_image(rk_store *s, const char *ref_or_id, rk_image **ret,
                        rk_error **err);
/* Every image in the store, one entry per image (not per reference). */
int rk_store_list_images(rk_store *s, rk_image ***ret, size_t *n,
                         rk_error **err);
void rk_image_list_free(rk_image **v, size_t n);

/* Is the image with this ID used by a container (any dir under
 * containers/ whose container.json has this "image_id")? */
bool rk_store_image_in_use(rk_store *s, const char *image_id);

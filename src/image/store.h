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

/* ---- Writing: used by pull, provisioning and prune. ---- */

/* Chain IDs (the layer keys): chain[0] = diff_ids[0];
 * chain[i] = sha256(chain[i-1] + " " + diff_ids[i]). As in Docker: a layer
 * dir depends on the layers below it (hardlinks to lower layers are
 * materialized), so equal chains, not equal tars, are what can be shared. */
char **rk_store_chain_ids(char *const *diff_ids);

/* Paths inside the store; the caller frees them. */
char *rk_store_blob_path(const rk_store *s, const char *digest);
char *rk_store_layer_path(const rk_store *s, const char *chain_id); /* .../layers/<hex> */
char *rk_store_layer_root(const rk_store *s, const char *chain_id); /* .../layers/<hex>/root */
bool rk_store_has_blob(const rk_store *s, const char *digest);
bool rk_store_has_layer(const rk_store *s, const char *chain_id);

/* Locks. A writer holds the store lock shared for its whole run (prune
 * takes it exclusively). Per-object locks guard one blob or one layer:
 * whoever holds the lock owns the object's temporary, so a temporary found
 * by a lock holder is stale (its writer died) and may be reused or
 * removed. All return the lock fd (close it to release). */
int rk_store_lock_shared(rk_store *s, rk_error **err);
int rk_store_lock_exclusive(rk_store *s, rk_error **err);
int rk_store_lock_blob(rk_store *s, const char *digest, rk_error **err);
int rk_store_lock_layer(rk_store *s, const char *chain_id, rk_error **err);

/* The temporary of a blob being downloaded: tmp/blob-<hex>.partial. Kept
 * across interrupted pulls so the next one can resume with Range. */
char *rk_store_blob_partial_path(const rk_store *s, const char *digest);
/* Move a verified partial into blobs/ (fsync, rename, fsync dir). */
int rk_store_commit_blob(rk_store *s, const char *digest, rk_error **err);
/* Store a small blob after checking that data hashes to digest. */
int rk_store_put_blob(rk_store *s, const char *digest, const void *data,
                      size_t len, rk_error **err);
int rk_store_read_blob(const rk_store *s, const char *digest, size_t max,
                       char **ret, size_t *ret_len, rk_error **err);

/* A fresh, empty temporary directory for unpacking a layer:
 * tmp/layer-<hex>/root (a stale one is removed first; hold the layer lock). */
int rk_store_layer_tmp(rk_store *s, const char *chain_id, char **ret_dir,
                       char **ret_root, rk_error **err);
/* Move a finished tmp layer into layers/<hex> with its metadata. */
int rk_store_commit_layer(rk_store *s, const char *chain_id,
                          const char *diff_id, const char *blob_digest,
                          int64_t unpacked_size, rk_error **err);

typedef struct rk_store_tag_info {
    const char *ref_name;         /* "docker.io/library/debian:bookworm" */
    const char *manifest_digest;  /* the OCI manifest blob (already stored) */
    int64_t manifest_size;
    const char *image_id;         /* config digest */
    const char *repo_digest;      /* what the registry served, or NULL */
    const char *source_manifest;  /* the registry's manifest if converted, or NULL */
    const rk_platform *platform;
    const char *derived_from;     /* provisioned images: the base image ID, or NULL */
    const char *recipe;           /* provisioned images: recipe key, or NULL */
} rk_store_tag_info;

/* Point ref_name at an image in index.json (replacing what it named). */
int rk_store_tag(rk_store *s, const rk_store_tag_info *t, rk_error **err);
/* Remove ref_name from index.json. 1 if removed, 0 if it was not there.
 * With keep_dangling, the last name of an image leaves the image in the
 * index without a name (for images a container still uses). */
int rk_store_untag(rk_store *s, const char *ref_name, bool keep_dangling,
                   rk_error **err);
/* Remove every index entry of an image (all its names). Returns the number
 * of entries removed. Blobs and layers stay until prune. */
int rk_store_remove_image(rk_store *s, const char *image_id, rk_error **err);

typedef struct rk_prune_stats {
    size_t blobs_removed, layers_removed, temps_removed;
    int64_t bytes_freed;
} rk_prune_stats;
/* Remove blobs, layers and temporaries that no image and no container
 * uses. Takes the store lock exclusively. */
int rk_store_prune(rk_store *s, rk_prune_stats *stats, rk_error **err);

/* Mounting an image's merged root file system read-only (image mount). */
char *rk_store_image_mount_path(const rk_store *s, const rk_image *img);
int rk_store_mount_image(rk_store *s, const rk_image *img, char **ret_path,
                         rk_error **err);
int rk_store_unmount_image(rk_store *s, const rk_image *img, rk_error **err);
/* <root>/empty: the empty directory that a single-layer overlay sits on. */
const char *rk_store_empty_dir(const rk_store *s);

/* ---- Derived images (provisioning) ---- */

typedef struct rk_derived_info {
    const rk_image *base;
    /* An overlayfs upper directory on the store's file system (for
     * instance a kept container's writable layer): it becomes the new
     * top layer, moved into layers/ (not copied), and is packed as a
     * tar+gzip blob for the OCI layout (whiteouts become .wh. files). */
    const char *upper_dir;
    const char *ref_name;   /* the name it gets in index.json */
    const char *recipe;     /* what was done, as a key ("sha256:..." of the commands) */
    const char *created_by; /* the config's history entry */
} rk_derived_info;

/* Store base + upper_dir as a new image. On failure nothing is named and
 * upper_dir is left where it was. */
int rk_store_commit_derived(rk_store *s, const rk_derived_info *d, rk_image **ret,
                            rk_error **err);
/* The derived image of base_id made by recipe, or *ret = NULL (returns 0)
 * when there is none. */
int rk_store_find_derived(rk_store *s, const char *base_id, const char *recipe,
                          rk_image **ret, rk_error **err);

/* Manifests, indexes and image configs (OCI and Docker schema 2).
 *
 * Pure parsing: no I/O. Everything that comes from the network is checked
 * here before the store uses it (digests well formed, sizes non-negative).
 *
 * Refusals of the image itself (schema 1, a non-image artifact, a layer
 * media type we cannot unpack, no entry for the platform) carry
 * err->status 125: another mirror would serve the same document. Malformed
 * documents have status 0. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/error.h"

#define RK_MT_OCI_MANIFEST "application/vnd.oci.image.manifest.v1+json"
#define RK_MT_OCI_INDEX "application/vnd.oci.image.index.v1+json"
#define RK_MT_DOCKER_MANIFEST "application/vnd.docker.distribution.manifest.v2+json"
#define RK_MT_DOCKER_LIST "application/vnd.docker.distribution.manifest.list.v2+json"
#define RK_MT_DOCKER_SCHEMA1 "application/vnd.docker.distribution.manifest.v1+json"
#define RK_MT_DOCKER_SCHEMA1_SIGNED "application/vnd.docker.distribution.manifest.v1+prettyjws"
#define RK_MT_OCI_CONFIG "application/vnd.oci.image.config.v1+json"
#define RK_MT_DOCKER_CONFIG "application/vnd.docker.container.image.v1+json"
#define RK_MT_OCI_LAYER "application/vnd.oci.image.layer.v1.tar"
#define RK_MT_OCI_LAYER_GZIP "application/vnd.oci.image.layer.v1.tar+gzip"
#define RK_MT_OCI_LAYER_ZSTD "application/vnd.oci.image.layer.v1.tar+zstd"
#define RK_MT_DOCKER_LAYER_GZIP "application/vnd.docker.image.rootfs.diff.tar.gzip"
/* The value of Accept for manifest requests. */
#define RK_MANIFEST_ACCEPT                                                     \
    RK_MT_OCI_INDEX ", " RK_MT_OCI_MANIFEST ", " RK_MT_DOCKER_LIST             \
                    ", " RK_MT_DOCKER_MANIFEST

enum rk_manifest_kind {
    RK_KIND_UNKNOWN = 0,
    RK_KIND_OCI_MANIFEST,
    RK_KIND_OCI_INDEX,
    RK_KIND_DOCKER_MANIFEST,
    RK_KIND_DOCKER_LIST,
    RK_KIND_DOCKER_SCHEMA1,
};

typedef struct rk_platform {
    char *os;           /* "linux" */
    char *architecture; /* "amd64" (normalized: x86_64 -> amd64, aarch64 -> arm64) */
    char *variant;      /* "v8" or NULL */
} rk_platform;

typedef struct rk_descriptor {
    char *media_type;
    char *digest; /* validated "sha256:<hex>" */
    int64_t size; /* >= 0 */
    char **urls;  /* foreign layers; NULL when none */
    bool has_platform;
    rk_platform platform;
    char *artifact_type; /* or NULL */
    /* Index entries that are attestations (platform unknown/unknown or
     * annotated vnd.docker.reference.type=attestation-manifest). */
    bool is_attestation;
} rk_descriptor;

typedef struct rk_manifest {
    enum rk_manifest_kind kind; /* RK_KIND_OCI_MANIFEST or RK_KIND_DOCKER_MANIFEST */
    char *media_type;           /* as declared, or implied by the kind */
    rk_descriptor config;
    size_t n_layers;
    rk_descriptor *layers;
    char *artifact_type; /* or NULL */
} rk_manifest;

typedef struct rk_index {
    enum rk_manifest_kind kind; /* RK_KIND_OCI_INDEX or RK_KIND_DOCKER_LIST */
    size_t n_manifests;
    rk_descriptor *manifests;
} rk_index;

typedef struct rk_image_config {
    char *architecture, *os, *variant;
    char **env;        /* "K=V" entries; NULL when absent */
    char **entrypoint; /* NULL when absent */
    char **cmd;        /* NULL when absent */
    char *working_dir; /* NULL or "" when absent */
    char *user;        /* NULL or "" when absent */
    char *stop_signal; /* NULL when absent */
    char **labels;     /* "K=V" entries, sorted by key; NULL when absent */
    char **diff_ids;   /* rootfs.diff_ids, validated digests; NULL-terminated */
    size_t n_diff_ids;
    char *created;     /* RFC 3339 or NULL */
} rk_image_config;

/* Which kind of document is this? Uses the Content-Type when it is one of
 * the known types, else the document's own mediaType field, else its shape
 * (schemaVersion 1; "manifests" array; "layers" + "config"). */
enum rk_manifest_kind rk_manifest_detect(const char *content_type,
                                         const char *data, size_t len);

/* Parse an image manifest. Refuses schema 1 ("schema 1 manifests are not
 * supported; ..."), and non-image artifacts (a config media type that is not
 * an image config, or an artifactType) with a clear message. */
int rk_manifest_parse(const char *data, size_t len, const char *content_type,
                      rk_manifest **ret, rk_error **err);
void rk_manifest_free(rk_manifest *m);

int rk_index_parse(const char *data, size_t len, const char *content_type,
                   rk_index **ret, rk_error **err);
void rk_index_free(rk_index *idx);

/* Choose the entry for `want` (os and architecture must match; a variant,
 * when wanted, must match; with no variant wanted, an entry without
 * variant or with the default variant for the arch (arm64: v8) wins over
 * others). Attestation entries are skipped. Returns the index or -1 with
 * an error listing the platforms that are available. */
int rk_index_select(const rk_index *idx, const rk_platform *want,
                    rk_error **err);

int rk_image_config_parse(const char *data, size_t len, rk_image_config **ret,
                          rk_error **err);
void rk_image_config_free(rk_image_config *c);

/* "os/arch[/variant]"; normalizes arch aliases. Error status 125. */
int rk_platform_parse(const char *s, rk_platform *ret, rk_error **err);
/* The platform of this host (linux/amd64, linux/arm64/v8...). */
void rk_platform_host(rk_platform *ret);
void rk_platform_clear(rk_platform *p);
/* "linux/amd64" or "linux/arm64/v8" */
char *rk_platform_string(const rk_platform *p);
const char *rk_arch_normalize(const char *arch);

/* Is this a layer media type we can unpack? (tar, tar+gzip, tar+zstd, the
 * Docker gzip type and their nondistributable variants.) */
bool rk_layer_media_type_supported(const char *media_type);
/* Map a Docker media type to its OCI equivalent (for the OCI layout the
 * store keeps); returns the input when it is already OCI. */
const char *rk_media_type_to_oci(const char *media_type);

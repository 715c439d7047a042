/* libFuzzer target: manifests, indexes and image configs. The first byte
 * picks the Content-Type the document is served with. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/digest.h"
#include "base/error.h"
#include "image/manifest.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const content_types[] = {
    NULL,
    RK_MT_OCI_MANIFEST,
    RK_MT_OCI_INDEX,
    RK_MT_DOCKER_MANIFEST,
    RK_MT_DOCKER_LIST,
    RK_MT_DOCKER_SCHEMA1_SIGNED,
    "application/json",
    "application/vnd.oci.image.manifest.v1+json; charset=utf-8",
};

static void check_descriptor(const rk_descriptor *d)
{
    if (!rk_digest_valid(d->digest) || d->size < 0 || !d->media_type)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    const char *ct = content_types[data[0] % 8];
    const char *doc = (const char *)data + 1;
    size_t len = size - 1;
    rk_error *err = NULL;

    (void)rk_manifest_detect(ct, doc, len);

    rk_manifest *m = NULL;
    if (rk_manifest_parse(doc, len, ct, &m, &err) == 0) {
        check_descriptor(&m->config);
        for (size_t i = 0; i < m->n_layers; i++) {
            check_descriptor(&m->layers[i]);
            if (!rk_layer_media_type_supported(m->layers[i].media_type))
                abort();
            (void)rk_media_type_to_oci(m->layers[i].media_type);
        }
        rk_manifest_free(m);
    } else {
        rk_error_free(err);
        err = NULL;
    }

    rk_index *idx = NULL;
    if (rk_index_parse(doc, len, ct, &idx, &err) == 0) {
        static const char *const plats[] = {"linux/amd64", "linux/arm64",
                                            "linux/arm/v7", "linux/arm/v6",
                                            "windows/amd64"};
        for (size_t i = 0; i < idx->n_manifests; i++)
            check_descriptor(&idx->manifests[i]);
        for (size_t i = 0; i < sizeof(plats) / sizeof(plats[0]); i++) {
            rk_platform p;
            if (rk_platform_parse(plats[i], &p, NULL) < 0)
                abort();
            int k = rk_index_select(idx, &p, &err);
            if (k >= 0) {
                if ((size_t)k >= idx->n_manifests ||
                    idx->manifests[k].is_attestation)
                    abort();
            } else {
                rk_error_free(err);
                err = NULL;
            }
            rk_platform_clear(&p);
        }
        rk_index_free(idx);
    } else {
        rk_error_free(err);
        err = NULL;
    }

    rk_image_config *c = NULL;
    if (rk_image_config_parse(doc, len, &c, &err) == 0) {
        for (size_t i = 0; i < c->n_diff_ids; i++)
            if (!rk_digest_valid(c->diff_ids[i]))
                abort();
        rk_image_config_free(c);
    } else {
        rk_error_free(err);
        err = NULL;
    }

    /* platform strings */
    if (len < 256) {
        char *s = rk_xstrndup(doc, len);
        rk_platform p;
        if (rk_platform_parse(s, &p, &err) == 0) {
            char *ps = rk_platform_string(&p);
            free(ps);
            rk_platform_clear(&p);
        } else {
            rk_error_free(err);
        }
        free(s);
    }
    return 0;
}

#include "image/manifest.h"

#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/utsname.h>

#include "base/cleanup.h"
#include "base/digest.h"
#include "base/json.h"
#include "base/strv.h"

#define RK_MT_OCI_LAYER_ND                                                     \
    "application/vnd.oci.image.layer.nondistributable.v1.tar"
#define RK_MT_OCI_LAYER_ND_GZIP RK_MT_OCI_LAYER_ND "+gzip"
#define RK_MT_OCI_LAYER_ND_ZSTD RK_MT_OCI_LAYER_ND "+zstd"
#define RK_MT_DOCKER_LAYER "application/vnd.docker.image.rootfs.diff.tar"
#define RK_MT_DOCKER_FOREIGN_GZIP                                              \
    "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip"

/* Limits far above real images; they bound the work a hostile document
 * can cause. */
#define MAX_LAYERS 1024
#define MAX_INDEX_ENTRIES 4096

/* ---- media types and detection ------------------------------------------ */

static bool restricted_name(const char *s, size_t n)
{
    if (n == 0 || n > 127)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        bool alnum = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                     (c >= '0' && c <= '9');
        if (i == 0 ? !alnum : !(alnum || strchr("!#$&-^_.+", c)))
            return false;
    }
    return true;
}

/* RFC 6838 type "/" subtype, without parameters. */
static bool media_type_valid(const char *mt)
{
    const char *slash = strchr(mt, '/');
    return slash && restricted_name(mt, (size_t)(slash - mt)) &&
           restricted_name(slash + 1, strlen(slash + 1));
}

static enum rk_manifest_kind kind_of_media_type(const char *mt)
{
    if (!mt)
        return RK_KIND_UNKNOWN;
    if (!strcmp(mt, RK_MT_OCI_MANIFEST))
        return RK_KIND_OCI_MANIFEST;
    if (!strcmp(mt, RK_MT_OCI_INDEX))
        return RK_KIND_OCI_INDEX;
    if (!strcmp(mt, RK_MT_DOCKER_MANIFEST))
        return RK_KIND_DOCKER_MANIFEST;
    if (!strcmp(mt, RK_MT_DOCKER_LIST))
        return RK_KIND_DOCKER_LIST;
    if (!strcmp(mt, RK_MT_DOCKER_SCHEMA1) ||
        !strcmp(mt, RK_MT_DOCKER_SCHEMA1_SIGNED))
        return RK_KIND_DOCKER_SCHEMA1;
    return RK_KIND_UNKNOWN;
}

/* "application/vnd.oci.image.manifest.v1+json; charset=utf-8" -> the kind;
 * media types are case-insensitive. */
static enum rk_manifest_kind kind_of_content_type(const char *ct)
{
    if (!ct)
        return RK_KIND_UNKNOWN;
    while (*ct == ' ' || *ct == '\t')
        ct++;
    size_t n = strcspn(ct, ";");
    while (n > 0 && (ct[n - 1] == ' ' || ct[n - 1] == '\t'))
        n--;
    char buf[128];
    if (n == 0 || n >= sizeof(buf))
        return RK_KIND_UNKNOWN;
    for (size_t i = 0; i < n; i++)
        buf[i] =
            (ct[i] >= 'A' && ct[i] <= 'Z') ? (char)(ct[i] - 'A' + 'a') : ct[i];
    buf[n] = 0;
    return kind_of_media_type(buf);
}

static const char *media_type_of_kind(enum rk_manifest_kind k)
{
    switch (k) {
    case RK_KIND_OCI_MANIFEST:
        return RK_MT_OCI_MANIFEST;
    case RK_KIND_OCI_INDEX:
        return RK_MT_OCI_INDEX;
    case RK_KIND_DOCKER_MANIFEST:
        return RK_MT_DOCKER_MANIFEST;
    case RK_KIND_DOCKER_LIST:
        return RK_MT_DOCKER_LIST;
    case RK_KIND_DOCKER_SCHEMA1:
        return RK_MT_DOCKER_SCHEMA1;
    case RK_KIND_UNKNOWN:
        break;
    }
    return NULL;
}

static enum rk_manifest_kind kind_of_shape(const json_t *root)
{
    if (!json_is_object(root))
        return RK_KIND_UNKNOWN;
    json_t *sv = json_object_get(root, "schemaVersion");
    if ((json_is_integer(sv) && json_integer_value(sv) == 1) ||
        json_object_get(root, "fsLayers"))
        return RK_KIND_DOCKER_SCHEMA1;
    if (json_is_array(json_object_get(root, "manifests")))
        return RK_KIND_OCI_INDEX;
    if (json_is_object(json_object_get(root, "config")) &&
        json_is_array(json_object_get(root, "layers")))
        return RK_KIND_OCI_MANIFEST;
    return RK_KIND_UNKNOWN;
}

enum rk_manifest_kind rk_manifest_detect(const char *content_type,
                                         const char *data, size_t len)
{
    enum rk_manifest_kind k = kind_of_content_type(content_type);
    if (k != RK_KIND_UNKNOWN)
        return k;
    _cleanup_json_ json_t *root = data ? json_loadb(data, len, 0, NULL) : NULL;
    if (!json_is_object(root))
        return RK_KIND_UNKNOWN;
    k = kind_of_media_type(rk_json_str(root, "mediaType"));
    if (k != RK_KIND_UNKNOWN)
        return k;
    return kind_of_shape(root);
}

static const char schema1_msg[] =
    "schema 1 manifests are not supported (ask the publisher for a schema 2 "
    "or OCI image)";

/* Parse strictly (duplicate keys are refused: two parsers could disagree on
 * which one counts) and decide the kind: the Content-Type when it is a
 * known type, else the mediaType field, else the shape. A mediaType that
 * contradicts a known Content-Type is an error. */
static int load_document(const char *data, size_t len, const char *ct,
                         const char *what, json_t **ret_root,
                         enum rk_manifest_kind *ret_kind, rk_error **err)
{
    json_error_t je;
    json_t *root =
        data ? json_loadb(data, len, JSON_REJECT_DUPLICATES, &je) : NULL;
    if (!root)
        return rk_error_set(err, 0, "invalid %s: not valid JSON (line %d: %s)",
                            what, data ? je.line : 0,
                            data ? rk_json_error_text(&je) : "no data");
    if (!json_is_object(root)) {
        json_decref(root);
        return rk_error_set(err, 0, "invalid %s: not a JSON object", what);
    }
    json_t *mtv = json_object_get(root, "mediaType");
    if (mtv && !json_is_string(mtv)) {
        json_decref(root);
        return rk_error_set(err, 0, "invalid %s: mediaType is not a string",
                            what);
    }
    const char *mt = mtv ? json_string_value(mtv) : NULL;
    enum rk_manifest_kind kc = kind_of_content_type(ct);
    enum rk_manifest_kind km = kind_of_media_type(mt);
    enum rk_manifest_kind k = kc;
    if (kc != RK_KIND_UNKNOWN && mt && km != kc) {
        _cleanup_free_ char *q = rk_quote(mt);
        json_decref(root);
        return rk_error_set(err, 0,
                            "invalid %s: mediaType \"%s\" does not match the "
                            "Content-Type %s",
                            what, q, media_type_of_kind(kc));
    }
    if (k == RK_KIND_UNKNOWN)
        k = km;
    if (k == RK_KIND_UNKNOWN && !mt)
        k = kind_of_shape(root);
    if (k == RK_KIND_UNKNOWN) {
        if (!mt && !ct) {
            json_decref(root);
            return rk_error_set(err, 0,
                                "unrecognized %s: no mediaType and an unknown "
                                "structure",
                                what);
        }
        _cleanup_free_ char *q = rk_quote(mt ? mt : ct);
        json_decref(root);
        return rk_error_set(err, 0, "unsupported %s type \"%s\"", what, q);
    }
    *ret_root = root;
    *ret_kind = k;
    return 0;
}

bool rk_layer_media_type_supported(const char *mt)
{
    static const char *const ok[] = {
        RK_MT_OCI_LAYER,         RK_MT_OCI_LAYER_GZIP,
        RK_MT_OCI_LAYER_ZSTD,    RK_MT_OCI_LAYER_ND,
        RK_MT_OCI_LAYER_ND_GZIP, RK_MT_OCI_LAYER_ND_ZSTD,
        RK_MT_DOCKER_LAYER_GZIP, RK_MT_DOCKER_FOREIGN_GZIP,
        RK_MT_DOCKER_LAYER,
    };
    for (size_t i = 0; mt && i < RK_ELEMENTSOF(ok); i++)
        if (!strcmp(mt, ok[i]))
            return true;
    return false;
}

const char *rk_media_type_to_oci(const char *mt)
{
    static const char *const map[][2] = {
        {RK_MT_DOCKER_MANIFEST, RK_MT_OCI_MANIFEST},
        {RK_MT_DOCKER_LIST, RK_MT_OCI_INDEX},
        {RK_MT_DOCKER_CONFIG, RK_MT_OCI_CONFIG},
        {RK_MT_DOCKER_LAYER_GZIP, RK_MT_OCI_LAYER_GZIP},
        {RK_MT_DOCKER_LAYER, RK_MT_OCI_LAYER},
        {RK_MT_DOCKER_FOREIGN_GZIP, RK_MT_OCI_LAYER_ND_GZIP},
    };
    for (size_t i = 0; mt && i < RK_ELEMENTSOF(map); i++)
        if (!strcmp(mt, map[i][0]))
            return map[i][1];
    return mt;
}

/* ---- platforms ---------------------------------------------------------- */

const char *rk_arch_normalize(const char *arch)
{
    static const char *const map[][2] = {
        {"x86_64", "amd64"},  {"x86-64", "amd64"},    {"amd64", "amd64"},
        {"aarch64", "arm64"}, {"arm64", "arm64"},     {"i386", "386"},
        {"i486", "386"},      {"i586", "386"},        {"i686", "386"},
        {"386", "386"},       {"armhf", "arm"},       {"armel", "arm"},
        {"armv7l", "arm"},    {"armv6l", "arm"},      {"armv5l", "arm"},
        {"armv8l", "arm"},    {"arm", "arm"},         {"ppc64le", "ppc64le"},
        {"s390x", "s390x"},   {"riscv64", "riscv64"},
    };
    for (size_t i = 0; arch && i < RK_ELEMENTSOF(map); i++)
        if (!strcmp(arch, map[i][0]))
            return map[i][1];
    return arch;
}

/* The variant an architecture alias implies (armv7l -> v7), or NULL. */
static const char *implied_variant(const char *arch)
{
    static const char *const map[][2] = {
        {"armhf", "v7"},  {"armv7l", "v7"}, {"armv8l", "v7"},  {"armel", "v6"},
        {"armv6l", "v6"}, {"armv5l", "v5"}, {"aarch64", "v8"}, {"arm64", "v8"},
    };
    for (size_t i = 0; arch && i < RK_ELEMENTSOF(map); i++)
        if (!strcmp(arch, map[i][0]))
            return map[i][1];
    return NULL;
}

/* The variant an image without one is built for. */
static const char *default_variant(const char *arch)
{
    if (!strcmp(arch, "arm64"))
        return "v8";
    if (!strcmp(arch, "arm"))
        return "v7";
    return NULL;
}

void rk_platform_clear(rk_platform *p)
{
    if (!p)
        return;
    free(p->os);
    free(p->architecture);
    free(p->variant);
    p->os = p->architecture = p->variant = NULL;
}

static bool platform_word_valid(const char *s, size_t n)
{
    if (n == 0 || n > 64)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
              (c >= '0' && c <= '9') || c == '_' || c == '-' || c == '.'))
            return false;
    }
    return true;
}

static char *lower_dup(const char *s, size_t n)
{
    char *r = rk_xstrndup(s, n);
    for (char *p = r; *p; p++)
        if (*p >= 'A' && *p <= 'Z')
            *p = (char)(*p - 'A' + 'a');
    return r;
}

int rk_platform_parse(const char *s, rk_platform *ret, rk_error **err)
{
    memset(ret, 0, sizeof(*ret));
    const char *in = s ? s : "";
    const char *parts[3];
    size_t lens[3], n = 0;
    const char *p = in;
    for (;;) {
        const char *slash = strchr(p, '/');
        size_t l = slash ? (size_t)(slash - p) : strlen(p);
        if (n == 3 || !platform_word_valid(p, l)) {
            _cleanup_free_ char *q = rk_quote(in);
            return rk_error_set_status(err, 125, 0,
                                       "invalid platform \"%s\": expected "
                                       "os/arch[/variant]",
                                       q);
        }
        parts[n] = p;
        lens[n++] = l;
        if (!slash)
            break;
        p = slash + 1;
    }
    if (n < 2) {
        _cleanup_free_ char *q = rk_quote(in);
        return rk_error_set_status(err, 125, 0,
                                   "invalid platform \"%s\": expected "
                                   "os/arch[/variant]",
                                   q);
    }
    _cleanup_free_ char *arch = lower_dup(parts[1], lens[1]);
    ret->os = lower_dup(parts[0], lens[0]);
    ret->architecture = rk_xstrdup(rk_arch_normalize(arch));
    if (n == 3)
        ret->variant = lower_dup(parts[2], lens[2]);
    else if (implied_variant(arch) && strcmp(arch, "arm64") &&
             strcmp(arch, "aarch64"))
        ret->variant = rk_xstrdup(implied_variant(arch));
    return 0;
}

void rk_platform_host(rk_platform *ret)
{
    struct utsname u;
    memset(ret, 0, sizeof(*ret));
    ret->os = rk_xstrdup("linux");
    if (uname(&u) < 0) {
        ret->architecture = rk_xstrdup("unknown");
        return;
    }
    ret->architecture = rk_xstrdup(rk_arch_normalize(u.machine));
    const char *v = implied_variant(u.machine);
    if (v)
        ret->variant = rk_xstrdup(v);
}

char *rk_platform_string(const rk_platform *p)
{
    return rk_xasprintf("%s/%s%s%s", p->os ? p->os : "?",
                        p->architecture ? p->architecture : "?",
                        p->variant ? "/" : "", p->variant ? p->variant : "");
}

/* ---- descriptors -------------------------------------------------------- */

static void descriptor_clear(rk_descriptor *d)
{
    free(d->media_type);
    free(d->digest);
    rk_strv_free(d->urls);
    rk_platform_clear(&d->platform);
    free(d->artifact_type);
    memset(d, 0, sizeof(*d));
}

static bool url_valid(const char *u)
{
    if (strncmp(u, "https://", 8) && strncmp(u, "http://", 7))
        return false;
    for (const unsigned char *p = (const unsigned char *)u; *p; p++)
        if (*p <= 0x20 || *p >= 0x7f)
            return false;
    return true;
}

static int parse_platform(const json_t *j, const char *where, rk_platform *p,
                          rk_error **err)
{
    if (!json_is_object(j))
        return rk_error_set(err, 0, "%s.platform is not an object", where);
    const char *os = rk_json_str(j, "os");
    const char *arch = rk_json_str(j, "architecture");
    json_t *vv = json_object_get(j, "variant");
    if (!os || !arch || !platform_word_valid(os, strlen(os)) ||
        !platform_word_valid(arch, strlen(arch)))
        return rk_error_set(
            err, 0, "%s.platform needs os and architecture words", where);
    if (vv && !(json_is_string(vv) &&
                platform_word_valid(json_string_value(vv),
                                    strlen(json_string_value(vv)))))
        return rk_error_set(err, 0, "%s.platform.variant is invalid", where);
    _cleanup_free_ char *la = lower_dup(arch, strlen(arch));
    p->os = lower_dup(os, strlen(os));
    p->architecture = rk_xstrdup(rk_arch_normalize(la));
    if (vv)
        p->variant = lower_dup(json_string_value(vv),
                               strlen(json_string_value(vv)));
    return 0;
}

static int parse_descriptor(const json_t *j, const char *where,
                            rk_descriptor *d, rk_error **err)
{
    if (!json_is_object(j))
        return rk_error_set(err, 0, "%s is not an object", where);
    json_t *mt = json_object_get(j, "mediaType");
    if (!json_is_string(mt))
        return rk_error_set(err, 0, "%s.mediaType is missing", where);
    if (!media_type_valid(json_string_value(mt))) {
        _cleanup_free_ char *q = rk_quote(json_string_value(mt));
        return rk_error_set(err, 0, "%s.mediaType \"%s\" is not a media type",
                            where, q);
    }
    d->media_type = rk_xstrdup(json_string_value(mt));

    json_t *dg = json_object_get(j, "digest");
    if (!json_is_string(dg))
        return rk_error_set(err, 0, "%s.digest is missing", where);
    if (rk_digest_check(json_string_value(dg), err) < 0)
        return rk_error_wrap(err, "%s.digest", where);
    d->digest = rk_xstrdup(json_string_value(dg));

    json_t *sz = json_object_get(j, "size");
    if (!json_is_integer(sz) || json_integer_value(sz) < 0)
        return rk_error_set(err, 0, "%s.size must be an integer >= 0", where);
    d->size = (int64_t)json_integer_value(sz);

    json_t *urls = json_object_get(j, "urls");
    if (urls && !json_is_null(urls)) {
        d->urls = rk_json_strv(urls);
        if (!d->urls)
            return rk_error_set(err, 0, "%s.urls must be an array of strings",
                                where);
        for (size_t i = 0; d->urls[i]; i++)
            if (!url_valid(d->urls[i]))
                return rk_error_set(
                    err, 0, "%s.urls[%zu] is not an http(s) URL", where, i);
        if (!d->urls[0]) {
            rk_strv_free(d->urls);
            d->urls = NULL;
        }
    }

    json_t *at = json_object_get(j, "artifactType");
    if (at) {
        if (!json_is_string(at) || !media_type_valid(json_string_value(at)))
            return rk_error_set(err, 0, "%s.artifactType is invalid", where);
        d->artifact_type = rk_xstrdup(json_string_value(at));
    }

    json_t *pl = json_object_get(j, "platform");
    if (pl) {
        if (parse_platform(pl, where, &d->platform, err) < 0)
            return -1;
        d->has_platform = true;
    }

    json_t *ann = json_object_get(j, "annotations");
    if (ann) {
        if (!json_is_object(ann))
            return rk_error_set(err, 0, "%s.annotations is not an object",
                                where);
        const char *k;
        json_t *v;
        json_object_foreach(ann, k, v)
        {
            if (!json_is_string(v))
                return rk_error_set(
                    err, 0, "%s.annotations values must be strings", where);
        }
        const char *rt = rk_json_str(ann, "vnd.docker.reference.type");
        if (rt && !strcmp(rt, "attestation-manifest"))
            d->is_attestation = true;
    }
    if (d->has_platform && !strcmp(d->platform.os, "unknown") &&
        !strcmp(d->platform.architecture, "unknown"))
        d->is_attestation = true;
    return 0;
}

static int check_schema_version(const json_t *root, const char *what,
                                rk_error **err)
{
    json_t *sv = json_object_get(root, "schemaVersion");
    if (!json_is_integer(sv) || json_integer_value(sv) != 2)
        return rk_error_set(err, 0, "invalid %s: schemaVersion must be 2",
                            what);
    return 0;
}

static int refuse_artifact_type(const json_t *root, rk_error **err)
{
    json_t *at = json_object_get(root, "artifactType");
    if (!at)
        return 0;
    if (!json_is_string(at))
        return rk_error_set(err, 0,
                            "invalid manifest: artifactType is not a "
                            "string");
    _cleanup_free_ char *q = rk_quote(json_string_value(at));
    return rk_error_set_status(err, 125, 0,
                               "not a container image: an artifact of type "
                               "\"%s\"",
                               q);
}

/* ---- manifests ---------------------------------------------------------- */

void rk_manifest_free(rk_manifest *m)
{
    if (!m)
        return;
    free(m->media_type);
    descriptor_clear(&m->config);
    for (size_t i = 0; i < m->n_layers; i++)
        descriptor_clear(&m->layers[i]);
    free(m->layers);
    free(m->artifact_type);
    free(m);
}

static void rk_manifest_freep(rk_manifest **m)
{
    rk_manifest_free(*m);
    *m = NULL;
}

int rk_manifest_parse(const char *data, size_t len, const char *content_type,
                      rk_manifest **ret, rk_error **err)
{
    _cleanup_json_ json_t *root = NULL;
    enum rk_manifest_kind kind;
    if (load_document(data, len, content_type, "manifest", &root, &kind, err) <
        0)
        return -1;
    switch (kind) {
    case RK_KIND_DOCKER_SCHEMA1:
        return rk_error_set_status(err, 125, 0, "%s", schema1_msg);
    case RK_KIND_OCI_INDEX:
    case RK_KIND_DOCKER_LIST:
        return rk_error_set(err, 0,
                            "expected an image manifest, got an image index");
    case RK_KIND_OCI_MANIFEST:
    case RK_KIND_DOCKER_MANIFEST:
        break;
    case RK_KIND_UNKNOWN:
        return rk_error_set(err, 0, "unsupported manifest");
    }
    if (check_schema_version(root, "manifest", err) < 0 ||
        refuse_artifact_type(root, err) < 0)
        return -1;

    _cleanup_(rk_manifest_freep) rk_manifest *m = rk_xcalloc(1, sizeof(*m));
    m->kind = kind;
    const char *mt = rk_json_str(root, "mediaType");
    m->media_type = rk_xstrdup(mt ? mt : media_type_of_kind(kind));

    json_t *cfg = json_object_get(root, "config");
    if (!cfg)
        return rk_error_set(err, 0, "invalid manifest: config is missing");
    if (parse_descriptor(cfg, "config", &m->config, err) < 0)
        return rk_error_wrap(err, "invalid manifest");
    if (strcmp(m->config.media_type, RK_MT_OCI_CONFIG) &&
        strcmp(m->config.media_type, RK_MT_DOCKER_CONFIG)) {
        _cleanup_free_ char *q = rk_quote(m->config.media_type);
        return rk_error_set_status(err, 125, 0,
                                   "not a container image: config media type "
                                   "\"%s\" (an OCI artifact?)",
                                   q);
    }

    json_t *layers = json_object_get(root, "layers");
    if (!json_is_array(layers))
        return rk_error_set(err, 0,
                            "invalid manifest: layers must be an array");
    size_t n = json_array_size(layers);
    if (n > MAX_LAYERS)
        return rk_error_set(err, 0, "invalid manifest: %zu layers (at most %d)",
                            n, MAX_LAYERS);
    m->layers = rk_xcalloc(n, sizeof(rk_descriptor));
    for (size_t i = 0; i < n; i++) {
        char where[32];
        snprintf(where, sizeof(where), "layers[%zu]", i);
        rk_descriptor *d = &m->layers[m->n_layers++];
        if (parse_descriptor(json_array_get(layers, i), where, d, err) < 0)
            return rk_error_wrap(err, "invalid manifest");
        if (!rk_layer_media_type_supported(d->media_type)) {
            _cleanup_free_ char *q = rk_quote(d->media_type);
            return rk_error_set_status(err, 125, 0,
                                       "unsupported layer media type \"%s\" "
                                       "(%s)",
                                       q, where);
        }
    }
    *ret = TAKE_PTR(m);
    return 0;
}

/* ---- indexes ------------------------------------------------------------ */

void rk_index_free(rk_index *idx)
{
    if (!idx)
        return;
    for (size_t i = 0; i < idx->n_manifests; i++)
        descriptor_clear(&idx->manifests[i]);
    free(idx->manifests);
    free(idx);
}

static void rk_index_freep(rk_index **i)
{
    rk_index_free(*i);
    *i = NULL;
}

int rk_index_parse(const char *data, size_t len, const char *content_type,
                   rk_index **ret, rk_error **err)
{
    _cleanup_json_ json_t *root = NULL;
    enum rk_manifest_kind kind;
    if (load_document(data, len, content_type, "image index", &root, &kind,
                      err) < 0)
        return -1;
    switch (kind) {
    case RK_KIND_DOCKER_SCHEMA1:
        return rk_error_set_status(err, 125, 0, "%s", schema1_msg);
    case RK_KIND_OCI_MANIFEST:
    case RK_KIND_DOCKER_MANIFEST:
        return rk_error_set(err, 0,
                            "expected an image index, got an image manifest");
    case RK_KIND_OCI_INDEX:
    case RK_KIND_DOCKER_LIST:
        break;
    case RK_KIND_UNKNOWN:
        return rk_error_set(err, 0, "unsupported image index");
    }
    if (check_schema_version(root, "image index", err) < 0 ||
        refuse_artifact_type(root, err) < 0)
        return -1;
    json_t *ms = json_object_get(root, "manifests");
    if (!json_is_array(ms))
        return rk_error_set(err, 0,
                            "invalid image index: manifests must be an array");
    size_t n = json_array_size(ms);
    if (n > MAX_INDEX_ENTRIES)
        return rk_error_set(err, 0, "invalid image index: %zu entries", n);
    _cleanup_(rk_index_freep) rk_index *idx = rk_xcalloc(1, sizeof(*idx));
    idx->kind = kind;
    idx->manifests = rk_xcalloc(n, sizeof(rk_descriptor));
    for (size_t i = 0; i < n; i++) {
        char where[32];
        snprintf(where, sizeof(where), "manifests[%zu]", i);
        rk_descriptor *d = &idx->manifests[idx->n_manifests++];
        if (parse_descriptor(json_array_get(ms, i), where, d, err) < 0)
            return rk_error_wrap(err, "invalid image index");
    }
    *ret = TAKE_PTR(idx);
    return 0;
}

static bool is_image_manifest_type(const char *mt)
{
    return !strcmp(mt, RK_MT_OCI_MANIFEST) ||
           !strcmp(mt, RK_MT_DOCKER_MANIFEST);
}

/* A descriptor's variant, or the one implied for its architecture. */
static const char *effective_variant(const rk_platform *p)
{
    return p->variant ? p->variant : default_variant(p->architecture);
}

static bool selectable(const rk_descriptor *d)
{
    return d->has_platform && !d->is_attestation &&
           is_image_manifest_type(d->media_type);
}

int rk_index_select(const rk_index *idx, const rk_platform *want,
                    rk_error **err)
{
    const char *want_arch = rk_arch_normalize(want->architecture);
    /* On arm, "no variant" means the default one (arm64: v8, arm: v7):
     * an image for a newer variant would not run, one for an older 32-bit
     * arm variant would. */
    const char *want_var =
        want->variant ? want->variant : default_variant(want_arch);
    int fallback = -1;
    for (size_t i = 0; i < idx->n_manifests; i++) {
        const rk_descriptor *d = &idx->manifests[i];
        if (!selectable(d) || !rk_streq_ptr(d->platform.os, want->os) ||
            !rk_streq_ptr(d->platform.architecture, want_arch))
            continue;
        const char *ev = effective_variant(&d->platform);
        if (want_var) {
            const char *wv = want_var;
            if (rk_streq_ptr(ev, wv) ||
                (!ev && rk_streq_ptr(wv, default_variant(want_arch))))
                return (int)i;
            continue;
        }
        /* no variant wanted: one without a variant or with the default
         * variant wins; any other is a fallback */
        if (!d->platform.variant ||
            rk_streq_ptr(d->platform.variant, default_variant(want_arch)))
            return (int)i;
        if (fallback < 0)
            fallback = (int)i;
    }
    if (!want_var && fallback >= 0)
        return fallback;

    /* 32-bit arm runs older variants: v7 hardware takes a v6 image. */
    if (want_var && !strcmp(want_arch, "arm") && want_var[0] == 'v' &&
        want_var[1] >= '6' && want_var[1] <= '8' && !want_var[2]) {
        for (char v = (char)(want_var[1] - 1); v >= '5'; v--) {
            char wv[3] = {'v', v, 0};
            for (size_t i = 0; i < idx->n_manifests; i++) {
                const rk_descriptor *d = &idx->manifests[i];
                if (selectable(d) && rk_streq_ptr(d->platform.os, want->os) &&
                    !strcmp(d->platform.architecture, "arm") &&
                    rk_streq_ptr(effective_variant(&d->platform), wv))
                    return (int)i;
            }
        }
    }

    _cleanup_strv_ char **avail = rk_xcalloc(1, sizeof(char *));
    for (size_t i = 0; i < idx->n_manifests; i++) {
        const rk_descriptor *d = &idx->manifests[i];
        if (!selectable(d))
            continue;
        char *s = rk_platform_string(&d->platform);
        if (rk_strv_contains(avail, s))
            free(s);
        else
            rk_strv_push(&avail, s);
    }
    _cleanup_free_ char *list = rk_strv_join(avail, ", ");
    rk_platform w = {.os = want->os,
                     .architecture = (char *)want_arch,
                     .variant = want->variant};
    _cleanup_free_ char *ws = rk_platform_string(&w);
    return rk_error_set_status(err, 125, 0,
                               "no image for %s in this index (available: %s)",
                               ws, avail[0] ? list : "none");
}

/* ---- image configs ------------------------------------------------------ */

void rk_image_config_free(rk_image_config *c)
{
    if (!c)
        return;
    free(c->architecture);
    free(c->os);
    free(c->variant);
    rk_strv_free(c->env);
    rk_strv_free(c->entrypoint);
    rk_strv_free(c->cmd);
    free(c->working_dir);
    free(c->user);
    free(c->stop_signal);
    rk_strv_free(c->labels);
    rk_strv_free(c->diff_ids);
    free(c->created);
    free(c);
}

static void rk_image_config_freep(rk_image_config **c)
{
    rk_image_config_free(*c);
    *c = NULL;
}

/* An optional string field: absent or null is NULL. */
static int opt_string(const json_t *obj, const char *key, const char *where,
                      char **ret, rk_error **err)
{
    json_t *v = json_object_get(obj, key);
    if (!v || json_is_null(v))
        return 0;
    if (!json_is_string(v))
        return rk_error_set(
            err, 0, "invalid image config: %s%s is not a string", where, key);
    *ret = rk_xstrdup(json_string_value(v));
    return 0;
}

static int opt_strv(const json_t *obj, const char *key, char ***ret,
                    rk_error **err)
{
    json_t *v = json_object_get(obj, key);
    if (!v || json_is_null(v))
        return 0;
    *ret = rk_json_strv(v);
    if (!*ret)
        return rk_error_set(err, 0,
                            "invalid image config: config.%s must be an array "
                            "of strings",
                            key);
    return 0;
}

static int cmp_label(const void *a, const void *b)
{
    const char *x = *(char *const *)a, *y = *(char *const *)b;
    size_t xl = strcspn(x, "="), yl = strcspn(y, "=");
    int r = memcmp(x, y, xl < yl ? xl : yl);
    if (r)
        return r;
    return xl < yl ? -1 : xl > yl;
}

static int parse_container_config(const json_t *cc, rk_image_config *c,
                                  rk_error **err)
{
    if (!cc || json_is_null(cc))
        return 0;
    if (!json_is_object(cc))
        return rk_error_set(err, 0,
                            "invalid image config: config is not an "
                            "object");
    if (opt_strv(cc, "Env", &c->env, err) < 0 ||
        opt_strv(cc, "Entrypoint", &c->entrypoint, err) < 0 ||
        opt_strv(cc, "Cmd", &c->cmd, err) < 0 ||
        opt_string(cc, "WorkingDir", "config.", &c->working_dir, err) < 0 ||
        opt_string(cc, "User", "config.", &c->user, err) < 0 ||
        opt_string(cc, "StopSignal", "config.", &c->stop_signal, err) < 0)
        return -1;
    for (size_t i = 0; c->env && c->env[i]; i++) {
        const char *eq = strchr(c->env[i], '=');
        if (!eq || eq == c->env[i])
            return rk_error_set(err, 0,
                                "invalid image config: config.Env[%zu] is not "
                                "NAME=VALUE",
                                i);
    }
    json_t *labels = json_object_get(cc, "Labels");
    if (labels && !json_is_null(labels)) {
        if (!json_is_object(labels))
            return rk_error_set(err, 0,
                                "invalid image config: config.Labels "
                                "is not an object");
        c->labels = rk_xcalloc(1, sizeof(char *));
        const char *k;
        json_t *v;
        json_object_foreach(labels, k, v)
        {
            if (!json_is_string(v))
                return rk_error_set(err, 0,
                                    "invalid image config: config.Labels "
                                    "values must be strings");
            rk_strv_push(&c->labels,
                         rk_xasprintf("%s=%s", k, json_string_value(v)));
        }
        qsort(c->labels, rk_strv_len(c->labels), sizeof(char *), cmp_label);
    }
    return 0;
}

int rk_image_config_parse(const char *data, size_t len, rk_image_config **ret,
                          rk_error **err)
{
    json_error_t je;
    _cleanup_json_ json_t *root =
        data ? json_loadb(data, len, JSON_REJECT_DUPLICATES, &je) : NULL;
    if (!root)
        return rk_error_set(
            err, 0, "invalid image config: not valid JSON (line %d: %s)",
            data ? je.line : 0, data ? rk_json_error_text(&je) : "no data");
    if (!json_is_object(root))
        return rk_error_set(err, 0, "invalid image config: not a JSON object");
    _cleanup_(rk_image_config_freep) rk_image_config *c =
        rk_xcalloc(1, sizeof(*c));
    _cleanup_free_ char *arch = NULL;
    if (opt_string(root, "architecture", "", &arch, err) < 0 ||
        opt_string(root, "os", "", &c->os, err) < 0 ||
        opt_string(root, "variant", "", &c->variant, err) < 0 ||
        opt_string(root, "created", "", &c->created, err) < 0)
        return -1;
    if (arch)
        c->architecture = rk_xstrdup(rk_arch_normalize(arch));
    if (parse_container_config(json_object_get(root, "config"), c, err) < 0)
        return -1;

    json_t *rootfs = json_object_get(root, "rootfs");
    if (!json_is_object(rootfs))
        return rk_error_set(err, 0, "invalid image config: rootfs is missing");
    const char *type = rk_json_str(rootfs, "type");
    if (!type || strcmp(type, "layers")) {
        _cleanup_free_ char *q = rk_quote(type ? type : "");
        return rk_error_set(err, 0,
                            "invalid image config: rootfs.type is \"%s\", not "
                            "\"layers\"",
                            q);
    }
    json_t *ids = json_object_get(rootfs, "diff_ids");
    if (!json_is_array(ids))
        return rk_error_set(err, 0,
                            "invalid image config: rootfs.diff_ids "
                            "must be an array");
    size_t n = json_array_size(ids);
    if (n > MAX_LAYERS)
        return rk_error_set(err, 0, "invalid image config: %zu diff_ids", n);
    c->diff_ids = rk_xcalloc(n + 1, sizeof(char *));
    for (size_t i = 0; i < n; i++) {
        json_t *d = json_array_get(ids, i);
        if (!json_is_string(d))
            return rk_error_set(err, 0,
                                "invalid image config: rootfs.diff_ids[%zu] "
                                "is not a string",
                                i);
        if (rk_digest_check(json_string_value(d), err) < 0)
            return rk_error_wrap(
                err, "invalid image config: rootfs.diff_ids[%zu]", i);
        c->diff_ids[i] = rk_xstrdup(json_string_value(d));
        c->n_diff_ids++;
    }
    *ret = TAKE_PTR(c);
    return 0;
}

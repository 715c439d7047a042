/* Unit tests for src/image/manifest.c: detection, manifests, indexes,
 * platform selection, image configs. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>

#include <cmocka.h>

#include "base/cleanup.h"
#include "base/error.h"
#include "base/strv.h"
#include "image/manifest.h"

#define H(c) c c c c c c c c c c c c c c c c /* 16 x 4 hex = 64 */
#define DA "sha256:" H("aaaa")
#define DB "sha256:" H("bbbb")
#define DC "sha256:" H("cccc")
#define DD "sha256:" H("dddd")
#define DE "sha256:" H("eeee")
#define DF "sha256:" H("ffff")
#define D0 "sha256:" H("0000")
#define D1 "sha256:" H("1111")
#define D2 "sha256:" H("2222")
#define CFG                                                                    \
    "\"config\":{\"mediaType\":\"" RK_MT_OCI_CONFIG "\",\"digest\":\"" DA      \
    "\",\"size\":1}"
#define DOC(rest) "{\"schemaVersion\":2," rest "}"

static const char oci_manifest[] =
    "{\n"
    "  \"schemaVersion\": 2,\n"
    "  \"mediaType\": \"application/vnd.oci.image.manifest.v1+json\",\n"
    "  \"config\": {\n"
    "    \"mediaType\": \"application/vnd.oci.image.config.v1+json\",\n"
    "    \"digest\": \"" DA "\",\n"
    "    \"size\": 1463\n"
    "  },\n"
    "  \"layers\": [\n"
    "    {\n"
    "      \"mediaType\": \"application/vnd.oci.image.layer.v1.tar+gzip\",\n"
    "      \"digest\": \"" DB "\",\n"
    "      \"size\": 49556919\n"
    "    },\n"
    "    {\n"
    "      \"mediaType\": \"application/vnd.oci.image.layer.v1.tar+zstd\",\n"
    "      \"digest\": \"" DC "\",\n"
    "      \"size\": 0,\n"
    "      \"annotations\": {\"org.opencontainers.image.title\": \"x\"}\n"
    "    },\n"
    "    {\n"
    "      \"mediaType\": "
    "\"application/vnd.oci.image.layer.nondistributable.v1.tar+gzip\",\n"
    "      \"digest\": \"" DD "\",\n"
    "      \"size\": 3000000000,\n"
    "      \"urls\": [\"https://mcr.microsoft.com/v2/blob/x\", "
    "\"http://mirror/y\"]\n"
    "    }\n"
    "  ],\n"
    "  \"annotations\": {\n"
    "    \"org.opencontainers.image.base.name\": "
    "\"docker.io/library/debian:12\"\n"
    "  }\n"
    "}\n";

static const char docker_manifest[] =
    "{\"schemaVersion\":2,"
    "\"mediaType\":\"application/vnd.docker.distribution.manifest.v2+json\","
    "\"config\":{\"mediaType\":\"application/"
    "vnd.docker.container.image.v1+json\","
    "\"size\":7023,\"digest\":\"" DA "\"},"
    "\"layers\":["
    "{\"mediaType\":\"application/vnd.docker.image.rootfs.diff.tar.gzip\","
    "\"size\":32654,\"digest\":\"" DB "\"},"
    "{\"mediaType\":\"application/"
    "vnd.docker.image.rootfs.foreign.diff.tar.gzip\","
    "\"size\":16724,\"digest\":\"" DC "\","
    "\"urls\":[\"https://go.microsoft.com/fwlink/?linkid=837858\"]}]}";

static const char docker_list[] =
    "{\"schemaVersion\":2,"
    "\"mediaType\":\"application/"
    "vnd.docker.distribution.manifest.list.v2+json\","
    "\"manifests\":["
    "{\"mediaType\":\"application/vnd.docker.distribution.manifest.v2+json\","
    "\"size\":528,\"digest\":\"" DA
    "\",\"platform\":{\"architecture\":\"amd64\",\"os\":\"linux\"}},"
    "{\"mediaType\":\"application/vnd.docker.distribution.manifest.v2+json\","
    "\"size\":528,\"digest\":\"" DB "\",\"platform\":{\"architecture\":\"arm\","
                                    "\"os\":\"linux\",\"variant\":\"v5\"}},"
    "{\"mediaType\":\"application/vnd.docker.distribution.manifest.v2+json\","
    "\"size\":528,\"digest\":\"" DC "\",\"platform\":{\"architecture\":\"arm\","
                                    "\"os\":\"linux\",\"variant\":\"v7\"}},"
    "{\"mediaType\":\"application/vnd.docker.distribution.manifest.v2+json\","
    "\"size\":528,\"digest\":\"" DD
    "\",\"platform\":{\"architecture\":\"arm64\",\"os\":\"linux\",\"variant\":"
    "\"v8\"}},"
    "{\"mediaType\":\"application/vnd.docker.distribution.manifest.v2+json\","
    "\"size\":528,\"digest\":\"" DE
    "\",\"platform\":{\"architecture\":\"386\",\"os\":\"linux\"}},"
    "{\"mediaType\":\"application/vnd.docker.distribution.manifest.v2+json\","
    "\"size\":528,\"digest\":\"" DF
    "\",\"platform\":{\"architecture\":\"ppc64le\",\"os\":\"linux\"}},"
    "{\"mediaType\":\"application/vnd.docker.distribution.manifest.v2+json\","
    "\"size\":528,\"digest\":\"" D0
    "\",\"platform\":{\"architecture\":\"amd64\",\"os\":\"windows\","
    "\"os.version\":\"10.0.17763.5329\"}}"
    "]}";

/* What buildx pushes: images plus attestation manifests */
static const char oci_index_attest[] =
    "{\n"
    "  \"schemaVersion\": 2,\n"
    "  \"mediaType\": \"application/vnd.oci.image.index.v1+json\",\n"
    "  \"manifests\": [\n"
    "    {\"mediaType\": \"application/vnd.oci.image.manifest.v1+json\",\n"
    "     \"digest\": \"" D1 "\", \"size\": 2,\n"
    "     \"platform\": {\"architecture\": \"unknown\", \"os\": \"unknown\"},\n"
    "     \"annotations\": {\"vnd.docker.reference.digest\": \"" DA "\",\n"
    "                     \"vnd.docker.reference.type\": "
    "\"attestation-manifest\"}},\n"
    "    {\"mediaType\": \"application/vnd.oci.image.manifest.v1+json\",\n"
    "     \"digest\": \"" D2 "\", \"size\": 2,\n"
    "     \"platform\": {\"architecture\": \"amd64\", \"os\": \"linux\"},\n"
    "     \"annotations\": {\"vnd.docker.reference.type\": "
    "\"attestation-manifest\"}},\n"
    "    {\"mediaType\": \"application/vnd.oci.image.manifest.v1+json\",\n"
    "     \"digest\": \"" DA "\", \"size\": 1000,\n"
    "     \"platform\": {\"architecture\": \"amd64\", \"os\": \"linux\"}},\n"
    "    {\"mediaType\": \"application/vnd.oci.image.manifest.v1+json\",\n"
    "     \"digest\": \"" DB "\", \"size\": 1000,\n"
    "     \"platform\": {\"architecture\": \"arm64\", \"os\": \"linux\", "
    "\"variant\": \"v8\"}},\n"
    "    {\"mediaType\": \"application/vnd.oci.image.index.v1+json\",\n"
    "     \"digest\": \"" DC "\", \"size\": 1000,\n"
    "     \"platform\": {\"architecture\": \"s390x\", \"os\": \"linux\"}}\n"
    "  ]\n"
    "}\n";

static const char schema1[] =
    "{\"schemaVersion\": 1, \"name\": \"library/hello\", \"tag\": \"latest\","
    " \"architecture\": \"amd64\", \"fsLayers\": [{\"blobSum\": \"" DA "\"}],"
    " \"history\": [], \"signatures\": []}";

static const char helm[] =
    "{\"schemaVersion\":2,"
    "\"config\":{\"mediaType\":\"application/vnd.cncf.helm.config.v1+json\","
    "\"digest\":\"" DA "\",\"size\":117},"
    "\"layers\":[{\"mediaType\":\"application/"
    "vnd.cncf.helm.chart.content.v1.tar+gzip\","
    "\"digest\":\"" DB "\",\"size\":2487}]}";

static const char artifact[] =
    "{\"schemaVersion\":2,"
    "\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\","
    "\"artifactType\":\"application/vnd.example.sbom.v1\","
    "\"config\":{\"mediaType\":\"application/vnd.oci.empty.v1+json\","
    "\"digest\":\"sha256:"
    "44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a\","
    "\"size\":2,\"data\":\"e30=\"},"
    "\"layers\":[{\"mediaType\":\"application/spdx+json\","
    "\"digest\":\"" DB "\",\"size\":10}]}";

static const char empty_config_artifact[] =
    "{\"schemaVersion\":2,"
    "\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\","
    "\"config\":{\"mediaType\":\"application/vnd.oci.empty.v1+json\","
    "\"digest\":\"sha256:"
    "44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a\","
    "\"size\":2},"
    "\"layers\":[{\"mediaType\":\"application/vnd.oci.image.layer.v1.tar\","
    "\"digest\":\"" DB "\",\"size\":10}]}";

static rk_manifest *manifest_ok(const char *doc, const char *ct)
{
    rk_manifest *m = NULL;
    rk_error *err = NULL;
    if (rk_manifest_parse(doc, strlen(doc), ct, &m, &err) < 0)
        fail_msg("%s", err->msg);
    return m;
}

static char *manifest_err(const char *doc, const char *ct, int *status)
{
    rk_manifest *m = NULL;
    rk_error *err = NULL;
    int r = rk_manifest_parse(doc, strlen(doc), ct, &m, &err);
    if (r == 0) {
        rk_manifest_free(m);
        return rk_xstrdup("ACCEPTED");
    }
    assert_null(m);
    assert_null(strchr(err->msg, '\n'));
    char *s = rk_xstrdup(err->msg);
    if (status)
        *status = err->status;
    rk_error_free(err);
    return s;
}

#define assert_manifest_err(doc, ct, want, want_status)                        \
    do {                                                                       \
        int _st = -1;                                                          \
        char *_g = manifest_err((doc), (ct), &_st);                            \
        if (strcmp(_g, (want)))                                                \
            fail_msg("got \"%s\"\nwant \"%s\"", _g, (want));                   \
        assert_int_equal(_st, (want_status));                                  \
        free(_g);                                                              \
    } while (0)

static void test_detect(void **state)
{
    (void)state;
    size_t n = strlen(oci_manifest);
    assert_int_equal(rk_manifest_detect(RK_MT_OCI_MANIFEST, "", 0),
                     RK_KIND_OCI_MANIFEST);
    assert_int_equal(
        rk_manifest_detect(
            " Application/VND.oci.image.index.v1+json ; charset=utf-8", NULL,
            0),
        RK_KIND_OCI_INDEX);
    assert_int_equal(rk_manifest_detect(RK_MT_DOCKER_LIST, NULL, 0),
                     RK_KIND_DOCKER_LIST);
    assert_int_equal(rk_manifest_detect(RK_MT_DOCKER_SCHEMA1_SIGNED, NULL, 0),
                     RK_KIND_DOCKER_SCHEMA1);
    /* unknown Content-Type: the document's mediaType, then its shape */
    assert_int_equal(rk_manifest_detect("application/json", oci_manifest, n),
                     RK_KIND_OCI_MANIFEST);
    assert_int_equal(
        rk_manifest_detect(NULL, docker_manifest, strlen(docker_manifest)),
        RK_KIND_DOCKER_MANIFEST);
    assert_int_equal(
        rk_manifest_detect("text/plain", docker_list, strlen(docker_list)),
        RK_KIND_DOCKER_LIST);
    assert_int_equal(rk_manifest_detect(NULL, schema1, strlen(schema1)),
                     RK_KIND_DOCKER_SCHEMA1);
    assert_int_equal(rk_manifest_detect(NULL, helm, strlen(helm)),
                     RK_KIND_OCI_MANIFEST);
    const char *shape_index = "{\"schemaVersion\":2,\"manifests\":[]}";
    assert_int_equal(rk_manifest_detect(NULL, shape_index, strlen(shape_index)),
                     RK_KIND_OCI_INDEX);
    assert_int_equal(rk_manifest_detect(NULL, "[]", 2), RK_KIND_UNKNOWN);
    assert_int_equal(rk_manifest_detect(NULL, "{", 1), RK_KIND_UNKNOWN);
    assert_int_equal(rk_manifest_detect(NULL, "{}", 2), RK_KIND_UNKNOWN);
    assert_int_equal(rk_manifest_detect(NULL, NULL, 0), RK_KIND_UNKNOWN);
}

static void test_oci_manifest(void **state)
{
    (void)state;
    rk_manifest *m = manifest_ok(oci_manifest, RK_MT_OCI_MANIFEST);
    assert_int_equal(m->kind, RK_KIND_OCI_MANIFEST);
    assert_string_equal(m->media_type, RK_MT_OCI_MANIFEST);
    assert_string_equal(m->config.media_type, RK_MT_OCI_CONFIG);
    assert_string_equal(m->config.digest, DA);
    assert_int_equal(m->config.size, 1463);
    assert_int_equal(m->n_layers, 3);
    assert_string_equal(m->layers[0].media_type, RK_MT_OCI_LAYER_GZIP);
    assert_string_equal(m->layers[0].digest, DB);
    assert_int_equal(m->layers[0].size, 49556919);
    assert_null(m->layers[0].urls);
    assert_int_equal(m->layers[1].size, 0);
    assert_int_equal(m->layers[2].size, 3000000000LL);
    assert_int_equal(rk_strv_len(m->layers[2].urls), 2);
    assert_string_equal(m->layers[2].urls[1], "http://mirror/y");
    assert_null(m->artifact_type);
    rk_manifest_free(m);
    /* no Content-Type; "application/json": the document decides */
    m = manifest_ok(oci_manifest, NULL);
    assert_int_equal(m->kind, RK_KIND_OCI_MANIFEST);
    rk_manifest_free(m);
    m = manifest_ok(oci_manifest, "application/json; charset=utf-8");
    rk_manifest_free(m);
    /* OCI manifests may leave mediaType out */
    const char *nomt =
        "{\"schemaVersion\":2,\"config\":{\"mediaType\":\"" RK_MT_OCI_CONFIG
        "\",\"digest\":\"" DA "\",\"size\":1},\"layers\":[]}";
    m = manifest_ok(nomt, RK_MT_OCI_MANIFEST);
    assert_string_equal(m->media_type, RK_MT_OCI_MANIFEST);
    assert_int_equal(m->n_layers, 0);
    rk_manifest_free(m);
    m = manifest_ok(nomt, NULL);
    assert_int_equal(m->kind, RK_KIND_OCI_MANIFEST);
    rk_manifest_free(m);
}

static void test_docker_manifest(void **state)
{
    (void)state;
    rk_manifest *m = manifest_ok(docker_manifest, RK_MT_DOCKER_MANIFEST);
    assert_int_equal(m->kind, RK_KIND_DOCKER_MANIFEST);
    assert_string_equal(m->media_type, RK_MT_DOCKER_MANIFEST);
    assert_string_equal(m->config.media_type, RK_MT_DOCKER_CONFIG);
    assert_int_equal(m->config.size, 7023);
    assert_int_equal(m->n_layers, 2);
    assert_string_equal(m->layers[0].media_type, RK_MT_DOCKER_LAYER_GZIP);
    assert_string_equal(m->layers[1].urls[0],
                        "https://go.microsoft.com/fwlink/?linkid=837858");
    rk_manifest_free(m);
}

static void test_refusals(void **state)
{
    (void)state;
    assert_manifest_err(schema1, RK_MT_DOCKER_SCHEMA1_SIGNED,
                        "schema 1 manifests are not supported (ask the "
                        "publisher for a schema 2 or OCI image)",
                        125);
    assert_manifest_err(schema1, NULL,
                        "schema 1 manifests are not supported (ask the "
                        "publisher for a schema 2 or OCI image)",
                        125);
    assert_manifest_err(schema1, "application/json",
                        "schema 1 manifests are not supported (ask the "
                        "publisher for a schema 2 or OCI image)",
                        125);
    assert_manifest_err(helm, NULL,
                        "not a container image: config media type "
                        "\"application/vnd.cncf.helm.config.v1+json\" (an OCI "
                        "artifact?)",
                        125);
    assert_manifest_err(helm, RK_MT_OCI_MANIFEST,
                        "not a container image: config media type "
                        "\"application/vnd.cncf.helm.config.v1+json\" (an OCI "
                        "artifact?)",
                        125);
    assert_manifest_err(artifact, RK_MT_OCI_MANIFEST,
                        "not a container image: an artifact of type "
                        "\"application/vnd.example.sbom.v1\"",
                        125);
    assert_manifest_err(empty_config_artifact, RK_MT_OCI_MANIFEST,
                        "not a container image: config media type "
                        "\"application/vnd.oci.empty.v1+json\" (an OCI "
                        "artifact?)",
                        125);
    assert_manifest_err(
        DOC("\"mediaType\":\"application/x-unknown\"," CFG ",\"layers\":[]"),
        RK_MT_OCI_MANIFEST,
        "invalid manifest: mediaType \"application/x-unknown\" "
        "does not match the Content-Type "
        "application/vnd.oci.image.manifest.v1+json",
        0);
    assert_manifest_err("{}", "application/x-thing",
                        "unsupported manifest type \"application/x-thing\"", 0);
    assert_manifest_err(docker_list, RK_MT_DOCKER_LIST,
                        "expected an image manifest, got an image index", 0);
    assert_manifest_err(oci_manifest, RK_MT_OCI_INDEX,
                        "invalid manifest: mediaType "
                        "\"application/vnd.oci.image.manifest.v1+json\" does "
                        "not match the Content-Type "
                        "application/vnd.oci.image.index.v1+json",
                        0);
    assert_manifest_err(docker_manifest, RK_MT_OCI_MANIFEST,
                        "invalid manifest: mediaType "
                        "\"application/vnd.docker.distribution.manifest.v2+"
                        "json\" does not match the Content-Type "
                        "application/vnd.oci.image.manifest.v1+json",
                        0);
}

struct bad_manifest {
    const char *layer_or_doc; /* a layers[] entry, or a whole document if it
                               * starts with '{"schemaVersion"' */
    const char *msg;
    int status;
};

static const struct bad_manifest bad_manifests[] = {
    {"{\"mediaType\":\"" RK_MT_OCI_LAYER_GZIP
     "\",\"digest\":\"sha256:1234\",\"size\":1}",
     "invalid manifest: layers[0].digest: invalid digest \"sha256:1234\"", 0},
    {"{\"mediaType\":\"" RK_MT_OCI_LAYER_GZIP
     "\",\"digest\":\"sha512:" H("aaaa") H("aaaa") "\",\"size\":1}",
     /* rk_digest_check() shows the first 80 characters */
     "invalid manifest: layers[0].digest: unsupported digest algorithm in "
     "\"sha512:" H("aaaa") "aaaaaaaaa\"",
     0},
    {"{\"mediaType\":\"" RK_MT_OCI_LAYER_GZIP
     "\",\"digest\":\"sha256:../../etc/passwd\",\"size\":1}",
     "invalid manifest: layers[0].digest: invalid digest "
     "\"sha256:../../etc/passwd\"",
     0},
    {"{\"mediaType\":\"" RK_MT_OCI_LAYER_GZIP "\",\"digest\":\"" DB
     "\",\"size\":-1}",
     "invalid manifest: layers[0].size must be an integer >= 0", 0},
    {"{\"mediaType\":\"" RK_MT_OCI_LAYER_GZIP "\",\"digest\":\"" DB
     "\",\"size\":\"12\"}",
     "invalid manifest: layers[0].size must be an integer >= 0", 0},
    {"{\"mediaType\":\"" RK_MT_OCI_LAYER_GZIP "\",\"digest\":\"" DB
     "\",\"size\":1.5}",
     "invalid manifest: layers[0].size must be an integer >= 0", 0},
    {"{\"mediaType\":\"" RK_MT_OCI_LAYER_GZIP "\",\"digest\":\"" DB "\"}",
     "invalid manifest: layers[0].size must be an integer >= 0", 0},
    {"{\"mediaType\":\"" RK_MT_OCI_LAYER_GZIP "\",\"size\":1}",
     "invalid manifest: layers[0].digest is missing", 0},
    {"{\"digest\":\"" DB "\",\"size\":1}",
     "invalid manifest: layers[0].mediaType is missing", 0},
    {"{\"mediaType\":\"not a type\",\"digest\":\"" DB "\",\"size\":1}",
     "invalid manifest: layers[0].mediaType \"not a type\" is not a media type",
     0},
    {"{\"mediaType\":\"application/"
     "vnd.oci.image.layer.v1.tar+bzip2\",\"digest\":\"" DB "\",\"size\":1}",
     "unsupported layer media type "
     "\"application/vnd.oci.image.layer.v1.tar+bzip2\" (layers[0])",
     125},
    {"{\"mediaType\":\"application/"
     "vnd.cncf.helm.chart.content.v1.tar+gzip\",\"digest\":\"" DB
     "\",\"size\":1}",
     "unsupported layer media type "
     "\"application/vnd.cncf.helm.chart.content.v1.tar+gzip\" (layers[0])",
     125},
    {"{\"mediaType\":\"" RK_MT_OCI_LAYER "\",\"digest\":\"" DB
     "\",\"size\":1,\"urls\":\"http://x\"}",
     "invalid manifest: layers[0].urls must be an array of strings", 0},
    {"{\"mediaType\":\"" RK_MT_OCI_LAYER "\",\"digest\":\"" DB
     "\",\"size\":1,\"urls\":[\"file:///etc/passwd\"]}",
     "invalid manifest: layers[0].urls[0] is not an http(s) URL", 0},
    {"{\"mediaType\":\"" RK_MT_OCI_LAYER "\",\"digest\":\"" DB
     "\",\"size\":1,\"annotations\":[]}",
     "invalid manifest: layers[0].annotations is not an object", 0},
    {"{\"mediaType\":\"" RK_MT_OCI_LAYER "\",\"digest\":\"" DB
     "\",\"size\":1,\"annotations\":{\"a\":1}}",
     "invalid manifest: layers[0].annotations values must be strings", 0},
    {"\"just a string\"", "invalid manifest: layers[0] is not an object", 0},
    /* whole documents */
    {DOC("\"layers\":[]"), "invalid manifest: config is missing", 0},
    {DOC(CFG), "invalid manifest: layers must be an array", 0},
    {DOC(CFG ",\"layers\":{}"), "invalid manifest: layers must be an array", 0},
    {"{\"schemaVersion\":3," CFG ",\"layers\":[]}",
     "invalid manifest: schemaVersion must be 2", 0},
    {"{\"schemaVersion\":\"2\"," CFG ",\"layers\":[]}",
     "invalid manifest: schemaVersion must be 2", 0},
    {"{" CFG ",\"layers\":[]}", "invalid manifest: schemaVersion must be 2", 0},
    {DOC(CFG ",\"layers\":[],\"artifactType\":5"),
     "invalid manifest: artifactType is not a string", 0},
    {DOC("\"mediaType\":5," CFG ",\"layers\":[]"),
     "invalid manifest: mediaType is not a string", 0},
    {DOC("\"config\":{\"mediaType\":\"" RK_MT_OCI_CONFIG "\",\"digest\":\"" DA
         "\",\"size\":1,\"size\":2},\"layers\":[]"),
     "invalid manifest: not valid JSON (line 1: duplicate object key near "
     "'\"size\"')",
     0},
    {DOC("\"config\":{\"mediaType\":\"" RK_MT_OCI_CONFIG "\",\"digest\":\"" DA
         "\",\"size\":1}\n,\"layers\":[\n"),
     "invalid manifest: not valid JSON (line 3: unexpected token near '}')", 0},
    {"[]", "invalid manifest: not a JSON object", 0},
    {DOC("\"config\":{\"mediaType\":\"" RK_MT_OCI_CONFIG "\",\"digest\":\"" DA
         "\",\"size\":1},"
         "\"layers\":[],\"x\":\"\\u0000\""),
     "invalid manifest: not valid JSON (line 1: \\u0000 is not allowed without "
     "JSON_ALLOW_NUL near '\"\\u0000\"')",
     0},
};

static void test_bad_manifests(void **state)
{
    (void)state;
    for (size_t i = 0; i < RK_ELEMENTSOF(bad_manifests); i++) {
        const struct bad_manifest *b = &bad_manifests[i];
        /* all served as OCI manifests */
        char *doc;
        const char *ct = RK_MT_OCI_MANIFEST;
        if (b->layer_or_doc[0] == '{' &&
            (strstr(b->layer_or_doc, "\"schemaVersion\"") ||
             strstr(b->layer_or_doc, CFG) == b->layer_or_doc + 1))
            doc = rk_xstrdup(b->layer_or_doc);
        else if (b->layer_or_doc[0] == '[')
            doc = rk_xstrdup(b->layer_or_doc);
        else {
            doc = rk_xasprintf(DOC(CFG ",\"layers\":[%s]"), b->layer_or_doc);
        }
        int st = -1;
        char *got = manifest_err(doc, ct, &st);
        if (strcmp(got, b->msg))
            fail_msg("case %zu: %s\n got:  %s\n want: %s", i, doc, got, b->msg);
        assert_int_equal(st, b->status);
        free(got);
        free(doc);
    }
    /* without a Content-Type */
    assert_manifest_err("{\"schemaVersion\":2}", NULL,
                        "unrecognized manifest: no mediaType and an unknown "
                        "structure",
                        0);
    assert_manifest_err(
        DOC("\"mediaType\":\"application/x-unknown\"," CFG ",\"layers\":[]"),
        NULL, "unsupported manifest type \"application/x-unknown\"", 0);
    assert_manifest_err(DOC("\"layers\":[]"), NULL,
                        "unrecognized manifest: no mediaType and an unknown "
                        "structure",
                        0);
    /* a config with a bad digest */
    assert_manifest_err(
        DOC("\"config\":{\"mediaType\":\"" RK_MT_OCI_CONFIG
            "\",\"digest\":\"" DA "0\",\"size\":1},\"layers\":[]"),
        RK_MT_OCI_MANIFEST,
        "invalid manifest: config.digest: invalid digest \"" DA "0\"", 0);
    assert_manifest_err(DOC("\"config\":[],\"layers\":[]"), RK_MT_OCI_MANIFEST,
                        "invalid manifest: config is not an object", 0);
    /* too many layers */
    char *many = rk_xstrdup("{\"schemaVersion\":2," CFG ",\"layers\":[");
    for (int i = 0; i < 1025; i++) {
        char *n = rk_xasprintf("%s%s{\"mediaType\":\"" RK_MT_OCI_LAYER
                               "\",\"digest\":\"" DB "\",\"size\":1}",
                               many, i ? "," : "");
        free(many);
        many = n;
    }
    char *n = rk_xasprintf("%s]}", many);
    free(many);
    assert_manifest_err(n, NULL, "invalid manifest: 1025 layers (at most 1024)",
                        0);
    free(n);
    /* NULL data */
    rk_manifest *m = NULL;
    rk_error *err = NULL;
    assert_int_equal(rk_manifest_parse(NULL, 0, NULL, &m, &err), -1);
    rk_error_free(err);
}

static rk_index *index_ok(const char *doc, const char *ct)
{
    rk_index *idx = NULL;
    rk_error *err = NULL;
    if (rk_index_parse(doc, strlen(doc), ct, &idx, &err) < 0)
        fail_msg("%s", err->msg);
    return idx;
}

static void test_index_parse(void **state)
{
    (void)state;
    rk_index *idx = index_ok(docker_list, RK_MT_DOCKER_LIST);
    assert_int_equal(idx->kind, RK_KIND_DOCKER_LIST);
    assert_int_equal(idx->n_manifests, 7);
    assert_true(idx->manifests[1].has_platform);
    assert_string_equal(idx->manifests[1].platform.architecture, "arm");
    assert_string_equal(idx->manifests[1].platform.variant, "v5");
    assert_null(idx->manifests[0].platform.variant);
    assert_false(idx->manifests[0].is_attestation);
    rk_index_free(idx);

    idx = index_ok(oci_index_attest, NULL);
    assert_int_equal(idx->kind, RK_KIND_OCI_INDEX);
    assert_int_equal(idx->n_manifests, 5);
    assert_true(idx->manifests[0].is_attestation);
    assert_true(idx->manifests[1].is_attestation);
    assert_false(idx->manifests[2].is_attestation);
    rk_index_free(idx);

    /* aliases in platforms are normalized */
    const char *alias =
        "{\"schemaVersion\":2,\"manifests\":[{\"mediaType\":"
        "\"" RK_MT_OCI_MANIFEST "\",\"digest\":\"" DA
        "\",\"size\":1,\"platform\":{\"os\":\"linux\","
        "\"architecture\":\"x86_64\"}},{\"mediaType\":\"" RK_MT_OCI_MANIFEST
        "\",\"digest\":\"" DB "\",\"size\":1,\"platform\":{\"os\":\"linux\","
        "\"architecture\":\"AArch64\"}},{\"mediaType\":\"" RK_MT_OCI_MANIFEST
        "\",\"digest\":\"" DC "\",\"size\":1}]}";
    idx = index_ok(alias, RK_MT_OCI_INDEX);
    assert_string_equal(idx->manifests[0].platform.architecture, "amd64");
    assert_string_equal(idx->manifests[1].platform.architecture, "arm64");
    assert_false(idx->manifests[2].has_platform);
    rk_index_free(idx);

    static const struct {
        const char *doc, *ct, *msg;
        int status;
    } bad[] = {
        {oci_manifest, NULL, "expected an image index, got an image manifest",
         0},
        {schema1, NULL,
         "schema 1 manifests are not supported (ask the publisher for a "
         "schema 2 or OCI image)",
         125},
        {"{\"schemaVersion\":2,\"mediaType\":\"" RK_MT_OCI_INDEX "\"}", NULL,
         "invalid image index: manifests must be an array", 0},
        {"{\"schemaVersion\":2,\"mediaType\":\"" RK_MT_OCI_INDEX
         "\",\"manifests\":[],\"artifactType\":\"application/x-sig\"}",
         NULL,
         "not a container image: an artifact of type \"application/x-sig\"",
         125},
        {"{\"schemaVersion\":2,\"manifests\":[{\"mediaType\":"
         "\"" RK_MT_OCI_MANIFEST "\",\"digest\":\"" DA "\",\"size\":-5}]}",
         NULL, "invalid image index: manifests[0].size must be an integer >= 0",
         0},
        {"{\"schemaVersion\":2,\"manifests\":[{\"mediaType\":"
         "\"" RK_MT_OCI_MANIFEST "\",\"digest\":\"sha256:xyz\",\"size\":5}]}",
         NULL,
         "invalid image index: manifests[0].digest: invalid digest "
         "\"sha256:xyz\"",
         0},
        {"{\"schemaVersion\":2,\"manifests\":[{\"mediaType\":"
         "\"" RK_MT_OCI_MANIFEST "\",\"digest\":\"" DA
         "\",\"size\":5,\"platform\":\"linux/amd64\"}]}",
         NULL, "invalid image index: manifests[0].platform is not an object",
         0},
        {"{\"schemaVersion\":2,\"manifests\":[{\"mediaType\":"
         "\"" RK_MT_OCI_MANIFEST "\",\"digest\":\"" DA
         "\",\"size\":5,\"platform\":{\"os\":\"linux\"}}]}",
         NULL,
         "invalid image index: manifests[0].platform needs os and architecture "
         "words",
         0},
        {"{\"schemaVersion\":2,\"manifests\":[{\"mediaType\":"
         "\"" RK_MT_OCI_MANIFEST "\",\"digest\":\"" DA
         "\",\"size\":5,\"platform\":{\"os\":\"linux\","
         "\"architecture\":\"amd 64\"}}]}",
         NULL,
         "invalid image index: manifests[0].platform needs os and architecture "
         "words",
         0},
        {"{\"schemaVersion\":2,\"manifests\":[{\"mediaType\":"
         "\"" RK_MT_OCI_MANIFEST "\",\"digest\":\"" DA
         "\",\"size\":5,\"platform\":{\"os\":\"linux\","
         "\"architecture\":\"arm\",\"variant\":7}}]}",
         NULL, "invalid image index: manifests[0].platform.variant is invalid",
         0},
        {"{\"schemaVersion\":1,\"manifests\":[]}", RK_MT_OCI_INDEX,
         "invalid image index: schemaVersion must be 2", 0},
        {docker_list, RK_MT_OCI_INDEX,
         "invalid image index: mediaType "
         "\"application/vnd.docker.distribution.manifest.list.v2+json\" does "
         "not match the Content-Type application/vnd.oci.image.index.v1+json",
         0},
    };
    for (size_t i = 0; i < RK_ELEMENTSOF(bad); i++) {
        rk_index *x = NULL;
        rk_error *err = NULL;
        if (rk_index_parse(bad[i].doc, strlen(bad[i].doc), bad[i].ct, &x,
                           &err) == 0)
            fail_msg("case %zu accepted", i);
        if (strcmp(err->msg, bad[i].msg))
            fail_msg("case %zu:\n got:  %s\n want: %s", i, err->msg,
                     bad[i].msg);
        assert_int_equal(err->status, bad[i].status);
        rk_error_free(err);
    }
}

/* The digest chosen for a platform string, or the error message. */
static char *select_str(const rk_index *idx, const char *plat)
{
    rk_platform p;
    rk_error *err = NULL;
    assert_int_equal(rk_platform_parse(plat, &p, &err), 0);
    int i = rk_index_select(idx, &p, &err);
    rk_platform_clear(&p);
    if (i < 0) {
        assert_int_equal(err->status, 125);
        char *m = rk_xstrdup(err->msg);
        rk_error_free(err);
        return m;
    }
    return rk_xstrdup(idx->manifests[i].digest);
}

#define assert_selects(idx, plat, want)                                        \
    do {                                                                       \
        char *_g = select_str((idx), (plat));                                  \
        if (strcmp(_g, (want)))                                                \
            fail_msg("%s: got \"%s\" want \"%s\"", (plat), _g, (want));        \
        free(_g);                                                              \
    } while (0)

static void test_index_select(void **state)
{
    (void)state;
    rk_index *idx = index_ok(docker_list, NULL);
    assert_selects(idx, "linux/amd64", DA);
    assert_selects(idx, "linux/x86_64", DA);
    assert_selects(idx, "linux/arm64", DD);
    assert_selects(idx, "linux/arm64/v8", DD);
    assert_selects(idx, "linux/aarch64", DD);
    assert_selects(idx, "linux/arm/v7", DC);
    assert_selects(idx, "linux/arm", DC); /* the default arm variant */
    assert_selects(idx, "linux/armv7l", DC);
    assert_selects(idx, "linux/arm/v5", DB);
    assert_selects(idx, "linux/arm/v6", DB); /* v6 hardware runs v5 */
    assert_selects(idx, "linux/386", DE);
    assert_selects(idx, "linux/i686", DE);
    assert_selects(idx, "linux/ppc64le", DF);
    assert_selects(idx, "windows/amd64", D0);
    assert_selects(idx, "linux/s390x",
                   "no image for linux/s390x in this index (available: "
                   "linux/amd64, linux/arm/v5, linux/arm/v7, linux/arm64/v8, "
                   "linux/386, linux/ppc64le, windows/amd64)");
    assert_selects(idx, "linux/arm64/v9",
                   "no image for linux/arm64/v9 in this index (available: "
                   "linux/amd64, linux/arm/v5, linux/arm/v7, linux/arm64/v8, "
                   "linux/386, linux/ppc64le, windows/amd64)");
    rk_index_free(idx);

    idx = index_ok(oci_index_attest, RK_MT_OCI_INDEX);
    /* the attestation for amd64 comes first and is skipped */
    assert_selects(idx, "linux/amd64", DA);
    assert_selects(idx, "linux/arm64", DB);
    /* a nested index is not an image manifest */
    assert_selects(idx, "linux/s390x",
                   "no image for linux/s390x in this index (available: "
                   "linux/amd64, linux/arm64/v8)");
    assert_selects(idx, "unknown/unknown",
                   "no image for unknown/unknown in this index (available: "
                   "linux/amd64, linux/arm64/v8)");
    rk_index_free(idx);

    /* with no variant wanted, one without a variant or with the default
     * one beats others; otherwise the first match is taken */
    const char *arm64s =
        "{\"schemaVersion\":2,\"manifests\":["
        "{\"mediaType\":\"" RK_MT_OCI_MANIFEST "\",\"digest\":\"" DA
        "\",\"size\":1,"
        "\"platform\":{\"os\":\"linux\",\"architecture\":\"arm64\",\"variant\":"
        "\"v9\"}},"
        "{\"mediaType\":\"" RK_MT_OCI_MANIFEST "\",\"digest\":\"" DB
        "\",\"size\":1,"
        "\"platform\":{\"os\":\"linux\",\"architecture\":\"arm64\"}},"
        "{\"mediaType\":\"" RK_MT_OCI_MANIFEST "\",\"digest\":\"" DC
        "\",\"size\":1,"
        "\"platform\":{\"os\":\"linux\",\"architecture\":\"arm\",\"variant\":"
        "\"v8\"}},"
        "{\"mediaType\":\"" RK_MT_OCI_MANIFEST "\",\"digest\":\"" DD
        "\",\"size\":1,"
        "\"platform\":{\"os\":\"linux\",\"architecture\":\"arm\",\"variant\":"
        "\"v6\"}}"
        "]}";
    idx = index_ok(arm64s, NULL);
    assert_selects(idx, "linux/arm64", DB);
    assert_selects(idx, "linux/arm64/v8", DB); /* no variant means v8 */
    assert_selects(idx, "linux/arm64/v9", DA);
    assert_selects(idx, "linux/arm", DD); /* default v7 not there: v6 */
    assert_selects(idx, "linux/arm/v7", DD);
    assert_selects(idx, "linux/arm/v8", DC);
    assert_selects(idx, "linux/arm/v5",
                   "no image for linux/arm/v5 in this index (available: "
                   "linux/arm64/v9, linux/arm64, linux/arm/v8, linux/arm/v6)");
    rk_index_free(idx);

    /* amd64: no variant wanted prefers an entry without one, then takes
     * any amd64 entry */
    const char *amd64s =
        "{\"schemaVersion\":2,\"manifests\":["
        "{\"mediaType\":\"" RK_MT_OCI_MANIFEST "\",\"digest\":\"" DA
        "\",\"size\":1,"
        "\"platform\":{\"os\":\"linux\",\"architecture\":\"amd64\",\"variant\":"
        "\"v3\"}},"
        "{\"mediaType\":\"" RK_MT_OCI_MANIFEST "\",\"digest\":\"" DB
        "\",\"size\":1,"
        "\"platform\":{\"os\":\"linux\",\"architecture\":\"amd64\"}}]}";
    idx = index_ok(amd64s, NULL);
    assert_selects(idx, "linux/amd64", DB);
    assert_selects(idx, "linux/amd64/v3", DA);
    assert_selects(idx, "linux/amd64/v2",
                   "no image for linux/amd64/v2 in this index (available: "
                   "linux/amd64/v3, linux/amd64)");
    rk_index_free(idx);
    idx =
        index_ok("{\"schemaVersion\":2,\"manifests\":["
                 "{\"mediaType\":\"" RK_MT_DOCKER_MANIFEST "\",\"digest\":\"" DC
                 "\",\"size\":1,\"platform\":{\"os\":\"linux\","
                 "\"architecture\":\"amd64\",\"variant\":\"v2\"}}]}",
                 NULL);
    assert_selects(idx, "linux/amd64", DC);
    rk_index_free(idx);

    /* an empty index */
    idx = index_ok("{\"schemaVersion\":2,\"manifests\":[]}", NULL);
    assert_selects(idx, "linux/amd64",
                   "no image for linux/amd64 in this index (available: none)");
    rk_index_free(idx);
}

static void test_platform(void **state)
{
    (void)state;
    static const struct {
        const char *in, *out;
    } good[] = {
        {"linux/amd64", "linux/amd64"},
        {"LINUX/AMD64", "linux/amd64"},
        {"linux/x86_64", "linux/amd64"},
        {"linux/arm64/v8", "linux/arm64/v8"},
        {"linux/aarch64", "linux/arm64"},
        {"linux/armv7l", "linux/arm/v7"},
        {"linux/armhf", "linux/arm/v7"},
        {"linux/armel", "linux/arm/v6"},
        {"linux/arm/v6", "linux/arm/v6"},
        {"linux/i386", "linux/386"},
        {"linux/riscv64", "linux/riscv64"},
        {"windows/amd64", "windows/amd64"},
    };
    for (size_t i = 0; i < RK_ELEMENTSOF(good); i++) {
        rk_platform p;
        rk_error *err = NULL;
        if (rk_platform_parse(good[i].in, &p, &err) < 0)
            fail_msg("%s: %s", good[i].in, err->msg);
        char *s = rk_platform_string(&p);
        assert_string_equal(s, good[i].out);
        free(s);
        rk_platform_clear(&p);
        rk_platform_clear(&p); /* twice is fine */
    }
    static const char *const bad[] = {
        "",        "linux",        "linux/",       "/amd64",        "linux//v8",
        "a/b/c/d", "linux/am d64", "linux/amd64/", "linux/\xc3\xa9"};
    for (size_t i = 0; i < RK_ELEMENTSOF(bad); i++) {
        rk_platform p;
        rk_error *err = NULL;
        if (rk_platform_parse(bad[i], &p, &err) == 0)
            fail_msg("accepted %s", bad[i]);
        assert_int_equal(err->status, 125);
        assert_non_null(strstr(err->msg, "expected os/arch[/variant]"));
        rk_error_free(err);
        assert_null(p.os);
    }
    rk_error *err = NULL;
    rk_platform p;
    assert_int_equal(rk_platform_parse("linux", &p, &err), -1);
    assert_string_equal(
        err->msg, "invalid platform \"linux\": expected os/arch[/variant]");
    rk_error_free(err);

    /* the host */
    struct utsname u;
    assert_int_equal(uname(&u), 0);
    rk_platform_host(&p);
    assert_string_equal(p.os, "linux");
    if (!strcmp(u.machine, "x86_64")) {
        assert_string_equal(p.architecture, "amd64");
        assert_null(p.variant);
    } else if (!strcmp(u.machine, "aarch64")) {
        assert_string_equal(p.architecture, "arm64");
        assert_string_equal(p.variant, "v8");
    }
    rk_platform_clear(&p);

    assert_string_equal(rk_arch_normalize("x86_64"), "amd64");
    assert_string_equal(rk_arch_normalize("aarch64"), "arm64");
    assert_string_equal(rk_arch_normalize("armv7l"), "arm");
    assert_string_equal(rk_arch_normalize("i686"), "386");
    assert_string_equal(rk_arch_normalize("ppc64le"), "ppc64le");
    assert_string_equal(rk_arch_normalize("s390x"), "s390x");
    assert_string_equal(rk_arch_normalize("riscv64"), "riscv64");
    assert_string_equal(rk_arch_normalize("mips64le"), "mips64le");
}

static void test_media_types(void **state)
{
    (void)state;
    static const char *const yes[] = {
        RK_MT_OCI_LAYER,
        RK_MT_OCI_LAYER_GZIP,
        RK_MT_OCI_LAYER_ZSTD,
        RK_MT_DOCKER_LAYER_GZIP,
        "application/vnd.oci.image.layer.nondistributable.v1.tar",
        "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip",
        "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd",
        "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip",
    };
    static const char *const no[] = {
        "application/vnd.oci.image.layer.v1.tar+bzip2",
        RK_MT_OCI_CONFIG,
        "application/octet-stream",
        "",
        "application/vnd.oci.image.layer.v1.TAR",
    };
    for (size_t i = 0; i < RK_ELEMENTSOF(yes); i++)
        assert_true(rk_layer_media_type_supported(yes[i]));
    for (size_t i = 0; i < RK_ELEMENTSOF(no); i++)
        assert_false(rk_layer_media_type_supported(no[i]));
    assert_false(rk_layer_media_type_supported(NULL));
    assert_string_equal(rk_media_type_to_oci(RK_MT_DOCKER_MANIFEST),
                        RK_MT_OCI_MANIFEST);
    assert_string_equal(rk_media_type_to_oci(RK_MT_DOCKER_LIST),
                        RK_MT_OCI_INDEX);
    assert_string_equal(rk_media_type_to_oci(RK_MT_DOCKER_CONFIG),
                        RK_MT_OCI_CONFIG);
    assert_string_equal(rk_media_type_to_oci(RK_MT_DOCKER_LAYER_GZIP),
                        RK_MT_OCI_LAYER_GZIP);
    assert_string_equal(
        rk_media_type_to_oci(
            "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip"),
        "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip");
    assert_string_equal(rk_media_type_to_oci(RK_MT_OCI_LAYER_ZSTD),
                        RK_MT_OCI_LAYER_ZSTD);
    assert_string_equal(rk_media_type_to_oci("x/y"), "x/y");
}

static const char full_config[] =
    "{\n"
    "  \"architecture\": \"amd64\",\n"
    "  \"os\": \"linux\",\n"
    "  \"created\": \"2024-06-10T00:00:00Z\",\n"
    "  \"config\": {\n"
    "    \"Env\": "
    "[\"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\",\n"
    "            \"LANG=C.UTF-8\", \"EMPTY=\"],\n"
    "    \"Entrypoint\": [\"/docker-entrypoint.sh\"],\n"
    "    \"Cmd\": [\"nginx\", \"-g\", \"daemon off;\"],\n"
    "    \"WorkingDir\": \"/srv\",\n"
    "    \"User\": \"101:101\",\n"
    "    \"StopSignal\": \"SIGQUIT\",\n"
    "    \"ExposedPorts\": {\"80/tcp\": {}},\n"
    "    \"Labels\": {\"maintainer\": \"NGINX <x@y>\", \"a.b\": \"1\", \"a\": "
    "\"=2\"}\n"
    "  },\n"
    "  \"rootfs\": {\n"
    "    \"type\": \"layers\",\n"
    "    \"diff_ids\": [\"" DA "\", \"" DB "\"]\n"
    "  },\n"
    "  \"history\": [{\"created\": \"2024-06-10T00:00:00Z\", \"created_by\": "
    "\"x\"}]\n"
    "}\n";

static void test_config(void **state)
{
    (void)state;
    rk_image_config *c = NULL;
    rk_error *err = NULL;
    assert_int_equal(
        rk_image_config_parse(full_config, strlen(full_config), &c, &err), 0);
    assert_string_equal(c->architecture, "amd64");
    assert_string_equal(c->os, "linux");
    assert_null(c->variant);
    assert_string_equal(c->created, "2024-06-10T00:00:00Z");
    assert_int_equal(rk_strv_len(c->env), 3);
    assert_string_equal(c->env[1], "LANG=C.UTF-8");
    assert_string_equal(c->env[2], "EMPTY=");
    assert_int_equal(rk_strv_len(c->entrypoint), 1);
    assert_string_equal(c->entrypoint[0], "/docker-entrypoint.sh");
    assert_int_equal(rk_strv_len(c->cmd), 3);
    assert_string_equal(c->cmd[2], "daemon off;");
    assert_string_equal(c->working_dir, "/srv");
    assert_string_equal(c->user, "101:101");
    assert_string_equal(c->stop_signal, "SIGQUIT");
    assert_int_equal(rk_strv_len(c->labels), 3);
    /* sorted by key: "a" < "a.b" < "maintainer" */
    assert_string_equal(c->labels[0], "a==2");
    assert_string_equal(c->labels[1], "a.b=1");
    assert_string_equal(c->labels[2], "maintainer=NGINX <x@y>");
    assert_int_equal(c->n_diff_ids, 2);
    assert_string_equal(c->diff_ids[0], DA);
    assert_string_equal(c->diff_ids[1], DB);
    assert_null(c->diff_ids[2]);
    rk_image_config_free(c);

    /* minimal: no config at all, or a null one; arch aliases normalized */
    static const char *const minimal[] = {
        "{\"architecture\":\"aarch64\",\"os\":\"linux\",\"variant\":\"v8\","
        "\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[]}}",
        "{\"architecture\":\"aarch64\",\"os\":\"linux\",\"variant\":\"v8\","
        "\"config\":null,\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[]}}",
        "{\"architecture\":\"aarch64\",\"os\":\"linux\",\"variant\":\"v8\","
        "\"config\":{\"Env\":null,\"Cmd\":null,\"Labels\":null,\"User\":null},"
        "\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[]}}",
    };
    for (size_t i = 0; i < RK_ELEMENTSOF(minimal); i++) {
        c = NULL;
        if (rk_image_config_parse(minimal[i], strlen(minimal[i]), &c, &err) < 0)
            fail_msg("%s", err->msg);
        assert_string_equal(c->architecture, "arm64");
        assert_string_equal(c->variant, "v8");
        assert_null(c->env);
        assert_null(c->cmd);
        assert_null(c->entrypoint);
        assert_null(c->labels);
        assert_null(c->user);
        assert_null(c->working_dir);
        assert_null(c->created);
        assert_int_equal(c->n_diff_ids, 0);
        assert_non_null(c->diff_ids);
        assert_null(c->diff_ids[0]);
        rk_image_config_free(c);
    }
}

#define RFS "\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[]}"

static void test_bad_config(void **state)
{
    (void)state;
    static const struct {
        const char *doc, *msg;
    } bad[] = {
        {"{}", "invalid image config: rootfs is missing"},
        {"[]", "invalid image config: not a JSON object"},
        {"{\"rootfs\":{\"type\":\"layers\"}}",
         "invalid image config: rootfs.diff_ids must be an array"},
        {"{\"rootfs\":{\"type\":\"other\",\"diff_ids\":[]}}",
         "invalid image config: rootfs.type is \"other\", not \"layers\""},
        {"{\"rootfs\":{\"diff_ids\":[]}}",
         "invalid image config: rootfs.type is \"\", not \"layers\""},
        {"{\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[\"sha256:abc\"]}}",
         "invalid image config: rootfs.diff_ids[0]: invalid digest "
         "\"sha256:abc\""},
        {"{\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[\"" DA "\", 5]}}",
         "invalid image config: rootfs.diff_ids[1] is not a string"},
        {"{\"architecture\":5," RFS "}",
         "invalid image config: architecture is not a string"},
        {"{\"created\":[]," RFS "}",
         "invalid image config: created is not a string"},
        {"{\"config\":[]," RFS "}",
         "invalid image config: config is not an object"},
        {"{\"config\":{\"Env\":\"A=B\"}," RFS "}",
         "invalid image config: config.Env must be an array of strings"},
        {"{\"config\":{\"Env\":[\"A=B\", 1]}," RFS "}",
         "invalid image config: config.Env must be an array of strings"},
        {"{\"config\":{\"Env\":[\"A=B\", \"NOEQUALS\"]}," RFS "}",
         "invalid image config: config.Env[1] is not NAME=VALUE"},
        {"{\"config\":{\"Env\":[\"=x\"]}," RFS "}",
         "invalid image config: config.Env[0] is not NAME=VALUE"},
        {"{\"config\":{\"Cmd\":\"sh\"}," RFS "}",
         "invalid image config: config.Cmd must be an array of strings"},
        {"{\"config\":{\"Entrypoint\":[[]]}," RFS "}",
         "invalid image config: config.Entrypoint must be an array of strings"},
        {"{\"config\":{\"WorkingDir\":1}," RFS "}",
         "invalid image config: config.WorkingDir is not a string"},
        {"{\"config\":{\"User\":true}," RFS "}",
         "invalid image config: config.User is not a string"},
        {"{\"config\":{\"StopSignal\":9}," RFS "}",
         "invalid image config: config.StopSignal is not a string"},
        {"{\"config\":{\"Labels\":[]}," RFS "}",
         "invalid image config: config.Labels is not an object"},
        {"{\"config\":{\"Labels\":{\"a\":1}}," RFS "}",
         "invalid image config: config.Labels values must be strings"},
        {"{\"os\":\"linux\",\"os\":\"windows\"," RFS "}",
         "invalid image config: not valid JSON (line 1: duplicate object key "
         "near '\"os\"')"},
        {"{\"a\":\"\x01\"}",
         "invalid image config: not valid JSON (line 1: control character 0x1 "
         "near '\"')"},
    };
    for (size_t i = 0; i < RK_ELEMENTSOF(bad); i++) {
        rk_image_config *c = NULL;
        rk_error *err = NULL;
        if (rk_image_config_parse(bad[i].doc, strlen(bad[i].doc), &c, &err) ==
            0)
            fail_msg("case %zu accepted", i);
        assert_null(c);
        if (strcmp(err->msg, bad[i].msg))
            fail_msg("case %zu:\n got:  %s\n want: %s", i, err->msg,
                     bad[i].msg);
        assert_null(strchr(err->msg, '\n'));
        rk_error_free(err);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_detect),
        cmocka_unit_test(test_oci_manifest),
        cmocka_unit_test(test_docker_manifest),
        cmocka_unit_test(test_refusals),
        cmocka_unit_test(test_bad_manifests),
        cmocka_unit_test(test_index_parse),
        cmocka_unit_test(test_index_select),
        cmocka_unit_test(test_platform),
        cmocka_unit_test(test_media_types),
        cmocka_unit_test(test_config),
        cmocka_unit_test(test_bad_config),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

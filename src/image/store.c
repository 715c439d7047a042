/* The image store: an OCI image layout plus unpacked layers.
 *
 * Trust rule: an object is trusted when it sits at its final name. Blobs
 * reach blobs/sha256/<hex> and layers reach layers/<hex> only by rename
 * after verification; index.json is replaced atomically and written last.
 * So a pull killed at any point leaves temporaries (under tmp/, owned by
 * whoever holds the object's lock) but never a half-written trusted
 * object. */
#include "image/store.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/digest.h"
#include "base/fs.h"
#include "base/json.h"
#include "base/log.h"
#include "base/overlay.h"
#include "base/strv.h"
#include "image/pack.h"
#include "image/reference.h"

#define ANN_REF_NAME "org.opencontainers.image.ref.name"
#define ANN_IMAGE_ID "io.racker.image-id"
#define ANN_REPO_DIGEST "io.racker.repo-digest"
#define ANN_SOURCE_MANIFEST "io.racker.source-manifest"
#define ANN_PULLED "io.racker.pulled"
#define ANN_DERIVED_FROM "io.racker.derived-from"
#define ANN_RECIPE "io.racker.recipe"

struct rk_store {
    char *root;
    char *containers;
    char *empty;
    int root_fd;
};

const char *rk_store_root(const rk_store *s) { return s->root; }
const char *rk_store_containers_dir(const rk_store *s) { return s->containers; }
const char *rk_store_empty_dir(const rk_store *s) { return s->empty; }

static const char *const store_dirs[] = {
    "blobs", "blobs/sha256", "layers", "containers", "locks", "tmp", "empty", "mounts",
};

int rk_store_open(const char *root, rk_store **ret, rk_error **err)
{
    if (!root || !*root)
        return rk_error_set(err, EINVAL, "empty store path");
    if (rk_mkdir_p(root, 0700, err) < 0)
        return rk_error_wrap(err, "opening store %s", root);
    _cleanup_close_ int fd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return rk_error_set(err, errno, "opening store %s", root);
    for (size_t i = 0; i < RK_ELEMENTSOF(store_dirs); i++)
        if (mkdirat(fd, store_dirs[i], 0700) < 0 && errno != EEXIST)
            return rk_error_set(err, errno, "creating %s/%s", root, store_dirs[i]);
    if (!rk_path_exists_at(fd, "oci-layout")) {
        static const char layout[] = "{\"imageLayoutVersion\":\"1.0.0\"}";
        if (rk_write_file_atomic(fd, "oci-layout", layout, sizeof(layout) - 1,
                                 0644, err) < 0)
            return rk_error_wrap(err, "initializing store %s", root);
    }
    if (!rk_path_exists_at(fd, "index.json")) {
        static const char idx[] =
            "{\"schemaVersion\":2,\"mediaType\":\"" RK_MT_OCI_INDEX
            "\",\"manifests\":[]}";
        _cleanup_close_ int lk = rk_lock_at(fd, "locks/index.lock", LOCK_EX, err);
        if (lk < 0)
            return -1;
        if (!rk_path_exists_at(fd, "index.json") &&
            rk_write_file_atomic(fd, "index.json", idx, sizeof(idx) - 1, 0644,
                                 err) < 0)
            return rk_error_wrap(err, "initializing store %s", root);
    }
    rk_store *s = rk_xcalloc(1, sizeof(*s));
    /* Keep an absolute path: layer paths end up in mount options. */
    char *abs = realpath(root, NULL);
    s->root = abs ? abs : rk_xstrdup(root);
    s->containers = rk_path_join(s->root, "containers");
    s->empty = rk_path_join(s->root, "empty");
    s->root_fd = TAKE_FD(fd);
    *ret = s;
    return 0;
}

void rk_store_close(rk_store *s)
{
    if (!s)
        return;
    if (s->root_fd >= 0)
        close(s->root_fd);
    free(s->root);
    free(s->containers);
    free(s->empty);
    free(s);
}

/* ---- paths ---- */

char *rk_store_blob_path(const rk_store *s, const char *digest)
{
    return rk_xasprintf("%s/blobs/sha256/%s", s->root, rk_digest_hex(digest));
}

char *rk_store_layer_path(const rk_store *s, const char *chain_id)
{
    return rk_xasprintf("%s/layers/%s", s->root, rk_digest_hex(chain_id));
}

char *rk_store_layer_root(const rk_store *s, const char *chain_id)
{
    return rk_xasprintf("%s/layers/%s/root", s->root, rk_digest_hex(chain_id));
}

bool rk_store_has_blob(const rk_store *s, const char *digest)
{
    _cleanup_free_ char *p = rk_xasprintf("blobs/sha256/%s", rk_digest_hex(digest));
    return rk_path_exists_at(s->root_fd, p);
}

bool rk_store_has_layer(const rk_store *s, const char *chain_id)
{
    _cleanup_free_ char *p = rk_xasprintf("layers/%s/root", rk_digest_hex(chain_id));
    return rk_path_exists_at(s->root_fd, p);
}

char *rk_store_blob_partial_path(const rk_store *s, const char *digest)
{
    return rk_xasprintf("%s/tmp/blob-%s.partial", s->root, rk_digest_hex(digest));
}

char **rk_store_chain_ids(char *const *diff_ids)
{
    char **v = rk_xcalloc(1, sizeof(char *));
    char prev[RK_DIGEST_LEN + 1] = "";
    for (size_t i = 0; diff_ids && diff_ids[i]; i++) {
        char cur[RK_DIGEST_LEN + 1];
        if (i == 0) {
            snprintf(cur, sizeof(cur), "%s", diff_ids[0]);
        } else {
            _cleanup_free_ char *in = rk_xasprintf("%s %s", prev, diff_ids[i]);
            rk_sha256_buf(in, strlen(in), cur);
        }
        rk_strv_push_dup(&v, cur);
        memcpy(prev, cur, sizeof(cur));
    }
    return v;
}

/* ---- locks ---- */

int rk_store_lock_shared(rk_store *s, rk_error **err)
{
    return rk_lock_at(s->root_fd, "store.lock", LOCK_SH, err);
}

int rk_store_lock_exclusive(rk_store *s, rk_error **err)
{
    return rk_lock_at(s->root_fd, "store.lock", LOCK_EX, err);
}

int rk_store_lock_blob(rk_store *s, const char *digest, rk_error **err)
{
    _cleanup_free_ char *n = rk_xasprintf("locks/blob-%s", rk_digest_hex(digest));
    return rk_lock_at(s->root_fd, n, LOCK_EX, err);
}

int rk_store_lock_layer(rk_store *s, const char *chain_id, rk_error **err)
{
    _cleanup_free_ char *n = rk_xasprintf("locks/layer-%s", rk_digest_hex(chain_id));
    return rk_lock_at(s->root_fd, n, LOCK_EX, err);
}

/* ---- blobs ---- */

int rk_store_commit_blob(rk_store *s, const char *digest, rk_error **err)
{
    _cleanup_free_ char *from = rk_xasprintf("tmp/blob-%s.partial", rk_digest_hex(digest));
    _cleanup_free_ char *to = rk_xasprintf("blobs/sha256/%s", rk_digest_hex(digest));
    _cleanup_close_ int fd = openat(s->root_fd, from, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return rk_error_set(err, errno, "opening downloaded blob %s", digest);
    if (fsync(fd) < 0)
        return rk_error_set(err, errno, "syncing blob %s", digest);
    if (fchmod(fd, 0644) < 0)
        return rk_error_set(err, errno, "chmod blob %s", digest);
    if (renameat(s->root_fd, from, s->root_fd, to) < 0)
        return rk_error_set(err, errno, "storing blob %s", digest);
    if (rk_fsync_dir_at(s->root_fd, "blobs/sha256") < 0)
        return rk_error_set(err, errno, "syncing blobs directory");
    return 0;
}

int rk_store_put_blob(rk_store *s, const char *digest, const void *data,
                      size_t len, rk_error **err)
{
    if (rk_digest_check(digest, err) < 0)
        return -1;
    char got[RK_DIGEST_LEN + 1];
    rk_sha256_buf(data, len, got);
    if (strcmp(got, digest) != 0)
        return rk_error_set(err, 0, "content of %s hashes to %s", digest, got);
    if (rk_store_has_blob(s, digest))
        return 0;
    _cleanup_free_ char *to = rk_xasprintf("blobs/sha256/%s", rk_digest_hex(digest));
    if (rk_write_file_atomic(s->root_fd, to, data, len, 0644, err) < 0)
        return rk_error_wrap(err, "storing blob %s", digest);
    return 0;
}

int rk_store_read_blob(const rk_store *s, const char *digest, size_t max,
                       char **ret, size_t *ret_len, rk_error **err)
{
    if (rk_digest_check(digest, err) < 0)
        return -1;
    _cleanup_free_ char *p = rk_xasprintf("blobs/sha256/%s", rk_digest_hex(digest));
    if (rk_read_file_at(s->root_fd, p, max, ret, ret_len, err) < 0)
        return rk_error_wrap(err, "reading blob %s", digest);
    return 0;
}

/* ---- layers ---- */

int rk_store_layer_tmp(rk_store *s, const char *chain_id, char **ret_dir,
                       char **ret_root, rk_error **err)
{
    _cleanup_free_ char *rel = rk_xasprintf("tmp/layer-%s", rk_digest_hex(chain_id));
    /* We hold the layer lock, so whatever is here belongs to a dead
     * writer. */
    if (rk_rm_rf_at(s->root_fd, rel, err) < 0)
        return rk_error_wrap(err, "removing stale %s", rel);
    if (mkdirat(s->root_fd, rel, 0700) < 0)
        return rk_error_set(err, errno, "creating %s", rel);
    _cleanup_free_ char *relroot = rk_xasprintf("%s/root", rel);
    if (mkdirat(s->root_fd, relroot, 0755) < 0)
        return rk_error_set(err, errno, "creating %s", relroot);
    *ret_dir = rk_path_join(s->root, rel);
    *ret_root = rk_path_join(s->root, relroot);
    return 0;
}

int rk_store_commit_layer(rk_store *s, const char *chain_id,
                          const char *diff_id, const char *blob_digest,
                          int64_t unpacked_size, rk_error **err)
{
    _cleanup_free_ char *rel = rk_xasprintf("tmp/layer-%s", rk_digest_hex(chain_id));
    _cleanup_free_ char *meta = rk_xasprintf("%s/layer.json", rel);
    _cleanup_json_ json_t *j =
        json_pack("{s:s,s:s,s:s?,s:I}", "chain_id", chain_id, "diff_id", diff_id,
                  "blob", blob_digest, "size", (json_int_t)unpacked_size);
    _cleanup_free_ char *text = rk_json_dumps_compact(j);
    if (rk_write_file_atomic(s->root_fd, meta, text, strlen(text), 0644, err) < 0)
        return rk_error_wrap(err, "writing layer metadata");
    /* The files were written without fsync for speed; syncfs makes them
     * durable before the rename publishes the layer. */
    _cleanup_close_ int fd = openat(s->root_fd, rel, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0 || syncfs(fd) < 0)
        return rk_error_set(err, errno, "syncing layer %s", chain_id);
    _cleanup_free_ char *to = rk_xasprintf("layers/%s", rk_digest_hex(chain_id));
    if (renameat(s->root_fd, rel, s->root_fd, to) < 0) {
        if (errno == ENOTEMPTY || errno == EEXIST) {
            /* Someone committed it already (without our lock: a store
             * repaired by hand); theirs is as good as ours. */
            return rk_rm_rf_at(s->root_fd, rel, err);
        }
        return rk_error_set(err, errno, "storing layer %s", chain_id);
    }
    if (rk_fsync_dir_at(s->root_fd, "layers") < 0)
        return rk_error_set(err, errno, "syncing layers directory");
    return 0;
}

/* ---- index.json ---- */

static int index_load(const rk_store *s, json_t **ret, rk_error **err)
{
    _cleanup_free_ char *text = NULL;
    size_t len = 0;
    if (rk_read_file_at(s->root_fd, "index.json", 0, &text, &len, err) < 0)
        return rk_error_wrap(err, "reading the store's index.json");
    json_error_t je;
    json_t *j = json_loadb(text, len, 0, &je);
    if (!j || !json_is_object(j) || !json_is_array(json_object_get(j, "manifests"))) {
        json_decref(j);
        return rk_error_set(err, 0, "%s/index.json is corrupt (line %d: %s)",
                            s->root, je.line, je.text);
    }
    *ret = j;
    return 0;
}

static int index_save(rk_store *s, json_t *idx, rk_error **err)
{
    _cleanup_free_ char *text = json_dumps(idx, JSON_INDENT(1) | JSON_PRESERVE_ORDER);
    if (!text)
        return rk_error_set(err, ENOMEM, "serializing index.json");
    if (rk_write_file_atomic(s->root_fd, "index.json", text, strlen(text), 0644,
                             err) < 0)
        return rk_error_wrap(err, "writing the store's index.json");
    return 0;
}

/* Lock index.json for a read-modify-write and load it. */
static int index_edit_begin(rk_store *s, int *ret_lock, json_t **ret_idx, rk_error **err)
{
    *ret_lock = rk_lock_at(s->root_fd, "locks/index.lock", LOCK_EX, err);
    if (*ret_lock < 0)
        return -1;
    return index_load(s, ret_idx, err);
}

static const char *entry_ann(const json_t *e, const char *key)
{
    return rk_json_str(json_object_get(e, "annotations"), key);
}

/* Does an index entry other than the i-th name the image `id`? */
static bool other_entry_of(const json_t *arr, size_t i, const char *id)
{
    size_t k;
    json_t *o;
    json_array_foreach(arr, k, o)
    {
        const char *oid = entry_ann(o, ANN_IMAGE_ID);
        if (k != i && oid && id && !strcmp(oid, id))
            return true;
    }
    return false;
}

static void now_rfc3339(char out[32])
{
    time_t t = time(NULL);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

int rk_store_tag(rk_store *s, const rk_store_tag_info *t, rk_error **err)
{
    _cleanup_close_ int lk = -1;
    _cleanup_json_ json_t *idx = NULL;
    if (index_edit_begin(s, &lk, &idx, err) < 0)
        return -1;
    json_t *arr = json_object_get(idx, "manifests");
    /* Already so (a re-pull of an unchanged image): leave the file alone. */
    size_t k0;
    json_t *o0;
    json_array_foreach(arr, k0, o0)
    {
        const char *rn = entry_ann(o0, ANN_REF_NAME);
        if (rn && !strcmp(rn, t->ref_name) &&
            rk_streq_ptr(rk_json_str(o0, "digest"), t->manifest_digest) &&
            rk_streq_ptr(entry_ann(o0, ANN_IMAGE_ID), t->image_id) &&
            rk_streq_ptr(entry_ann(o0, ANN_REPO_DIGEST), t->repo_digest))
            return 0;
    }
    /* Drop the entry the name pointed at before, and a dangling entry of
     * the same image (it gets its name back). */
    for (size_t i = json_array_size(arr); i-- > 0;) {
        json_t *e = json_array_get(arr, i);
        const char *rn = entry_ann(e, ANN_REF_NAME);
        const char *id = entry_ann(e, ANN_IMAGE_ID);
        if (!rn && id && !strcmp(id, t->image_id)) {
            json_array_remove(arr, i);
            continue;
        }
        if (!rn || strcmp(rn, t->ref_name))
            continue;
        if (id && strcmp(id, t->image_id) && !other_entry_of(arr, i, id))
            /* The name moves to a new image; the old one stays, nameless
             * ("dangling", as Docker shows it), until prune. */
            json_object_del(json_object_get(e, "annotations"), ANN_REF_NAME);
        else
            json_array_remove(arr, i);
    }
    char pulled[32];
    now_rfc3339(pulled);
    json_t *ann = json_object();
    json_object_set_new(ann, ANN_REF_NAME, json_string(t->ref_name));
    json_object_set_new(ann, ANN_IMAGE_ID, json_string(t->image_id));
    if (t->repo_digest)
        json_object_set_new(ann, ANN_REPO_DIGEST, json_string(t->repo_digest));
    if (t->source_manifest)
        json_object_set_new(ann, ANN_SOURCE_MANIFEST, json_string(t->source_manifest));
    if (t->derived_from)
        json_object_set_new(ann, ANN_DERIVED_FROM, json_string(t->derived_from));
    if (t->recipe)
        json_object_set_new(ann, ANN_RECIPE, json_string(t->recipe));
    json_object_set_new(ann, ANN_PULLED, json_string(pulled));
    json_t *e = json_object();
    json_object_set_new(e, "mediaType", json_string(RK_MT_OCI_MANIFEST));
    json_object_set_new(e, "digest", json_string(t->manifest_digest));
    json_object_set_new(e, "size", json_integer(t->manifest_size));
    if (t->platform && t->platform->os && t->platform->architecture) {
        json_t *p = json_pack("{s:s,s:s}", "architecture", t->platform->architecture,
                              "os", t->platform->os);
        if (t->platform->variant)
            json_object_set_new(p, "variant", json_string(t->platform->variant));
        json_object_set_new(e, "platform", p);
    }
    json_object_set_new(e, "annotations", ann);
    json_array_append_new(arr, e);
    return index_save(s, idx, err);
}

int rk_store_untag(rk_store *s, const char *ref_name, bool keep_dangling,
                   rk_error **err)
{
    _cleanup_close_ int lk = -1;
    _cleanup_json_ json_t *idx = NULL;
    if (index_edit_begin(s, &lk, &idx, err) < 0)
        return -1;
    json_t *arr = json_object_get(idx, "manifests");
    int removed = 0;
    for (size_t i = json_array_size(arr); i-- > 0;) {
        json_t *e = json_array_get(arr, i);
        const char *rn = entry_ann(e, ANN_REF_NAME);
        if (!rn || strcmp(rn, ref_name))
            continue;
        removed = 1;
        const char *id = entry_ann(e, ANN_IMAGE_ID);
        if (keep_dangling && !other_entry_of(arr, i, id))
            /* Docker's "dangling" image: nameless, kept for the container
             * that still uses it, removed by prune once it is gone. */
            json_object_del(json_object_get(e, "annotations"), ANN_REF_NAME);
        else
            json_array_remove(arr, i);
    }
    if (removed && index_save(s, idx, err) < 0)
        return -1;
    return removed;
}

int rk_store_remove_image(rk_store *s, const char *image_id, rk_error **err)
{
    _cleanup_close_ int lk = -1;
    _cleanup_json_ json_t *idx = NULL;
    if (index_edit_begin(s, &lk, &idx, err) < 0)
        return -1;
    json_t *arr = json_object_get(idx, "manifests");
    int removed = 0;
    for (size_t i = json_array_size(arr); i-- > 0;) {
        const char *id = entry_ann(json_array_get(arr, i), ANN_IMAGE_ID);
        if (id && !strcmp(id, image_id)) {
            json_array_remove(arr, i);
            removed++;
        }
    }
    if (removed && index_save(s, idx, err) < 0)
        return -1;
    return removed;
}

/* ---- reading images ---- */

void rk_image_free(rk_image *img)
{
    if (!img)
        return;
    free(img->id);
    free(img->manifest_digest);
    free(img->repo_digest);
    rk_strv_free(img->refs);
    rk_image_config_free(img->config);
    rk_platform_clear(&img->platform);
    rk_strv_free(img->layer_dirs);
    rk_strv_free(img->layer_chain_ids);
    free(img->pulled);
    free(img);
}

void rk_image_list_free(rk_image **v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        rk_image_free(v[i]);
    free(v);
}

static int64_t parse_rfc3339(const char *s)
{
    if (!s)
        return 0;
    struct tm tm = {0};
    const char *end = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm);
    if (!end)
        return 0;
    return (int64_t)timegm(&tm);
}

static int image_from_entry(const rk_store *s, const json_t *idx,
                            const json_t *e, rk_image **ret, rk_error **err)
{
    const char *mdigest = rk_json_str(e, "digest");
    if (rk_digest_check(mdigest, err) < 0)
        return rk_error_wrap(err, "store index entry");
    _cleanup_free_ char *mtext = NULL;
    size_t mlen = 0;
    if (rk_store_read_blob(s, mdigest, 4u << 20, &mtext, &mlen, err) < 0)
        return rk_error_wrap(err, "image manifest missing from the store (pull it again)");
    rk_manifest *m = NULL;
    if (rk_manifest_parse(mtext, mlen, RK_MT_OCI_MANIFEST, &m, err) < 0)
        return rk_error_wrap(err, "stored manifest %s", mdigest);
    _cleanup_free_ char *ctext = NULL;
    size_t clen = 0;
    if (rk_store_read_blob(s, m->config.digest, 16u << 20, &ctext, &clen, err) < 0) {
        rk_manifest_free(m);
        return rk_error_wrap(err, "image config missing from the store (pull it again)");
    }
    rk_image_config *cfg = NULL;
    if (rk_image_config_parse(ctext, clen, &cfg, err) < 0) {
        rk_manifest_free(m);
        return rk_error_wrap(err, "stored config %s", m->config.digest);
    }
    if (cfg->n_diff_ids != m->n_layers) {
        rk_error_set(err, 0, "stored image %s: %zu layers but %zu diff_ids",
                     m->config.digest, m->n_layers, cfg->n_diff_ids);
        rk_manifest_free(m);
        rk_image_config_free(cfg);
        return -1;
    }
    rk_image *img = rk_xcalloc(1, sizeof(*img));
    img->id = rk_xstrdup(m->config.digest);
    img->manifest_digest = rk_xstrdup(mdigest);
    const char *rd = entry_ann(e, ANN_REPO_DIGEST);
    img->repo_digest = rd ? rk_xstrdup(rd) : NULL;
    const char *pulled = entry_ann(e, ANN_PULLED);
    img->pulled = pulled ? rk_xstrdup(pulled) : NULL;
    img->config = cfg;
    img->created = parse_rfc3339(cfg->created);
    img->platform.os = rk_xstrdup(cfg->os ? cfg->os : "linux");
    img->platform.architecture = rk_xstrdup(cfg->architecture ? cfg->architecture : "");
    img->platform.variant = cfg->variant ? rk_xstrdup(cfg->variant) : NULL;
    img->n_layers = m->n_layers;
    img->layer_chain_ids = rk_store_chain_ids(cfg->diff_ids);
    img->layer_dirs = rk_xcalloc(1, sizeof(char *));
    for (size_t i = 0; i < m->n_layers; i++) {
        img->size += m->layers[i].size;
        rk_strv_push(&img->layer_dirs, rk_store_layer_root(s, img->layer_chain_ids[i]));
    }
    rk_manifest_free(m);
    img->refs = rk_xcalloc(1, sizeof(char *));
    size_t i;
    json_t *o;
    json_array_foreach(json_object_get(idx, "manifests"), i, o)
    {
        const char *id = entry_ann(o, ANN_IMAGE_ID);
        const char *rn = entry_ann(o, ANN_REF_NAME);
        if (id && rn && !strcmp(id, img->id) && !rk_strv_contains(img->refs, rn))
            rk_strv_push_dup(&img->refs, rn);
    }
    qsort(img->refs, rk_strv_len(img->refs), sizeof(char *),
          (int (*)(const void *, const void *))strcmp);
    *ret = img;
    return 0;
}

static bool is_hex(const char *s, size_t min)
{
    size_t n = 0;
    for (; s[n]; n++)
        if (!isxdigit((unsigned char)s[n]) || isupper((unsigned char)s[n]))
            return false;
    return n >= min && n <= 64;
}

/* Does index entry e match the parsed reference? */
static bool entry_matches_ref(const json_t *e, const rk_ref *ref, const char *full)
{
    const char *rn = entry_ann(e, ANN_REF_NAME);
    if (!rn)
        return false;
    if (!ref->digest)
        return !strcmp(rn, full);
    if (!strcmp(rn, full))
        return true;
    /* name@digest also finds an image pulled by tag whose registry digest
     * (or manifest digest) it is. */
    _cleanup_ref_ rk_ref *er = NULL;
    if (rk_ref_parse(rn, &er, NULL) < 0)
        return false;
    if (strcmp(er->domain, ref->domain) || strcmp(er->path, ref->path))
        return false;
    const char *rd = entry_ann(e, ANN_REPO_DIGEST);
    const char *md = rk_json_str(e, "digest");
    const char *sm = entry_ann(e, ANN_SOURCE_MANIFEST);
    return (rd && !strcmp(rd, ref->digest)) || (md && !strcmp(md, ref->digest)) ||
           (sm && !strcmp(sm, ref->digest));
}

int rk_store_find_image(rk_store *s, const char *what, rk_image **ret, rk_error **err)
{
    _cleanup_json_ json_t *idx = NULL;
    if (index_load(s, &idx, err) < 0)
        return -1;
    json_t *arr = json_object_get(idx, "manifests");
    size_t i;
    json_t *e;

    _cleanup_ref_ rk_ref *ref = NULL;
    if (rk_ref_parse(what, &ref, NULL) == 0) {
        _cleanup_free_ char *full = rk_ref_string(ref);
        json_array_foreach(arr, i, e) if (entry_matches_ref(e, ref, full))
            return image_from_entry(s, idx, e, ret, err);
        /* A short name pulled from another search registry: match on the
         * path as written, on any registry, when that is unambiguous. */
        if (ref->unqualified && !ref->digest) {
            const json_t *found = NULL;
            int n = 0;
            json_array_foreach(arr, i, e)
            {
                const char *rn = entry_ann(e, ANN_REF_NAME);
                _cleanup_ref_ rk_ref *er = NULL;
                if (!rn || rk_ref_parse(rn, &er, NULL) < 0 || !er->tag)
                    continue;
                if (strcmp(er->tag, ref->tag))
                    continue;
                if (!strcmp(er->path, ref->short_path) || !strcmp(er->path, ref->path)) {
                    found = e;
                    n++;
                }
            }
            if (n == 1)
                return image_from_entry(s, idx, found, ret, err);
        }
    }

    /* An image ID, full or abbreviated. */
    const char *hex = rk_startswith(what, "sha256:") ? what + 7 : what;
    if (is_hex(hex, 4)) {
        const json_t *found = NULL;
        const char *found_id = NULL;
        json_array_foreach(arr, i, e)
        {
            const char *id = entry_ann(e, ANN_IMAGE_ID);
            if (!id || !rk_startswith(id + 7, hex))
                continue;
            if (found_id && strcmp(found_id, id))
                return rk_error_set_status(err, 125, 0,
                                           "image ID %s is ambiguous", what);
            found = e;
            found_id = id;
        }
        if (found)
            return image_from_entry(s, idx, found, ret, err);
    }
    rk_error_set_status(err, 125, 0, "no such image: %s", what);
    if (err && *err)
        (*err)->errnum = ENOENT;
    return -1;
}

int rk_store_list_images(rk_store *s, rk_image ***ret, size_t *n, rk_error **err)
{
    _cleanup_json_ json_t *idx = NULL;
    if (index_load(s, &idx, err) < 0)
        return -1;
    rk_image **v = NULL;
    size_t count = 0;
    _cleanup_strv_ char **seen = NULL;
    size_t i;
    json_t *e;
    json_array_foreach(json_object_get(idx, "manifests"), i, e)
    {
        const char *id = entry_ann(e, ANN_IMAGE_ID);
        if (!id || rk_strv_contains(seen, id))
            continue;
        rk_strv_push_dup(&seen, id);
        rk_image *img = NULL;
        if (image_from_entry(s, idx, e, &img, err) < 0) {
            rk_image_list_free(v, count);
            return -1;
        }
        v = rk_xrealloc(v, (count + 1) * sizeof(*v));
        v[count++] = img;
    }
    *ret = v;
    *n = count;
    return 0;
}

/* ---- containers ---- */

static char **containers_image_ids(const rk_store *s)
{
    char **ids = rk_xcalloc(1, sizeof(char *));
    _cleanup_closedir_ DIR *d = opendir(s->containers);
    if (!d)
        return ids;
    struct dirent *de;
    while ((de = readdir(d))) {
        if (de->d_name[0] == '.')
            continue;
        _cleanup_free_ char *p = rk_xasprintf("%s/%s/container.json", s->containers, de->d_name);
        _cleanup_json_ json_t *j = json_load_file(p, 0, NULL);
        const char *id = rk_json_str(j, "image_id");
        if (id && !rk_strv_contains(ids, id))
            rk_strv_push_dup(&ids, id);
    }
    return ids;
}

bool rk_store_image_in_use(rk_store *s, const char *image_id)
{
    _cleanup_strv_ char **ids = containers_image_ids(s);
    return rk_strv_contains(ids, image_id);
}

/* ---- prune ---- */

static void keep_image_objects(const rk_store *s, const json_t *e, char ***blobs,
                               char ***layers)
{
    const char *md = rk_json_str(e, "digest");
    if (!rk_digest_valid(md))
        return;
    rk_strv_push_dup(blobs, md);
    const char *extra[] = {entry_ann(e, ANN_REPO_DIGEST), entry_ann(e, ANN_SOURCE_MANIFEST)};
    for (size_t k = 0; k < RK_ELEMENTSOF(extra); k++)
        if (rk_digest_valid(extra[k]))
            rk_strv_push_dup(blobs, extra[k]);
    _cleanup_free_ char *mtext = NULL;
    size_t mlen;
    rk_manifest *m = NULL;
    if (rk_store_read_blob(s, md, 4u << 20, &mtext, &mlen, NULL) < 0 ||
        rk_manifest_parse(mtext, mlen, RK_MT_OCI_MANIFEST, &m, NULL) < 0)
        return;
    rk_strv_push_dup(blobs, m->config.digest);
    for (size_t i = 0; i < m->n_layers; i++)
        rk_strv_push_dup(blobs, m->layers[i].digest);
    _cleanup_free_ char *ctext = NULL;
    size_t clen;
    rk_image_config *cfg = NULL;
    if (rk_store_read_blob(s, m->config.digest, 16u << 20, &ctext, &clen, NULL) == 0 &&
        rk_image_config_parse(ctext, clen, &cfg, NULL) == 0) {
        _cleanup_strv_ char **chain = rk_store_chain_ids(cfg->diff_ids);
        for (size_t i = 0; chain[i]; i++)
            rk_strv_push(layers, rk_xstrdup(rk_digest_hex(chain[i])));
        rk_image_config_free(cfg);
    }
    rk_manifest_free(m);
}

static int prune_dir(rk_store *s, const char *rel, char *const *keep,
                     size_t *count, int64_t *bytes, rk_error **err)
{
    _cleanup_close_ int dfd = openat(s->root_fd, rel, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0)
        return errno == ENOENT ? 0 : rk_error_set(err, errno, "opening %s", rel);
    DIR *d = fdopendir(dup(dfd));
    if (!d)
        return rk_error_set(err, errno, "reading %s", rel);
    _cleanup_closedir_ DIR *dir = d;
    struct dirent *de;
    while ((de = readdir(dir))) {
        if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
            continue;
        if (keep && rk_strv_contains(keep, de->d_name))
            continue;
        struct stat st;
        if (fstatat(dfd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 && bytes)
            *bytes += S_ISREG(st.st_mode) ? st.st_size : 0;
        if (rk_rm_rf_at(dfd, de->d_name, err) < 0)
            return rk_error_wrap(err, "pruning %s", rel);
        if (count)
            (*count)++;
    }
    return 0;
}

int rk_store_prune(rk_store *s, rk_prune_stats *stats, rk_error **err)
{
    rk_prune_stats st = {0};
    _cleanup_close_ int lk = rk_store_lock_exclusive(s, err);
    if (lk < 0)
        return -1;
    _cleanup_close_ int ilk = -1;
    _cleanup_json_ json_t *idx = NULL;
    if (index_edit_begin(s, &ilk, &idx, err) < 0)
        return -1;
    _cleanup_strv_ char **in_use = containers_image_ids(s);
    json_t *arr = json_object_get(idx, "manifests");
    /* Dangling images nobody uses go first. */
    bool changed = false;
    for (size_t i = json_array_size(arr); i-- > 0;) {
        json_t *e = json_array_get(arr, i);
        const char *id = entry_ann(e, ANN_IMAGE_ID);
        if (!entry_ann(e, ANN_REF_NAME) && !(id && rk_strv_contains(in_use, id))) {
            json_array_remove(arr, i);
            changed = true;
        }
    }
    if (changed && index_save(s, idx, err) < 0)
        return -1;

    _cleanup_strv_ char **blobs = rk_xcalloc(1, sizeof(char *));
    _cleanup_strv_ char **layers = rk_xcalloc(1, sizeof(char *));
    size_t i;
    json_t *e;
    json_array_foreach(arr, i, e) keep_image_objects(s, e, &blobs, &layers);
    _cleanup_strv_ char **blob_hex = rk_xcalloc(1, sizeof(char *));
    for (size_t k = 0; blobs[k]; k++)
        rk_strv_push_dup(&blob_hex, rk_digest_hex(blobs[k]));

    /* Mounted images keep their mount point; unreferenced mounts are
     * unmounted first so their directories can go. */
    if (prune_dir(s, "blobs/sha256", blob_hex, &st.blobs_removed, &st.bytes_freed, err) < 0)
        return -1;
    if (prune_dir(s, "layers", layers, &st.layers_removed, NULL, err) < 0)
        return -1;
    /* With the store lock held exclusively no writer runs, so every
     * temporary is stale. */
    if (prune_dir(s, "tmp", NULL, &st.temps_removed, &st.bytes_freed, err) < 0)
        return -1;
    if (stats)
        *stats = st;
    return 0;
}

/* ---- image mounts ---- */

char *rk_store_image_mount_path(const rk_store *s, const rk_image *img)
{
    return rk_xasprintf("%s/mounts/%s", s->root, rk_digest_hex(img->id));
}

static bool is_mount_point(const char *path)
{
    struct stat a, b;
    _cleanup_free_ char *parent = rk_xasprintf("%s/..", path);
    if (stat(path, &a) < 0 || stat(parent, &b) < 0)
        return false;
    return a.st_dev != b.st_dev;
}

int rk_store_mount_image(rk_store *s, const rk_image *img, char **ret_path,
                         rk_error **err)
{
    _cleanup_free_ char *p = rk_store_image_mount_path(s, img);
    if (mkdir(p, 0755) < 0 && errno != EEXIST)
        return rk_error_set(err, errno, "creating %s", p);
    if (!is_mount_point(p)) {
        for (size_t i = 0; i < img->n_layers; i++)
            if (!rk_path_exists_at(AT_FDCWD, img->layer_dirs[i]))
                return rk_error_set(err, ENOENT,
                                    "layer %s of image %s is missing (pull it again)",
                                    img->layer_chain_ids[i], img->id);
        if (rk_overlay_mount(p, img->layer_dirs, NULL, NULL, s->empty, true, err) < 0)
            return rk_error_wrap(err, "mounting image %s", img->id);
    }
    *ret_path = TAKE_PTR(p);
    return 0;
}

int rk_store_unmount_image(rk_store *s, const rk_image *img, rk_error **err)
{
    _cleanup_free_ char *p = rk_store_image_mount_path(s, img);
    if (!rk_path_exists_at(AT_FDCWD, p))
        return 0;
    while (is_mount_point(p))
        if (umount2(p, 0) < 0)
            return rk_error_set(err, errno, "unmounting %s", p);
    if (rmdir(p) < 0 && errno != ENOENT)
        return rk_error_set(err, errno, "removing %s", p);
    return 0;
}

/* ---- derived images ---- */

static json_t *read_blob_json(rk_store *s, const char *digest, rk_error **err)
{
    _cleanup_free_ char *text = NULL;
    size_t len = 0;
    if (rk_store_read_blob(s, digest, 16u << 20, &text, &len, err) < 0)
        return NULL;
    json_error_t je;
    json_t *j = json_loadb(text, len, 0, &je);
    if (!json_is_object(j)) {
        json_decref(j);
        rk_error_set(err, 0, "blob %s is not a JSON object", digest);
        return NULL;
    }
    return j;
}

static int put_json_blob(rk_store *s, json_t *j, char digest[RK_DIGEST_LEN + 1], size_t *ret_len,
                         rk_error **err)
{
    _cleanup_free_ char *text = json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER);
    if (!text)
        return rk_error_set(err, ENOMEM, "serializing JSON");
    rk_sha256_buf(text, strlen(text), digest);
    *ret_len = strlen(text);
    return rk_store_put_blob(s, digest, text, strlen(text), err);
}

int rk_store_find_derived(rk_store *s, const char *base_id, const char *recipe, rk_image **ret,
                          rk_error **err)
{
    *ret = NULL;
    _cleanup_json_ json_t *idx = NULL;
    if (index_load(s, &idx, err) < 0)
        return -1;
    size_t i;
    json_t *e;
    json_array_foreach(json_object_get(idx, "manifests"), i, e)
    {
        if (rk_streq_ptr(entry_ann(e, ANN_DERIVED_FROM), base_id) &&
            rk_streq_ptr(entry_ann(e, ANN_RECIPE), recipe))
            return image_from_entry(s, idx, e, ret, err);
    }
    return 0;
}

/* Put upper (moved) into tmp/layer-<chain>/root and publish it. */
static int commit_upper_as_layer(rk_store *s, const char *upper, const char *chain_id,
                                 const char *diff_id, const char *blob, int64_t size,
                                 rk_error **err)
{
    _cleanup_close_ int lk = rk_store_lock_layer(s, chain_id, err);
    if (lk < 0)
        return -1;
    if (rk_store_has_layer(s, chain_id))
        return rk_rm_rf(upper, err); /* the same layer exists: ours is a duplicate */
    _cleanup_free_ char *dir = NULL, *root = NULL;
    if (rk_store_layer_tmp(s, chain_id, &dir, &root, err) < 0)
        return -1;
    if (rmdir(root) < 0 || rename(upper, root) < 0) {
        int e = errno;
        rk_rm_rf(dir, NULL);
        return rk_error_set(err, e, "moving %s into the store", upper);
    }
    if (rk_store_commit_layer(s, chain_id, diff_id, blob, size, err) < 0) {
        /* Give the directory back, as the caller expects on failure. */
        rename(root, upper);
        rk_rm_rf(dir, NULL);
        return -1;
    }
    return 0;
}

int rk_store_commit_derived(rk_store *s, const rk_derived_info *d, rk_image **ret,
                            rk_error **err)
{
    const rk_image *base = d->base;
    _cleanup_close_ int store_lock = rk_store_lock_shared(s, err);
    if (store_lock < 0)
        return -1;

    /* 1. The blob, packed from the upper directory. */
    char rnd[17];
    rk_random_hex(rnd, 8);
    _cleanup_free_ char *tmp = rk_xasprintf("%s/tmp/pack-%s.partial", s->root, rnd);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0)
        return rk_error_set(err, errno, "creating %s", tmp);
    char blob[RK_DIGEST_LEN + 1], diff_id[RK_DIGEST_LEN + 1];
    int64_t size = 0;
    if (rk_layer_pack(d->upper_dir, fd, blob, diff_id, &size, err) < 0 || fsync(fd) < 0) {
        if (err && !*err)
            rk_error_set(err, errno, "syncing %s", tmp);
        close(fd);
        unlink(tmp);
        return -1;
    }
    close(fd);
    _cleanup_free_ char *final = rk_store_blob_path(s, blob);
    if (chmod(tmp, 0644) < 0 || rename(tmp, final) < 0) {
        int e = errno;
        unlink(tmp);
        return rk_error_set(err, e, "storing blob %s", blob);
    }

    /* 2. The layer: the upper directory itself, moved. */
    _cleanup_strv_ char **diff_ids = rk_strv_dup(base->config->diff_ids);
    rk_strv_push_dup(&diff_ids, diff_id);
    _cleanup_strv_ char **chain = rk_store_chain_ids(diff_ids);
    const char *chain_id = chain[rk_strv_len(chain) - 1];

    /* 3. Config and manifest: the base's plus one layer. */
    _cleanup_json_ json_t *cfg = read_blob_json(s, base->id, err);
    _cleanup_json_ json_t *man = cfg ? read_blob_json(s, base->manifest_digest, err) : NULL;
    if (!cfg || !man)
        return rk_error_wrap(err, "deriving from %s", base->id);
    char now[32];
    now_rfc3339(now);
    json_t *rootfs = json_object_get(cfg, "rootfs");
    json_t *ids = json_object_get(rootfs, "diff_ids");
    json_t *layers = json_object_get(man, "layers");
    if (!json_is_array(ids) || !json_is_array(layers))
        return rk_error_set(err, 0, "image %s has no layer lists", base->id);
    json_array_append_new(ids, json_string(diff_id));
    json_t *hist = json_object_get(cfg, "history");
    if (!json_is_array(hist)) {
        hist = json_array();
        json_object_set_new(cfg, "history", hist);
    }
    json_array_append_new(hist, json_pack("{s:s,s:s}", "created", now, "created_by",
                                          d->created_by ? d->created_by : "racker"));
    json_object_set_new(cfg, "created", json_string(now));
    char cfg_digest[RK_DIGEST_LEN + 1], man_digest[RK_DIGEST_LEN + 1];
    size_t cfg_len = 0, man_len = 0;
    if (put_json_blob(s, cfg, cfg_digest, &cfg_len, err) < 0)
        return -1;
    json_array_append_new(layers, json_pack("{s:s,s:s,s:I}", "mediaType", RK_MT_OCI_LAYER_GZIP,
                                            "digest", blob, "size", (json_int_t)size));
    json_object_set_new(man, "config", json_pack("{s:s,s:s,s:I}", "mediaType", RK_MT_OCI_CONFIG,
                                                 "digest", cfg_digest, "size",
                                                 (json_int_t)cfg_len));
    json_object_set_new(man, "mediaType", json_string(RK_MT_OCI_MANIFEST));
    if (put_json_blob(s, man, man_digest, &man_len, err) < 0)
        return -1;

    if (commit_upper_as_layer(s, d->upper_dir, chain_id, diff_id, blob, size, err) < 0)
        return -1;

    /* 4. The name, last. */
    rk_store_tag_info ti = {
        .ref_name = d->ref_name,
        .manifest_digest = man_digest,
        .manifest_size = (int64_t)man_len,
        .image_id = cfg_digest,
        .platform = &base->platform,
        .derived_from = base->id,
        .recipe = d->recipe,
    };
    if (rk_store_tag(s, &ti, err) < 0)
        return -1;
    return rk_store_find_image(s, cfg_digest, ret, err);
}

/* The pull: reference -> endpoints -> manifest -> config -> layers -> name.
 *
 * Order of writes, so that a pull killed at any point leaves nothing a
 * later pull trusts: (1) the config blob, verified; (2) each layer: its
 * compressed bytes go to tmp/blob-<hex>.partial while they are unpacked
 * into tmp/layer-<chain>/, and only after the blob's sha256 and the tar's
 * diff_id both check out are they renamed into blobs/ and layers/;
 * (3) the manifest blobs; (4) index.json, last. Each blob and layer is
 * written under its own lock; the whole pull holds the store lock shared,
 * so prune cannot remove what a running pull still needs. */
#include "image/pull.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/digest.h"
#include "base/fs.h"
#include "base/json.h"
#include "base/log.h"
#include "base/strv.h"
#include "image/manifest.h"
#include "image/reference.h"
#include "image/regconf.h"
#include "image/registry.h"
#include "image/unpack.h"

struct pull {
    rk_store *store;
    const rk_pull_opts *o;
    const char *ref_str; /* normalized, for events */
    size_t n_layers;
};

static void emit(struct pull *p, enum rk_pull_event_kind kind, const char *digest,
                 size_t idx, int64_t done, int64_t total, const char *message)
{
    if (!p->o || !p->o->on_event)
        return;
    rk_pull_event ev = {
        .kind = kind,
        .ref = p->ref_str,
        .digest = digest,
        .message = message,
        .layer_index = idx,
        .n_layers = p->n_layers,
        .done = done,
        .total = total,
    };
    p->o->on_event(p->o->ctx, &ev);
}

/* ---- one layer ---- */

struct layer_job {
    struct pull *p;
    size_t index;
    const rk_descriptor *desc;
    const char *diff_id;  /* expected, from the config */
    const char *chain_id;
    bool need_blob;       /* the compressed blob must be stored */
    bool need_layer;      /* the layer must be unpacked */
    int lock_blob, lock_layer;
    int blob_fd;          /* the .partial file, appending */
    char *partial;
    rk_sha256 hash;
    rk_unpack *unpack;
    rk_error *unpack_err; /* the unpacker failed; keep hashing to tell why */
    char *tmp_dir, *tmp_root;
    int root_fd;
    int *lower_fds;
    size_t n_lower;
    int64_t last_progress;
    bool committed;
    bool drop_partial; /* a local failure (disk full): resuming is pointless */
};

static void layer_job_cleanup(struct layer_job *j, bool keep_partial)
{
    if (j->unpack)
        rk_unpack_free(j->unpack);
    j->unpack = NULL;
    rk_sha256_free(&j->hash);
    if (j->blob_fd >= 0)
        close(j->blob_fd);
    j->blob_fd = -1;
    if (j->partial && (!keep_partial || j->drop_partial) && !j->committed)
        unlink(j->partial);
    free(j->partial);
    j->partial = NULL;
    if (j->root_fd >= 0)
        close(j->root_fd);
    j->root_fd = -1;
    if (j->tmp_dir && !j->committed)
        rk_rm_rf(j->tmp_dir, NULL);
    free(j->tmp_dir);
    free(j->tmp_root);
    j->tmp_dir = j->tmp_root = NULL;
    for (size_t i = 0; i < j->n_lower; i++)
        close(j->lower_fds[i]);
    free(j->lower_fds);
    j->lower_fds = NULL;
    j->n_lower = 0;
    rk_error_free(j->unpack_err);
    j->unpack_err = NULL;
    if (j->lock_blob >= 0)
        close(j->lock_blob);
    if (j->lock_layer >= 0)
        close(j->lock_layer);
    j->lock_blob = j->lock_layer = -1;
}

static void feed_unpacker(struct layer_job *j, const void *buf, size_t len)
{
    if (!j->unpack || j->unpack_err)
        return;
    if (rk_unpack_feed(j->unpack, buf, len, &j->unpack_err) < 0) {
        /* Stop unpacking but keep downloading: at the end the digest
         * tells a corrupted download from a bad layer at the source. */
        rk_unpack_free(j->unpack);
        j->unpack = NULL;
    }
}

static int layer_on_data(void *ctx, const void *buf, size_t len, rk_error **err)
{
    struct layer_job *j = ctx;
    rk_sha256_update(&j->hash, buf, len);
    if (j->blob_fd >= 0 && rk_write_all(j->blob_fd, buf, len) < 0) {
        j->drop_partial = true;
        return rk_error_set(err, errno, "writing layer %s", j->desc->digest);
    }
    feed_unpacker(j, buf, len);
    return 0;
}

static void layer_on_progress(void *ctx, int64_t done, int64_t total)
{
    struct layer_job *j = ctx;
    /* Events at most every 256 KiB keep the callback cheap. */
    if (done - j->last_progress < (256 << 10) && done != total)
        return;
    j->last_progress = done;
    emit(j->p, RK_PULL_EV_LAYER_PROGRESS, j->desc->digest, j->index, done, total, NULL);
}

static int layer_on_done(void *ctx, rk_error **err)
{
    struct layer_job *j = ctx;
    char got[RK_DIGEST_LEN + 1];
    rk_sha256_final(&j->hash, got);
    if (strcmp(got, j->desc->digest) != 0) {
        /* Corrupt download: nothing of it is kept, next time starts over. */
        if (j->partial)
            unlink(j->partial);
        return rk_error_set(err, 0, "layer %s: downloaded content hashes to %s",
                            j->desc->digest, got);
    }
    if (j->unpack_err) {
        if (j->partial)
            unlink(j->partial);
        rk_error *e = TAKE_PTR(j->unpack_err);
        if (err && !*err)
            *err = e;
        else
            rk_error_free(e);
        return rk_error_wrap(err, "layer %s", j->desc->digest);
    }
    if (j->need_layer) {
        char diff_id[RK_DIGEST_LEN + 1];
        int r = rk_unpack_finish(j->unpack, diff_id, err);
        rk_unpack_free(j->unpack);
        j->unpack = NULL;
        if (r < 0) {
            if (j->partial)
                unlink(j->partial);
            return rk_error_wrap(err, "unpacking layer %s", j->desc->digest);
        }
        if (strcmp(diff_id, j->diff_id) != 0) {
            if (j->partial)
                unlink(j->partial);
            return rk_error_set(err, 0,
                                "layer %s: uncompressed content hashes to %s, but the image config says %s",
                                j->desc->digest, diff_id, j->diff_id);
        }
    }
    if (j->need_blob) {
        if (j->blob_fd >= 0 && fsync(j->blob_fd) < 0)
            return rk_error_set(err, errno, "syncing layer %s", j->desc->digest);
        if (rk_store_commit_blob(j->p->store, j->desc->digest, err) < 0)
            return -1;
    }
    if (j->need_layer) {
        struct stat st;
        int64_t size = fstat(j->blob_fd, &st) == 0 ? st.st_size : j->desc->size;
        if (rk_store_commit_layer(j->p->store, j->chain_id, j->diff_id, j->desc->digest, size,
                                  err) < 0)
            return -1;
    }
    j->committed = true;
    emit(j->p, RK_PULL_EV_LAYER_DONE, j->desc->digest, j->index, j->desc->size, j->desc->size,
         NULL);
    return 0;
}

/* Open lower layers already in the store (topmost first) so the unpacker
 * can copy files that this layer hardlinks from below. */
static void open_lowers(struct layer_job *j, char *const *chain, size_t index)
{
    j->lower_fds = rk_xcalloc(index + 1, sizeof(int));
    for (size_t k = index; k-- > 0;) {
        _cleanup_free_ char *root = rk_store_layer_root(j->p->store, chain[k]);
        int fd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd >= 0)
            j->lower_fds[j->n_lower++] = fd;
    }
}

/* Prepare the job: locks, temporaries, unpacker, resume offset. */
static int layer_job_prepare(struct layer_job *j, char *const *chain, rk_error **err)
{
    rk_store *s = j->p->store;
    if (j->need_blob) {
        j->lock_blob = rk_store_lock_blob(s, j->desc->digest, err);
        if (j->lock_blob < 0)
            return -1;
    }
    if (j->need_layer) {
        j->lock_layer = rk_store_lock_layer(s, j->chain_id, err);
        if (j->lock_layer < 0)
            return -1;
    }
    /* Another pull may have finished it while we waited for the locks. */
    j->need_blob = j->need_blob && !rk_store_has_blob(s, j->desc->digest);
    j->need_layer = j->need_layer && !rk_store_has_layer(s, j->chain_id);
    if (!j->need_blob && !j->need_layer) {
        j->committed = true;
        return 0;
    }
    if (rk_sha256_init(&j->hash) < 0)
        return rk_error_set(err, ENOMEM, "sha256");
    if (j->need_layer) {
        if (rk_store_layer_tmp(s, j->chain_id, &j->tmp_dir, &j->tmp_root, err) < 0)
            return -1;
        j->root_fd = open(j->tmp_root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (j->root_fd < 0)
            return rk_error_set(err, errno, "opening %s", j->tmp_root);
        open_lowers(j, chain, j->index);
        rk_unpack_opts uo = {
            .root_fd = j->root_fd,
            .lower_fds = j->lower_fds,
            .n_lower = j->n_lower,
            .is_bottom = j->index == 0,
        };
        if (rk_unpack_new(&uo, &j->unpack, err) < 0)
            return rk_error_wrap(err, "layer %s", j->desc->digest);
    }
    return 0;
}

/* The blob is already in the store but the layer is not (a pull killed
 * after the rename of the blob, or a layer removed by hand): unpack from
 * the local file. */
static int layer_unpack_local(struct layer_job *j, rk_error **err)
{
    _cleanup_free_ char *path = rk_store_blob_path(j->p->store, j->desc->digest);
    _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return rk_error_set(err, errno, "opening %s", path);
    char buf[1 << 16];
    for (;;) {
        ssize_t n = read(fd, buf, sizeof(buf));
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return rk_error_set(err, errno, "reading %s", path);
        }
        if (n == 0)
            break;
        rk_sha256_update(&j->hash, buf, (size_t)n);
        feed_unpacker(j, buf, (size_t)n);
    }
    return layer_on_done(j, err);
}

/* Resume from a partial file left by an interrupted pull: feed what it
 * has through the hash and the unpacker, then download the rest. */
static int layer_open_partial(struct layer_job *j, int64_t *ret_offset, rk_error **err)
{
    j->partial = rk_store_blob_partial_path(j->p->store, j->desc->digest);
    j->blob_fd = open(j->partial, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (j->blob_fd < 0)
        return rk_error_set(err, errno, "creating %s", j->partial);
    struct stat st;
    if (fstat(j->blob_fd, &st) < 0)
        return rk_error_set(err, errno, "stat %s", j->partial);
    *ret_offset = 0;
    if (st.st_size == 0)
        return 0;
    if (st.st_size > j->desc->size) {
        if (ftruncate(j->blob_fd, 0) < 0)
            return rk_error_set(err, errno, "truncating %s", j->partial);
        return 0;
    }
    char buf[1 << 16];
    int64_t off = 0;
    while (off < st.st_size) {
        ssize_t n = pread(j->blob_fd, buf, sizeof(buf), off);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return rk_error_set(err, errno, "reading %s", j->partial);
        }
        if (n == 0)
            break;
        rk_sha256_update(&j->hash, buf, (size_t)n);
        feed_unpacker(j, buf, (size_t)n);
        off += n;
    }
    if (lseek(j->blob_fd, off, SEEK_SET) < 0)
        return rk_error_set(err, errno, "seeking %s", j->partial);
    rk_verbose("layer %s: resuming at %lld of %lld bytes", j->desc->digest, (long long)off,
               (long long)j->desc->size);
    *ret_offset = off;
    return 0;
}

/* ---- the pull ---- */

static int open_registry(const rk_endpoint *ep, const rk_pull_opts *o, rk_registry **ret,
                         rk_error **err)
{
    rk_registry_opts ro = {
        .host = ep->host,
        .path = ep->path,
        .insecure = ep->insecure,
        .tls_verify = o ? o->tls_verify : -1,
        .cert_dir = o ? o->cert_dir : NULL,
        .max_attempts = o ? o->max_attempts : 0,
        .backoff_ms = o ? o->backoff_ms : 0,
    };
    return rk_registry_new(&ro, ret, err);
}

/* Is everything the stored image needs still there? */
static bool image_complete(rk_store *s, const rk_image *img)
{
    if (!rk_store_has_blob(s, img->manifest_digest) || !rk_store_has_blob(s, img->id))
        return false;
    for (size_t i = 0; i < img->n_layers; i++)
        if (!rk_store_has_layer(s, img->layer_chain_ids[i]))
            return false;
    return true;
}

/* Docker schema 2 manifest -> the OCI manifest the layout keeps (skopeo
 * and umoci read only OCI media types there). */
static char *manifest_to_oci(const rk_manifest *m)
{
    json_t *layers = json_array();
    for (size_t i = 0; i < m->n_layers; i++) {
        json_t *l = json_pack("{s:s,s:s,s:I}", "mediaType",
                              rk_media_type_to_oci(m->layers[i].media_type), "digest",
                              m->layers[i].digest, "size", (json_int_t)m->layers[i].size);
        if (m->layers[i].urls)
            json_object_set_new(l, "urls", rk_json_from_strv(m->layers[i].urls));
        json_array_append_new(layers, l);
    }
    _cleanup_json_ json_t *j = json_pack(
        "{s:i,s:s,s:{s:s,s:s,s:I},s:o}", "schemaVersion", 2, "mediaType", RK_MT_OCI_MANIFEST,
        "config", "mediaType", RK_MT_OCI_CONFIG, "digest", m->config.digest, "size",
        (json_int_t)m->config.size, "layers", layers);
    return json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER);
}

struct resolved {
    rk_registry *reg;
    rk_ref *ref;          /* the candidate that answered */
    rk_fetched top;       /* what the tag (or digest) resolved to */
    rk_fetched manifest;  /* the image manifest (== top unless an index) */
    rk_manifest *m;
};

static void resolved_clear(struct resolved *r)
{
    rk_registry_free(r->reg);
    rk_ref_free(r->ref);
    rk_fetched_clear(&r->top);
    rk_fetched_clear(&r->manifest);
    rk_manifest_free(r->m);
    memset(r, 0, sizeof(*r));
}

static int fetch_image_manifest(struct pull *p, rk_registry *reg, const rk_ref *ref,
                                const rk_platform *want, bool explicit_platform,
                                struct resolved *out, rk_error **err)
{
    const char *what = ref->digest ? ref->digest : ref->tag;
    if (rk_registry_get_manifest(reg, what, &out->top, err) < 0)
        return -1;
    enum rk_manifest_kind kind =
        rk_manifest_detect(out->top.content_type, out->top.data, out->top.len);
    if (kind == RK_KIND_OCI_INDEX || kind == RK_KIND_DOCKER_LIST) {
        rk_index *idx = NULL;
        if (rk_index_parse(out->top.data, out->top.len, out->top.content_type, &idx, err) < 0)
            return -1;
        int k = rk_index_select(idx, want, err);
        if (k < 0) {
            rk_index_free(idx);
            if (err && *err && !(*err)->status)
                (*err)->status = 125;
            return -1;
        }
        _cleanup_free_ char *d = rk_xstrdup(idx->manifests[k].digest);
        int64_t size = idx->manifests[k].size;
        rk_index_free(idx);
        if (rk_registry_get_manifest(reg, d, &out->manifest, err) < 0)
            return -1;
        if ((int64_t)out->manifest.len != size)
            return rk_error_set(err, 0, "manifest %s: got %zu bytes, the index says %lld", d,
                                out->manifest.len, (long long)size);
    } else {
        out->manifest = out->top;
        out->manifest.data = rk_xmalloc(out->top.len + 1);
        memcpy(out->manifest.data, out->top.data, out->top.len);
        out->manifest.data[out->top.len] = 0;
        out->manifest.content_type =
            out->top.content_type ? rk_xstrdup(out->top.content_type) : NULL;
    }
    if (rk_manifest_parse(out->manifest.data, out->manifest.len, out->manifest.content_type,
                          &out->m, err) < 0)
        return -1;
    (void)explicit_platform;
    (void)p;
    return 0;
}

/* Try each candidate reference (search registries) and each endpoint
 * (mirrors, then the primary) until one serves the manifest. */
static int resolve(struct pull *p, const rk_ref *ref, const rk_regconf *conf,
                   const rk_platform *want, bool explicit_platform, struct resolved *out,
                   rk_error **err)
{
    _cleanup_strv_ char **domains = NULL;
    char *const *search = rk_regconf_search_registries(conf);
    if (ref->unqualified && search && search[0]) {
        for (size_t i = 0; search[i]; i++)
            rk_strv_push_dup(&domains, search[i]);
    } else {
        rk_strv_push_dup(&domains, ref->domain);
    }
    rk_error *last = NULL;
    for (size_t d = 0; domains[d]; d++) {
        rk_ref *cand = ref->unqualified && strcmp(domains[d], ref->domain)
                           ? rk_ref_with_domain(ref, domains[d])
                           : rk_ref_dup(ref);
        _cleanup_free_ char *name = rk_ref_name(cand);
        rk_endpoints *eps = NULL;
        if (rk_regconf_resolve(conf, name, &eps, err) < 0) {
            rk_ref_free(cand);
            rk_error_free(last);
            return -1; /* blocked: final */
        }
        for (size_t e = 0; e < eps->n; e++) {
            const rk_endpoint *ep = &eps->v[e];
            _cleanup_free_ char *msg = rk_xasprintf("trying %s/%s%s", ep->host, ep->path,
                                                    ep->mirror ? " (mirror)" : "");
            emit(p, RK_PULL_EV_RESOLVING, NULL, 0, 0, 0, msg);
            rk_registry *reg = NULL;
            rk_error *e2 = NULL;
            if (open_registry(ep, p->o, &reg, &e2) == 0 &&
                fetch_image_manifest(p, reg, cand, want, explicit_platform, out, &e2) == 0) {
                out->reg = reg;
                out->ref = cand;
                rk_endpoints_free(eps);
                rk_error_free(last);
                return 0;
            }
            rk_registry_free(reg);
            rk_fetched_clear(&out->top);
            rk_fetched_clear(&out->manifest);
            rk_manifest_free(out->m);
            out->m = NULL;
            /* A refusal of the image itself (schema 1, an artifact, no
             * such platform) will not get better elsewhere. */
            if (e2 && e2->status == 125) {
                rk_endpoints_free(eps);
                rk_ref_free(cand);
                rk_error_free(last);
                if (err && !*err)
                    *err = e2;
                else
                    rk_error_free(e2);
                return -1;
            }
            if (e + 1 < eps->n || domains[d + 1]) {
                _cleanup_free_ char *note =
                    rk_xasprintf("%s/%s: %s", ep->host, ep->path, e2 ? e2->msg : "failed");
                emit(p, RK_PULL_EV_NOTE, NULL, 0, 0, 0, note);
            }
            rk_error_free(last);
            last = e2;
        }
        rk_endpoints_free(eps);
        rk_ref_free(cand);
    }
    if (err && !*err)
        *err = last;
    else
        rk_error_free(last);
    return -1;
}

static int check_platform(const rk_image_config *cfg, const rk_platform *want,
                          bool explicit_platform, rk_error **err)
{
    const char *arch = cfg->architecture ? rk_arch_normalize(cfg->architecture) : NULL;
    bool os_ok = !cfg->os || !want->os || !strcmp(cfg->os, want->os);
    bool arch_ok = !arch || !want->architecture || !strcmp(arch, want->architecture);
    if (os_ok && arch_ok)
        return 0;
    _cleanup_free_ char *w = rk_platform_string(want);
    if (explicit_platform)
        return rk_error_set_status(err, 125, 0, "the image is for %s/%s, not %s",
                                   cfg->os ? cfg->os : "?", arch ? arch : "?", w);
    rk_log_warn("the image is for %s/%s, not this host's %s", cfg->os ? cfg->os : "?",
                arch ? arch : "?", w);
    return 0;
}

static int pull_layers(struct pull *p, struct resolved *res, const rk_image_config *cfg,
                       rk_error **err)
{
    rk_store *s = p->store;
    const rk_manifest *m = res->m;
    _cleanup_strv_ char **chain = rk_store_chain_ids(cfg->diff_ids);
    struct layer_job *jobs = rk_xcalloc(m->n_layers ? m->n_layers : 1, sizeof(*jobs));
    for (size_t i = 0; i < m->n_layers; i++) {
        struct layer_job *j = &jobs[i];
        j->p = p;
        j->index = i;
        j->desc = &m->layers[i];
        j->diff_id = cfg->diff_ids[i];
        j->chain_id = chain[i];
        j->blob_fd = j->root_fd = j->lock_blob = j->lock_layer = -1;
        j->need_blob = !rk_store_has_blob(s, j->desc->digest);
        j->need_layer = !rk_store_has_layer(s, j->chain_id);
        if (!j->need_blob && !j->need_layer) {
            j->committed = true;
            emit(p, RK_PULL_EV_LAYER_EXISTS, j->desc->digest, i, j->desc->size, j->desc->size,
                 NULL);
        }
    }
    int rc = 0;
    /* Locks are taken in layer order, which is the same for every pull of
     * this image; pulls of different images sharing a base take the
     * shared layers first, in the same order, so they cannot deadlock. */
    for (size_t i = 0; i < m->n_layers && rc == 0; i++)
        if (!jobs[i].committed)
            rc = layer_job_prepare(&jobs[i], chain, err);

    rk_blob_job *bj = rk_xcalloc(m->n_layers ? m->n_layers : 1, sizeof(*bj));
    size_t nb = 0;
    for (size_t i = 0; i < m->n_layers && rc == 0; i++) {
        struct layer_job *j = &jobs[i];
        if (j->committed)
            continue;
        if (!j->need_blob) {
            rc = layer_unpack_local(j, err);
            continue;
        }
        int64_t offset = 0;
        if (layer_open_partial(j, &offset, err) < 0) {
            rc = -1;
            break;
        }
        emit(p, RK_PULL_EV_LAYER_START, j->desc->digest, i, offset, j->desc->size, NULL);
        bj[nb++] = (rk_blob_job){
            .digest = j->desc->digest,
            .size = j->desc->size,
            .offset = offset,
            .urls = j->desc->urls,
            .on_data = layer_on_data,
            .on_progress = layer_on_progress,
            .on_done = layer_on_done,
            .ctx = j,
        };
    }
    if (rc == 0 && nb)
        rc = rk_registry_fetch_blobs(res->reg, bj, nb,
                                     p->o && p->o->max_parallel ? p->o->max_parallel : 4, err);
    for (size_t i = 0; i < m->n_layers; i++) {
        /* A download cut short keeps its partial file for the next pull;
         * corrupt data was already removed by layer_on_done. */
        layer_job_cleanup(&jobs[i], true);
    }
    free(bj);
    free(jobs);
    return rc;
}

int rk_pull_direct(rk_store *s, const char *refstr, const rk_pull_opts *o, rk_pull_result *ret,
            rk_error **err)
{
    memset(ret, 0, sizeof(*ret));
    _cleanup_ref_ rk_ref *ref = NULL;
    if (rk_ref_parse(refstr, &ref, err) < 0)
        return -1;
    _cleanup_free_ char *full = rk_ref_string(ref);
    struct pull p = {.store = s, .o = o, .ref_str = full};

    rk_platform want = {0};
    bool explicit_platform = o && o->platform && *o->platform;
    if (explicit_platform) {
        if (rk_platform_parse(o->platform, &want, err) < 0)
            return -1;
    } else {
        rk_platform_host(&want);
    }

    _cleanup_close_ int store_lock = rk_store_lock_shared(s, err);
    if (store_lock < 0)
        return -1;

    /* By digest and already here: content-addressed, nothing can have
     * changed, so no network at all. */
    if (ref->digest) {
        _cleanup_image_ rk_image *have = NULL;
        if (rk_store_find_image(s, full, &have, NULL) == 0 && image_complete(s, have)) {
            emit(&p, RK_PULL_EV_UP_TO_DATE, have->id, 0, 0, 0, NULL);
            ret->image_id = rk_xstrdup(have->id);
            ret->ref_name = rk_xstrdup(full);
            ret->repo_digest = have->repo_digest ? rk_xstrdup(have->repo_digest) : NULL;
            rk_platform_clear(&want);
            return 0;
        }
    }

    _cleanup_regconf_ rk_regconf *conf = NULL;
    if (rk_regconf_load(&conf, err) < 0) {
        rk_platform_clear(&want);
        return rk_error_set_status(err, 125, 0, "reading registries.conf"), -1;
    }

    struct resolved res = {0};
    if (resolve(&p, ref, conf, &want, explicit_platform, &res, err) < 0) {
        rk_platform_clear(&want);
        return rk_error_wrap(err, "pulling %s", full);
    }
    _cleanup_free_ char *stored_name = rk_ref_string(res.ref);
    p.ref_str = stored_name;
    p.n_layers = res.m->n_layers;
    const char *repo_digest = res.top.digest;
    emit(&p, RK_PULL_EV_MANIFEST, res.manifest.digest, 0, 0, 0, NULL);

    int rc = -1;
    rk_image_config *cfg = NULL;
    _cleanup_free_ char *ctext = NULL;
    size_t clen = 0;
    /* Declared before the first goto: cleanup variables must not be
     * jumped over. */
    _cleanup_image_ rk_image *have = NULL;
    _cleanup_free_ char *oci = NULL;

    /* The config: from the store when we have it, else from the registry. */
    const rk_descriptor *cd = &res.m->config;
    if (rk_store_has_blob(s, cd->digest)) {
        if (rk_store_read_blob(s, cd->digest, 16u << 20, &ctext, &clen, err) < 0)
            goto out;
    } else {
        rk_fetched f = {0};
        if (rk_registry_get_blob(res.reg, cd->digest, cd->size, &f, err) < 0)
            goto out;
        ctext = TAKE_PTR(f.data);
        clen = f.len;
        rk_fetched_clear(&f);
        if (rk_store_put_blob(s, cd->digest, ctext, clen, err) < 0)
            goto out;
    }
    if (rk_image_config_parse(ctext, clen, &cfg, err) < 0) {
        rk_error_wrap(err, "image config %s", cd->digest);
        goto out;
    }
    if (cfg->n_diff_ids != res.m->n_layers) {
        rk_error_set(err, 0, "image config %s lists %zu layers, the manifest %zu", cd->digest,
                     cfg->n_diff_ids, res.m->n_layers);
        goto out;
    }
    if (check_platform(cfg, &want, explicit_platform, err) < 0)
        goto out;

    /* Up to date? The same name already points at this manifest and
     * everything it needs is in the store. */
    bool up_to_date = rk_store_find_image(s, stored_name, &have, NULL) == 0 &&
                      !strcmp(have->id, cd->digest) && image_complete(s, have) &&
                      have->repo_digest && !strcmp(have->repo_digest, repo_digest);
    if (!up_to_date) {
        if (pull_layers(&p, &res, cfg, err) < 0)
            goto out;
        ret->downloaded = true;
    }

    /* Manifests: the registry's own documents (so digests keep their
     * meaning), and the OCI manifest the layout's index.json points at. */
    if (rk_store_put_blob(s, res.top.digest, res.top.data, res.top.len, err) < 0 ||
        rk_store_put_blob(s, res.manifest.digest, res.manifest.data, res.manifest.len, err) < 0)
        goto out;
    char oci_digest[RK_DIGEST_LEN + 1];
    const char *mdigest = res.manifest.digest;
    int64_t msize = (int64_t)res.manifest.len;
    if (res.m->kind == RK_KIND_DOCKER_MANIFEST) {
        oci = manifest_to_oci(res.m);
        rk_sha256_buf(oci, strlen(oci), oci_digest);
        if (rk_store_put_blob(s, oci_digest, oci, strlen(oci), err) < 0)
            goto out;
        mdigest = oci_digest;
        msize = (int64_t)strlen(oci);
    }
    rk_platform plat = {
        .os = cfg->os ? cfg->os : want.os,
        .architecture = (char *)(cfg->architecture ? rk_arch_normalize(cfg->architecture)
                                                   : want.architecture),
        .variant = cfg->variant,
    };
    rk_store_tag_info ti = {
        .ref_name = stored_name,
        .manifest_digest = mdigest,
        .manifest_size = msize,
        .image_id = cd->digest,
        .repo_digest = repo_digest,
        .source_manifest = strcmp(mdigest, res.manifest.digest) ? res.manifest.digest : NULL,
        .platform = &plat,
    };
    if (rk_store_tag(s, &ti, err) < 0)
        goto out;
    if (!ret->downloaded)
        emit(&p, RK_PULL_EV_UP_TO_DATE, cd->digest, 0, 0, 0, NULL);
    emit(&p, RK_PULL_EV_DONE, cd->digest, 0, 0, 0, NULL);
    ret->image_id = rk_xstrdup(cd->digest);
    ret->ref_name = rk_xstrdup(stored_name);
    ret->repo_digest = rk_xstrdup(repo_digest);
    rc = 0;
out:
    if (rc < 0)
        rk_error_wrap(err, "pulling %s", stored_name);
    rk_image_config_free(cfg);
    resolved_clear(&res);
    rk_platform_clear(&want);
    return rc;
}

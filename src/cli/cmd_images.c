/* racker images, rmi, inspect, image prune|mount|unmount */
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/cleanup.h"
#include "base/digest.h"
#include "base/json.h"
#include "base/strv.h"
#include "cli/cli.h"
#include "cli/progress.h"
#include "image/reference.h"
#include "image/store.h"
#include "runtime/state.h"

/* rmi's exit statuses, as Podman documents them. */
#define RMI_EXIT_NOT_FOUND 1
#define RMI_EXIT_IN_USE 2

enum { OPT_DIGESTS = RK_OPT_FIRST_VERB_OPTION, OPT_FORMAT, OPT_NO_TRUNC, OPT_TYPE };

static int open_store(struct rk_cli *cli, rk_store **ret)
{
    rk_error *err = NULL;
    if (rk_store_open(cli->root, ret, &err) < 0)
        return rk_cli_fail(cli, err, RK_EXIT_FAILURE);
    return 0;
}

/* "docker.io/library/debian:12" -> ("debian", "12"); digest-only names
 * give tag "<none>". */
static void split_familiar(const char *ref_name, char **repo, char **tag)
{
    _cleanup_ref_ rk_ref *r = NULL;
    if (rk_ref_parse(ref_name, &r, NULL) < 0) {
        *repo = rk_xstrdup(ref_name);
        *tag = rk_xstrdup("<none>");
        return;
    }
    _cleanup_free_ char *fam = rk_ref_familiar(r);
    /* rk_ref_familiar gives name[:tag][@digest]; take the name part. */
    char *at = strchr(fam, '@');
    if (at)
        *at = 0;
    char *slash = strrchr(fam, '/');
    char *colon = strrchr(fam, ':');
    if (colon && (!slash || colon > slash))
        *colon = 0;
    *repo = rk_xstrdup(fam);
    *tag = rk_xstrdup(r->tag ? r->tag : "<none>");
}

static void format_age(int64_t t, char *out, size_t len)
{
    if (t <= 0) {
        snprintf(out, len, "N/A");
        return;
    }
    int64_t d = (int64_t)time(NULL) - t;
    if (d < 0)
        d = 0;
    if (d < 60)
        snprintf(out, len, "%lld seconds ago", (long long)d);
    else if (d < 3600)
        snprintf(out, len, "%lld minutes ago", (long long)(d / 60));
    else if (d < 86400 * 2)
        snprintf(out, len, "%lld hours ago", (long long)(d / 3600));
    else if (d < 86400 * 30)
        snprintf(out, len, "%lld days ago", (long long)(d / 86400));
    else if (d < 86400 * 365 * 2)
        snprintf(out, len, "%lld months ago", (long long)(d / (86400 * 30)));
    else
        snprintf(out, len, "%lld years ago", (long long)(d / (86400 * 365)));
}

static json_t *image_summary_json(const rk_image *img)
{
    json_t *tags = json_array(), *digests = json_array();
    for (size_t i = 0; img->refs && img->refs[i]; i++) {
        json_array_append_new(tags, json_string(img->refs[i]));
        if (img->repo_digest) {
            _cleanup_ref_ rk_ref *r = NULL;
            if (rk_ref_parse(img->refs[i], &r, NULL) == 0) {
                _cleanup_free_ char *n = rk_ref_name(r);
                _cleanup_free_ char *d = rk_xasprintf("%s@%s", n, img->repo_digest);
                bool dup = false;
                size_t k;
                json_t *v;
                json_array_foreach(digests, k, v) dup |= !strcmp(json_string_value(v), d);
                if (!dup)
                    json_array_append_new(digests, json_string(d));
            }
        }
    }
    _cleanup_free_ char *plat = rk_platform_string(&img->platform);
    return json_pack("{s:s,s:o,s:o,s:s,s:I,s:I,s:s,s:s?}", "Id", img->id, "RepoTags", tags,
                     "RepoDigests", digests, "Digest", img->manifest_digest, "Created",
                     (json_int_t)img->created, "Size", (json_int_t)img->size, "Platform", plat,
                     "Pulled", img->pulled);
}

/* ---- images ---- */

/* Does ref_name pass the filter (a repository name, or one full reference)? */
static bool ref_matches(const char *ref_name, const char *fname, const char *ffull)
{
    if (!fname)
        return true;
    _cleanup_ref_ rk_ref *rr = NULL;
    if (rk_ref_parse(ref_name, &rr, NULL) < 0)
        return false;
    _cleanup_free_ char *rn = rk_ref_name(rr);
    _cleanup_free_ char *rs = rk_ref_string(rr);
    return !strcmp(rn, fname) && (!ffull || !strcmp(rs, ffull));
}

static bool image_matches(const rk_image *img, const char *fname, const char *ffull)
{
    if (!fname)
        return true;
    for (size_t i = 0; img->refs && img->refs[i]; i++)
        if (ref_matches(img->refs[i], fname, ffull))
            return true;
    return false;
}

struct images_args {
    bool quiet, digests, no_trunc;
    const char *format;
};

static int images_opt(void *ctx, int opt, const char *arg, rk_error **err)
{
    struct images_args *a = ctx;
    switch (opt) {
    case 'q':
        a->quiet = true;
        return 0;
    case OPT_DIGESTS:
        a->digests = true;
        return 0;
    case OPT_NO_TRUNC:
        a->no_trunc = true;
        return 0;
    case OPT_FORMAT:
        return rk_cli_parse_format(arg, &a->format, err);
    }
    return -1;
}

static int do_images(struct rk_cli *cli, const struct rk_verb *verb, int argc, char **argv)
{
    static const struct option longopts[] = {
        {"quiet", no_argument, NULL, 'q'},
        {"digests", no_argument, NULL, OPT_DIGESTS},
        {"no-trunc", no_argument, NULL, OPT_NO_TRUNC},
        {"format", required_argument, NULL, OPT_FORMAT},
        {NULL, 0, NULL, 0},
    };
    struct images_args a = {.format = "table"};
    int i = rk_cli_parse(cli, verb, argc, argv, "q", longopts, false, images_opt, &a);
    if (i < 0)
        return cli->usage_status;
    if (argc - i > 1)
        return rk_cli_usage_error(cli, verb, "takes at most one reference filter");
    const char *filter = argc - i == 1 ? argv[i] : NULL;
    _cleanup_store_ rk_store *store = NULL;
    int r = open_store(cli, &store);
    if (r)
        return r;
    rk_error *err = NULL;
    rk_image **imgs = NULL;
    size_t n = 0;
    if (rk_store_list_images(store, &imgs, &n, &err) < 0)
        return rk_cli_fail(cli, err, RK_EXIT_FAILURE);
    /* A filter names a repository (all its tags) or one reference. */
    _cleanup_free_ char *fname = NULL, *ffull = NULL;
    if (filter) {
        _cleanup_ref_ rk_ref *fr = NULL;
        if (rk_ref_parse(filter, &fr, &err) < 0) {
            rk_image_list_free(imgs, n);
            return rk_cli_fail(cli, err, RK_EXIT_FAILURE);
        }
        fname = rk_ref_name(fr);
        /* "debian" alone means every tag of debian; "debian:12" one. */
        const char *slash = strrchr(filter, '/'), *colon = strrchr(filter, ':');
        bool has_tag = strchr(filter, '@') || (colon && (!slash || colon > slash));
        ffull = has_tag ? rk_ref_string(fr) : NULL;
    }

    if (!strcmp(a.format, "json")) {
        json_t *arr = json_array();
        for (size_t k = 0; k < n; k++)
            if (image_matches(imgs[k], fname, ffull))
                json_array_append_new(arr, image_summary_json(imgs[k]));
        _cleanup_free_ char *s = json_dumps(arr, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
        json_decref(arr);
        printf("%s\n", s);
        rk_image_list_free(imgs, n);
        return 0;
    }
    if (a.quiet) {
        for (size_t k = 0; k < n; k++) {
            if (!image_matches(imgs[k], fname, ffull))
                continue;
            _cleanup_free_ char *s = rk_digest_short(imgs[k]->id);
            printf("%s\n", a.no_trunc ? imgs[k]->id : s);
        }
        rk_image_list_free(imgs, n);
        return 0;
    }
    if (a.digests)
        printf("%-40s %-20s %-72s %-14s %-16s %s\n", "REPOSITORY", "TAG", "DIGEST", "IMAGE ID",
               "CREATED", "SIZE");
    else
        printf("%-40s %-20s %-14s %-16s %s\n", "REPOSITORY", "TAG", "IMAGE ID", "CREATED",
               "SIZE");
    for (size_t k = 0; k < n; k++) {
        rk_image *img = imgs[k];
        _cleanup_free_ char *sid = a.no_trunc ? rk_xstrdup(img->id) : rk_digest_short(img->id);
        char age[32], size[16];
        format_age(img->created, age, sizeof(age));
        rk_format_size(img->size, size, sizeof(size));
        size_t nrefs = rk_strv_len(img->refs);
        for (size_t t = 0; t < (nrefs ? nrefs : 1); t++) {
            _cleanup_free_ char *repo = NULL, *tag = NULL;
            if (nrefs) {
                if (!ref_matches(img->refs[t], fname, ffull))
                    continue;
                split_familiar(img->refs[t], &repo, &tag);
            } else {
                if (fname)
                    continue;
                repo = rk_xstrdup("<none>");
                tag = rk_xstrdup("<none>");
            }
            if (a.digests)
                printf("%-40s %-20s %-72s %-14s %-16s %s\n", repo, tag,
                       img->repo_digest ? img->repo_digest : "<none>", sid, age, size);
            else
                printf("%-40s %-20s %-14s %-16s %s\n", repo, tag, sid, age, size);
        }
    }
    rk_image_list_free(imgs, n);
    return 0;
}

int rk_cmd_images(struct rk_cli *cli, int argc, char **argv)
{
    return do_images(cli, rk_cli_find_verb(rk_racker_verbs, "images"), argc, argv);
}

/* ---- rmi ---- */

static int rmi_opt(void *ctx, int opt, const char *arg, rk_error **err)
{
    (void)arg;
    (void)err;
    if (opt != 'f')
        return -1;
    *(bool *)ctx = true;
    return 0;
}

/* Is `what` an image ID (not a name)? */
static bool names_an_id(const char *what, const rk_image *img)
{
    const char *hex = rk_startswith(what, "sha256:") ? what + 7 : what;
    return strlen(hex) >= 4 && rk_startswith(img->id + 7, hex) &&
           !rk_strv_contains(img->refs, what);
}

static int do_rmi(struct rk_cli *cli, const struct rk_verb *verb, int argc, char **argv)
{
    static const struct option longopts[] = {
        {"force", no_argument, NULL, 'f'},
        {NULL, 0, NULL, 0},
    };
    bool force = false;
    int i = rk_cli_parse(cli, verb, argc, argv, "f", longopts, false, rmi_opt, &force);
    if (i < 0)
        return cli->usage_status;
    if (i >= argc)
        return rk_cli_usage_error(cli, verb, "missing image reference or ID");
    _cleanup_store_ rk_store *store = NULL;
    int r = open_store(cli, &store);
    if (r)
        return r;
    int status = 0;
    for (; i < argc; i++) {
        rk_error *err = NULL;
        _cleanup_image_ rk_image *img = NULL;
        if (rk_store_find_image(store, argv[i], &img, &err) < 0) {
            int st = err && err->errnum == ENOENT ? RMI_EXIT_NOT_FOUND : RK_EXIT_FAILURE;
            rk_cli_fail(cli, err, st);
            if (!status)
                status = st;
            continue;
        }
        bool in_use = rk_store_image_in_use(store, img->id);
        bool by_id = names_an_id(argv[i], img);
        if (in_use && !force) {
            fprintf(stderr, "%s: error: image %s is in use by a container (use -f to untag it anyway)\n",
                    cli->prog, argv[i]);
            status = RMI_EXIT_IN_USE;
            continue;
        }
        if (by_id && rk_strv_len(img->refs) > 1 && !force) {
            fprintf(stderr, "%s: error: image %s has several names; remove them by name, or use -f\n",
                    cli->prog, argv[i]);
            status = RK_EXIT_FAILURE;
            continue;
        }
        /* Untag what was named: one reference, or every name of an ID. */
        _cleanup_strv_ char **untag = NULL;
        if (by_id) {
            untag = rk_strv_dup(img->refs);
        } else {
            _cleanup_ref_ rk_ref *ref = NULL;
            if (rk_ref_parse(argv[i], &ref, NULL) == 0) {
                _cleanup_free_ char *full = rk_ref_string(ref);
                if (rk_strv_contains(img->refs, full))
                    rk_strv_push_dup(&untag, full);
            }
            if (!untag && img->refs && img->refs[0])
                rk_strv_push_dup(&untag, img->refs[0]);
        }
        bool failed = false;
        for (size_t k = 0; untag && untag[k]; k++) {
            if (rk_store_untag(store, untag[k], in_use, &err) < 0) {
                rk_cli_fail(cli, err, RK_EXIT_FAILURE);
                failed = true;
                status = RK_EXIT_FAILURE;
                break;
            }
            printf("Untagged: %s\n", untag[k]);
        }
        if (failed)
            continue;
        _cleanup_image_ rk_image *still = NULL;
        bool gone = rk_store_find_image(store, img->id, &still, NULL) < 0 ||
                    (!in_use && rk_strv_len(still->refs) == 0);
        if (gone || (by_id && !in_use)) {
            if (rk_store_unmount_image(store, img, &err) < 0 ||
                rk_store_remove_image(store, img->id, &err) < 0) {
                rk_cli_fail(cli, err, RK_EXIT_FAILURE);
                status = RK_EXIT_FAILURE;
                continue;
            }
            printf("Deleted: %s\n", img->id);
        }
    }
    return status;
}

int rk_cmd_rmi(struct rk_cli *cli, int argc, char **argv)
{
    return do_rmi(cli, rk_cli_find_verb(rk_racker_verbs, "rmi"), argc, argv);
}

/* ---- inspect ---- */

static json_t *image_inspect_json(rk_store *store, const rk_image *img)
{
    json_t *o = image_summary_json(img);
    json_object_set_new(o, "RepoDigest", img->repo_digest ? json_string(img->repo_digest) : json_null());
    json_object_set_new(o, "Os", json_string(img->platform.os ? img->platform.os : ""));
    json_object_set_new(o, "Architecture",
                        json_string(img->platform.architecture ? img->platform.architecture : ""));
    if (img->platform.variant)
        json_object_set_new(o, "Variant", json_string(img->platform.variant));
    /* The image's own config, as the registry sent it. */
    _cleanup_free_ char *ctext = NULL;
    size_t clen = 0;
    json_t *cfg = NULL;
    if (rk_store_read_blob(store, img->id, 16u << 20, &ctext, &clen, NULL) == 0) {
        json_t *c = json_loadb(ctext, clen, 0, NULL);
        json_t *inner = json_object_get(c, "config");
        cfg = inner ? json_incref(inner) : json_object();
        json_decref(c);
    } else {
        cfg = json_object();
    }
    json_object_set_new(o, "Config", cfg);
    json_t *layers = json_array();
    _cleanup_free_ char *mtext = NULL;
    size_t mlen = 0;
    rk_manifest *m = NULL;
    if (rk_store_read_blob(store, img->manifest_digest, 4u << 20, &mtext, &mlen, NULL) == 0 &&
        rk_manifest_parse(mtext, mlen, RK_MT_OCI_MANIFEST, &m, NULL) == 0) {
        for (size_t i = 0; i < m->n_layers; i++) {
            json_array_append_new(
                layers, json_pack("{s:s,s:s,s:I,s:s,s:s,s:s}", "Digest", m->layers[i].digest,
                                  "MediaType", m->layers[i].media_type, "Size",
                                  (json_int_t)m->layers[i].size, "DiffID",
                                  i < img->config->n_diff_ids ? img->config->diff_ids[i] : "",
                                  "ChainID", img->layer_chain_ids[i], "Path", img->layer_dirs[i]));
        }
        rk_manifest_free(m);
    }
    json_object_set_new(o, "Layers", layers);
    json_object_set_new(o, "RootFS",
                        json_pack("{s:s,s:o}", "Type", "layers", "Layers",
                                  rk_json_from_strv(img->config->diff_ids)));
    return o;
}

enum inspect_type { INSPECT_ANY, INSPECT_IMAGE, INSPECT_CONTAINER };

static int inspect_opt(void *ctx, int opt, const char *arg, rk_error **err)
{
    enum inspect_type *t = ctx;
    if (opt != OPT_TYPE)
        return -1;
    if (!strcmp(arg, "image"))
        *t = INSPECT_IMAGE;
    else if (!strcmp(arg, "container"))
        *t = INSPECT_CONTAINER;
    else
        return rk_error_set(err, 0, "--type takes image or container, not \"%s\"", arg);
    return 0;
}

/* A container by name or ID; 0 when there is none (ENOENT), 1 when found. */
static int inspect_container(struct rk_cli *cli, rk_store *store, const char *name, json_t **ret,
                             rk_error **err)
{
    rk_container_record rec;
    rk_error *e = NULL;
    if (rk_container_find(rk_store_containers_dir(store), name, &rec, &e) < 0) {
        if (e->errnum == ENOENT) {
            rk_error_free(e);
            return 0;
        }
        *err = e;
        return -1;
    }
    rk_run_state st;
    if (rk_run_state_read(cli->rundir, rec.id, &st, err) < 0) {
        rk_container_record_clear(&rec);
        return -1;
    }
    *ret = rk_cli_container_json(&rec, &st);
    rk_run_state_clear(&st);
    rk_container_record_clear(&rec);
    return 1;
}

static int do_inspect(struct rk_cli *cli, const struct rk_verb *verb, int argc, char **argv,
                      enum inspect_type type)
{
    static const struct option longopts[] = {{"type", required_argument, NULL, OPT_TYPE},
                                             {NULL, 0, NULL, 0}};
    int i = rk_cli_parse(cli, verb, argc, argv, "", longopts, false, inspect_opt, &type);
    if (i < 0)
        return cli->usage_status;
    if (i >= argc)
        return rk_cli_usage_error(cli, verb, "missing image or container");
    _cleanup_store_ rk_store *store = NULL;
    int r = open_store(cli, &store);
    if (r)
        return r;
    json_t *arr = json_array();
    int status = 0;
    for (; i < argc; i++) {
        rk_error *err = NULL;
        /* As Docker: a container name wins over an image of that name. */
        if (type != INSPECT_IMAGE) {
            json_t *j = NULL;
            int found = inspect_container(cli, store, argv[i], &j, &err);
            if (found < 0) {
                status = rk_cli_fail(cli, err, RK_EXIT_FAILURE);
                continue;
            }
            if (found) {
                json_array_append_new(arr, j);
                continue;
            }
            if (type == INSPECT_CONTAINER) {
                rk_error_set_status(&err, 125, 0, "no such container: %s", argv[i]);
                status = rk_cli_fail(cli, err, RK_EXIT_FAILURE);
                continue;
            }
        }
        _cleanup_image_ rk_image *img = NULL;
        if (rk_store_find_image(store, argv[i], &img, &err) < 0) {
            if (type == INSPECT_ANY && err->errnum == ENOENT) {
                rk_error_free(err);
                err = NULL;
                rk_error_set_status(&err, 125, 0, "no such image or container: %s", argv[i]);
            }
            status = rk_cli_fail(cli, err, RK_EXIT_FAILURE);
            continue;
        }
        json_array_append_new(arr, image_inspect_json(store, img));
    }
    _cleanup_free_ char *s = json_dumps(arr, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    json_decref(arr);
    printf("%s\n", s);
    return status;
}

int rk_cmd_inspect(struct rk_cli *cli, int argc, char **argv)
{
    return do_inspect(cli, rk_cli_find_verb(rk_racker_verbs, "inspect"), argc, argv, INSPECT_ANY);
}

/* ---- image prune | mount | unmount ---- */

static int do_prune(struct rk_cli *cli, const struct rk_verb *verb, int argc, char **argv)
{
    static const struct option longopts[] = {{"force", no_argument, NULL, 'f'},
                                             {"all", no_argument, NULL, 'a'},
                                             {NULL, 0, NULL, 0}};
    bool dummy = false;
    int i = rk_cli_parse(cli, verb, argc, argv, "f", longopts, false, rmi_opt, &dummy);
    if (i < 0)
        return cli->usage_status;
    if (i < argc)
        return rk_cli_usage_error(cli, verb, "prune takes no arguments");
    _cleanup_store_ rk_store *store = NULL;
    int r = open_store(cli, &store);
    if (r)
        return r;
    rk_error *err = NULL;
    rk_prune_stats st;
    if (rk_store_prune(store, &st, &err) < 0)
        return rk_cli_fail(cli, err, RK_EXIT_FAILURE);
    char freed[16];
    rk_format_size(st.bytes_freed, freed, sizeof(freed));
    printf("Deleted %zu blobs, %zu layers, %zu temporaries\nTotal reclaimed space: %s\n",
           st.blobs_removed, st.layers_removed, st.temps_removed, freed);
    return 0;
}

static int do_mount(struct rk_cli *cli, const struct rk_verb *verb, int argc, char **argv,
                    bool mount)
{
    static const struct option longopts[] = {{NULL, 0, NULL, 0}};
    int i = rk_cli_parse(cli, verb, argc, argv, "", longopts, false, NULL, NULL);
    if (i < 0)
        return cli->usage_status;
    if (argc - i != 1)
        return rk_cli_usage_error(cli, verb, "expects one image reference or ID");
    _cleanup_store_ rk_store *store = NULL;
    int r = open_store(cli, &store);
    if (r)
        return r;
    rk_error *err = NULL;
    _cleanup_image_ rk_image *img = NULL;
    if (rk_store_find_image(store, argv[i], &img, &err) < 0)
        return rk_cli_fail(cli, err, RK_EXIT_FAILURE);
    if (mount) {
        _cleanup_free_ char *path = NULL;
        if (rk_store_mount_image(store, img, &path, &err) < 0)
            return rk_cli_fail(cli, err, RK_EXIT_FAILURE);
        printf("%s\n", path);
    } else if (rk_store_unmount_image(store, img, &err) < 0) {
        return rk_cli_fail(cli, err, RK_EXIT_FAILURE);
    }
    return 0;
}

int rk_cmd_image(struct rk_cli *cli, int argc, char **argv)
{
    const struct rk_verb *verb = rk_cli_find_verb(rk_racker_verbs, "image");
    if (argc < 2) {
        return rk_cli_usage_error(cli, verb, "missing subcommand (ls, rm, inspect, prune, mount, unmount)");
    }
    const char *sub = argv[1];
    if (!strcmp(sub, "--help") || !strcmp(sub, "-h") || !strcmp(sub, "help"))
        rk_cli_handle_global(cli, verb, RK_OPT_HELP, NULL);
    struct {
        const char *name;
        const char *verb;
    } alias[] = {{"ls", "images"}, {"list", "images"}, {"rm", "rmi"}};
    if (!strcmp(sub, "inspect"))
        return do_inspect(cli, rk_cli_find_verb(rk_racker_verbs, "inspect"), argc - 1, argv + 1,
                          INSPECT_IMAGE);
    for (size_t k = 0; k < RK_ELEMENTSOF(alias); k++)
        if (!strcmp(sub, alias[k].name)) {
            const struct rk_verb *v = rk_cli_find_verb(rk_racker_verbs, alias[k].verb);
            return v->fn(cli, argc - 1, argv + 1);
        }
    if (!strcmp(sub, "prune"))
        return do_prune(cli, verb, argc - 1, argv + 1);
    if (!strcmp(sub, "mount"))
        return do_mount(cli, verb, argc - 1, argv + 1, true);
    if (!strcmp(sub, "unmount") || !strcmp(sub, "umount"))
        return do_mount(cli, verb, argc - 1, argv + 1, false);
    return rk_cli_usage_error(cli, verb, "unknown subcommand '%s'", sub);
}

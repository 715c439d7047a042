/* Unit tests for image/store.c: chain IDs, blobs, layers, naming, lookup
 * by reference and ID, dangling images, prune. Images are built by hand
 * in a temporary store (no registry). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include <archive.h>
#include <archive_entry.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>

#include "base/cleanup.h"
#include "base/digest.h"
#include "base/fs.h"
#include "base/strv.h"
#include "image/manifest.h"
#include "image/store.h"

static char root[64];

static int setup(void **state)
{
    (void)state;
    strcpy(root, "/tmp/rk-test-store-XXXXXX");
    assert_non_null(mkdtemp(root));
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    rk_rm_rf(root, NULL);
    return 0;
}

static rk_store *open_store(void)
{
    rk_store *s = NULL;
    rk_error *err = NULL;
    if (rk_store_open(root, &s, &err) < 0)
        fail_msg("%s", err->msg);
    return s;
}

/* A fake image: one layer per diff_id given (layer dirs hold one file
 * named after the layer), config and OCI manifest stored, then named. */
struct fake {
    char config_digest[RK_DIGEST_LEN + 1];
    char manifest_digest[RK_DIGEST_LEN + 1];
    char layer_digest[4][RK_DIGEST_LEN + 1];
    char diff_id[4][RK_DIGEST_LEN + 1];
};

static void put(rk_store *s, const char *text, char out[RK_DIGEST_LEN + 1])
{
    rk_sha256_buf(text, strlen(text), out);
    rk_error *err = NULL;
    if (rk_store_put_blob(s, out, text, strlen(text), &err) < 0)
        fail_msg("%s", err->msg);
}

static void make_image(rk_store *s, const char *name, const char *salt, size_t nlayers,
                       struct fake *f)
{
    rk_error *err = NULL;
    json_t *diff_ids = json_array(), *layers = json_array();
    _cleanup_strv_ char **dids = NULL;
    for (size_t i = 0; i < nlayers; i++) {
        _cleanup_free_ char *blob = rk_xasprintf("layer %zu of %s", i, i == 0 ? "base" : salt);
        put(s, blob, f->layer_digest[i]);
        _cleanup_free_ char *tar = rk_xasprintf("tar %zu of %s", i, i == 0 ? "base" : salt);
        rk_sha256_buf(tar, strlen(tar), f->diff_id[i]);
        json_array_append_new(diff_ids, json_string(f->diff_id[i]));
        json_array_append_new(layers, json_pack("{s:s,s:s,s:I}", "mediaType", RK_MT_OCI_LAYER_GZIP,
                                                "digest", f->layer_digest[i], "size",
                                                (json_int_t)strlen(blob)));
        rk_strv_push_dup(&dids, f->diff_id[i]);
    }
    _cleanup_strv_ char **chain = rk_store_chain_ids(dids);
    for (size_t i = 0; i < nlayers; i++) {
        if (rk_store_has_layer(s, chain[i]))
            continue;
        int lk = rk_store_lock_layer(s, chain[i], &err);
        assert_true(lk >= 0);
        _cleanup_free_ char *dir = NULL, *lroot = NULL;
        if (rk_store_layer_tmp(s, chain[i], &dir, &lroot, &err) < 0)
            fail_msg("%s", err->msg);
        _cleanup_free_ char *file = rk_xasprintf("%s/file%zu", lroot, i);
        int fd = open(file, O_CREAT | O_WRONLY, 0644);
        assert_true(fd >= 0);
        close(fd);
        if (rk_store_commit_layer(s, chain[i], f->diff_id[i], f->layer_digest[i], 1, &err) < 0)
            fail_msg("%s", err->msg);
        close(lk);
    }
    json_t *cfg = json_pack("{s:s,s:s,s:{s:[s]},s:{s:s,s:o}}", "architecture", "amd64", "os",
                            "linux", "config", "Cmd", salt, "rootfs", "type", "layers",
                            "diff_ids", diff_ids);
    _cleanup_free_ char *ctext = json_dumps(cfg, JSON_COMPACT);
    json_decref(cfg);
    put(s, ctext, f->config_digest);
    json_t *m = json_pack("{s:i,s:s,s:{s:s,s:s,s:I},s:o}", "schemaVersion", 2, "mediaType",
                          RK_MT_OCI_MANIFEST, "config", "mediaType", RK_MT_OCI_CONFIG, "digest",
                          f->config_digest, "size", (json_int_t)strlen(ctext), "layers", layers);
    _cleanup_free_ char *mtext = json_dumps(m, JSON_COMPACT);
    json_decref(m);
    put(s, mtext, f->manifest_digest);
    rk_platform p = {.os = "linux", .architecture = "amd64"};
    rk_store_tag_info t = {
        .ref_name = name,
        .manifest_digest = f->manifest_digest,
        .manifest_size = (int64_t)strlen(mtext),
        .image_id = f->config_digest,
        .repo_digest = f->manifest_digest,
        .platform = &p,
    };
    if (rk_store_tag(s, &t, &err) < 0)
        fail_msg("%s", err->msg);
}

static void test_chain_ids(void **state)
{
    (void)state;
    char *ids[] = {"sha256:aaaa", "sha256:bbbb", NULL};
    _cleanup_strv_ char **c = rk_store_chain_ids(ids);
    assert_int_equal(rk_strv_len(c), 2);
    assert_string_equal(c[0], "sha256:aaaa");
    char want[RK_DIGEST_LEN + 1];
    rk_sha256_buf("sha256:aaaa sha256:bbbb", strlen("sha256:aaaa sha256:bbbb"), want);
    assert_string_equal(c[1], want);
}

static void test_layout_files(void **state)
{
    (void)state;
    _cleanup_store_ rk_store *s = open_store();
    assert_non_null(s);
    _cleanup_free_ char *text = NULL;
    _cleanup_close_ int fd = open(root, O_RDONLY | O_DIRECTORY);
    assert_int_equal(rk_read_file_at(fd, "oci-layout", 0, &text, NULL, NULL), 0);
    assert_string_equal(text, "{\"imageLayoutVersion\":\"1.0.0\"}");
    _cleanup_free_ char *idx = NULL;
    assert_int_equal(rk_read_file_at(fd, "index.json", 0, &idx, NULL, NULL), 0);
    assert_non_null(strstr(idx, "\"manifests\":[]"));
}

static void test_put_blob_checks_digest(void **state)
{
    (void)state;
    _cleanup_store_ rk_store *s = open_store();
    rk_error *err = NULL;
    char d[RK_DIGEST_LEN + 1];
    rk_sha256_buf("x", 1, d);
    assert_int_equal(rk_store_put_blob(s, d, "y", 1, &err), -1);
    assert_non_null(strstr(err->msg, "hashes to"));
    rk_error_free(err);
    err = NULL;
    assert_false(rk_store_has_blob(s, d));
    assert_int_equal(rk_store_put_blob(s, "sha256:../../etc", "y", 1, &err), -1);
    rk_error_free(err);
    assert_int_equal(rk_store_put_blob(s, d, "x", 1, NULL), 0);
    assert_true(rk_store_has_blob(s, d));
}

static void test_find_by_name_and_id(void **state)
{
    (void)state;
    _cleanup_store_ rk_store *s = open_store();
    struct fake a, b;
    make_image(s, "docker.io/library/debian:12", "a", 2, &a);
    make_image(s, "example.com/x/y:1", "b", 2, &b);
    rk_error *err = NULL;
    _cleanup_image_ rk_image *i1 = NULL;
    if (rk_store_find_image(s, "debian:12", &i1, &err) < 0)
        fail_msg("%s", err->msg);
    assert_string_equal(i1->id, a.config_digest);
    assert_int_equal(i1->n_layers, 2);
    assert_true(rk_path_exists_at(AT_FDCWD, i1->layer_dirs[1]));
    assert_string_equal(i1->config->cmd[0], "a");
    /* The base layer is shared: same directory for both images. */
    _cleanup_image_ rk_image *i2 = NULL;
    assert_int_equal(rk_store_find_image(s, "example.com/x/y:1", &i2, NULL), 0);
    assert_string_equal(i1->layer_dirs[0], i2->layer_dirs[0]);
    assert_string_not_equal(i1->layer_dirs[1], i2->layer_dirs[1]);
    /* By ID, full and short, and name@digest. */
    _cleanup_image_ rk_image *i3 = NULL, *i4 = NULL, *i5 = NULL;
    assert_int_equal(rk_store_find_image(s, a.config_digest, &i3, NULL), 0);
    char shortid[13];
    memcpy(shortid, a.config_digest + 7, 12);
    shortid[12] = 0;
    assert_int_equal(rk_store_find_image(s, shortid, &i4, NULL), 0);
    assert_string_equal(i4->id, a.config_digest);
    _cleanup_free_ char *byd = rk_xasprintf("debian@%s", a.manifest_digest);
    assert_int_equal(rk_store_find_image(s, byd, &i5, NULL), 0);
    /* Not there. */
    _cleanup_image_ rk_image *none = NULL;
    assert_int_equal(rk_store_find_image(s, "debian:11", &none, &err), -1);
    assert_int_equal(err->errnum, ENOENT);
    assert_non_null(strstr(err->msg, "no such image"));
    rk_error_free(err);
}

static void test_list_untag_dangling_prune(void **state)
{
    (void)state;
    _cleanup_store_ rk_store *s = open_store();
    struct fake a, b;
    make_image(s, "docker.io/library/debian:12", "a", 2, &a);
    make_image(s, "docker.io/library/debian:bookworm", "a", 2, &a);
    rk_image **v = NULL;
    size_t n = 0;
    assert_int_equal(rk_store_list_images(s, &v, &n, NULL), 0);
    assert_int_equal(n, 1);
    assert_int_equal(rk_strv_len(v[0]->refs), 2);
    rk_image_list_free(v, n);
    /* Untagging one of two names keeps the image. */
    assert_int_equal(rk_store_untag(s, "docker.io/library/debian:bookworm", false, NULL), 1);
    assert_int_equal(rk_store_list_images(s, &v, &n, NULL), 0);
    assert_int_equal(n, 1);
    rk_image_list_free(v, n);
    /* The tag moves to another image: the old one stays nameless. */
    make_image(s, "docker.io/library/debian:12", "b", 2, &b);
    assert_int_equal(rk_store_list_images(s, &v, &n, NULL), 0);
    assert_int_equal(n, 2);
    size_t dangling = 0;
    for (size_t i = 0; i < n; i++)
        dangling += rk_strv_len(v[i]->refs) == 0;
    assert_int_equal(dangling, 1);
    rk_image_list_free(v, n);
    rk_prune_stats st;
    assert_int_equal(rk_store_prune(s, &st, NULL), 0);
    assert_int_equal(st.layers_removed, 1); /* a's top layer; the base is b's too */
    assert_false(rk_store_has_blob(s, a.config_digest));
    assert_true(rk_store_has_blob(s, b.config_digest));
    assert_true(rk_store_has_blob(s, b.layer_digest[0]));
    assert_int_equal(rk_store_list_images(s, &v, &n, NULL), 0);
    assert_int_equal(n, 1);
    rk_image_list_free(v, n);
    /* Untag the last name: prune empties the store. */
    assert_int_equal(rk_store_untag(s, "docker.io/library/debian:12", false, NULL), 1);
    assert_int_equal(rk_store_untag(s, "docker.io/library/debian:12", false, NULL), 0);
    assert_int_equal(rk_store_prune(s, &st, NULL), 0);
    _cleanup_free_ char *ldir = rk_xasprintf("%s/layers", root);
    _cleanup_closedir_ DIR *d = opendir(ldir);
    int entries = 0;
    struct dirent *de;
    while ((de = readdir(d)))
        entries += de->d_name[0] != '.';
    assert_int_equal(entries, 0);
}

static void test_in_use_keeps_a_dangling_image(void **state)
{
    (void)state;
    _cleanup_store_ rk_store *s = open_store();
    struct fake a;
    make_image(s, "docker.io/library/debian:12", "a", 1, &a);
    /* A container names the image. */
    _cleanup_free_ char *cdir = rk_xasprintf("%s/containers/c1", root);
    assert_int_equal(mkdir(cdir, 0700), 0);
    _cleanup_free_ char *cj = rk_xasprintf("{\"id\":\"c1\",\"image_id\":\"%s\"}", a.config_digest);
    _cleanup_close_ int dfd = open(cdir, O_RDONLY | O_DIRECTORY);
    assert_int_equal(rk_write_file_atomic(dfd, "container.json", cj, strlen(cj), 0644, NULL), 0);
    assert_true(rk_store_image_in_use(s, a.config_digest));
    assert_int_equal(rk_store_untag(s, "docker.io/library/debian:12", true, NULL), 1);
    assert_int_equal(rk_store_prune(s, NULL, NULL), 0);
    _cleanup_image_ rk_image *img = NULL;
    assert_int_equal(rk_store_find_image(s, a.config_digest, &img, NULL), 0);
    assert_int_equal(rk_strv_len(img->refs), 0);
    assert_true(rk_path_exists_at(AT_FDCWD, img->layer_dirs[0]));
    /* The container goes: now prune removes the image. */
    assert_int_equal(rk_rm_rf(cdir, NULL), 0);
    assert_int_equal(rk_store_prune(s, NULL, NULL), 0);
    _cleanup_image_ rk_image *gone = NULL;
    assert_int_equal(rk_store_find_image(s, a.config_digest, &gone, NULL), -1);
}

static void test_stale_temporaries(void **state)
{
    (void)state;
    _cleanup_store_ rk_store *s = open_store();
    char chain[RK_DIGEST_LEN + 1];
    rk_sha256_buf("c", 1, chain);
    /* A writer died after starting a layer: the next lock holder gets a
     * fresh, empty directory. */
    _cleanup_free_ char *dir = NULL, *lroot = NULL;
    assert_int_equal(rk_store_layer_tmp(s, chain, &dir, &lroot, NULL), 0);
    _cleanup_free_ char *junk = rk_xasprintf("%s/junk", lroot);
    close(open(junk, O_CREAT | O_WRONLY, 0644));
    free(dir);
    free(lroot);
    dir = lroot = NULL;
    assert_int_equal(rk_store_layer_tmp(s, chain, &dir, &lroot, NULL), 0);
    assert_false(rk_path_exists_at(AT_FDCWD, junk));
    assert_false(rk_store_has_layer(s, chain));
    /* Prune (exclusive lock: no writer runs) removes temporaries. */
    rk_prune_stats st;
    assert_int_equal(rk_store_prune(s, &st, NULL), 0);
    assert_int_equal(st.temps_removed, 1);
    assert_false(rk_path_exists_at(AT_FDCWD, dir));
}

/* The entries of a gzip tar blob, and the sha256 of the tar itself. */
static char **blob_entries(const char *path, char diff_id[RK_DIGEST_LEN + 1])
{
    char **names = rk_xcalloc(1, sizeof(char *));
    struct archive *a = archive_read_new();
    archive_read_support_filter_gzip(a);
    archive_read_support_format_tar(a);
    assert_int_equal(archive_read_open_filename(a, path, 65536), ARCHIVE_OK);
    struct archive_entry *e;
    while (archive_read_next_header(a, &e) == ARCHIVE_OK)
        rk_strv_push_dup(&names, archive_entry_pathname(e));
    archive_read_free(a);
    /* The raw (decompressed) stream for the diff_id. */
    a = archive_read_new();
    archive_read_support_filter_gzip(a);
    archive_read_support_format_raw(a);
    assert_int_equal(archive_read_open_filename(a, path, 65536), ARCHIVE_OK);
    assert_int_equal(archive_read_next_header(a, &e), ARCHIVE_OK);
    rk_sha256 h;
    rk_sha256_init(&h);
    char buf[65536];
    la_ssize_t n;
    while ((n = archive_read_data(a, buf, sizeof(buf))) > 0)
        rk_sha256_update(&h, buf, (size_t)n);
    rk_sha256_final(&h, diff_id);
    archive_read_free(a);
    return names;
}

static void test_commit_derived(void **state)
{
    (void)state;
    _cleanup_store_ rk_store *s = open_store();
    struct fake a;
    make_image(s, "docker.io/library/debian:12", "a", 1, &a);
    _cleanup_image_ rk_image *base = NULL;
    assert_int_equal(rk_store_find_image(s, "debian:12", &base, NULL), 0);
    /* An upper directory as overlayfs leaves it. */
    _cleanup_free_ char *up = rk_xasprintf("%s/containers/c1/upper", root);
    assert_int_equal(rk_mkdir_p(up, 0755, NULL), 0);
    _cleanup_free_ char *f = rk_xasprintf("%s/added", up);
    FILE *fp = fopen(f, "w");
    fputs("new\n", fp);
    fclose(fp);
    assert_int_equal(lsetxattr(f, "trusted.overlay.origin", "x", 1, 0), 0);
    _cleanup_free_ char *wh = rk_xasprintf("%s/file0", up);
    assert_int_equal(mknod(wh, S_IFCHR, makedev(0, 0)), 0);
    _cleanup_free_ char *opq = rk_xasprintf("%s/opq", up);
    assert_int_equal(mkdir(opq, 0750), 0);
    assert_int_equal(lsetxattr(opq, "trusted.overlay.opaque", "y", 1, 0), 0);
    _cleanup_free_ char *link = rk_xasprintf("%s/link", up);
    assert_int_equal(symlink("/added", link), 0);
    /* Names that are not UTF-8 in the C locale (ca-certificates has
     * such links): the tar keeps the bytes. */
    _cleanup_free_ char *odd = rk_xasprintf("%s/F\xc5\x91tan\xc3\xbas\xc3\xadtv\xc3\xa1ny.pem", up);
    fp = fopen(odd, "w");
    fclose(fp);
    _cleanup_free_ char *oddlink = rk_xasprintf("%s/988a38cb.0", up);
    assert_int_equal(symlink("F\xc5\x91tan\xc3\xbas\xc3\xadtv\xc3\xa1ny.pem", oddlink), 0);
    _cleanup_free_ char *latin1 = rk_xasprintf("%s/caf\xe9", up);
    fp = fopen(latin1, "w");
    fclose(fp);
    rk_derived_info d = {.base = base, .upper_dir = up, .ref_name = "localhost/derived/debian:12",
                         .recipe = "sha256:recipe", .created_by = "test"};
    rk_error *err = NULL;
    _cleanup_image_ rk_image *img = NULL;
    if (rk_store_commit_derived(s, &d, &img, &err) < 0)
        fail_msg("%s", err->msg);
    assert_false(rk_path_exists_at(AT_FDCWD, up)); /* moved, not copied */
    assert_int_equal(img->n_layers, 2);
    assert_string_equal(img->layer_dirs[0], base->layer_dirs[0]);
    assert_string_equal(img->config->cmd[0], "a"); /* the base's config carries over */
    /* The new layer is the upper dir, minus overlay's bookkeeping. */
    _cleanup_free_ char *lf = rk_xasprintf("%s/added", img->layer_dirs[1]);
    assert_true(rk_path_exists_at(AT_FDCWD, lf));
    char v[4];
    assert_true(lgetxattr(lf, "trusted.overlay.origin", v, sizeof(v)) < 0);
    _cleanup_free_ char *lo = rk_xasprintf("%s/opq", img->layer_dirs[1]);
    assert_int_equal(lgetxattr(lo, "trusted.overlay.opaque", v, sizeof(v)), 1);
    /* The blob is an OCI layer with .wh. entries and the right diff_id. */
    _cleanup_free_ char *mtext = NULL;
    size_t mlen;
    assert_int_equal(rk_store_read_blob(s, img->manifest_digest, 0, &mtext, &mlen, NULL), 0);
    rk_manifest *m = NULL;
    assert_int_equal(rk_manifest_parse(mtext, mlen, RK_MT_OCI_MANIFEST, &m, NULL), 0);
    assert_int_equal(m->n_layers, 2);
    _cleanup_free_ char *bp = rk_store_blob_path(s, m->layers[1].digest);
    char diff_id[RK_DIGEST_LEN + 1];
    _cleanup_strv_ char **names = blob_entries(bp, diff_id);
    assert_string_equal(diff_id, img->config->diff_ids[1]);
    assert_true(rk_strv_contains(names, "added"));
    assert_true(rk_strv_contains(names, ".wh.file0"));
    assert_true(rk_strv_contains(names, "opq/") || rk_strv_contains(names, "opq"));
    assert_true(rk_strv_contains(names, "opq/.wh..wh..opq"));
    assert_true(rk_strv_contains(names, "link"));
    assert_true(rk_strv_contains(names, "988a38cb.0"));
    assert_true(rk_strv_contains(names, "caf\xe9"));
    rk_manifest_free(m);
    /* Found again by base and recipe; another recipe finds nothing. */
    _cleanup_image_ rk_image *again = NULL, *none = NULL;
    assert_int_equal(rk_store_find_derived(s, base->id, "sha256:recipe", &again, NULL), 0);
    assert_non_null(again);
    assert_string_equal(again->id, img->id);
    assert_int_equal(rk_store_find_derived(s, base->id, "sha256:other", &none, NULL), 0);
    assert_null(none);
    /* rmi + prune of the derived image keep the base. */
    assert_int_equal(rk_store_untag(s, "localhost/derived/debian:12", false, NULL), 1);
    assert_int_equal(rk_store_prune(s, NULL, NULL), 0);
    assert_false(rk_path_exists_at(AT_FDCWD, img->layer_dirs[1]));
    assert_true(rk_path_exists_at(AT_FDCWD, base->layer_dirs[0]));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_chain_ids),
        cmocka_unit_test_setup_teardown(test_layout_files, setup, teardown),
        cmocka_unit_test_setup_teardown(test_put_blob_checks_digest, setup, teardown),
        cmocka_unit_test_setup_teardown(test_find_by_name_and_id, setup, teardown),
        cmocka_unit_test_setup_teardown(test_list_untag_dangling_prune, setup, teardown),
        cmocka_unit_test_setup_teardown(test_in_use_keeps_a_dangling_image, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stale_temporaries, setup, teardown),
        cmocka_unit_test_setup_teardown(test_commit_derived, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

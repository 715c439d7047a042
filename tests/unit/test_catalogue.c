/* probe/catalogue: the shipped data file, validation with clear errors,
 * lookup by label and alias, where the file is found. */
#include "config.h"

#include <fcntl.h>
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

#include "base/cleanup.h"
#include "base/fs.h"
#include "base/json.h"
#include "base/strv.h"
#include "probe/catalogue.h"

static char base[64];
static char shipped[512];

static int setup(void **state)
{
    (void)state;
    strcpy(base, "/tmp/rk-test-catalogue-XXXXXX");
    assert_non_null(mkdtemp(base));
    snprintf(shipped, sizeof(shipped), "%s/postroj-images.json",
             RACKER_SOURCE_DATA_DIR);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    rk_rm_rf(base, NULL);
    return 0;
}

static char *write_temp(const char *name, const char *text)
{
    char *path = rk_xasprintf("%s/%s", base, name);
    rk_error *err = NULL;
    if (rk_write_file_atomic(AT_FDCWD, path, text, strlen(text), 0644, &err) <
        0)
        fail_msg("writing %s: %s", path, err->msg);
    return path;
}

static rk_catalogue *load_ok(const char *path)
{
    rk_error *err = NULL;
    rk_catalogue *c = NULL;
    if (rk_catalogue_load(path, &c, &err) < 0)
        fail_msg("loading %s: %s", path, err->msg);
    return c;
}

/* ---- the shipped catalogue ---- */

static void assert_image(const rk_catalogue *c, const char *label,
                         const char *reference, const char *family,
                         const char *pm)
{
    const rk_catalogue_image *img = rk_catalogue_lookup(c, label);
    if (!img)
        fail_msg("no image %s in the shipped catalogue", label);
    assert_string_equal(img->reference, reference);
    assert_string_equal(img->family, family);
    assert_string_equal(img->package_manager, pm);
}

static void test_shipped(void **state)
{
    (void)state;
    _cleanup_catalogue_ rk_catalogue *c = load_ok(shipped);
    assert_string_equal(c->path, shipped);
    assert_true(c->n >= 38);

    /* Every distribution of issue 5 §1.1. */
    static const char *const debian[] = {"stretch",  "buster", "bullseye",
                                         "bookworm", "trixie", "sid"};
    for (size_t i = 0; i < RK_ELEMENTSOF(debian); i++) {
        _cleanup_free_ char *l = rk_xasprintf("debian-%s", debian[i]);
        _cleanup_free_ char *r =
            rk_xasprintf("docker.io/library/debian:%s-slim", debian[i]);
        assert_image(c, l, r, "debian", "apt");
    }
    static const char *const ubuntu[] = {"focal", "jammy", "noble"};
    for (size_t i = 0; i < RK_ELEMENTSOF(ubuntu); i++) {
        _cleanup_free_ char *l = rk_xasprintf("ubuntu-%s", ubuntu[i]);
        _cleanup_free_ char *r =
            rk_xasprintf("docker.io/library/ubuntu:%s", ubuntu[i]);
        assert_image(c, l, r, "debian", "apt");
    }
    static const int fedora[] = {35, 36, 37, 40, 41, 42};
    for (size_t i = 0; i < RK_ELEMENTSOF(fedora); i++) {
        _cleanup_free_ char *l = rk_xasprintf("fedora-%d", fedora[i]);
        _cleanup_free_ char *r =
            rk_xasprintf("docker.io/library/fedora:%d", fedora[i]);
        assert_image(c, l, r, "fedora", "dnf");
    }
    assert_image(c, "rhel-8", "registry.access.redhat.com/ubi8/ubi:latest",
                 "rhel", "dnf");
    assert_image(c, "rhel-9", "registry.access.redhat.com/ubi9/ubi:latest",
                 "rhel", "dnf");
    assert_image(c, "rhel-10", "registry.access.redhat.com/ubi10/ubi:latest",
                 "rhel", "dnf");
    assert_image(c, "centos-7", "docker.io/library/centos:7", "rhel", "yum");
    assert_image(c, "centos-8", "docker.io/library/centos:8", "rhel", "dnf");
    assert_image(c, "centos-9", "quay.io/centos/centos:stream9", "rhel", "dnf");
    assert_image(c, "centos-10", "quay.io/centos/centos:stream10", "rhel",
                 "dnf");
    assert_image(c, "rockylinux-8", "docker.io/library/rockylinux:8", "rhel",
                 "dnf");
    assert_image(c, "rockylinux-9", "docker.io/library/rockylinux:9", "rhel",
                 "dnf");
    assert_image(c, "amazonlinux-2022", "docker.io/library/amazonlinux:2022",
                 "rhel", "dnf");
    assert_image(c, "amazonlinux-2023", "docker.io/library/amazonlinux:2023",
                 "rhel", "dnf");
    assert_image(c, "oraclelinux-8", "docker.io/library/oraclelinux:8", "rhel",
                 "dnf");
    assert_image(c, "oraclelinux-9", "docker.io/library/oraclelinux:9", "rhel",
                 "dnf");
    assert_image(c, "opensuse-leap", "docker.io/opensuse/leap:15", "suse",
                 "zypper");
    assert_image(c, "opensuse-tumbleweed",
                 "docker.io/opensuse/tumbleweed:latest", "suse", "zypper");
    assert_image(c, "sles-15", "registry.suse.com/suse/sle15:latest", "suse",
                 "zypper");
    assert_image(c, "sles-bci", "registry.suse.com/bci/bci-base:latest", "suse",
                 "zypper");
    assert_image(c, "archlinux", "docker.io/library/archlinux:latest", "arch",
                 "pacman");

    /* Release and version labels select the same entry. */
    const rk_catalogue_image *a = rk_catalogue_lookup(c, "debian-bookworm");
    assert_ptr_equal(a, rk_catalogue_lookup(c, "debian-12"));
    assert_string_equal(a->name, "debian");
    assert_string_equal(a->release, "bookworm");
    assert_string_equal(a->version, "12");
    assert_string_equal(a->webserver.package, "apache2");
    assert_string_equal(a->webserver.unit, "apache2.service");
    assert_int_equal(a->webserver.port, 80);
    assert_string_equal(rk_catalogue_package_type(a), "deb");
    assert_ptr_equal(rk_catalogue_lookup(c, "ubuntu-jammy"),
                     rk_catalogue_lookup(c, "ubuntu-22.04"));
    assert_ptr_equal(rk_catalogue_lookup(c, "debian-sid"),
                     rk_catalogue_lookup(c, "debian-unstable"));

    const rk_catalogue_image *f = rk_catalogue_lookup(c, "fedora-37");
    assert_string_equal(f->webserver.package, "httpd");
    assert_string_equal(f->webserver.unit, "httpd.service");
    assert_string_equal(rk_catalogue_package_type(f), "rpm");
    const rk_catalogue_image *s = rk_catalogue_lookup(c, "opensuse-leap");
    assert_string_equal(s->webserver.package, "apache2");
    assert_string_equal(rk_catalogue_package_type(s), "rpm");
    const rk_catalogue_image *arch = rk_catalogue_lookup(c, "archlinux");
    assert_string_equal(arch->webserver.package, "apache");
    assert_string_equal(arch->webserver.unit, "httpd.service");
    assert_string_equal(rk_catalogue_package_type(arch), "pacman");

    /* Exact and case-sensitive. */
    assert_null(rk_catalogue_lookup(c, "Debian-Bookworm"));
    assert_null(rk_catalogue_lookup(c, "debian"));
    assert_null(rk_catalogue_lookup(c, "debian-bookworm "));
    assert_null(rk_catalogue_lookup(c, ""));
    assert_null(rk_catalogue_lookup(c, NULL));
    assert_null(rk_catalogue_lookup(NULL, "debian-12"));
}

/* ---- validation ---- */

static json_t *valid_entry(const char *label)
{
    json_error_t je;
    _cleanup_free_ char *text = rk_xasprintf(
        "{\"label\": \"%s\", \"aliases\": [\"%s-alias\"], \"name\": \"debian\","
        " \"release\": \"bookworm\", \"version\": \"12\", \"family\": "
        "\"debian\","
        " \"package_manager\": \"apt\", \"reference\": "
        "\"docker.io/library/debian:12\","
        " \"webserver\": {\"package\": \"apache2\", \"unit\": "
        "\"apache2.service\","
        " \"port\": 80}}",
        label, label);
    json_t *e = json_loads(text, 0, &je);
    assert_non_null(e);
    return e;
}

static char *catalogue_text(json_t *images)
{
    _cleanup_json_ json_t *root =
        json_pack("{s:i,s:O}", "format", 1, "images", images);
    return json_dumps(root, JSON_PRESERVE_ORDER);
}

static void test_minimal_valid(void **state)
{
    (void)state;
    _cleanup_json_ json_t *images = json_array();
    json_array_append_new(images, valid_entry("one"));
    json_t *two = valid_entry("two");
    json_object_del(two, "aliases");
    json_object_set_new(two, "notes", json_string("a note"));
    json_array_append_new(images, two);
    _cleanup_free_ char *text = catalogue_text(images);
    _cleanup_free_ char *path = write_temp("ok.json", text);
    _cleanup_catalogue_ rk_catalogue *c = load_ok(path);
    assert_int_equal(c->n, 2);
    assert_string_equal(c->images[0].label, "one");
    assert_string_equal(c->images[0].aliases[0], "one-alias");
    assert_null(c->images[0].aliases[1]);
    assert_null(c->images[0].notes);
    assert_non_null(c->images[1].aliases);
    assert_null(c->images[1].aliases[0]);
    assert_string_equal(c->images[1].notes, "a note");
    assert_ptr_equal(rk_catalogue_lookup(c, "one-alias"), &c->images[0]);
    assert_ptr_equal(rk_catalogue_lookup(c, "two"), &c->images[1]);
    assert_null(rk_catalogue_lookup(c, "two-alias"));
}

/* Load text from a file and expect an error naming the file and `want`. */
static void expect_error_text(const char *text, const char *want)
{
    _cleanup_free_ char *path = write_temp("bad.json", text);
    rk_error *err = NULL;
    rk_catalogue *c = NULL;
    if (rk_catalogue_load(path, &c, &err) == 0) {
        rk_catalogue_free(c);
        fail_msg("accepted, expected an error with \"%s\":\n%s", want, text);
    }
    assert_non_null(err);
    if (!strstr(err->msg, path) || !strstr(err->msg, want))
        fail_msg("error \"%s\" does not name %s and \"%s\"", err->msg, path,
                 want);
    assert_null(strchr(err->msg, '\n'));
    rk_error_free(err);
}

/* Change one member of a valid entry ("key" or "webserver.key"); a NULL
 * value deletes it. */
static void expect_entry_error(const char *key, const char *value_json,
                               const char *want)
{
    _cleanup_json_ json_t *images = json_array();
    json_t *e = valid_entry("debian-bookworm");
    json_t *obj = e;
    const char *k = key;
    if (!strncmp(key, "webserver.", 10)) {
        obj = json_object_get(e, "webserver");
        k = key + 10;
    }
    if (value_json) {
        json_error_t je;
        json_t *v = json_loads(value_json, JSON_DECODE_ANY, &je);
        if (!v)
            fail_msg("bad test value %s", value_json);
        json_object_set_new(obj, k, v);
    } else {
        json_object_del(obj, k);
    }
    json_array_append_new(images, e);
    _cleanup_free_ char *text = catalogue_text(images);
    expect_error_text(text, want);
}

static void test_entry_errors(void **state)
{
    (void)state;
    expect_entry_error("label", NULL, "images[0]: missing \"label\"");
    expect_entry_error("label", "\"Debian\"",
                       "label \"Debian\" must be lowercase");
    expect_entry_error("label", "\"\"", "\"label\" must not be empty");
    expect_entry_error("label", "12", "\"label\" must be a string");
    expect_entry_error("refrence", "\"x\"",
                       "(\"debian-bookworm\"): unknown key \"refrence\"");
    expect_entry_error("reference", NULL,
                       "(\"debian-bookworm\"): missing \"reference\"");
    expect_entry_error(
        "reference", "\"docker.io/debian:12\"",
        "not in canonical form; write \"docker.io/library/debian:12\"");
    expect_entry_error("reference", "\"debian:12\"", "not in canonical form");
    expect_entry_error("reference", "\"docker.io/library/debian\"",
                       "write \"docker.io/library/debian:latest\"");
    expect_entry_error("reference", "\"Debian:12\"", "must be lowercase");
    expect_entry_error("family", "\"Debian\"",
                       "\"family\" must be one of debian, fedora, rhel, suse, "
                       "arch, not \"Debian\"");
    expect_entry_error("package_manager", "\"apk\"",
                       "\"package_manager\" must be one of");
    expect_entry_error(
        "package_manager", "\"dnf\"",
        "package manager \"dnf\" does not go with family \"debian\"");
    expect_entry_error("name", "\"\"", "\"name\" must not be empty");
    expect_entry_error("release", "\"book worm\"", "release \"book worm\"");
    expect_entry_error("version", NULL, "missing \"version\"");
    expect_entry_error("aliases", "\"debian-12\"",
                       "\"aliases\" must be an array");
    expect_entry_error("aliases", "[\"debian-12\", 12]",
                       "\"aliases\"[1] must be a string");
    expect_entry_error("aliases", "[\"Debian-12\"]",
                       "alias \"Debian-12\" is not a valid label");
    expect_entry_error("aliases", "[\"debian-12\", \"debian-12\"]",
                       "alias \"debian-12\" is given twice");
    expect_entry_error("aliases", "[\"debian-bookworm\"]", "is given twice");
    expect_entry_error("notes", "\"two\\nlines\"",
                       "\"notes\" must be one line");
    expect_entry_error("notes", "3", "\"notes\" must be a string");
    expect_entry_error("webserver", NULL, "missing \"webserver\"");
    expect_entry_error("webserver", "[]", "\"webserver\" must be an object");
    expect_entry_error("webserver.port", "0",
                       "\"port\" in \"webserver\" must be an integer");
    expect_entry_error("webserver.port", "65536",
                       "must be an integer from 1 to 65535");
    expect_entry_error("webserver.port", "\"80\"",
                       "must be an integer from 1 to 65535");
    expect_entry_error("webserver.port", NULL,
                       "missing \"port\" in \"webserver\"");
    expect_entry_error("webserver.unit", "\"apache2\"",
                       "is not a .service unit name");
    expect_entry_error("webserver.unit", "\"a b.service\"",
                       "is not a .service unit name");
    expect_entry_error("webserver.package", "\"apache 2\"",
                       "is not a package name");
    expect_entry_error("webserver.user", "\"www\"",
                       "unknown key \"user\" in \"webserver\"");
}

static void test_file_errors(void **state)
{
    (void)state;
    expect_error_text("{", ":1:");
    expect_error_text("{\"format\": 1, \"images\": [}", "invalid JSON");
    expect_error_text("[]", "must be a JSON object");
    expect_error_text("{\"images\": []}", "missing \"format\"");
    expect_error_text("{\"format\": 2, \"images\": []}",
                      "unsupported \"format\"");
    expect_error_text("{\"format\": \"1\", \"images\": []}",
                      "unsupported \"format\"");
    expect_error_text("{\"format\": 1}", "missing \"images\"");
    expect_error_text("{\"format\": 1, \"images\": []}",
                      "\"images\" must be a non-empty array");
    expect_error_text("{\"format\": 1, \"images\": {}}",
                      "\"images\" must be a non-empty array");
    expect_error_text("{\"format\": 1, \"images\": [1]}",
                      "images[0]: must be an object");
    expect_error_text("{\"format\": 1, \"imags\": [1]}",
                      "unknown top-level key \"imags\"");
    expect_error_text("{\"format\": 1, \"comment\": 1, \"images\": [1]}",
                      "\"comment\" must be a string");
    expect_error_text("{\"format\": 1, \"format\": 1, \"images\": [1]}",
                      "duplicate");
    expect_error_text("{\"format\": 1, \"images\": [\"\\u0000\"]}",
                      "invalid JSON");

    /* Labels and aliases are unique across entries. */
    _cleanup_json_ json_t *images = json_array();
    json_array_append_new(images, valid_entry("one"));
    json_array_append_new(images, valid_entry("one"));
    _cleanup_free_ char *dup = catalogue_text(images);
    expect_error_text(
        dup, "images[1] (\"one\"): \"one\" already names images[0] (\"one\")");

    _cleanup_json_ json_t *images2 = json_array();
    json_array_append_new(images2, valid_entry("one"));
    json_t *two = valid_entry("two");
    json_object_set_new(two, "aliases", json_pack("[s]", "one-alias"));
    json_array_append_new(images2, two);
    _cleanup_free_ char *dup2 = catalogue_text(images2);
    expect_error_text(dup2, "\"one-alias\" already names images[0] (\"one\")");

    /* An error in a later entry names that entry. */
    _cleanup_json_ json_t *images3 = json_array();
    json_array_append_new(images3, valid_entry("one"));
    json_t *bad = valid_entry("two");
    json_object_set_new(bad, "family", json_string("gentoo"));
    json_array_append_new(images3, bad);
    _cleanup_free_ char *later = catalogue_text(images3);
    expect_error_text(later, "images[1] (\"two\"): \"family\" must be one of");

    /* Missing and oversized files. */
    _cleanup_free_ char *missing = rk_xasprintf("%s/none.json", base);
    rk_error *err = NULL;
    rk_catalogue *c = NULL;
    assert_int_equal(rk_catalogue_load(missing, &c, &err), -1);
    assert_non_null(strstr(err->msg, missing));
    assert_non_null(strstr(err->msg, "No such file"));
    rk_error_free(err);
    err = NULL;
    size_t big = (1u << 20) + 10;
    _cleanup_free_ char *huge = rk_xmalloc(big + 1);
    memset(huge, ' ', big);
    huge[big] = 0;
    _cleanup_free_ char *hp = write_temp("huge.json", huge);
    assert_int_equal(rk_catalogue_load(hp, &c, &err), -1);
    assert_non_null(strstr(err->msg, hp));
    rk_error_free(err);
}

static void test_default_path(void **state)
{
    (void)state;
    _cleanup_free_ char *mine = write_temp("env.json", "{}");
    rk_error *err = NULL;
    char *p = NULL;

    setenv("POSTROJ_CATALOGUE", mine, 1);
    assert_int_equal(rk_catalogue_default_path(&p, &err), 0);
    assert_string_equal(p, mine);
    free(p);
    p = NULL;
    /* It is the file that is loaded, and it is invalid. */
    rk_catalogue *c = NULL;
    assert_int_equal(rk_catalogue_load_default(&c, &err), -1);
    assert_non_null(strstr(err->msg, mine));
    rk_error_free(err);
    err = NULL;

    _cleanup_free_ char *missing = rk_xasprintf("%s/missing.json", base);
    setenv("POSTROJ_CATALOGUE", missing, 1);
    assert_int_equal(rk_catalogue_default_path(&p, &err), -1);
    assert_non_null(strstr(err->msg, missing));
    assert_non_null(strstr(err->msg, "$POSTROJ_CATALOGUE"));
    rk_error_free(err);
    err = NULL;

    setenv("POSTROJ_CATALOGUE", base, 1);
    assert_int_equal(rk_catalogue_default_path(&p, &err), -1);
    assert_non_null(strstr(err->msg, "not a regular file"));
    rk_error_free(err);
    err = NULL;

    /* Unset or empty: the installed file, else the source tree's. */
    setenv("POSTROJ_CATALOGUE", "", 1);
    assert_int_equal(rk_catalogue_default_path(&p, &err), 0);
    struct stat st;
    _cleanup_free_ char *installed =
        rk_xasprintf("%s/postroj-images.json", RACKER_DATA_DIR);
    if (stat(installed, &st) == 0)
        assert_string_equal(p, installed);
    else
        assert_string_equal(p, shipped);
    free(p);
    p = NULL;
    unsetenv("POSTROJ_CATALOGUE");
    assert_int_equal(rk_catalogue_load_default(&c, &err), 0);
    assert_non_null(rk_catalogue_lookup(c, "debian-bookworm"));
    rk_catalogue_free(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_shipped),
        cmocka_unit_test(test_minimal_valid),
        cmocka_unit_test(test_entry_errors),
        cmocka_unit_test(test_file_errors),
        cmocka_unit_test(test_default_path),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}

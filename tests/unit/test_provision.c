/* Unit tests for runtime/provision.c without running anything: what
 * rk_provision_inspect makes of an image's layers (os-release, package
 * managers, /bin/sh, whiteouts) and the derived images' names. Real
 * provisioning is tests/e2e/test_provision.py. Needs root for whiteouts
 * (mknod); fails (never skips) without it. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <cmocka.h>

#include "base/cleanup.h"
#include "base/fs.h"
#include "base/strv.h"
#include "image/store.h"
#include "runtime/provision.h"

#define BASE_ID "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

static char tmp[64];
static int n_dirs;

static int setup(void **state)
{
    (void)state;
    if (geteuid() != 0)
        fail_msg("this test needs root (make check runs as root)");
    strcpy(tmp, "/tmp/rk-test-provision-XXXXXX");
    assert_non_null(mkdtemp(tmp));
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    assert_int_equal(rk_rm_rf(tmp, NULL), 0);
    return 0;
}

/* A fresh, empty layer directory. */
static char *new_layer(void)
{
    char *d = rk_xasprintf("%s/l%d", tmp, n_dirs++);
    assert_int_equal(mkdir(d, 0755), 0);
    return d;
}

static void put(const char *layer, const char *rel, const char *content, mode_t mode)
{
    _cleanup_free_ char *p = rk_path_join(layer, rel);
    _cleanup_free_ char *dir = rk_xstrdup(p);
    *strrchr(dir, '/') = '\0';
    assert_int_equal(rk_mkdir_p(dir, 0755, NULL), 0);
    FILE *f = fopen(p, "w");
    assert_non_null(f);
    fputs(content, f);
    fclose(f);
    assert_int_equal(chmod(p, mode), 0);
}

static void link_(const char *layer, const char *rel, const char *target)
{
    _cleanup_free_ char *p = rk_path_join(layer, rel);
    _cleanup_free_ char *dir = rk_xstrdup(p);
    *strrchr(dir, '/') = '\0';
    assert_int_equal(rk_mkdir_p(dir, 0755, NULL), 0);
    assert_int_equal(symlink(target, p), 0);
}

static void whiteout(const char *layer, const char *rel)
{
    _cleanup_free_ char *p = rk_path_join(layer, rel);
    _cleanup_free_ char *dir = rk_xstrdup(p);
    *strrchr(dir, '/') = '\0';
    assert_int_equal(rk_mkdir_p(dir, 0755, NULL), 0);
    assert_int_equal(mknod(p, S_IFCHR | 0600, makedev(0, 0)), 0);
}

/* A usrmerged distribution: /bin -> usr/bin with sh, os-release in
 * /usr/lib with the /etc link, and the given package managers. */
static char *distro_layer(const char *os_release, const char *const *tools)
{
    char *l = new_layer();
    link_(l, "bin", "usr/bin");
    link_(l, "lib", "usr/lib");
    put(l, "usr/bin/sh", "#!sh", 0755);
    if (os_release) {
        put(l, "usr/lib/os-release", os_release, 0644);
        link_(l, "etc/os-release", "../usr/lib/os-release");
    }
    for (size_t i = 0; tools && tools[i]; i++)
        put(l, tools[i], "tool", 0755);
    return l;
}

typedef struct fake_image {
    rk_image img;
    char *dirs[4];
} fake_image;

static void fake(fake_image *f, char *l0, char *l1)
{
    memset(f, 0, sizeof(*f));
    f->dirs[0] = l0;
    f->dirs[1] = l1;
    f->img.id = (char *)BASE_ID;
    f->img.layer_dirs = f->dirs;
    f->img.n_layers = l1 ? 2 : l0 ? 1 : 0;
}

static void fake_free(fake_image *f)
{
    free(f->dirs[0]);
    free(f->dirs[1]);
}

static void inspect(fake_image *f, rk_provision_kind want, const char *reason_or_tool)
{
    rk_provision_plan p;
    rk_error *err = NULL;
    if (rk_provision_inspect(&f->img, &p, &err) < 0)
        fail_msg("inspect: %s", err->msg);
    if (p.kind != want)
        fail_msg("kind %d, want %d (reason: %s)", p.kind, want, p.reason ? p.reason : "-");
    if (want == RK_PROVISION_READY) {
        assert_null(p.reason);
        assert_string_equal(rk_pkg_tool_name(p.recipe.tool), reason_or_tool);
        assert_true(rk_digest_valid(p.recipe.key));
        assert_non_null(p.recipe.script);
    } else {
        assert_non_null(p.reason);
        assert_null(p.recipe.script);
        if (!strstr(p.reason, reason_or_tool))
            fail_msg("reason \"%s\" lacks \"%s\"", p.reason, reason_or_tool);
    }
    rk_provision_plan_clear(&p);
}

#define DEBIAN "PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\nID=debian\nVERSION_ID=\"12\"\n"

static void test_inspect_debian(void **state)
{
    (void)state;
    static const char *const apt[] = {"usr/bin/apt-get", NULL};
    fake_image f;
    fake(&f, distro_layer(DEBIAN, apt), NULL);
    inspect(&f, RK_PROVISION_READY, "apt-get");
    fake_free(&f);

    /* No apt-get (distroless), or one that is not executable. */
    fake(&f, distro_layer(DEBIAN, NULL), NULL);
    inspect(&f, RK_PROVISION_IMPOSSIBLE,
            "Debian GNU/Linux 12 (bookworm) has no package manager to install systemd with "
            "(none of /usr/bin/apt-get)");
    put(f.dirs[0], "usr/bin/apt-get", "x", 0644);
    inspect(&f, RK_PROVISION_IMPOSSIBLE, "has no package manager");
    fake_free(&f);

    /* No /bin/sh to run the commands with. */
    fake(&f, distro_layer(DEBIAN, apt), NULL);
    _cleanup_free_ char *sh = rk_path_join(f.dirs[0], "usr/bin/sh");
    assert_int_equal(unlink(sh), 0);
    inspect(&f, RK_PROVISION_IMPOSSIBLE, "Debian GNU/Linux 12 (bookworm) has no /bin/sh");
    fake_free(&f);
}

static void test_inspect_os_release_files(void **state)
{
    (void)state;
    static const char *const apt[] = {"usr/bin/apt-get", NULL};
    fake_image f;

    /* No layers, an empty layer, no os-release: no OS image. */
    fake(&f, NULL, NULL);
    inspect(&f, RK_PROVISION_NOT_OS, "no /etc/os-release");
    fake(&f, new_layer(), NULL);
    inspect(&f, RK_PROVISION_NOT_OS, "no /etc/os-release");
    fake_free(&f);
    fake(&f, distro_layer(NULL, apt), NULL);
    inspect(&f, RK_PROVISION_NOT_OS, "no operating system image");
    fake_free(&f);

    /* Only /usr/lib/os-release: read when /etc has none. */
    fake(&f, distro_layer(NULL, apt), NULL);
    put(f.dirs[0], "usr/lib/os-release", DEBIAN, 0644);
    inspect(&f, RK_PROVISION_READY, "apt-get");
    /* /etc/os-release wins over /usr/lib/os-release. */
    put(f.dirs[0], "etc/os-release", "ID=alpine\nPRETTY_NAME=\"Alpine Linux v3.22\"\n", 0644);
    inspect(&f, RK_PROVISION_UNKNOWN_OS, "Alpine Linux v3.22 (ID=alpine) is no distribution");
    fake_free(&f);

    /* A dangling /etc/os-release link falls back to /usr/lib. */
    fake(&f, distro_layer(NULL, apt), NULL);
    put(f.dirs[0], "usr/lib/os-release", DEBIAN, 0644);
    link_(f.dirs[0], "etc/os-release", "/nowhere/os-release");
    inspect(&f, RK_PROVISION_READY, "apt-get");
    fake_free(&f);

    /* Broken: unparsable, a directory, a link loop, too large. */
    fake(&f, distro_layer("ID=debian\nNAME=\"Debian\n", apt), NULL);
    inspect(&f, RK_PROVISION_IMPOSSIBLE, "os-release is broken: parsing os-release: line 2: "
                                         "unterminated double quote");
    fake_free(&f);
    fake(&f, distro_layer(NULL, apt), NULL);
    _cleanup_free_ char *d = rk_path_join(f.dirs[0], "etc/os-release");
    assert_int_equal(rk_mkdir_p(d, 0755, NULL), 0);
    inspect(&f, RK_PROVISION_IMPOSSIBLE, "/etc/os-release cannot be read");
    fake_free(&f);
    fake(&f, distro_layer(NULL, apt), NULL);
    link_(f.dirs[0], "etc/os-release", "/etc/os-release");
    inspect(&f, RK_PROVISION_IMPOSSIBLE, "/etc/os-release cannot be read");
    fake_free(&f);
    fake(&f, distro_layer(NULL, apt), NULL);
    {
        _cleanup_free_ char *big = rk_xmalloc(70 * 1024 + 1);
        memset(big, '#', 70 * 1024);
        big[70 * 1024] = '\0';
        put(f.dirs[0], "etc/os-release", big, 0644);
    }
    inspect(&f, RK_PROVISION_IMPOSSIBLE, "/etc/os-release cannot be read");
    fake_free(&f);
}

/* The merged view counts: an upper layer can remove os-release (whiteout)
 * or add a package manager. */
static void test_inspect_layers(void **state)
{
    (void)state;
    static const char *const none[] = {NULL};
    fake_image f;
    char *l0 = distro_layer(DEBIAN, none);
    char *l1 = new_layer();
    put(l1, "usr/bin/apt-get", "apt", 0755);
    fake(&f, l0, l1);
    inspect(&f, RK_PROVISION_READY, "apt-get");
    whiteout(l1, "usr/lib/os-release");
    inspect(&f, RK_PROVISION_NOT_OS, "no /etc/os-release");
    fake_free(&f);

    /* The family's tools in order: dnf5 before dnf before microdnf. */
    static const char *const fedora_tools[] = {"usr/bin/dnf5", "usr/bin/microdnf", "usr/bin/yum",
                                               NULL};
    fake(&f, distro_layer("ID=fedora\nVERSION_ID=42\n", fedora_tools), NULL);
    link_(f.dirs[0], "usr/bin/dnf", "dnf5");
    inspect(&f, RK_PROVISION_READY, "dnf5");
    fake_free(&f);
    static const char *const micro[] = {"usr/bin/microdnf", NULL};
    fake(&f, distro_layer("ID=\"rhel\"\nID_LIKE=\"fedora\"\nVERSION_ID=\"9.6\"\n", micro), NULL);
    inspect(&f, RK_PROVISION_READY, "microdnf");
    fake_free(&f);
    static const char *const yum[] = {"usr/bin/yum", NULL};
    fake(&f, distro_layer("NAME=\"CentOS Linux\"\nID=\"centos\"\nVERSION_ID=\"7\"\n"
                          "PRETTY_NAME=\"CentOS Linux 7 (Core)\"\n", yum), NULL);
    inspect(&f, RK_PROVISION_IMPOSSIBLE, "CentOS Linux 7 (Core) ships a systemd older than 225");
    fake_free(&f);
}

static void check_name(char **refs, const char *want)
{
    rk_image img;
    memset(&img, 0, sizeof(img));
    img.id = (char *)BASE_ID;
    img.refs = refs;
    _cleanup_free_ char *got = rk_provision_derived_name(&img);
    assert_string_equal(got, want);
}

static void test_derived_name(void **state)
{
    (void)state;
    char *hub[] = {"docker.io/library/debian:bookworm", NULL};
    check_name(hub, "localhost/racker-provisioned/debian:bookworm");
    char *hub_org[] = {"docker.io/opensuse/leap:15", NULL};
    check_name(hub_org, "localhost/racker-provisioned/opensuse/leap:15");
    char *quay[] = {"quay.io/centos/centos:stream9", "z.example/x:y", NULL};
    check_name(quay, "localhost/racker-provisioned/quay.io/centos/centos:stream9");
    char *local[] = {"127.0.0.1:5000/debian:bookworm-slim", NULL};
    check_name(local, "localhost/racker-provisioned/127.0.0.1-5000/debian:bookworm-slim");
    char *v6[] = {"[::1]:5000/busybox:latest", NULL};
    check_name(v6, "localhost/racker-provisioned/1-5000/busybox:latest");
    char *digest[] = {"registry.access.redhat.com/ubi9/ubi@sha256:"
                      "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
                      NULL};
    check_name(digest, "localhost/racker-provisioned/registry.access.redhat.com/ubi9/ubi:"
                       "0123456789ab");
    char *none[] = {NULL};
    check_name(none, "localhost/racker-provisioned/image:0123456789ab");
    check_name(NULL, "localhost/racker-provisioned/image:0123456789ab");
    /* A name that would not parse (too long) falls back too. */
    _cleanup_free_ char *longpath = rk_xasprintf("example.com/%0240d:tag", 0);
    char *toolong[] = {longpath, NULL};
    check_name(toolong, "localhost/racker-provisioned/image:0123456789ab");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_inspect_debian),
        cmocka_unit_test(test_inspect_os_release_files),
        cmocka_unit_test(test_inspect_layers),
        cmocka_unit_test(test_derived_name),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}

/* runtime/cgroup: layout detection and container cgroups on fake trees of
 * v1, v2 and hybrid hosts (plain directories stand in for cgroupfs). */
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
#include "base/strv.h"
#include "runtime/cgroup.h"

/* This host's layout (hybrid, with co-mounted cpu,cpuacct for variety). */
static const char hybrid_mi[] =
    "22 27 0:21 / /proc rw,relatime - proc proc rw\n"
    "31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755\n"
    "32 31 0:29 / /sys/fs/cgroup/cpu,cpuacct rw,relatime - cgroup cgroup rw,cpu,cpuacct\n"
    "34 31 0:31 / /sys/fs/cgroup/cpuset rw,relatime - cgroup cgroup rw,cpuset,clone_children\n"
    "35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory\n"
    "39 31 0:36 / /sys/fs/cgroup/pids rw,relatime shared:5 - cgroup cgroup rw,pids\n"
    "40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,xattr,release_agent=/x,name=systemd\n"
    "41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw,nsdelegate\n";
static const char hybrid_pc[] =
    "9:name=systemd:/user.slice\n"
    "8:pids:/\n"
    "4:memory:/session/abc\n"
    "3:cpuset:/\n"
    "2:cpuacct,cpu:/\n"
    "0::/\n";

static const char v2_mi[] =
    "25 20 0:22 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime - cgroup2 cgroup2 rw,nsdelegate\n";
static const char v2_pc[] = "0::/user.slice/session-1.scope\n";

static const char v1_mi[] =
    "31 23 0:28 / /sys/fs/cgroup rw - tmpfs tmpfs rw,mode=755\n"
    "35 31 0:32 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory\n"
    "36 31 0:33 / /sys/fs/cgroup/pids rw - cgroup cgroup rw,pids\n"
    "37 31 0:34 / /sys/fs/cgroup/cpu rw - cgroup cgroup rw,cpu\n"
    "38 31 0:35 / /sys/fs/cgroup/devices rw - cgroup cgroup rw,devices\n";
static const char v1_pc[] = "5:devices:/\n4:cpu:/\n3:pids:/\n2:memory:/a\n";

static const rk_cgroup_hier *find(const rk_cgroup_layout *l, const char *name)
{
    for (size_t i = 0; i < l->n; i++)
        if (!strcmp(l->h[i].name, name))
            return &l->h[i];
    return NULL;
}

static void test_detect_hybrid(void **state)
{
    (void)state;
    rk_cgroup_layout *l;
    assert_int_equal(rk_cgroup_layout_parse(hybrid_mi, hybrid_pc, NULL, &l, NULL), 0);
    assert_int_equal(l->mode, RK_CGROUP_HYBRID);
    assert_int_equal(l->n, 6);
    const rk_cgroup_hier *h = find(l, "cpu,cpuacct");
    assert_non_null(h);
    assert_string_equal(h->controllers, "cpu,cpuacct");
    assert_string_equal(h->own, "/"); /* "cpuacct,cpu" in /proc/self/cgroup: same set */
    h = find(l, "memory");
    assert_string_equal(h->own, "/session/abc");
    h = find(l, "systemd");
    assert_string_equal(h->controllers, "name=systemd");
    assert_string_equal(h->own, "/user.slice");
    h = find(l, "unified");
    assert_true(h->v2);
    assert_string_equal(h->own, "/");
    assert_false(rk_cgroup_hier_joinable(find(l, "cpuset")));
    assert_string_equal(rk_cgroup_mode_name(l->mode), "hybrid");
    rk_cgroup_layout_free(l);
}

static void test_detect_v2_v1_none(void **state)
{
    (void)state;
    rk_cgroup_layout *l;
    assert_int_equal(rk_cgroup_layout_parse(v2_mi, v2_pc, NULL, &l, NULL), 0);
    assert_int_equal(l->mode, RK_CGROUP_V2);
    assert_int_equal(l->n, 1);
    assert_string_equal(l->h[0].name, "");
    assert_string_equal(l->h[0].own, "/user.slice/session-1.scope");
    rk_cgroup_layout_free(l);
    assert_int_equal(rk_cgroup_layout_parse(v1_mi, v1_pc, NULL, &l, NULL), 0);
    assert_int_equal(l->mode, RK_CGROUP_V1);
    assert_int_equal(l->n, 4);
    rk_cgroup_layout_free(l);
    assert_int_equal(rk_cgroup_layout_parse("", "", NULL, &l, NULL), 0);
    assert_int_equal(l->mode, RK_CGROUP_NONE);
    rk_cgroup_layout_free(l);
    /* Mounted elsewhere than /sys/fs/cgroup: not ours to use. */
    assert_int_equal(rk_cgroup_layout_parse(
                         "1 2 0:1 / /mnt/cg rw - cgroup2 cgroup2 rw\n", "0::/\n", NULL, &l, NULL),
                     0);
    assert_int_equal(l->mode, RK_CGROUP_NONE);
    rk_cgroup_layout_free(l);
}

static void test_subtree_root(void **state)
{
    (void)state;
    /* Inside a container, a hierarchy mounted from a subtree. */
    rk_cgroup_layout *l;
    assert_int_equal(rk_cgroup_layout_parse(
                         "1 2 0:1 /racker-x /sys/fs/cgroup rw - cgroup2 cgroup2 rw\n",
                         "0::/racker-x/inner\n", NULL, &l, NULL),
                     0);
    assert_string_equal(l->h[0].own, "/inner");
    rk_cgroup_layout_free(l);
}

static char base[64];

static char *slurp(const char *rel)
{
    _cleanup_free_ char *p = rk_xasprintf("%s/%s", base, rel);
    char *text = NULL;
    if (rk_read_file_at(AT_FDCWD, p, 0, &text, NULL, NULL) < 0)
        return NULL;
    return text;
}

static int make_tree(void **state)
{
    (void)state;
    strcpy(base, "/tmp/rk-test-cg-XXXXXX");
    assert_non_null(mkdtemp(base));
    const char *dirs[] = {"sys/fs/cgroup/cpu,cpuacct", "sys/fs/cgroup/cpuset",
                          "sys/fs/cgroup/memory/session/abc", "sys/fs/cgroup/pids",
                          "sys/fs/cgroup/systemd/user.slice", "sys/fs/cgroup/unified"};
    for (size_t i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++) {
        _cleanup_free_ char *p = rk_xasprintf("%s/%s", base, dirs[i]);
        assert_int_equal(rk_mkdir_p(p, 0755, NULL), 0);
    }
    return 0;
}

static int remove_tree(void **state)
{
    (void)state;
    rk_rm_rf(base, NULL);
    return 0;
}

static rk_cgroup_layout *fake_hybrid(void)
{
    _cleanup_free_ char *mi = rk_xstrdup(hybrid_mi);
    rk_cgroup_layout *l;
    assert_int_equal(rk_cgroup_layout_parse(mi, hybrid_pc, base, &l, NULL), 0);
    l->fake = true;
    return l;
}

static void test_create_no_limits(void **state)
{
    (void)state;
    rk_cgroup_layout *l = fake_hybrid();
    rk_cgroup_limits lim = {0};
    rk_cgroup *cg;
    assert_int_equal(rk_cgroup_create(l, "racker-a", &lim, &cg, NULL), 0);
    /* Hybrid without limits: only the v2 tree (entered at clone time). */
    assert_int_equal(cg->n, 1);
    assert_true(cg->v2[0]);
    assert_false(rk_cgroup_has_v1(cg));
    _cleanup_free_ char *want = rk_xasprintf("%s/sys/fs/cgroup/unified/racker-a", base);
    assert_string_equal(cg->dirs[0], want);
    struct stat st;
    assert_int_equal(stat(want, &st), 0);
    assert_int_equal(rk_cgroup_destroy(cg, NULL), 0);
    assert_int_equal(stat(want, &st), -1);
    rk_cgroup_free(cg);
    rk_cgroup_layout_free(l);
}

static void test_create_limits_v1(void **state)
{
    (void)state;
    rk_cgroup_layout *l = fake_hybrid();
    rk_cgroup_limits lim = {.memory = 64 << 20, .pids = 50, .cpu_quota = 150000,
                            .cpu_period = 100000};
    rk_cgroup *cg;
    assert_int_equal(rk_cgroup_create(l, "racker-b", &lim, &cg, NULL), 0);
    assert_int_equal(cg->n, 4); /* cpu,cpuacct + memory + pids + unified */
    assert_true(rk_cgroup_has_v1(cg));
    /* memory sits under racker's own memory cgroup */
    _cleanup_free_ char *m = slurp("sys/fs/cgroup/memory/session/abc/racker-b/memory.limit_in_bytes");
    assert_non_null(m);
    assert_string_equal(m, "67108864\n");
    _cleanup_free_ char *sw = slurp("sys/fs/cgroup/memory/session/abc/racker-b/memory.memsw.limit_in_bytes");
    assert_string_equal(sw, "67108864\n");
    _cleanup_free_ char *p = slurp("sys/fs/cgroup/pids/racker-b/pids.max");
    assert_string_equal(p, "50\n");
    _cleanup_free_ char *q = slurp("sys/fs/cgroup/cpu,cpuacct/racker-b/cpu.cfs_quota_us");
    assert_string_equal(q, "150000\n");
    _cleanup_free_ char *per = slurp("sys/fs/cgroup/cpu,cpuacct/racker-b/cpu.cfs_period_us");
    assert_string_equal(per, "100000\n");
    /* no limits on the controller-less v2 tree of a hybrid host */
    _cleanup_free_ char *none = slurp("sys/fs/cgroup/unified/racker-b/memory.max");
    assert_null(none);
    /* cpuset is never joined */
    _cleanup_free_ char *cs = rk_xasprintf("%s/sys/fs/cgroup/cpuset/racker-b", base);
    assert_int_equal(access(cs, F_OK), -1);
    /* entering writes the pid to every v1 directory, not to v2 when skipped */
    assert_int_equal(rk_cgroup_enter(cg, 4242, true, NULL), 0);
    _cleanup_free_ char *procs = slurp("sys/fs/cgroup/pids/racker-b/cgroup.procs");
    assert_string_equal(procs, "4242\n");
    _cleanup_free_ char *v2procs = slurp("sys/fs/cgroup/unified/racker-b/cgroup.procs");
    assert_null(v2procs);
    /* the recorded directories bring it back for exec and rm */
    rk_cgroup *again = rk_cgroup_from_dirs(cg->dirs);
    assert_int_equal(again->n, cg->n);
    rk_cgroup_free(again);
    assert_int_equal(rk_cgroup_destroy(cg, NULL), 0);
    rk_cgroup_free(cg);
    rk_cgroup_layout_free(l);
}

static void test_all_hierarchies(void **state)
{
    (void)state;
    rk_cgroup_layout *l = fake_hybrid();
    rk_cgroup_limits lim = {.all_hierarchies = true};
    rk_cgroup *cg;
    assert_int_equal(rk_cgroup_create(l, "racker-c", &lim, &cg, NULL), 0);
    assert_int_equal(cg->n, 5); /* all but cpuset */
    _cleanup_free_ char *sd = rk_xasprintf("%s/sys/fs/cgroup/systemd/user.slice/racker-c", base);
    assert_int_equal(access(sd, F_OK), 0);
    rk_cgroup_destroy(cg, NULL);
    rk_cgroup_free(cg);
    rk_cgroup_layout_free(l);
}

static void test_v2_limits(void **state)
{
    (void)state;
    _cleanup_free_ char *dir = rk_xasprintf("%s/v2", base);
    _cleanup_free_ char *cgdir = rk_xasprintf("%s/sys/fs/cgroup", dir);
    assert_int_equal(rk_mkdir_p(cgdir, 0755, NULL), 0);
    rk_cgroup_layout *l;
    assert_int_equal(rk_cgroup_layout_parse(v2_mi, v2_pc, dir, &l, NULL), 0);
    l->fake = true;
    rk_cgroup_limits lim = {.memory = 1 << 20, .pids = 7, .cpu_quota = 50000, .cpu_period = 100000};
    rk_cgroup *cg;
    assert_int_equal(rk_cgroup_create(l, "racker-d", &lim, &cg, NULL), 0);
    /* v2 containers sit under the root, where controllers can be enabled */
    _cleanup_free_ char *sub = slurp("v2/sys/fs/cgroup/cgroup.subtree_control");
    assert_string_equal(sub, "+memory +pids +cpu\n");
    _cleanup_free_ char *mem = slurp("v2/sys/fs/cgroup/racker-d/memory.max");
    assert_string_equal(mem, "1048576\n");
    _cleanup_free_ char *swap = slurp("v2/sys/fs/cgroup/racker-d/memory.swap.max");
    assert_string_equal(swap, "0\n");
    _cleanup_free_ char *cpu = slurp("v2/sys/fs/cgroup/racker-d/cpu.max");
    assert_string_equal(cpu, "50000 100000\n");
    _cleanup_free_ char *pids = slurp("v2/sys/fs/cgroup/racker-d/pids.max");
    assert_string_equal(pids, "7\n");
    rk_cgroup_destroy(cg, NULL);
    rk_cgroup_free(cg);
    rk_cgroup_layout_free(l);
}

static void test_missing_controller(void **state)
{
    (void)state;
    /* A hybrid host without a pids hierarchy cannot enforce --pids-limit. */
    rk_cgroup_layout *l;
    const char *mi = "41 31 0:38 / /sys/fs/cgroup/unified rw - cgroup2 cgroup2 rw\n"
                     "35 31 0:32 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory\n";
    assert_int_equal(rk_cgroup_layout_parse(mi, "4:memory:/session/abc\n0::/\n", base, &l, NULL), 0);
    l->fake = true;
    rk_cgroup_limits lim = {.pids = 10};
    rk_cgroup *cg = NULL;
    rk_error *err = NULL;
    assert_int_equal(rk_cgroup_create(l, "racker-e", &lim, &cg, &err), -1);
    assert_int_equal(err->status, 125);
    assert_non_null(strstr(err->msg, "--pids-limit"));
    rk_error_free(err);
    _cleanup_free_ char *left = rk_xasprintf("%s/sys/fs/cgroup/unified/racker-e", base);
    assert_int_equal(access(left, F_OK), -1); /* nothing left behind */
    rk_cgroup_layout_free(l);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_detect_hybrid),
        cmocka_unit_test(test_detect_v2_v1_none),
        cmocka_unit_test(test_subtree_root),
        cmocka_unit_test(test_create_no_limits),
        cmocka_unit_test(test_create_limits_v1),
        cmocka_unit_test(test_all_hierarchies),
        cmocka_unit_test(test_v2_limits),
        cmocka_unit_test(test_missing_controller),
    };
    return cmocka_run_group_tests(tests, make_tree, remove_tree);
}

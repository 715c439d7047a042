/* runtime/spec: run option parsers, argv/env merging, JSON round trip. */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "base/cleanup.h"
#include "base/error.h"
#include "base/strv.h"
#include "runtime/caps.h"
#include "runtime/spec.h"

/* The call must fail with status 125; it names its error `e`. */
#define EXPECT125(call)                                                        \
    do {                                                                       \
        rk_error *e = NULL;                                                    \
        assert_int_equal((call), -1);                                          \
        assert_non_null(e);                                                    \
        assert_int_equal(e->status, 125);                                      \
        rk_error_free(e);                                                      \
    } while (0)

static void test_volume(void **state)
{
    (void)state;
    rk_mount_spec m;
    assert_int_equal(rk_volume_parse("/host/dir:/data", &m, NULL), 0);
    assert_int_equal(m.kind, RK_MOUNT_BIND);
    assert_string_equal(m.source, "/host/dir");
    assert_string_equal(m.target, "/data");
    assert_false(m.readonly);
    rk_mount_spec_clear(&m);
    assert_int_equal(rk_volume_parse("/a:/b:ro", &m, NULL), 0);
    assert_true(m.readonly);
    rk_mount_spec_clear(&m);
    assert_int_equal(rk_volume_parse("/a:/b:ro,rw", &m, NULL), 0);
    assert_false(m.readonly);
    rk_mount_spec_clear(&m);
    EXPECT125(rk_volume_parse("/a", &m, &e));
    EXPECT125(rk_volume_parse("relative:/b", &m, &e));
    EXPECT125(rk_volume_parse("/a:relative", &m, &e));
    EXPECT125(rk_volume_parse("/a:/b:bogus", &m, &e));
    EXPECT125(rk_volume_parse(":/b", &m, &e));
}

static void test_tmpfs(void **state)
{
    (void)state;
    rk_mount_spec m;
    assert_int_equal(rk_tmpfs_parse("/run", &m, NULL), 0);
    assert_int_equal(m.kind, RK_MOUNT_TMPFS);
    assert_string_equal(m.target, "/run");
    assert_null(m.options);
    rk_mount_spec_clear(&m);
    assert_int_equal(rk_tmpfs_parse("/run:size=64m,ro,mode=755", &m, NULL), 0);
    assert_true(m.readonly);
    assert_string_equal(m.options, "size=64m,mode=755");
    rk_mount_spec_clear(&m);
    EXPECT125(rk_tmpfs_parse("run", &m, &e));
}

static void test_env_entry(void **state)
{
    (void)state;
    char *host[] = {"HOSTVAR=from host", "EMPTY=", NULL};
    char *kv;
    assert_int_equal(rk_env_entry("A=b=c", host, &kv, NULL), 0);
    assert_string_equal(kv, "A=b=c");
    free(kv);
    assert_int_equal(rk_env_entry("HOSTVAR", host, &kv, NULL), 0);
    assert_string_equal(kv, "HOSTVAR=from host");
    free(kv);
    assert_int_equal(rk_env_entry("EMPTY", host, &kv, NULL), 0);
    assert_string_equal(kv, "EMPTY=");
    free(kv);
    /* Unset on the host: dropped, as Docker does. */
    assert_int_equal(rk_env_entry("NOPE", host, &kv, NULL), 0);
    assert_null(kv);
    EXPECT125(rk_env_entry("=value", host, &kv, &e));
    EXPECT125(rk_env_entry("", host, &kv, &e));
}

static void test_env_set_get(void **state)
{
    (void)state;
    _cleanup_strv_ char **env = NULL;
    rk_env_set(&env, rk_xstrdup("A=1"));
    rk_env_set(&env, rk_xstrdup("B=2"));
    rk_env_set(&env, rk_xstrdup("A=3"));
    assert_int_equal(rk_strv_len(env), 2);
    assert_string_equal(rk_env_get(env, "A"), "3");
    assert_string_equal(rk_env_get(env, "B"), "2");
    assert_null(rk_env_get(env, "AB"));
    assert_null(rk_env_get(env, "C"));
}

static void test_env_file(void **state)
{
    (void)state;
    char *host[] = {"FROMHOST=yes", NULL};
    const char *text = "# comment\n"
                       "\n"
                       "   INDENTED=kept value  \n"
                       "QUOTED=\"not unquoted\"\n"
                       "FROMHOST\n"
                       "MISSING\n"
                       "WIN=crlf\r\n"
                       "EQ=a=b";
    _cleanup_strv_ char **env = NULL;
    assert_int_equal(rk_env_file_parse(text, "f", host, &env, NULL), 0);
    assert_string_equal(rk_env_get(env, "INDENTED"), "kept value  ");
    assert_string_equal(rk_env_get(env, "QUOTED"), "\"not unquoted\"");
    assert_string_equal(rk_env_get(env, "FROMHOST"), "yes");
    assert_null(rk_env_get(env, "MISSING"));
    assert_string_equal(rk_env_get(env, "WIN"), "crlf");
    assert_string_equal(rk_env_get(env, "EQ"), "a=b");
    assert_int_equal(rk_strv_len(env), 5);
    _cleanup_strv_ char **bad = NULL;
    rk_error *err = NULL;
    assert_int_equal(rk_env_file_parse("OK=1\n=broken\n", "my.env", host, &bad, &err), -1);
    assert_non_null(strstr(err->msg, "my.env:2"));
    rk_error_free(err);
}

static void test_size(void **state)
{
    (void)state;
    int64_t v;
    assert_int_equal(rk_size_parse("512", &v, NULL), 0);
    assert_int_equal(v, 512);
    assert_int_equal(rk_size_parse("64k", &v, NULL), 0);
    assert_int_equal(v, 65536);
    assert_int_equal(rk_size_parse("100M", &v, NULL), 0);
    assert_int_equal(v, 100LL << 20);
    assert_int_equal(rk_size_parse("1gb", &v, NULL), 0);
    assert_int_equal(v, 1LL << 30);
    assert_int_equal(rk_size_parse("1.5g", &v, NULL), 0);
    assert_int_equal(v, 3LL << 29);
    const char *bad[] = {"", "x", "10x", "-1m", "5mm", "1e30t"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        EXPECT125(rk_size_parse(bad[i], &v, &e));
    }
}

static void test_cpus(void **state)
{
    (void)state;
    int64_t q, p;
    assert_int_equal(rk_cpus_parse("1.5", &q, &p, NULL), 0);
    assert_int_equal(q, 150000);
    assert_int_equal(p, 100000);
    assert_int_equal(rk_cpus_parse("0.01", &q, &p, NULL), 0);
    assert_int_equal(q, 1000);
    const char *bad[] = {"0", "-1", "abc", "0.001", ""};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        EXPECT125(rk_cpus_parse(bad[i], &q, &p, &e));
    }
}

static void test_signal(void **state)
{
    (void)state;
    assert_int_equal(rk_signal_parse("SIGTERM"), SIGTERM);
    assert_int_equal(rk_signal_parse("term"), SIGTERM);
    assert_int_equal(rk_signal_parse("9"), SIGKILL);
    assert_int_equal(rk_signal_parse("SIGRTMIN+3"), SIGRTMIN + 3);
    assert_int_equal(rk_signal_parse("RTMAX-1"), SIGRTMAX - 1);
    assert_int_equal(rk_signal_parse("RTMIN"), SIGRTMIN);
    assert_int_equal(rk_signal_parse("SIGNOPE"), -1);
    assert_int_equal(rk_signal_parse("0"), -1);
    assert_int_equal(rk_signal_parse("999"), -1);
    assert_int_equal(rk_signal_parse("RTMIN+99"), -1);
    assert_int_equal(rk_signal_parse(""), -1);
}

static void test_argv(void **state)
{
    (void)state;
    char *ep[] = {"/entry", "--flag", NULL};
    char *cmd[] = {"default", NULL};
    char *user[] = {"ls", "--help", "a b", NULL};
    char **argv;
    /* Entrypoint + Cmd */
    assert_int_equal(rk_spec_build_argv(ep, cmd, NULL, NULL, &argv, NULL), 0);
    assert_int_equal(rk_strv_len(argv), 3);
    assert_string_equal(argv[2], "default");
    rk_strv_free(argv);
    /* user args replace Cmd only */
    assert_int_equal(rk_spec_build_argv(ep, cmd, NULL, user, &argv, NULL), 0);
    assert_int_equal(rk_strv_len(argv), 5);
    assert_string_equal(argv[0], "/entry");
    assert_string_equal(argv[4], "a b");
    rk_strv_free(argv);
    /* --entrypoint replaces Entrypoint and drops Cmd */
    assert_int_equal(rk_spec_build_argv(ep, cmd, "/other", NULL, &argv, NULL), 0);
    assert_int_equal(rk_strv_len(argv), 1);
    assert_string_equal(argv[0], "/other");
    rk_strv_free(argv);
    assert_int_equal(rk_spec_build_argv(ep, cmd, "/other", user, &argv, NULL), 0);
    assert_int_equal(rk_strv_len(argv), 4);
    rk_strv_free(argv);
    /* --entrypoint "" clears it: the user args are the command */
    assert_int_equal(rk_spec_build_argv(ep, cmd, "", user, &argv, NULL), 0);
    assert_string_equal(argv[0], "ls");
    rk_strv_free(argv);
    /* Nothing left */
    EXPECT125(rk_spec_build_argv(NULL, NULL, NULL, NULL, &argv, &e));
    EXPECT125(rk_spec_build_argv(ep, cmd, "", NULL, &argv, &e));
}

static void test_env_build(void **state)
{
    (void)state;
    char *img[] = {"PATH=/img/bin", "LANG=C", NULL};
    char *over[] = {"LANG=C.UTF-8", "NEW=1", NULL};
    _cleanup_strv_ char **env = rk_spec_build_env(img, over);
    assert_string_equal(rk_env_get(env, "PATH"), "/img/bin");
    assert_string_equal(rk_env_get(env, "LANG"), "C.UTF-8");
    assert_string_equal(rk_env_get(env, "NEW"), "1");
    _cleanup_strv_ char **env2 = rk_spec_build_env(NULL, NULL);
    assert_string_equal(rk_env_get(env2, "PATH"), RK_DEFAULT_PATH);
}

static void test_json_roundtrip(void **state)
{
    (void)state;
    rk_spec s;
    rk_spec_init(&s);
    rk_strv_push_dup(&s.argv, "sh");
    rk_strv_push_dup(&s.argv, "-c");
    rk_strv_push_dup(&s.env, "A=1");
    free(s.cwd);
    s.cwd = rk_xstrdup("/work");
    s.user = rk_xstrdup("alice:staff");
    s.hostname = rk_xstrdup("box");
    s.network = RK_NET_NONE;
    s.read_only = true;
    s.caps = rk_cap_bit(0) | rk_cap_bit(13) | rk_cap_bit(40);
    s.memory = 1 << 20;
    s.pids_limit = 64;
    s.stop_signal = SIGRTMIN + 3;
    rk_mount_spec m = {.kind = RK_MOUNT_BIND, .source = "/src", .target = "/dst", .readonly = true};
    rk_spec_add_mount(&s, &m);
    rk_mount_spec t = {.kind = RK_MOUNT_TMPFS, .target = "/tmp", .options = "size=1m"};
    rk_spec_add_mount(&s, &t);
    json_t *j = rk_spec_to_json(&s);
    rk_spec r;
    assert_int_equal(rk_spec_from_json(j, &r, NULL), 0);
    json_decref(j);
    assert_string_equal(r.argv[1], "-c");
    assert_string_equal(r.env[0], "A=1");
    assert_string_equal(r.cwd, "/work");
    assert_string_equal(r.user, "alice:staff");
    assert_string_equal(r.hostname, "box");
    assert_int_equal(r.network, RK_NET_NONE);
    assert_true(r.read_only);
    assert_true(r.caps == s.caps);
    assert_int_equal(r.memory, 1 << 20);
    assert_int_equal(r.pids_limit, 64);
    assert_int_equal(r.stop_signal, SIGRTMIN + 3);
    assert_int_equal(r.n_mounts, 2);
    assert_string_equal(r.mounts[0].source, "/src");
    assert_true(r.mounts[0].readonly);
    assert_int_equal(r.mounts[1].kind, RK_MOUNT_TMPFS);
    assert_string_equal(r.mounts[1].options, "size=1m");
    rk_spec_clear(&r);
    rk_spec_clear(&s);
    /* Without a command it is not a container config. */
    json_t *empty = json_object();
    rk_error *err = NULL;
    assert_int_equal(rk_spec_from_json(empty, &r, &err), -1);
    rk_error_free(err);
    json_decref(empty);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_volume),
        cmocka_unit_test(test_tmpfs),
        cmocka_unit_test(test_env_entry),
        cmocka_unit_test(test_env_set_get),
        cmocka_unit_test(test_env_file),
        cmocka_unit_test(test_size),
        cmocka_unit_test(test_cpus),
        cmocka_unit_test(test_signal),
        cmocka_unit_test(test_argv),
        cmocka_unit_test(test_env_build),
        cmocka_unit_test(test_json_roundtrip),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/* runtime/user: resolving -u user[:group] against passwd and group texts. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "base/error.h"
#include "runtime/user.h"

static const char passwd[] =
    "root:x:0:0:root:/root:/bin/sh\n"
    "# a comment line\n"
    "\n"
    "daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin\n"
    "alice:x:1000:1000:Alice:/home/alice:/bin/sh\n"
    "bob:x:1001:100::/home/bob:/bin/sh\n"
    "nohome:x:1002:1002:::/bin/sh\n"
    "broken:x:notanumber:1:::\n"
    "short:x:5\n";
static const char group[] =
    "root:x:0:\n"
    "users:x:100:bob\n"
    "alice:x:1000:\n"
    "staff:x:50:alice,bob\n"
    "audio:x:29:carol,alice\n"
    "wheel:x:10:\n";

static bool has_group(const rk_user *u, gid_t g)
{
    for (size_t i = 0; i < u->n_groups; i++)
        if (u->groups[i] == g)
            return true;
    return false;
}

static void test_default_is_root(void **state)
{
    (void)state;
    rk_user u;
    assert_int_equal(rk_user_resolve(NULL, passwd, group, &u, NULL), 0);
    assert_int_equal(u.uid, 0);
    assert_int_equal(u.gid, 0);
    assert_string_equal(u.home, "/root");
    assert_true(has_group(&u, 0));
    rk_user_clear(&u);
    assert_int_equal(rk_user_resolve("", NULL, NULL, &u, NULL), 0);
    assert_int_equal(u.uid, 0);
    assert_string_equal(u.home, "/");
    rk_user_clear(&u);
}

static void test_by_name_with_supplementary(void **state)
{
    (void)state;
    rk_user u;
    assert_int_equal(rk_user_resolve("alice", passwd, group, &u, NULL), 0);
    assert_int_equal(u.uid, 1000);
    assert_int_equal(u.gid, 1000);
    assert_string_equal(u.home, "/home/alice");
    assert_int_equal(u.n_groups, 3); /* 1000, staff, audio */
    assert_true(has_group(&u, 1000));
    assert_true(has_group(&u, 50));
    assert_true(has_group(&u, 29));
    assert_false(has_group(&u, 100));
    rk_user_clear(&u);
}

static void test_by_uid(void **state)
{
    (void)state;
    rk_user u;
    /* A known uid gets its entry's group and home. */
    assert_int_equal(rk_user_resolve("1001", passwd, group, &u, NULL), 0);
    assert_int_equal(u.uid, 1001);
    assert_int_equal(u.gid, 100);
    assert_string_equal(u.home, "/home/bob");
    assert_true(has_group(&u, 50));
    rk_user_clear(&u);
    /* An unknown uid is fine (Docker): gid 0, HOME /. */
    assert_int_equal(rk_user_resolve("4242", passwd, group, &u, NULL), 0);
    assert_int_equal(u.uid, 4242);
    assert_int_equal(u.gid, 0);
    assert_string_equal(u.home, "/");
    assert_int_equal(u.n_groups, 1);
    rk_user_clear(&u);
}

static void test_explicit_group(void **state)
{
    (void)state;
    rk_user u;
    assert_int_equal(rk_user_resolve("alice:wheel", passwd, group, &u, NULL), 0);
    assert_int_equal(u.uid, 1000);
    assert_int_equal(u.gid, 10);
    assert_true(has_group(&u, 10));
    assert_true(has_group(&u, 50)); /* still a member of staff */
    rk_user_clear(&u);
    assert_int_equal(rk_user_resolve("alice:777", passwd, group, &u, NULL), 0);
    assert_int_equal(u.gid, 777);
    rk_user_clear(&u);
    assert_int_equal(rk_user_resolve("5000:5001", NULL, NULL, &u, NULL), 0);
    assert_int_equal(u.uid, 5000);
    assert_int_equal(u.gid, 5001);
    rk_user_clear(&u);
    /* ":group" alone: root with that group. */
    assert_int_equal(rk_user_resolve(":staff", passwd, group, &u, NULL), 0);
    assert_int_equal(u.uid, 0);
    assert_int_equal(u.gid, 50);
    rk_user_clear(&u);
}

static void test_empty_home_falls_back(void **state)
{
    (void)state;
    rk_user u;
    assert_int_equal(rk_user_resolve("nohome", passwd, group, &u, NULL), 0);
    assert_string_equal(u.home, "/");
    rk_user_clear(&u);
}

static void test_errors(void **state)
{
    (void)state;
    rk_user u;
    rk_error *err = NULL;
    assert_int_equal(rk_user_resolve("mallory", passwd, group, &u, &err), -1);
    assert_int_equal(err->status, 125);
    assert_non_null(strstr(err->msg, "unable to find user mallory"));
    rk_error_free(err);
    err = NULL;
    assert_int_equal(rk_user_resolve("alice:nogroup", passwd, group, &u, &err), -1);
    assert_non_null(strstr(err->msg, "unable to find group nogroup"));
    rk_error_free(err);
    err = NULL;
    /* Names never come from the host: no passwd file, no names. */
    assert_int_equal(rk_user_resolve("root", NULL, NULL, &u, &err), -1);
    rk_error_free(err);
    err = NULL;
    assert_int_equal(rk_user_resolve("a:b:c", passwd, group, &u, &err), -1);
    rk_error_free(err);
    err = NULL;
    assert_int_equal(rk_user_resolve("alice:", passwd, group, &u, &err), -1);
    rk_error_free(err);
    err = NULL;
    /* Malformed lines are skipped, not trusted. */
    assert_int_equal(rk_user_resolve("broken", passwd, group, &u, &err), -1);
    rk_error_free(err);
    err = NULL;
    assert_int_equal(rk_user_resolve("short", passwd, group, &u, &err), -1);
    rk_error_free(err);
}

static void test_spec_split(void **state)
{
    (void)state;
    char *u, *g;
    assert_int_equal(rk_user_spec_split("www-data:adm", &u, &g, NULL), 0);
    assert_string_equal(u, "www-data");
    assert_string_equal(g, "adm");
    free(u);
    free(g);
    assert_int_equal(rk_user_spec_split("nobody", &u, &g, NULL), 0);
    assert_string_equal(u, "nobody");
    assert_null(g);
    free(u);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_default_is_root),
        cmocka_unit_test(test_by_name_with_supplementary),
        cmocka_unit_test(test_by_uid),
        cmocka_unit_test(test_explicit_group),
        cmocka_unit_test(test_empty_home_falls_back),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_spec_split),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

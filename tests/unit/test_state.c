/* runtime/state: container records, unique names, runtime state and the
 * supervisor's lock. */
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "base/cleanup.h"
#include "base/fs.h"
#include "base/json.h"
#include "base/strv.h"
#include "runtime/state.h"

static char base[64], containers[128], rundir[128];

static int setup(void **state)
{
    (void)state;
    strcpy(base, "/tmp/rk-test-state-XXXXXX");
    assert_non_null(mkdtemp(base));
    snprintf(containers, sizeof(containers), "%s/store/containers", base);
    snprintf(rundir, sizeof(rundir), "%s/run", base);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    rk_rm_rf(base, NULL);
    return 0;
}

static void fill(rk_container_record *r, const char *name, const char *image_id)
{
    memset(r, 0, sizeof(*r));
    char id[RK_ID_LEN + 1];
    rk_container_new_id(id);
    r->id = rk_xstrdup(id);
    r->name = name ? rk_xstrdup(name) : NULL;
    r->image_id = image_id ? rk_xstrdup(image_id) : NULL;
    r->image_ref = rk_xstrdup("busybox");
    r->created = rk_now_rfc3339();
    rk_spec_init(&r->spec);
    rk_strv_push_dup(&r->spec.argv, "sh");
    rk_strv_push_dup(&r->layers, "/layers/a");
}

static void test_ids_and_names(void **state)
{
    (void)state;
    char a[RK_ID_LEN + 1], b[RK_ID_LEN + 1];
    rk_container_new_id(a);
    rk_container_new_id(b);
    assert_int_equal(strlen(a), 64);
    assert_string_not_equal(a, b);
    assert_true(rk_container_name_valid("web"));
    assert_true(rk_container_name_valid("a_b.c-1"));
    assert_false(rk_container_name_valid("-web"));
    assert_false(rk_container_name_valid("we b"));
    assert_false(rk_container_name_valid("a/b"));
    assert_false(rk_container_name_valid(""));
    _cleanup_free_ char *t = rk_now_rfc3339();
    assert_int_equal(strlen(t), strlen("2024-01-01T00:00:00.000000000Z"));
}

static void test_record_roundtrip(void **state)
{
    (void)state;
    rk_container_record r;
    fill(&r, "web", "sha256:abc");
    assert_int_equal(rk_container_record_create(containers, &r, true, NULL), 0);
    /* What the store's prune and rmi read. */
    _cleanup_free_ char *p = rk_xasprintf("%s/%s/container.json", containers, r.id);
    json_t *j = json_load_file(p, 0, NULL);
    assert_non_null(j);
    assert_string_equal(rk_json_str(j, "image_id"), "sha256:abc");
    assert_string_equal(rk_json_str(j, "name"), "web");
    assert_string_equal(rk_json_str(j, "id"), r.id);
    assert_non_null(rk_json_str(j, "created"));
    assert_string_equal(json_string_value(json_array_get(json_object_get(j, "command"), 0)), "sh");
    json_decref(j);
    rk_container_record back;
    assert_int_equal(rk_container_find(containers, "web", &back, NULL), 0);
    assert_string_equal(back.id, r.id);
    assert_string_equal(back.spec.argv[0], "sh");
    assert_string_equal(back.layers[0], "/layers/a");
    rk_container_record_clear(&back);
    /* by ID prefix and full ID */
    char prefix[13];
    memcpy(prefix, r.id, 12);
    prefix[12] = 0;
    assert_int_equal(rk_container_find(containers, prefix, &back, NULL), 0);
    assert_string_equal(back.name, "web");
    rk_container_record_clear(&back);
    assert_int_equal(rk_container_find(containers, r.id, &back, NULL), 0);
    rk_container_record_clear(&back);
    rk_error *err = NULL;
    assert_int_equal(rk_container_find(containers, "nope", &back, &err), -1);
    assert_int_equal(err->errnum, ENOENT);
    assert_non_null(strstr(err->msg, "no such container: nope"));
    rk_error_free(err);
    assert_int_equal(rk_container_record_remove(containers, r.id, NULL), 0);
    assert_int_equal(access(p, F_OK), -1);
    rk_container_record_clear(&r);
}

static void test_unique_names(void **state)
{
    (void)state;
    rk_container_record a, b, c;
    fill(&a, "dup", NULL);
    fill(&b, "dup", NULL);
    fill(&c, NULL, NULL);
    assert_int_equal(rk_container_record_create(containers, &a, false, NULL), 0);
    rk_error *err = NULL;
    assert_int_equal(rk_container_record_create(containers, &b, false, &err), -1);
    assert_int_equal(err->status, 125);
    assert_non_null(strstr(err->msg, "already in use"));
    rk_error_free(err);
    /* nothing of b was created */
    _cleanup_free_ char *bdir = rk_path_join(containers, b.id);
    assert_int_equal(access(bdir, F_OK), -1);
    /* a made-up name */
    assert_int_equal(rk_container_record_create(containers, &c, false, NULL), 0);
    assert_non_null(c.name);
    assert_true(rk_container_name_valid(c.name));
    rk_container_record *v;
    size_t n;
    assert_int_equal(rk_container_list(containers, &v, &n, NULL), 0);
    assert_int_equal(n, 2);
    rk_container_list_free(v, n);
    /* Bad names are refused before anything is written. */
    rk_container_record d;
    fill(&d, "bad name", NULL);
    err = NULL;
    assert_int_equal(rk_container_record_create(containers, &d, false, &err), -1);
    rk_error_free(err);
    rk_container_record_remove(containers, a.id, NULL);
    rk_container_record_remove(containers, c.id, NULL);
    rk_container_record_clear(&a);
    rk_container_record_clear(&b);
    rk_container_record_clear(&c);
    rk_container_record_clear(&d);
}

static void test_parallel_names(void **state)
{
    (void)state;
    /* Eight processes race for one name: exactly one wins. */
    pid_t kids[8];
    for (int i = 0; i < 8; i++) {
        kids[i] = fork();
        if (kids[i] == 0) {
            rk_container_record r;
            fill(&r, "race", NULL);
            _exit(rk_container_record_create(containers, &r, false, NULL) == 0 ? 0 : 1);
        }
    }
    int wins = 0;
    for (int i = 0; i < 8; i++) {
        int st;
        waitpid(kids[i], &st, 0);
        if (WIFEXITED(st) && WEXITSTATUS(st) == 0)
            wins++;
    }
    assert_int_equal(wins, 1);
    rk_container_record r;
    assert_int_equal(rk_container_find(containers, "race", &r, NULL), 0);
    rk_container_record_remove(containers, r.id, NULL);
    rk_container_record_clear(&r);
}

static void test_run_state_and_lock(void **state)
{
    (void)state;
    char id[RK_ID_LEN + 1];
    rk_container_new_id(id);
    int lock = rk_run_state_lock_new(rundir, id, NULL);
    assert_true(lock >= 0);
    assert_true(rk_run_state_supervised(rundir, id));
    char *cg[] = {"/sys/fs/cgroup/unified/racker-x", NULL};
    rk_run_state s = {.status = RK_STATUS_RUNNING, .pid = getpid(),
                      .pid_start = rk_proc_start_time(getpid()), .supervisor = getpid(),
                      .exit_code = -1, .started = "2024-01-01T00:00:00Z", .cgroups = cg};
    assert_true(s.pid_start > 0);
    assert_int_equal(rk_run_state_write(rundir, id, &s, NULL), 0);
    rk_run_state r;
    assert_int_equal(rk_run_state_read(rundir, id, &r, NULL), 0);
    assert_int_equal(r.status, RK_STATUS_RUNNING);
    assert_int_equal(r.pid, getpid());
    assert_true(r.pid_start == s.pid_start);
    assert_false(r.supervisor_died);
    assert_string_equal(r.cgroups[0], cg[0]);
    rk_run_state_clear(&r);
    /* The supervisor dies (its lock goes): running reads as exited. */
    close(lock);
    assert_false(rk_run_state_supervised(rundir, id));
    assert_int_equal(rk_run_state_read(rundir, id, &r, NULL), 0);
    assert_int_equal(r.status, RK_STATUS_EXITED);
    assert_true(r.supervisor_died);
    assert_int_equal(r.exit_code, 137);
    rk_run_state_clear(&r);
    assert_int_equal(rk_run_state_wait_released(rundir, id, NULL), 0);
    assert_int_equal(rk_run_state_remove(rundir, id, NULL), 0);
    /* No state at all (after a reboot): exited, code unknown. */
    assert_int_equal(rk_run_state_read(rundir, id, &r, NULL), 0);
    assert_int_equal(r.status, RK_STATUS_EXITED);
    assert_int_equal(r.exit_code, -1);
    rk_run_state_clear(&r);
}

static void test_lock_held_by_child(void **state)
{
    (void)state;
    char id[RK_ID_LEN + 1];
    rk_container_new_id(id);
    int pfd[2];
    assert_int_equal(pipe(pfd), 0);
    pid_t p = fork();
    if (p == 0) {
        int lock = rk_run_state_lock_new(rundir, id, NULL);
        char c = lock >= 0 ? 'y' : 'n';
        if (write(pfd[1], &c, 1) != 1)
            _exit(2);
        pause();
        _exit(0);
    }
    char c;
    assert_int_equal(read(pfd[0], &c, 1), 1);
    assert_int_equal(c, 'y');
    assert_true(rk_run_state_supervised(rundir, id));
    kill(p, SIGKILL); /* the kernel drops the lock with the process */
    waitpid(p, NULL, 0);
    assert_false(rk_run_state_supervised(rundir, id));
    rk_run_state_remove(rundir, id, NULL);
    close(pfd[0]);
    close(pfd[1]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ids_and_names),
        cmocka_unit_test(test_record_roundtrip),
        cmocka_unit_test(test_unique_names),
        cmocka_unit_test(test_parallel_names),
        cmocka_unit_test(test_run_state_and_lock),
        cmocka_unit_test(test_lock_held_by_child),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}

/* probe/report: exit codes, summary lines, JUnit XML (parsed back with
 * Python's xml.etree, a real XML parser), JSON. */
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
#include <dirent.h>
#include <unistd.h>

#include <cmocka.h>

#include "base/cleanup.h"
#include "base/fs.h"
#include "base/json.h"
#include "base/strv.h"
#include "probe/report.h"

#define PYTHON "/usr/bin/python3"

static char base[64];

static int setup(void **state)
{
    (void)state;
    strcpy(base, "/tmp/rk-test-report-XXXXXX");
    assert_non_null(mkdtemp(base));
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    rk_rm_rf(base, NULL);
    return 0;
}

/* ---- exit codes ---- */

struct spec_check {
    rk_check_kind kind;
    rk_check_status status;
};

/* A run per group of checks: "T+" test pass, "T-" test fail, "T?" test
 * skip, "I+"/"I-"/"I?" install, "B+"/"B-" testbed; runs separated by '|'. */
static rk_report *report_from(const char *spec)
{
    rk_report *r = rk_report_new("t");
    rk_probe_run *run = NULL;
    for (const char *p = spec; *p;) {
        if (*p == '|' || !run) {
            run = rk_report_add_run(r, "img", NULL);
            if (*p == '|') {
                p++;
                continue;
            }
        }
        if (*p == ' ') {
            p++;
            continue;
        }
        rk_check_kind k = p[0] == 'T'   ? RK_CHECK_TEST
                          : p[0] == 'I' ? RK_CHECK_INSTALL
                                        : RK_CHECK_TESTBED;
        rk_check_status s = p[1] == '+'   ? RK_CHECK_PASS
                            : p[1] == '-' ? RK_CHECK_FAIL
                                          : RK_CHECK_SKIP;
        rk_probe_run_add_check(run, k, "c", s, NULL);
        p += 2;
    }
    return r;
}

static void expect_code(const char *spec, int want)
{
    _cleanup_report_ rk_report *r = report_from(spec);
    int got = rk_report_exit_code(r);
    if (got != want)
        fail_msg("\"%s\": exit code %d, want %d", spec, got, want);
}

static void test_exit_codes(void **state)
{
    (void)state;
    _cleanup_report_ rk_report *empty = rk_report_new("empty");
    assert_int_equal(rk_report_exit_code(empty), 8);
    expect_code("|", 8); /* a run with no checks */
    expect_code("T+", 0);
    expect_code("T+ T+", 0);
    expect_code("T+ T?", 2);
    expect_code("T?", 8); /* everything skipped: nothing ran */
    expect_code("T? T?", 8);
    expect_code("T+ T-", 4);
    expect_code("T- T?", 6);
    expect_code("T-", 4);
    expect_code("I+ T+", 0);
    expect_code("I+", 8); /* installing is not a test */
    expect_code("I-", 12);
    expect_code("I- T?", 14);
    expect_code("I- T? T?", 14);
    expect_code("I- T-", 12); /* 12 holds the failure bit */
    expect_code("I?", 8);
    expect_code("B+ T+", 0);
    expect_code("B-", 16);
    expect_code("B- T- T?", 16); /* a testbed failure stands alone */
    expect_code("T+ | T-", 4);   /* flags combine over runs */
    expect_code("T+ | T?", 2);
    expect_code("T? | T?", 8);
    expect_code("T+ | B- ", 16);
    expect_code("T- | I- T?", 14);

    _cleanup_report_ rk_report *r = report_from("T+ | T- T? | I- | B- T+");
    assert_int_equal(r->n_runs, 4);
    assert_int_equal(rk_probe_run_exit_code(r->runs[0]), 0);
    assert_int_equal(rk_probe_run_exit_code(r->runs[1]), 6);
    assert_int_equal(rk_probe_run_exit_code(r->runs[2]), 12);
    assert_int_equal(rk_probe_run_exit_code(r->runs[3]), 16);
    rk_report_counts c;
    rk_report_counts_total(r, &c);
    assert_int_equal(c.tests, 6);
    assert_int_equal(c.passed, 2);
    assert_int_equal(c.failures, 2);
    assert_int_equal(c.errors, 1);
    assert_int_equal(c.skipped, 1);
}

/* ---- summary lines ---- */

static char *summary(const rk_report *r, bool prefix)
{
    char *buf = NULL;
    size_t size = 0;
    FILE *f = open_memstream(&buf, &size);
    assert_non_null(f);
    rk_report_write_summary(r, f, prefix);
    fclose(f);
    return buf;
}

static void test_summary(void **state)
{
    (void)state;
    _cleanup_report_ rk_report *r = rk_report_new("postroj pkgprobe");
    rk_probe_run *run = rk_report_add_run(
        r, "debian-bookworm", "docker.io/library/debian:bookworm-slim");
    rk_probe_run_add_check(run, RK_CHECK_INSTALL,
                           "install:webfs_1.21_amd64.deb", RK_CHECK_PASS, NULL);
    rk_check *u = rk_probe_run_add_check(run, RK_CHECK_TEST, "unit:webfs",
                                         RK_CHECK_PASS, "");
    assert_null(u->reason);
    rk_probe_run_add_checkf(run, RK_CHECK_TEST, "network:http://localhost:8000",
                            RK_CHECK_FAIL, "timed out after %d s", 5);
    rk_check *s = rk_probe_run_add_check(run, RK_CHECK_TEST, "unit:my unit",
                                         RK_CHECK_SKIP, "not\nreached\r\n");
    assert_string_equal(s->reason, "not reached");
    _cleanup_free_ char *out = summary(r, false);
    assert_string_equal(
        out, "install:webfs_1.21_amd64.deb PASS\n"
             "unit:webfs PASS\n"
             "network:http://localhost:8000 FAIL timed out after 5 s\n"
             "unit:my_unit SKIP not reached\n");

    rk_probe_run *two = rk_report_add_run(r, "fedora-37", NULL);
    rk_probe_run_add_check(two, RK_CHECK_TESTBED, "boot", RK_CHECK_FAIL,
                           "systemd did not reach running in 15 s");
    _cleanup_free_ char *out2 = summary(r, true);
    assert_string_equal(
        out2, "debian-bookworm/install:webfs_1.21_amd64.deb PASS\n"
              "debian-bookworm/unit:webfs PASS\n"
              "debian-bookworm/network:http://localhost:8000 FAIL timed out "
              "after 5 s\n"
              "debian-bookworm/unit:my_unit SKIP not reached\n"
              "fedora-37/boot FAIL systemd did not reach running in 15 s\n");

    rk_check_set_reason(u, "active\tsince boot");
    assert_string_equal(u->reason, "active since boot");
    rk_check_set_reason(u, NULL);
    assert_null(u->reason);
    rk_check_append_detail(u, "line 1");
    rk_check_append_detail(u, "line 2\n");
    rk_check_append_detail(u, "line 3");
    rk_check_append_detail(u, NULL);
    assert_string_equal(u->detail, "line 1\nline 2\nline 3");
    rk_check_set_detail(u, "");
    assert_null(u->detail);
    assert_string_equal(rk_check_status_name(RK_CHECK_SKIP), "SKIP");
    assert_string_equal(rk_check_kind_name(RK_CHECK_TESTBED), "testbed");

    rk_probe_run_set_reference(two, "docker.io/library/fedora:37");
    assert_string_equal(two->reference, "docker.io/library/fedora:37");
    rk_probe_run_finish(two);
    assert_true(two->duration >= 0 && two->duration < 10);
}

/* ---- XML ---- */

static void expect_escape(const char *in, size_t len, bool attr,
                          const char *want)
{
    _cleanup_free_ char *got = rk_report_xml_escape(in, len, attr);
    if (strcmp(got, want))
        fail_msg("escape(%s): \"%s\", want \"%s\"", attr ? "attr" : "text", got,
                 want);
}

/* Literals hold their own length (they may contain NUL bytes). */
#define expect_escape_lit(lit, attr, want)                                     \
    expect_escape(lit, sizeof(lit) - 1, attr, want)

static void test_xml_escape(void **state)
{
    (void)state;
    expect_escape_lit("a<b>&\"'", false, "a&lt;b&gt;&amp;\"'");
    expect_escape_lit("a<b>&\"'", true, "a&lt;b&gt;&amp;&quot;&apos;");
    expect_escape_lit("l1\nl2\tx\r", false, "l1\nl2\tx&#13;");
    expect_escape_lit("l1\nl2\tx\r", true, "l1&#10;l2&#9;x&#13;");
    expect_escape_lit("\x1b[0;31mred\x01", false, "\\x1b[0;31mred\\x01");
    expect_escape_lit("nul\0end", false, "nul\\x00end");
    expect_escape_lit("\xc3\xbc\xe2\x82\xac\xf0\x9f\x98\x80", false,
                      "\xc3\xbc\xe2\x82\xac\xf0\x9f\x98\x80"); /* ü € 😀 */
    expect_escape_lit("\xff", false, "\xef\xbf\xbd");
    expect_escape_lit("\xc3", false, "\xef\xbf\xbd"); /* truncated */
    expect_escape_lit("\xc0\xaf", false,
                      "\xef\xbf\xbd\xef\xbf\xbd"); /* overlong */
    expect_escape_lit("\xed\xa0\x80", false,
                      "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd"); /* surrogate */
    expect_escape_lit("\xef\xbf\xbe", false,
                      "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd"); /* U+FFFE */
    expect_escape_lit(
        "\xf4\x90\x80\x80", false,
        "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd"); /* > U+10FFFF */
    expect_escape_lit("\x7f", false, "\x7f");
    expect_escape(NULL, 0, false, "");
}

/* Nasty text for every field. */
static const char NASTY[] =
    "a<b>&c \"q\" 'a' \x01\x1b[1m \xff \xef\xbf\xbe \xed\xa0\x80 "
    "\xc3\xbc \r\n]]> end";

static rk_report *sample_report(void)
{
    rk_report *r = rk_report_new("postroj selftest <all>");
    rk_probe_run *a = rk_report_add_run(
        r, "debian-bookworm", "docker.io/library/debian:bookworm-slim");
    rk_check *c1 = rk_probe_run_add_check(a, RK_CHECK_INSTALL,
                                          "install:webfs_1.21_amd64.deb",
                                          RK_CHECK_PASS, NULL);
    c1->duration = 1.25;
    rk_check *c2 = rk_probe_run_add_check(a, RK_CHECK_TEST, "unit:webfs",
                                          RK_CHECK_FAIL, "unit is failed");
    rk_check_set_detail(c2, NASTY);
    c2->duration = 0.5;
    rk_probe_run_add_check(a, RK_CHECK_TEST,
                           "network:http://localhost:8000?a=1&b=<2>",
                           RK_CHECK_SKIP, "unit failed first");
    rk_probe_run_add_check(a, RK_CHECK_TEST, "unit:systemd-journald",
                           RK_CHECK_PASS, NASTY);
    a->duration = 3.5;
    rk_probe_run *b = rk_report_add_run(r, "fedora-37", NULL);
    rk_check *e =
        rk_probe_run_add_check(b, RK_CHECK_TESTBED, "boot", RK_CHECK_FAIL,
                               "container exited with status 1");
    rk_check_set_detail(e, "journal:\nline <1>\nline & 2\n");
    b->duration = 0.75;
    return r;
}

static const char CHECKER[] =
    "import json, sys, xml.etree.ElementTree as ET\n"
    "root = ET.parse(sys.argv[1]).getroot()\n"
    "def attrs(e): return {k: e.get(k) for k in ('name', 'tests', 'failures', "
    "'errors',"
    " 'skipped', 'time', 'timestamp')}\n"
    "out = {'tag': root.tag, 'attrs': attrs(root), 'suites': []}\n"
    "for s in root:\n"
    "    suite = {'tag': s.tag, 'attrs': attrs(s), 'props': {}, 'cases': []}\n"
    "    for p in s.iter('property'): suite['props'][p.get('name')] = "
    "p.get('value')\n"
    "    for c in s.findall('testcase'):\n"
    "        case = {'name': c.get('name'), 'classname': c.get('classname'),"
    " 'time': c.get('time'), 'children': [x.tag for x in c]}\n"
    "        for x in c:\n"
    "            case[x.tag] = {'message': x.get('message'), 'type': "
    "x.get('type'),"
    " 'text': x.text}\n"
    "        suite['cases'].append(case)\n"
    "    out['suites'].append(suite)\n"
    "json.dump(out, sys.stdout)\n";

/* Parse an XML file with Python's xml.etree and return what it saw. */
static json_t *parse_with_python(const char *xml_path)
{
    _cleanup_free_ char *script = rk_xasprintf("%s/check.py", base);
    rk_error *err = NULL;
    if (rk_write_file_atomic(AT_FDCWD, script, CHECKER, strlen(CHECKER), 0644,
                             &err) < 0)
        fail_msg("%s", err->msg);
    _cleanup_free_ char *cmd =
        rk_xasprintf("%s %s %s", PYTHON, script, xml_path);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    json_error_t je;
    json_t *j = json_loadf(p, 0, &je);
    int st = pclose(p);
    if (!j || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
        fail_msg("python's XML parser refused %s (status %d): %s", xml_path, st,
                 j ? "" : je.text);
    return j;
}

static const char *jpath_str(json_t *j, const char *a, const char *b)
{
    json_t *x = json_object_get(j, a);
    if (b)
        x = json_object_get(x, b);
    if (!json_is_string(x))
        fail_msg("no string at %s.%s", a, b ? b : "");
    return json_string_value(x);
}

static void test_junit(void **state)
{
    (void)state;
    _cleanup_report_ rk_report *r = sample_report();
    _cleanup_free_ char *path = rk_xasprintf("%s/junit.xml", base);
    rk_error *err = NULL;
    assert_int_equal(rk_report_write_junit(r, path, &err), 0);
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0644);
    /* Written through a temporary that is gone now. */
    _cleanup_closedir_ DIR *d = opendir(base);
    struct dirent *de;
    while ((de = readdir(d)))
        if (rk_startswith(de->d_name, ".tmp"))
            fail_msg("temporary %s left behind", de->d_name);

    _cleanup_json_ json_t *x = parse_with_python(path);
    assert_string_equal(jpath_str(x, "tag", NULL), "testsuites");
    json_t *ra = json_object_get(x, "attrs");
    assert_string_equal(jpath_str(ra, "name", NULL), "postroj selftest <all>");
    assert_string_equal(jpath_str(ra, "tests", NULL), "5");
    assert_string_equal(jpath_str(ra, "failures", NULL), "1");
    assert_string_equal(jpath_str(ra, "errors", NULL), "1");
    assert_string_equal(jpath_str(ra, "skipped", NULL), "1");
    assert_string_equal(jpath_str(ra, "time", NULL), "4.250");
    assert_int_equal(strlen(jpath_str(ra, "timestamp", NULL)), 19);

    json_t *suites = json_object_get(x, "suites");
    assert_int_equal(json_array_size(suites), 2);
    json_t *s0 = json_array_get(suites, 0), *s1 = json_array_get(suites, 1);
    assert_string_equal(jpath_str(s0, "tag", NULL), "testsuite");
    json_t *a0 = json_object_get(s0, "attrs");
    assert_string_equal(jpath_str(a0, "name", NULL), "debian-bookworm");
    assert_string_equal(jpath_str(a0, "tests", NULL), "4");
    assert_string_equal(jpath_str(a0, "failures", NULL), "1");
    assert_string_equal(jpath_str(a0, "errors", NULL), "0");
    assert_string_equal(jpath_str(a0, "skipped", NULL), "1");
    assert_string_equal(jpath_str(a0, "time", NULL), "3.500");
    assert_string_equal(jpath_str(s0, "props", "reference"),
                        "docker.io/library/debian:bookworm-slim");
    json_t *a1 = json_object_get(s1, "attrs");
    assert_string_equal(jpath_str(a1, "name", NULL), "fedora-37");
    assert_string_equal(jpath_str(a1, "tests", NULL), "1");
    assert_string_equal(jpath_str(a1, "errors", NULL), "1");
    assert_string_equal(jpath_str(a1, "failures", NULL), "0");
    assert_int_equal(json_object_size(json_object_get(s1, "props")), 0);

    json_t *cases = json_object_get(s0, "cases");
    assert_int_equal(json_array_size(cases), 4);
    json_t *c0 = json_array_get(cases, 0), *c1 = json_array_get(cases, 1),
           *c2 = json_array_get(cases, 2), *c3 = json_array_get(cases, 3);
    assert_string_equal(jpath_str(c0, "name", NULL),
                        "install:webfs_1.21_amd64.deb");
    assert_string_equal(jpath_str(c0, "classname", NULL), "debian-bookworm");
    assert_string_equal(jpath_str(c0, "time", NULL), "1.250");
    assert_int_equal(json_array_size(json_object_get(c0, "children")), 0);

    assert_string_equal(jpath_str(c1, "name", NULL), "unit:webfs");
    assert_string_equal(jpath_str(c1, "failure", "message"), "unit is failed");
    assert_string_equal(jpath_str(c1, "failure", "type"), "test");
    /* The detail, as the parser reads it back: control characters as
     * visible escapes, invalid UTF-8 as U+FFFD, the rest verbatim. */
    assert_string_equal(
        jpath_str(c1, "system-out", "text"),
        "a<b>&c \"q\" 'a' \\x01\\x1b[1m \xef\xbf\xbd \xef\xbf\xbd\xef\xbf\xbd"
        "\xef\xbf\xbd \xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd \xc3\xbc \r\n]]> "
        "end");

    assert_string_equal(jpath_str(c2, "name", NULL),
                        "network:http://localhost:8000?a=1&b=<2>");
    assert_string_equal(jpath_str(c2, "skipped", "message"),
                        "unit failed first");
    assert_null(json_object_get(c2, "failure"));

    /* A PASS with a reason (collapsed to one line) and no detail. */
    assert_string_equal(jpath_str(c3, "name", NULL), "unit:systemd-journald");
    assert_int_equal(json_array_size(json_object_get(c3, "children")), 0);

    json_t *e = json_array_get(json_object_get(s1, "cases"), 0);
    assert_string_equal(jpath_str(e, "error", "message"),
                        "container exited with status 1");
    assert_string_equal(jpath_str(e, "error", "type"), "testbed");
    assert_string_equal(jpath_str(e, "system-out", "text"),
                        "journal:\nline <1>\nline & 2\n");

    /* Overwriting works, and an unwritable path is a clear error. */
    assert_int_equal(rk_report_write_junit(r, path, &err), 0);
    assert_int_equal(rk_report_write_junit(r, "/nonexistent-dir/x.xml", &err),
                     -1);
    assert_non_null(
        strstr(err->msg, "writing the JUnit report to /nonexistent-dir/x.xml"));
    rk_error_free(err);
}

static void test_junit_empty(void **state)
{
    (void)state;
    _cleanup_report_ rk_report *r = rk_report_new("nothing");
    rk_report_add_run(r, "img", NULL);
    _cleanup_free_ char *path = rk_xasprintf("%s/empty.xml", base);
    rk_error *err = NULL;
    assert_int_equal(rk_report_write_junit(r, path, &err), 0);
    _cleanup_json_ json_t *x = parse_with_python(path);
    assert_string_equal(jpath_str(x, "attrs", "tests"), "0");
    json_t *s = json_array_get(json_object_get(x, "suites"), 0);
    assert_string_equal(jpath_str(s, "attrs", "tests"), "0");
    assert_int_equal(json_array_size(json_object_get(s, "cases")), 0);
}

/* ---- JSON ---- */

static void test_json(void **state)
{
    (void)state;
    _cleanup_report_ rk_report *r = sample_report();
    _cleanup_free_ char *path = rk_xasprintf("%s/report.json", base);
    rk_error *err = NULL;
    assert_int_equal(rk_report_write_json(r, path, &err), 0);
    json_error_t je;
    _cleanup_json_ json_t *j = json_load_file(path, 0, &je);
    assert_non_null(j);
    assert_string_equal(rk_json_str(j, "name"), "postroj selftest <all>");
    assert_int_equal(rk_json_int(j, "exit_code", -1), 16);
    json_t *counts = json_object_get(j, "counts");
    assert_int_equal(rk_json_int(counts, "tests", -1), 5);
    assert_int_equal(rk_json_int(counts, "passed", -1), 2);
    assert_int_equal(rk_json_int(counts, "failures", -1), 1);
    assert_int_equal(rk_json_int(counts, "errors", -1), 1);
    assert_int_equal(rk_json_int(counts, "skipped", -1), 1);
    const char *started = rk_json_str(j, "started");
    assert_non_null(started);
    assert_int_equal(strlen(started), 20);
    assert_int_equal(started[19], 'Z');

    json_t *runs = json_object_get(j, "runs");
    assert_int_equal(json_array_size(runs), 2);
    json_t *r0 = json_array_get(runs, 0), *r1 = json_array_get(runs, 1);
    assert_string_equal(rk_json_str(r0, "image"), "debian-bookworm");
    assert_string_equal(rk_json_str(r0, "reference"),
                        "docker.io/library/debian:bookworm-slim");
    assert_int_equal(rk_json_int(r0, "exit_code", -1), 6);
    assert_true(json_real_value(json_object_get(r0, "duration")) == 3.5);
    assert_true(json_is_null(json_object_get(r1, "reference")));
    assert_int_equal(rk_json_int(r1, "exit_code", -1), 16);

    json_t *checks = json_object_get(r0, "checks");
    assert_int_equal(json_array_size(checks), 4);
    json_t *k0 = json_array_get(checks, 0), *k1 = json_array_get(checks, 1);
    assert_string_equal(rk_json_str(k0, "name"),
                        "install:webfs_1.21_amd64.deb");
    assert_string_equal(rk_json_str(k0, "kind"), "install");
    assert_string_equal(rk_json_str(k0, "status"), "PASS");
    assert_true(json_is_null(json_object_get(k0, "reason")));
    assert_true(json_is_null(json_object_get(k0, "detail")));
    assert_true(json_real_value(json_object_get(k0, "duration")) == 1.25);
    assert_string_equal(rk_json_str(k1, "status"), "FAIL");
    assert_string_equal(rk_json_str(k1, "reason"), "unit is failed");
    /* Invalid UTF-8 became U+FFFD; everything else is kept. */
    const char *detail = rk_json_str(k1, "detail");
    assert_non_null(detail);
    assert_non_null(strstr(detail, "\x01\x1b[1m \xef\xbf\xbd "));
    assert_non_null(strstr(detail, "\xc3\xbc \r\n]]> end"));
    assert_string_equal(
        rk_json_str(json_array_get(checks, 3), "reason"),
        "a<b>&c \"q\" 'a'   [1m \xef\xbf\xbd "
        "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd "
        "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd \xc3\xbc   ]]> end");

    _cleanup_free_ char *s = rk_report_json_string(r);
    assert_int_equal(s[strlen(s) - 1], '\n');
    assert_int_equal(rk_report_write_json(r, "", &err), -1);
    rk_error_free(err);
}

/* A report written as JSON and merged back gives the same runs, checks,
 * details and exit code (selftest's jobs hand their reports over so). */
static void test_merge_json(void **state)
{
    (void)state;
    _cleanup_report_ rk_report *a = rk_report_new("postroj selftest");
    rk_probe_run *r1 = rk_report_add_run(a, "debian-bookworm", "docker.io/library/debian:bookworm-slim");
    rk_check *c = rk_probe_run_add_check(r1, RK_CHECK_TEST, "unit:webfs", RK_CHECK_FAIL, "inactive");
    rk_check_set_detail(c, "line 1\nline 2 <&>");
    c->duration = 1.5;
    rk_probe_run_add_check(r1, RK_CHECK_INSTALL, "install:x.deb", RK_CHECK_PASS, NULL);
    rk_probe_run_finish(r1);
    rk_probe_run *r2 = rk_report_add_run(a, "fedora-40", NULL);
    rk_probe_run_add_check(r2, RK_CHECK_TESTBED, "testbed", RK_CHECK_FAIL, "no such image");
    rk_probe_run_finish(r2);
    _cleanup_free_ char *json = rk_report_json_string(a);

    _cleanup_report_ rk_report *b = rk_report_new("postroj selftest");
    rk_error *err = NULL;
    if (rk_report_merge_json(b, json, strlen(json), &err) < 0)
        fail_msg("%s", err->msg);
    assert_int_equal(b->n_runs, 2);
    assert_string_equal(b->runs[0]->image, "debian-bookworm");
    assert_string_equal(b->runs[0]->reference, "docker.io/library/debian:bookworm-slim");
    assert_null(b->runs[1]->reference);
    assert_int_equal(b->runs[0]->n_checks, 2);
    rk_check *bc = b->runs[0]->checks[0];
    assert_string_equal(bc->name, "unit:webfs");
    assert_int_equal(bc->kind, RK_CHECK_TEST);
    assert_int_equal(bc->status, RK_CHECK_FAIL);
    assert_string_equal(bc->reason, "inactive");
    assert_string_equal(bc->detail, "line 1\nline 2 <&>");
    assert_true(bc->duration > 1.49 && bc->duration < 1.51);
    assert_int_equal(b->runs[1]->checks[0]->kind, RK_CHECK_TESTBED);
    assert_int_equal(rk_report_exit_code(a), rk_report_exit_code(b));
    _cleanup_free_ char *again = rk_report_json_string(b);
    assert_non_null(strstr(again, "\"unit:webfs\""));
    /* Not a report: refused. */
    assert_int_equal(rk_report_merge_json(b, "{}", 2, &err), -1);
    rk_error_free(err);
    err = NULL;
    assert_int_equal(rk_report_merge_json(b, "[", 1, &err), -1);
    rk_error_free(err);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_exit_codes),  cmocka_unit_test(test_summary),
        cmocka_unit_test(test_xml_escape),  cmocka_unit_test(test_junit),
        cmocka_unit_test(test_junit_empty), cmocka_unit_test(test_json),
        cmocka_unit_test(test_merge_json),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}

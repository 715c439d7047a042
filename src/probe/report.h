/* Results of probes, in autopkgtest's form and as JUnit XML and JSON.
 *
 * A report holds one run per image (pkgprobe: one; selftest: many). A run
 * holds checks, named by what they check:
 *   install:webfs_1.21_amd64.deb   it installs      (RK_CHECK_INSTALL)
 *   unit:webfs                     it is active     (RK_CHECK_TEST)
 *   network:http://localhost:8000  it answers       (RK_CHECK_TEST)
 *   boot                           the container    (RK_CHECK_TESTBED)
 * each with PASS, FAIL or SKIP, a one-line reason and optional detail text
 * (a unit's `systemctl status`, its last journal lines, response headers).
 *
 * Exit code (rk_report_exit_code), autopkgtest's bit flags:
 *   1. 16 when any RK_CHECK_TESTBED check failed: the container failed.
 *      As in autopkgtest, a testbed failure stands alone; the other bits
 *      are not added (16|4 would read as 20, bad usage).
 *   2. Otherwise start from 0 and OR in
 *        2  for every skipped check (of any kind),
 *        4  for every failed RK_CHECK_TEST check,
 *       12  for every failed RK_CHECK_INSTALL check (the package could not
 *           be installed; 12 includes the failure bit 4).
 *   3. If that gives 0 or 2 and no RK_CHECK_TEST check passed anywhere in
 *      the report (nothing ran, or everything was skipped), the code is 8.
 * So a report yields 0, 2, 4, 6, 8, 12, 14 or 16. 20 (bad usage, errors
 * outside the probes) is the command line's to return. With several runs
 * the flags of all runs combine the same way: one image failing gives 4
 * even if the others passed.
 *
 * Summary lines (rk_report_write_summary): `NAME PASS`, `NAME FAIL reason`,
 * `NAME SKIP reason` (a PASS may carry details too), NAME being the
 * check's name with whitespace and control characters replaced by '_'
 * (the first word of a line is always the whole name), optionally
 * prefixed with "IMAGE/". */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "base/error.h"

typedef enum rk_check_status {
    RK_CHECK_PASS,
    RK_CHECK_FAIL,
    RK_CHECK_SKIP,
} rk_check_status;

typedef enum rk_check_kind {
    RK_CHECK_TEST,    /* a test proper: unit:, network: */
    RK_CHECK_INSTALL, /* installing a package; FAIL = exit 12 */
    RK_CHECK_TESTBED, /* the container (boot, provisioning); FAIL = exit 16 */
} rk_check_kind;

/* Exit codes (bit flags, see above). */
#define RK_PROBE_EXIT_PASS 0
#define RK_PROBE_EXIT_SKIPPED 2
#define RK_PROBE_EXIT_FAILED 4
#define RK_PROBE_EXIT_NOTHING_RAN 8
#define RK_PROBE_EXIT_BADPKG 12
#define RK_PROBE_EXIT_TESTBED 16
#define RK_PROBE_EXIT_USAGE 20

typedef struct rk_check {
    char *name;
    rk_check_kind kind;
    rk_check_status status;
    char *reason;    /* one line, or NULL */
    char *detail;    /* any text (several lines), or NULL */
    double duration; /* seconds; 0 when not measured */
} rk_check;

typedef struct rk_probe_run {
    char *image;     /* the label or reference asked for: "debian-bookworm" */
    char *reference; /* what it resolved to, or NULL */
    int64_t started; /* seconds since the epoch (set by rk_report_add_run) */
    double duration; /* seconds (set by rk_probe_run_finish) */
    double
        mono_start; /* CLOCK_MONOTONIC at the start, for rk_probe_run_finish */
    size_t n_checks;
    rk_check **checks; /* in the order they were added */
} rk_probe_run;

typedef struct rk_report {
    char *name; /* "postroj pkgprobe": the JUnit testsuites name */
    int64_t started;
    size_t n_runs;
    rk_probe_run **runs;
} rk_report;

typedef struct rk_report_counts {
    size_t tests; /* checks */
    size_t passed;
    size_t failures; /* failed RK_CHECK_TEST and RK_CHECK_INSTALL checks */
    size_t errors;   /* failed RK_CHECK_TESTBED checks */
    size_t skipped;
} rk_report_counts;

rk_report *rk_report_new(const char *name);
void rk_report_free(rk_report *r);
static inline void rk_report_freep(rk_report **r)
{
    rk_report_free(*r);
    *r = 0;
}
#define _cleanup_report_ __attribute__((cleanup(rk_report_freep)))

/* A new run; its start time is now. `reference` may be NULL. The run
 * belongs to the report. */
rk_probe_run *rk_report_add_run(rk_report *r, const char *image,
                                const char *reference);
void rk_probe_run_set_reference(rk_probe_run *run, const char *reference);
/* Sets the run's duration: now minus its start. */
void rk_probe_run_finish(rk_probe_run *run);

/* Add a check. `reason` may be NULL; line breaks and other control
 * characters in it become spaces, so it stays one line. The check belongs
 * to the run; the pointer stays valid as long as the report. */
rk_check *rk_probe_run_add_check(rk_probe_run *run, rk_check_kind kind,
                                 const char *name, rk_check_status status,
                                 const char *reason);
rk_check *rk_probe_run_add_checkf(rk_probe_run *run, rk_check_kind kind,
                                  const char *name, rk_check_status status,
                                  const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
void rk_check_set_reason(rk_check *c, const char *reason);
/* Replace, or append to (a newline in between), the detail text. */
void rk_check_set_detail(rk_check *c, const char *detail);
void rk_check_append_detail(rk_check *c, const char *text);

const char *
rk_check_status_name(rk_check_status s); /* "PASS", "FAIL", "SKIP" */
const char *
rk_check_kind_name(rk_check_kind k); /* "test", "install", "testbed" */

int rk_probe_run_exit_code(const rk_probe_run *run);
int rk_report_exit_code(const rk_report *r);
void rk_probe_run_counts(const rk_probe_run *run, rk_report_counts *ret);
void rk_report_counts_total(const rk_report *r, rk_report_counts *ret);

/* One line per check, in order, runs in order. */
void rk_report_write_summary(const rk_report *r, FILE *out, bool image_prefix);

/* JUnit XML: <testsuites> with the totals, one <testsuite> per run (name:
 * the image; a "reference" property), one <testcase> per check (name: the
 * check, classname: the image, time) holding <failure message type>
 * (failed test or install checks), <error> (failed testbed checks) or
 * <skipped message>, and <system-out> with the detail text. Attributes
 * tests, failures, errors, skipped, time (seconds, 3 decimals) and
 * timestamp (UTC, YYYY-MM-DDTHH:MM:SS). */
char *rk_report_junit_xml(const rk_report *r);
/* Written atomically (a temporary in the same directory, fsync, rename). */
int rk_report_write_junit(const rk_report *r, const char *path, rk_error **err);

/* {"name", "started", "exit_code", "counts": {tests, passed, failures,
 *  errors, skipped}, "runs": [{"image", "reference", "started", "duration",
 *  "exit_code", "counts", "checks": [{"name", "kind", "status", "reason",
 *  "detail", "duration"}]}]}; times are RFC 3339 UTC, durations seconds;
 * absent reason, detail or reference are null. */
json_t *rk_report_to_json(const rk_report *r);
/* Indented, with a trailing newline. */
char *rk_report_json_string(const rk_report *r);
int rk_report_write_json(const rk_report *r, const char *path, rk_error **err);

/* s (len bytes) escaped for XML 1.0 character data (attr false) or a
 * double-quoted attribute value (attr true): & < > (and " ' in attributes)
 * become entities; tab, newline and carriage return are kept (as character
 * references in attributes and for CR, so parsers do not normalize them
 * away); other control characters, which XML 1.0 does not allow at all,
 * become the visible text "\xNN"; bytes that are not valid UTF-8, UTF-16
 * surrogates, U+FFFE and U+FFFF become U+FFFD. */
/* Add the runs of a JSON report (rk_report_json_string's form) to r: how
 * selftest gathers the reports of its parallel jobs. */
int rk_report_merge_json(rk_report *r, const char *text, size_t len, rk_error **err);

char *rk_report_xml_escape(const char *s, size_t len, bool attr);

/* Start and stop tests/fixtures/probehttpd.py (see its docstring) from a
 * unit test: each server gets its own temporary directory holding its port
 * file, request log and (with --tls) certificate. */
#pragma once

#include "config.h"

#include <errno.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/error.h"
#include "base/fs.h"

#define PROBEHTTPD_PYTHON "/usr/bin/python3"
#define PROBEHTTPD_SCRIPT                                                      \
    RACKER_SOURCE_DATA_DIR "/../tests/fixtures/probehttpd.py"

extern char **environ;

typedef struct probehttpd {
    pid_t pid;
    unsigned port;
    char dir[64];
    char log[128];
    char cert[128]; /* with --tls */
} probehttpd;

/* extra: more arguments (NULL-terminated; may be NULL). "--tls" is given
 * its CERT_OUT argument here. Fails the test if the server does not come
 * up within 15 s. */
static inline void probehttpd_start(probehttpd *s, const char *root,
                                    const char *const *extra)
{
    memset(s, 0, sizeof(*s));
    strcpy(s->dir, "/tmp/rk-probehttpd-XXXXXX");
    if (!mkdtemp(s->dir))
        abort();
    char port_file[128];
    snprintf(port_file, sizeof(port_file), "%s/port", s->dir);
    snprintf(s->log, sizeof(s->log), "%s/requests.log", s->dir);
    snprintf(s->cert, sizeof(s->cert), "%s/cert.pem", s->dir);
    const char *argv[32];
    size_t n = 0;
    argv[n++] = PROBEHTTPD_PYTHON;
    argv[n++] = PROBEHTTPD_SCRIPT;
    argv[n++] = "--port-file";
    argv[n++] = port_file;
    argv[n++] = "--log";
    argv[n++] = s->log;
    argv[n++] = "--root";
    argv[n++] = root ? root : s->dir;
    for (size_t i = 0; extra && extra[i] && n < 30; i++) {
        argv[n++] = extra[i];
        if (!strcmp(extra[i], "--tls"))
            argv[n++] = s->cert;
    }
    argv[n] = NULL;
    if (posix_spawn(&s->pid, argv[0], NULL, NULL, (char *const *)argv,
                    environ) != 0) {
        fprintf(stderr, "cannot start %s\n", PROBEHTTPD_SCRIPT);
        abort();
    }
    for (int i = 0; i < 1500; i++) {
        FILE *f = fopen(port_file, "r");
        if (f) {
            int ok = fscanf(f, "%u", &s->port) == 1;
            fclose(f);
            if (ok)
                return;
        }
        int st;
        if (waitpid(s->pid, &st, WNOHANG) == s->pid) {
            fprintf(stderr, "probehttpd.py exited early (status %d)\n", st);
            abort();
        }
        struct timespec ts = {0, 10 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    fprintf(stderr, "probehttpd.py did not come up\n");
    kill(s->pid, SIGKILL);
    abort();
}

static inline void probehttpd_stop(probehttpd *s)
{
    if (s->pid > 0) {
        kill(s->pid, SIGTERM);
        waitpid(s->pid, NULL, 0);
        s->pid = 0;
    }
    if (s->dir[0])
        rk_rm_rf(s->dir, NULL);
    s->dir[0] = 0;
}

/* How many logged requests have `needle` in their JSON line. */
static inline size_t probehttpd_count(const probehttpd *s, const char *needle)
{
    FILE *f = fopen(s->log, "r");
    if (!f)
        return 0;
    char line[4096];
    size_t n = 0;
    while (fgets(line, sizeof(line), f))
        if (strstr(line, needle))
            n++;
    fclose(f);
    return n;
}

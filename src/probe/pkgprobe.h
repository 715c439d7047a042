/* A package probe: boot a fresh volatile OS container of an image, install
 * packages, check units and network endpoints, and record every step as a
 * check of an rk_probe_run (see report.h). postroj's pkgprobe and its
 * self tests are both this, with different checks.
 *
 * The steps, each a check:
 *   install:FILE     download (cached under the store) and install with the
 *                    image's package manager (apt-get for .deb; dnf, yum,
 *                    microdnf or zypper for .rpm), dependencies from the
 *                    distribution's repositories           kind install
 *   install:NAME     (repo_packages) install NAME from the repositories
 *   unit:UNIT        systemctl enable + start, then is-active; a failure
 *                    carries `systemctl status` and the unit's journal
 *   hostnamectl      hostnamectl answers and names the operating system
 *   journald         systemd-journald is active
 *   network:URL      from the host (the container shares its network), or
 *                    from inside the container with curl (network_inside)
 * A container that cannot be prepared, booted or entered is one failed
 * check of kind testbed ("testbed"), which gives exit code 16. */
#pragma once

#include <stdbool.h>

#include "base/error.h"
#include "image/store.h"
#include "probe/catalogue.h"
#include "probe/report.h"

typedef struct rk_probe_env {
    rk_store *store;
    const char *rundir;
    const rk_catalogue *catalogue; /* labels; may be NULL */
    int boot_timeout;              /* seconds; 0: the default */
    /* Find or pull an image by reference, for the caller to show progress
     * its way; returns the image. */
    int (*get_image)(void *ctx, const char *ref, rk_image **ret, rk_error **err);
    /* A line worth showing (what the probe does now), and the package
     * manager's output (verbose). Either may be NULL. */
    void (*on_status)(void *ctx, const char *image, const char *line);
    void (*on_output)(void *ctx, const char *image, const char *line);
    void *ctx;
} rk_probe_env;

typedef struct rk_pkgprobe_spec {
    const char *image;          /* a catalogue label, or a reference */
    char *const *packages;      /* URLs or local paths of .deb/.rpm files */
    char *const *repo_packages; /* package names from the distribution */
    char *const *units;
    char *const *network;       /* tcp://, http://, https:// URLs */
    double network_timeout;     /* seconds; 0: 5 */
    int expect_status;          /* 0: any HTTP answer is up */
    bool network_inside;        /* check from inside the container (curl) */
    bool hostnamectl, journald; /* the self tests' built-in checks */
    /* Held (flock) from starting units until the container is gone, when
     * parallel probes share the host's network and ports; or NULL. */
    const char *serialize_lock;
} rk_pkgprobe_spec;

/* Run the probe into `run` (already added to its report). Returns 0 when
 * the probe ran, whatever its checks say; -1 only for bad arguments. */
int rk_pkgprobe(const rk_probe_env *env, const rk_pkgprobe_spec *spec, rk_probe_run *run,
                rk_error **err);

/* The reference a label or reference stands for (catalogue first). */
char *rk_probe_resolve_image(const rk_catalogue *c, const char *image);

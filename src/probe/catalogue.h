/* postroj's curated images, read from a JSON data file
 * (data/postroj-images.json, installed as DATADIR/racker/postroj-images.json).
 *
 * File format (version 1; every key below is checked, unknown keys are
 * errors so that a typo never silently drops a setting):
 *   {"format": 1, "comment": "...optional...",
 *    "images": [{
 *      "label": "debian-bookworm",        name-release; selects the image
 *      "aliases": ["debian-12"],          optional; the version label and
 *                                         other names that select it too
 *      "name": "debian", "release": "bookworm", "version": "12",
 *      "family": "debian",                debian|fedora|rhel|suse|arch
 *      "package_manager": "apt",          apt|dnf|yum|microdnf|zypper|pacman,
 *                                         consistent with the family
 *      "reference": "docker.io/library/debian:bookworm-slim",
 *                                         canonical (rk_ref_string() form:
 *                                         registry, path and tag spelled out)
 *      "webserver": {"package": "apache2", "unit": "apache2.service",
 *                    "port": 80},         what selftest pkgprobe installs
 *      "notes": "..."                     optional, for humans
 *    }, ...]}
 * Labels and aliases are [a-z0-9][a-z0-9._-]*, at most 64 characters, and
 * unique across the whole catalogue (a label never equals another entry's
 * alias). */
#pragma once

#include <stddef.h>

#include "base/error.h"

typedef struct rk_catalogue_webserver {
    char *package; /* "apache2", "httpd", "apache" */
    char *unit;    /* "apache2.service" */
    unsigned port; /* 1..65535 */
} rk_catalogue_webserver;

typedef struct rk_catalogue_image {
    char *label;           /* "debian-bookworm" */
    char **aliases;        /* NULL-terminated, never NULL (may be empty) */
    char *name;            /* "debian" */
    char *release;         /* "bookworm" */
    char *version;         /* "12" */
    char *family;          /* "debian", "fedora", "rhel", "suse", "arch" */
    char *package_manager; /* "apt", "dnf", "yum", "microdnf", "zypper",
                              "pacman" */
    char *reference;       /* canonical reference to pull */
    rk_catalogue_webserver webserver;
    char *notes; /* NULL when absent */
} rk_catalogue_image;

typedef struct rk_catalogue {
    char *path; /* where it was read from ("<string>" names for parsed text) */
    size_t n;
    rk_catalogue_image *images; /* in file order */
} rk_catalogue;

/* Parse catalogue text. `source` names it in error messages, which say
 * which entry is wrong: `FILE: images[3] ("debian-bookworm"): "family" must
 * be one of debian, fedora, rhel, suse, arch, not "Debian"`. */
int rk_catalogue_parse(const char *text, size_t len, const char *source,
                       rk_catalogue **ret, rk_error **err);
/* Read and parse a file (at most 1 MiB). */
int rk_catalogue_load(const char *path, rk_catalogue **ret, rk_error **err);

/* The file postroj reads: $POSTROJ_CATALOGUE when set and not empty (it
 * must then exist: no silent fallback), else the installed
 * RACKER_DATA_DIR/postroj-images.json when it exists, else the source
 * tree's data/postroj-images.json (a program run from its build
 * directory). Fails naming every path it tried. */
int rk_catalogue_default_path(char **ret, rk_error **err);
/* rk_catalogue_default_path() + rk_catalogue_load(). */
int rk_catalogue_load_default(rk_catalogue **ret, rk_error **err);

/* The image whose label or alias is exactly `label` (case-sensitive), or
 * NULL. */
const rk_catalogue_image *rk_catalogue_lookup(const rk_catalogue *c,
                                              const char *label);

/* The package format the image's package manager installs: "deb" (apt),
 * "rpm" (dnf, yum, microdnf, zypper) or "pacman" (.pkg.tar.*). */
const char *rk_catalogue_package_type(const rk_catalogue_image *img);

void rk_catalogue_free(rk_catalogue *c);
static inline void rk_catalogue_freep(rk_catalogue **c)
{
    rk_catalogue_free(*c);
    *c = 0;
}
#define _cleanup_catalogue_ __attribute__((cleanup(rk_catalogue_freep)))

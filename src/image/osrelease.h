/* os-release(5) and what it tells provisioning: the distribution family,
 * the package manager to use, and the commands that install systemd (plus
 * curl and wget, which probes use, as the original Racker did).
 *
 * Pure: no I/O. The caller reads /etc/os-release out of the image (see
 * image/layers.h) and says which package managers the image has; this
 * module decides. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "base/digest.h"
#include "base/error.h"

typedef struct rk_os_release {
    char **vars;        /* every assignment as "KEY=value", unquoted, in file
                         * order; a repeated key keeps its last value, in
                         * the place of its first */
    char *id;           /* ID; "linux" when missing, as os-release(5) says */
    char **id_like;     /* ID_LIKE split at whitespace (empty vector if unset) */
    char *version_id;   /* VERSION_ID or NULL */
    char *pretty_name;  /* PRETTY_NAME, else NAME, else "Linux" */
} rk_os_release;

/* Parse os-release text (len bytes; need not be NUL terminated). Shell
 * rules, as os-release(5) asks: '#' comments and blank lines are skipped;
 * values may be double quoted (\ escapes " \ ` $ and a newline, other
 * backslashes stay), single quoted (nothing is special) or bare (\
 * escapes any character); adjacent parts concatenate. Lines that are no
 * KEY=value assignment are ignored, as systemd does. Errors: an
 * unterminated quote, a NUL byte. */
int rk_os_release_parse(const char *text, size_t len, rk_os_release *ret, rk_error **err);
void rk_os_release_clear(rk_os_release *r);
/* The value of key, or NULL. */
const char *rk_os_release_get(const rk_os_release *r, const char *key);

typedef enum rk_os_family {
    RK_OS_UNKNOWN = 0,
    RK_OS_DEBIAN, /* Debian, Ubuntu and what is like them: apt-get */
    RK_OS_FEDORA, /* Fedora, RHEL/UBI, CentOS, Rocky, Alma, Amazon, Oracle:
                   * dnf5, dnf, microdnf or yum */
    RK_OS_SUSE,   /* openSUSE Leap and Tumbleweed, SLES, SLE BCI: zypper */
    RK_OS_ARCH,   /* Arch Linux: pacman */
} rk_os_family;

/* From ID first, then each ID_LIKE word in order. */
rk_os_family rk_os_family_detect(const rk_os_release *r);
const char *rk_os_family_name(rk_os_family f);

typedef enum rk_pkg_tool {
    RK_PKG_NONE = 0,
    RK_PKG_APT_GET,
    RK_PKG_DNF5,
    RK_PKG_DNF,
    RK_PKG_MICRODNF,
    RK_PKG_YUM,
    RK_PKG_ZYPPER,
    RK_PKG_PACMAN,
    RK_PKG_MAX_,
} rk_pkg_tool;

#define RK_PKG_BIT(t) (1u << (unsigned)(t))

const char *rk_pkg_tool_name(rk_pkg_tool t); /* "apt-get" */
const char *rk_pkg_tool_path(rk_pkg_tool t); /* "/usr/bin/apt-get" */
/* The tools a family can use, most preferred first, ending with
 * RK_PKG_NONE. The caller checks which of their paths the image has. */
const rk_pkg_tool *rk_os_family_tools(rk_os_family f);

/* What provisioning runs: shell command lines, run in order by one
 * `/bin/sh -e` in a container of the image. */
typedef struct rk_recipe {
    rk_os_family family;
    rk_pkg_tool tool;
    char **commands;
    char *text;                   /* canonical text: version, family, tool, script */
    char key[RK_DIGEST_LEN + 1];  /* sha256 of text: a change of commands makes
                                   * a new derived image */
    char *script;                 /* what `sh -ec` runs: each command printed
                                   * ("+ CMD"), then run; package managers
                                   * as `CMD & wait $!` */
} rk_recipe;

void rk_recipe_clear(rk_recipe *r);

/* The recipe for an image with this os-release that has the tools in
 * `tools` (a mask of RK_PKG_BIT()). Errors (status 125) say why it cannot
 * work: an unknown family, no package manager of the family, a release
 * whose systemd is too old to boot in a container (before 225: CentOS and
 * RHEL 7, Oracle Linux 7, Amazon Linux 2, Debian 8). *ret_unknown (may be
 * NULL) is set when the failure is an unknown family, so that a caller can
 * treat such an image as no OS image at all. */
int rk_recipe_for(const rk_os_release *r, unsigned tools, rk_recipe *ret,
                  bool *ret_unknown, rk_error **err);

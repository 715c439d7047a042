/* containers-registries.conf(5), version 2: search registries, per-prefix
 * remapping, mirrors, insecure and blocked registries.
 *
 * The files are TOML; a small strict parser reads the subset these files
 * use (basic, literal and multi-line strings, booleans, integers, floats,
 * arrays, inline tables, [tables] and [[arrays of tables]]). Keys Racker
 * does not use ([aliases], short-name-mode, credential-helpers,
 * mirror-by-digest-only...) are parsed and ignored. A syntax error names
 * the file and line. The version 1 format ([registries.search]) is refused.
 *
 * Loading order (rk_regconf_load): when $CONTAINERS_REGISTRIES_CONF is
 * set, only that file (it must exist). Otherwise
 * $HOME/.config/containers/registries.conf when it exists, else
 * /etc/containers/registries.conf when present followed by every *.conf in
 * /etc/containers/registries.conf.d/ in lexical order; then, in both cases,
 * every *.conf in $HOME/.config/containers/registries.conf.d/. A later file's
 * [[registry]] with the same prefix replaces the earlier one, others are
 * added; a later unqualified-search-registries replaces the list. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "base/error.h"

#define RK_REGCONF_FILE "/etc/containers/registries.conf"
#define RK_REGCONF_DIR "/etc/containers/registries.conf.d"

typedef struct rk_regconf rk_regconf;

typedef struct rk_endpoint {
    char *host;    /* host[:port] to contact ("docker.io" is not yet mapped
                    * to registry-1.docker.io: rk_ref_api_host() does that) */
    char *path;    /* repository path on that host: "library/debian" */
    bool insecure; /* plain HTTP or unverified TLS allowed */
    bool mirror;   /* a [[registry.mirror]], not the primary location */
} rk_endpoint;

typedef struct rk_endpoints {
    size_t n;
    rk_endpoint *v; /* in the order to try: mirrors, then the primary */
} rk_endpoints;

void rk_endpoints_free(rk_endpoints *e);
static inline void rk_endpoints_freep(rk_endpoints **e)
{
    rk_endpoints_free(*e);
    *e = 0;
}
#define _cleanup_endpoints_ __attribute__((cleanup(rk_endpoints_freep)))

rk_regconf *rk_regconf_new(void);
void rk_regconf_free(rk_regconf *c);
static inline void rk_regconf_freep(rk_regconf **c)
{
    rk_regconf_free(*c);
    *c = 0;
}
#define _cleanup_regconf_ __attribute__((cleanup(rk_regconf_freep)))

/* The system configuration, in the loading order above. */
int rk_regconf_load(rk_regconf **ret, rk_error **err);
/* The order above without the environment variable, for a given $HOME
 * (NULL: none) and system file and directory. */
int rk_regconf_load_for(const char *home, const char *sys_file,
                        const char *sys_dir, rk_regconf **ret, rk_error **err);
/* Same with explicit places (tests): `file` may be NULL; when
 * `file_required` a missing file is an error; `dropin_dir` may be NULL or
 * missing. */
int rk_regconf_load_paths(const char *file, bool file_required,
                          const char *dropin_dir, rk_regconf **ret,
                          rk_error **err);
/* Merge one file (or text) into c, as a later file overrides earlier ones.
 * On error c is unchanged. `origin` names the text in messages. */
int rk_regconf_load_file(rk_regconf *c, const char *path, rk_error **err);
int rk_regconf_parse_string(rk_regconf *c, const char *text, const char *origin,
                            rk_error **err);
int rk_regconf_parse_buffer(rk_regconf *c, const char *data, size_t len,
                            const char *origin, rk_error **err);

/* unqualified-search-registries (borrowed, NULL-terminated), or NULL when
 * no file set it. An empty list means "set to []". */
char *const *rk_regconf_search_registries(const rk_regconf *c);
/* The file that set it, or NULL. */
const char *rk_regconf_search_origin(const rk_regconf *c);
/* How many [[registry]] entries are in effect. */
size_t rk_regconf_n_registries(const rk_regconf *c);

/* Where to pull repo_name ("docker.io/library/debian", a normalized name
 * without tag or digest) from. The [[registry]] whose prefix matches
 * longest wins (at a '/' boundary; "*.example.com" matches subdomains of
 * example.com). The rest of the name after the prefix is appended to each
 * location. No matching entry: one endpoint, the name itself, not
 * insecure. A blocked entry fails with `registry PREFIX is blocked in
 * registries.conf (FILE)` and status 125. `c` may be NULL (no config). */
int rk_regconf_resolve(const rk_regconf *c, const char *repo_name,
                       rk_endpoints **ret, rk_error **err);

/* Image references: parsing and normalization.
 *
 *   reference := name [":" tag] ["@" digest]
 *   name      := [domain "/"] path-component ("/" path-component)*
 *
 * The first component is a domain when it contains '.' or ':' or is
 * "localhost"; otherwise the domain is docker.io and, for a one-component
 * path, "library/" is prepended. "index.docker.io" means docker.io. A
 * leading "docker://" (skopeo's transport prefix) is accepted. With neither
 * tag nor digest the tag is "latest". */
#pragma once

#include <stdbool.h>

#include "base/error.h"

typedef struct rk_ref {
    char *domain;     /* "docker.io", "127.0.0.1:5000", "[::1]:5000", "localhost" */
    char *path;       /* "library/debian" */
    char *tag;        /* "latest", "bookworm"; NULL for name@digest */
    char *digest;     /* "sha256:<hex>" or NULL */
    bool unqualified; /* the input named no domain (a "short name") */
    char *short_path; /* the path as written when unqualified ("debian"), else NULL */
} rk_ref;

/* Parse and normalize. On failure the message names the bad part, e.g.
 * `invalid reference "Debian": repository name must be lowercase`, and
 * err->status is 125. The 255-character limit applies to the normalized
 * name (domain "/" path), so every rk_ref_string() result parses again. */
int rk_ref_parse(const char *s, rk_ref **ret, rk_error **err);
void rk_ref_free(rk_ref *ref);
static inline void rk_ref_freep(rk_ref **r)
{
    rk_ref_free(*r);
    *r = 0;
}
#define _cleanup_ref_ __attribute__((cleanup(rk_ref_freep)))

rk_ref *rk_ref_dup(const rk_ref *ref);
/* "docker.io/library/debian" */
char *rk_ref_name(const rk_ref *ref);
/* "docker.io/library/debian:latest", "...debian:12@sha256:...", "...debian@sha256:..." */
char *rk_ref_string(const rk_ref *ref);
/* Docker's short display form: "debian:latest", "127.0.0.1:5000/busybox:1" */
char *rk_ref_familiar(const rk_ref *ref);
/* A copy of an unqualified reference placed on another registry, for
 * unqualified-search-registries: "library/" is added only for docker.io. */
rk_ref *rk_ref_with_domain(const rk_ref *ref, const char *domain);
/* The host docker.io is really served at: "registry-1.docker.io" for
 * docker.io, the domain itself otherwise. */
const char *rk_ref_api_host(const char *domain);
/* True for domains whose host is loopback: localhost, 127.0.0.0/8, ::1. */
bool rk_domain_is_loopback(const char *domain);
/* Is s a valid tag? ([A-Za-z0-9_][A-Za-z0-9._-]{0,127}) */
bool rk_tag_valid(const char *s);
/* Is s a valid registry domain: host[:port], [IPv6][:port]? */
bool rk_ref_domain_valid(const char *s);
/* Is s a valid repository path: lowercase components joined by '/'? */
bool rk_ref_path_valid(const char *s);

/* Registry credentials from containers-auth.json(5) and Docker's
 * config.json.
 *
 * Files, in order: $REGISTRY_AUTH_FILE, $XDG_RUNTIME_DIR/containers/auth.json,
 * $HOME/.config/containers/auth.json, $HOME/.docker/config.json. The first
 * file that has an entry for the registry wins; missing files are skipped.
 *
 * Format: {"auths": {"KEY": {"auth": "base64(user:pass)"}}}, or
 * "username" and "password" fields. KEY is "host", "host:port",
 * "https://host/v1/" (a URL: only its host counts) or "host/ns/repo"; the
 * most specific key that matches the repository wins. docker.io,
 * index.docker.io and registry-1.docker.io are the same registry. Entries
 * without credentials (Docker's credsStore placeholders "{}") are
 * skipped. */
#pragma once

#include <stddef.h>

#include "base/error.h"

/* Look up credentials for host ("docker.io", "127.0.0.1:5000") and the
 * repository path on it ("library/debian"; may be NULL). Returns 0 and
 * fills *ret_user and *ret_pass (caller frees) when found, 1 when no file
 * has an entry (both set to NULL), -1 when a file is broken (the message
 * names the file). */
int rk_auth_lookup(const char *host, const char *repo_path, char **ret_user,
                   char **ret_pass, rk_error **err);
/* Same over an explicit NULL-terminated list of files (tests). */
int rk_auth_lookup_in(const char *const *files, const char *host,
                      const char *repo_path, char **ret_user, char **ret_pass,
                      rk_error **err);
/* Same over one file's contents already in memory; `origin` names it in
 * messages. */
int rk_auth_parse_buffer(const char *data, size_t len, const char *origin,
                         const char *host, const char *repo_path,
                         char **ret_user, char **ret_pass, rk_error **err);
/* The default file list in lookup order (NULL-terminated; rk_strv_free). */
char **rk_auth_default_files(void);
/* Strict base64 (standard alphabet; padding optional). Returns a NUL
 * terminated buffer (caller frees) and its length, or NULL when invalid. */
char *rk_base64_decode(const char *s, size_t len, size_t *ret_len);

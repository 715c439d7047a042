/* Packages for pkgprobe (--package=URL|PATH): downloaded once into a cache
 * under the store, local paths used as they are.
 *
 * Cache layout:
 *   <store root>/cache/packages/<sha256 hex of the URL>/<file name>
 *                                                      <file name>.partial
 *                                                      .lock
 * The file name is the URL path's last component, percent-decoded
 * (webfs_1.21%2Bds1-10_amd64.deb -> webfs_1.21+ds1-10_amd64.deb), so that
 * apt-get, dnf and zypper see the extension they expect.
 *
 * A download goes to <name>.partial and resumes it (Range: bytes=N-) when
 * one is left from an earlier, interrupted download; a server that ignores
 * Range (200) makes it start over. The size is verified against
 * Content-Length (200) or the total of Content-Range (206): a mismatch is
 * an error and the partial is removed. A body with neither (chunked
 * encoding) is accepted only when it ended cleanly. The finished file is
 * fsynced and renamed into place, so the cache never holds a torn file; a
 * second call finds it and returns at once, without asking the server.
 * Redirects are followed (mirrors). A flock on .lock makes concurrent
 * fetches of one URL download it once.
 *
 * The response a partial came from leaves its validator (a strong ETag,
 * else Last-Modified) in <name>.partial.validator; resuming sends it as
 * If-Range, so a file that changed on the server comes whole (200) and is
 * started over instead of spliced. A server that gives no validator is
 * resumed with Range alone, as before. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "base/error.h"

typedef struct rk_fetch_opts {
    bool tls_insecure;   /* https: do not verify certificates */
    const char *ca_file; /* https: extra trusted CAs (PEM), or NULL */
    unsigned
        attempts; /* tries when the connection breaks (each resumes); 0: 3 */
    long low_speed_time; /* give up after this many seconds below 1 byte/s; 0:
                            30 */
} rk_fetch_opts;

typedef struct rk_fetch_info {
    bool downloaded; /* the server was asked (false: found in the cache, or a
                      * local path) */
    bool resumed;    /* a partial download was continued (206) */
    uint64_t size;   /* bytes of the file */
} rk_fetch_info;

/* Is s an http:// or https:// URL (anything else with "://" is refused by
 * rk_fetch_package; the rest are local paths)? */
bool rk_fetch_is_url(const char *s);
/* The file name a URL's content is stored under (see above). */
int rk_fetch_file_name(const char *url, char **ret, rk_error **err);
/* <store_root>/cache/packages/<sha256 hex of url> */
char *rk_fetch_cache_dir(const char *store_root, const char *url);

/* Make `src` available as a local file and return its path in *ret_path:
 * a URL is downloaded into the cache (or found there); a local path must
 * be a regular file and is returned as given. `opts` and `info` may be
 * NULL. Errors name the URL or path: "downloading URL: HTTP 404 Not Found",
 * "downloading URL: got 100 bytes, the server announced 200". */
int rk_fetch_package(const char *store_root, const char *src,
                     const rk_fetch_opts *opts, char **ret_path,
                     rk_fetch_info *info, rk_error **err);

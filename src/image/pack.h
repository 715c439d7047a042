/* An overlayfs-format layer directory -> an OCI tar+gzip layer blob. */
#pragma once

#include <stdint.h>

#include "base/digest.h"
#include "base/error.h"

/* Write dir as a gzip-compressed OCI layer to out_fd; give the blob's
 * digest and size and the diff_id (sha256 of the tar). Overlay whiteouts
 * become .wh. entries; overlay's bookkeeping xattrs are removed from dir.
 *
 * rk_layer_pack() is in the core and loads the network half (libarchive,
 * ISA-L) on first use, like rk_pull(); rk_layer_pack_direct() is the
 * implementation in it. */
int rk_layer_pack(const char *dir, int out_fd, char blob_digest[RK_DIGEST_LEN + 1],
                  char diff_id[RK_DIGEST_LEN + 1], int64_t *blob_size, rk_error **err);
int rk_layer_pack_direct(const char *dir, int out_fd, char blob_digest[RK_DIGEST_LEN + 1],
                         char diff_id[RK_DIGEST_LEN + 1], int64_t *blob_size, rk_error **err);

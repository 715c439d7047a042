/* Looking at an image's merged file system without mounting it.
 *
 * The layers are overlayfs-format directories (bottom first, as in
 * rk_image.layer_dirs): a path exists in the merged view when the topmost
 * layer that has it does not hold a whiteout (a 0:0 character device)
 * there, and no layer above it makes a parent directory opaque
 * (trusted.overlay.opaque=y) or replaces a parent with a non-directory.
 * Symlinks are followed inside the image (an absolute target starts at the
 * image's root), never on the host. Used to decide whether an image can
 * boot (/sbin/init, systemd) and to read /etc/os-release before any
 * container exists. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <sys/stat.h>

#include "base/error.h"

/* Resolve `path` (absolute, inside the image) through the layers,
 * following symlinks in every component when follow is true, else in all
 * but the last. On success *ret_host_path is the file's path in the layer
 * that provides it and *st its lstat. -1 with err->errnum ENOENT when it
 * does not exist in the merged view (also ELOOP, ENOTDIR). */
int rk_layers_lookup(char *const *layer_dirs, size_t n, const char *path, bool follow,
                     char **ret_host_path, struct stat *st, rk_error **err);
/* Read a small regular file of the merged view (at most max bytes). */
int rk_layers_read_file(char *const *layer_dirs, size_t n, const char *path, size_t max,
                        char **ret, size_t *ret_len, rk_error **err);
/* Is `path` in the merged view an executable regular file (after symlinks)? */
bool rk_layers_is_executable(char *const *layer_dirs, size_t n, const char *path);

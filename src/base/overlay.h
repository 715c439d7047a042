/* Mounting overlayfs over a stack of layers. */
#pragma once

#include <stdbool.h>

#include "base/error.h"

/* Mount an overlay at target. lowers is bottom-first (the order layers are
 * applied), NULL-terminated; upper and work may both be NULL for a
 * read-only mount. overlayfs needs two lower layers when there is no upper,
 * so a single layer is stacked on an empty directory `empty_dir` (needed
 * only in that case).
 *
 * Uses the new mount API with one "lowerdir+" per layer where the kernel
 * has it (6.8+), so the page-size limit on mount options does not cap the
 * number of layers; falls back to a classic lowerdir=a:b:c string. */
int rk_overlay_mount(const char *target, char *const *lowers, const char *upper,
                     const char *work, const char *empty_dir, bool readonly,
                     rk_error **err);

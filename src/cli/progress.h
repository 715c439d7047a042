/* Rendering pull events for humans (stderr). */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "image/pull.h"

typedef struct rk_progress rk_progress;

rk_progress *rk_progress_new(const char *prog, bool quiet);
void rk_progress_free(rk_progress *p);
/* An rk_pull_event_cb; ctx is the rk_progress. */
void rk_progress_pull_event(void *ctx, const rk_pull_event *ev);
/* "73.2MB": decimal units like Docker. */
void rk_format_size(int64_t bytes, char *out, size_t len);

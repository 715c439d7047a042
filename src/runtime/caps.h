/* Linux capabilities: names, Docker's default set, and applying a set to
 * the container's first process.
 *
 * A set is a 64-bit mask, bit N = capability N. Racker never asks the
 * kernel for capabilities it does not itself hold (this host has no
 * CAP_SYS_RESOURCE, for example): the wanted set is intersected with what
 * racker holds before it is applied. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "base/error.h"

#define RK_CAP_MAX 64

/* "CHOWN" for 0; NULL for a number this table does not know. */
const char *rk_cap_name(int cap);
/* Accepts "CAP_CHOWN", "chown", "Chown". Returns the number, -1 when
 * unknown. "ALL" is not a capability: see rk_caps_compute(). */
int rk_cap_from_name(const char *name);
/* The highest capability number this table knows. */
int rk_cap_last_known(void);
static inline uint64_t rk_cap_bit(int cap) { return (uint64_t)1 << cap; }

/* Docker's default: CHOWN DAC_OVERRIDE FSETID FOWNER MKNOD NET_RAW SETGID
 * SETUID SETFCAP SETPCAP NET_BIND_SERVICE SYS_CHROOT KILL AUDIT_WRITE. */
uint64_t rk_caps_docker_default(void);

/* The container's set: Docker's default (or every known capability with
 * privileged), then --cap-add, then --cap-drop (either may say "ALL").
 * Docker applies drops before adds when both name a capability; so do we:
 * `--cap-drop ALL --cap-add NET_RAW` leaves NET_RAW. Pure. Error status 125
 * for an unknown name. */
int rk_caps_compute(char *const *add, char *const *drop, bool privileged,
                    uint64_t *ret, rk_error **err);

/* "CAP_CHOWN,CAP_KILL" (empty string for none). */
char *rk_caps_format(uint64_t caps);
/* The inverse of rk_caps_format (for container.json). */
int rk_caps_parse_list(const char *s, uint64_t *ret, rk_error **err);

/* Racker's own permitted set (capget). */
int rk_caps_held(uint64_t *ret, rk_error **err);

/* Drop everything outside caps from the bounding set. Needs CAP_SETPCAP,
 * so it runs before the switch to the container's user. */
int rk_caps_drop_bounding(uint64_t caps, rk_error **err);
/* Set permitted and effective to caps (a root process) or to nothing (a
 * non-root one: the kernel already cleared them at setuid); inheritable
 * and ambient are always empty, as in Docker 23+ (CVE-2022-24769). */
int rk_caps_set_process(uint64_t caps, rk_error **err);

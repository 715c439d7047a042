/* The default seccomp filter: what Docker's default profile blocks.
 *
 * Docker's profile is an allowlist; racker states the same policy as the
 * list of what it blocks (EPERM), with the same capability exceptions
 * (CAP_SYS_ADMIN unlocks mount, unshare, setns...; CAP_SYS_PTRACE ptrace;
 * and so on). A denylist compiles in a fraction of the time, and a
 * syscall newer than the table (that glibc may probe) is not answered
 * EPERM, which broke images under old Docker profiles. Non-native ABIs
 * (i386, and x32 where the kernel enables it, on x86_64) get the same
 * rules. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/error.h"

typedef struct rk_seccomp_rule {
    const char *syscall;
    int unless_cap;  /* allowed when the container has this capability, or -1 */
    int unless_cap2; /* ... or this one, or -1 */
    int errnum;      /* EPERM, or ENOSYS for clone3 (so glibc falls back to clone,
                      * whose flags the filter can inspect) */
} rk_seccomp_rule;

/* The table (for tests and `racker info`). */
const rk_seccomp_rule *rk_seccomp_default_rules(size_t *n);
/* Would the default filter block this syscall outright for a container
 * with these capabilities? (Argument filters, on clone, socket and
 * personality, are not considered.) */
bool rk_seccomp_blocks(const char *syscall, uint64_t caps);

/* Build the filter and install it in the calling thread. The caller has
 * set no_new_privs (or holds CAP_SYS_ADMIN). */
int rk_seccomp_load_default(uint64_t caps, rk_error **err);

/* A compiled filter (classic BPF, as the kernel takes it).
 *
 * Compiling with libseccomp costs milliseconds in a freshly cloned child
 * (its first touch of libseccomp's code and heap faults in page after
 * page), a quarter of a container start. So the supervisor prepares the
 * program before the clone, from a cache file in the runtime directory
 * keyed by the capability set, the rule table and libseccomp's version;
 * the child inherits it in memory and only installs it. */
typedef struct rk_seccomp_prog {
    void *insns; /* struct sock_filter[len] */
    unsigned short len;
} rk_seccomp_prog;

/* cache_dir may be NULL (always compile). A cache that cannot be read or
 * written is not an error: the filter is compiled instead. */
int rk_seccomp_prepare(uint64_t caps, const char *cache_dir, rk_seccomp_prog *ret,
                       rk_error **err);
int rk_seccomp_install(const rk_seccomp_prog *p, rk_error **err);
void rk_seccomp_prog_clear(rk_seccomp_prog *p);

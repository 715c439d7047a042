/* Scope-bound cleanup helpers and explicit ownership transfer.
 *
 * A variable declared with one of the _cleanup_*_ attributes is released when
 * it goes out of scope; TAKE_PTR()/TAKE_FD() hand ownership on and leave the
 * variable empty, so the cleanup becomes a no-op. */
#pragma once

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include <dirent.h>

#define _cleanup_(f) __attribute__((cleanup(f)))

static inline void rk_freep(void *p) { free(*(void **)p); }
static inline void rk_closep(int *fd)
{
    if (*fd >= 0) {
        int saved = errno;
        close(*fd);
        errno = saved;
    }
}
static inline void rk_fclosep(FILE **f)
{
    if (*f)
        fclose(*f);
}
static inline void rk_closedirp(DIR **d)
{
    if (*d)
        closedir(*d);
}

#define _cleanup_free_ _cleanup_(rk_freep)
#define _cleanup_close_ _cleanup_(rk_closep)
#define _cleanup_fclose_ _cleanup_(rk_fclosep)
#define _cleanup_closedir_ _cleanup_(rk_closedirp)

#define TAKE_PTR(p)                                                            \
    ({                                                                         \
        __typeof__(p) _taken = (p);                                            \
        (p) = NULL;                                                            \
        _taken;                                                                \
    })
#define TAKE_FD(fd)                                                            \
    ({                                                                         \
        int _taken = (fd);                                                     \
        (fd) = -1;                                                             \
        _taken;                                                                \
    })

#define RK_UNLIKELY(x) __builtin_expect(!!(x), 0)
#define RK_ELEMENTSOF(a) (sizeof(a) / sizeof((a)[0]))

/* The cgroup layout parser on arbitrary /proc/self/mountinfo and
 * /proc/self/cgroup texts. Input: MOUNTINFO \0 CGROUP. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/error.h"
#include "runtime/cgroup.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *buf = malloc(size + 2);
    memcpy(buf, data, size);
    buf[size] = buf[size + 1] = 0;
    const char *mi = buf;
    const char *pc = mi + strlen(mi) + 1;
    if (pc > buf + size)
        pc = buf + size + 1;
    rk_cgroup_layout *l = NULL;
    if (rk_cgroup_layout_parse(mi, pc, "/prefix", &l, NULL) == 0) {
        for (size_t i = 0; i < l->n; i++) {
            const rk_cgroup_hier *h = &l->h[i];
            if (!h->mountpoint || !h->name || !h->controllers || !h->own)
                abort();
            if (strncmp(h->mountpoint, "/prefix/sys/fs/cgroup", 21) != 0)
                abort(); /* only hierarchies under /sys/fs/cgroup are taken */
            rk_cgroup_limits lim = {.memory = 1};
            (void)rk_cgroup_hier_needed(l, h, &lim);
        }
        rk_cgroup_layout_free(l);
    }
    free(buf);
    return 0;
}

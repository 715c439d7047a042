/* rk_user_resolve on untrusted passwd and group files (they come from the
 * image). Input: SPEC \0 PASSWD \0 GROUP. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/error.h"
#include "runtime/user.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *buf = malloc(size + 3);
    memcpy(buf, data, size);
    buf[size] = buf[size + 1] = buf[size + 2] = 0;
    const char *spec = buf;
    const char *passwd = spec + strlen(spec) + 1;
    if (passwd > buf + size)
        passwd = buf + size + 1;
    const char *group = passwd + strlen(passwd) + 1;
    if (group > buf + size + 1)
        group = buf + size + 2;
    rk_user u;
    rk_error *err = NULL;
    if (rk_user_resolve(spec, passwd, group, &u, &err) == 0) {
        if (!u.home || u.n_groups == 0)
            abort(); /* always a home and at least the primary group */
        rk_user_clear(&u);
    } else if (!err || !err->msg) {
        abort();
    }
    rk_error_free(err);
    free(buf);
    return 0;
}

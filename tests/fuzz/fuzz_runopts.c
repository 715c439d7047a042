/* The parsers behind racker run's options: -v, --tmpfs, -e, --env-file,
 * --memory, --cpus, --stop-signal, -u. The first byte picks the parser. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/error.h"
#include "base/strv.h"
#include "runtime/spec.h"
#include "runtime/user.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    char *s = malloc(size);
    memcpy(s, data + 1, size - 1);
    s[size - 1] = 0;
    char *host[] = {"HOSTVAR=1", "EMPTY=", NULL};
    rk_error *err = NULL;
    switch (data[0] % 8) {
    case 0: {
        rk_mount_spec m;
        if (rk_volume_parse(s, &m, &err) == 0) {
            if (m.source[0] != '/' || m.target[0] != '/')
                abort();
            rk_mount_spec_clear(&m);
        }
        break;
    }
    case 1: {
        rk_mount_spec m;
        if (rk_tmpfs_parse(s, &m, &err) == 0) {
            if (m.target[0] != '/')
                abort();
            rk_mount_spec_clear(&m);
        }
        break;
    }
    case 2: {
        char *kv = NULL;
        if (rk_env_entry(s, host, &kv, &err) == 0 && kv && !strchr(kv, '='))
            abort();
        free(kv);
        break;
    }
    case 3: {
        char **env = NULL;
        rk_env_file_parse(s, "fuzz", host, &env, &err);
        for (size_t i = 0; env && env[i]; i++)
            if (!strchr(env[i], '='))
                abort();
        rk_strv_free(env);
        break;
    }
    case 4: {
        int64_t v;
        if (rk_size_parse(s, &v, &err) == 0 && v < 0)
            abort();
        break;
    }
    case 5: {
        int64_t q, p;
        if (rk_cpus_parse(s, &q, &p, &err) == 0 && (q < 1000 || p != 100000))
            abort();
        break;
    }
    case 6:
        (void)rk_signal_parse(s);
        break;
    default: {
        char *u = NULL, *g = NULL;
        rk_user_spec_split(s, &u, &g, &err);
        free(u);
        free(g);
        break;
    }
    }
    rk_error_free(err);
    free(s);
    return 0;
}

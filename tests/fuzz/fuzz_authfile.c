/* libFuzzer target: auth.json / config.json contents and base64. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/error.h"
#include "image/authfile.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *const hosts[][2] = {
        {"docker.io", "library/debian"},
        {"quay.io", "ns/repo"},
        {"127.0.0.1:5000", NULL},
    };
    for (size_t i = 0; i < sizeof(hosts) / sizeof(hosts[0]); i++) {
        char *u = NULL, *p = NULL;
        rk_error *err = NULL;
        int r = rk_auth_parse_buffer((const char *)data, size, "fuzz.json",
                                     hosts[i][0], hosts[i][1], &u, &p, &err);
        if (r == 0) {
            if (!u || !p)
                abort();
        } else if (r == 1) {
            if (u || p)
                abort();
        } else {
            if (!err || strchr(err->msg, '\n'))
                abort();
            rk_error_free(err);
        }
        free(u);
        free(p);
    }
    size_t n = 0;
    char *d = rk_base64_decode((const char *)data, size, &n);
    if (d && n > size)
        abort();
    free(d);
    return 0;
}

/* libFuzzer target: registries.conf (the TOML subset and its meaning). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/error.h"
#include "image/reference.h"
#include "image/regconf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 65536)
        return 0;
    rk_regconf *c = rk_regconf_new();
    rk_error *err = NULL;
    if (rk_regconf_parse_buffer(c, (const char *)data, size, "fuzz.conf",
                                &err) == 0) {
        char *const *s = rk_regconf_search_registries(c);
        for (size_t i = 0; s && s[i]; i++)
            if (!rk_ref_domain_valid(s[i]))
                abort();
        static const char *const names[] = {
            "docker.io/library/debian", "quay.io/podman/stable",
            "a.example.com/x/y",        "127.0.0.1:5000/busybox",
            "example.com/foo/image",    "localhost/x",
        };
        for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
            rk_endpoints *e = NULL;
            if (rk_regconf_resolve(c, names[i], &e, &err) == 0) {
                if (e->n == 0)
                    abort();
                for (size_t k = 0; k < e->n; k++)
                    if (!rk_ref_domain_valid(e->v[k].host) ||
                        !rk_ref_path_valid(e->v[k].path))
                        abort(); /* endpoints are always usable names */
                rk_endpoints_free(e);
            } else {
                rk_error_free(err);
                err = NULL;
            }
        }
        /* a second file merges */
        if (rk_regconf_parse_buffer(c, (const char *)data, size, "again.conf",
                                    &err) < 0)
            abort(); /* it parsed once */
    } else {
        if (!err || strchr(err->msg, '\n'))
            abort();
        rk_error_free(err);
    }
    rk_regconf_free(c);
    return 0;
}

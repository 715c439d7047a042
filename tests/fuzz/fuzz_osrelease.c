/* libFuzzer target: os-release(5) parsing, family detection and the
 * provisioning recipe built from it. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/digest.h"
#include "base/error.h"
#include "base/strv.h"
#include "image/osrelease.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 65536)
        return 0;
    rk_os_release os;
    rk_error *err = NULL;
    if (rk_os_release_parse((const char *)data, size, &os, &err) < 0) {
        if (!err || !err->msg || err->status != 125)
            abort();
        rk_error_free(err);
        return 0;
    }
    if (!os.id || !*os.id || !os.pretty_name || !*os.pretty_name || !os.vars || !os.id_like)
        abort();
    for (size_t i = 0; os.vars[i]; i++) {
        const char *eq = strchr(os.vars[i], '=');
        if (!eq || eq == os.vars[i])
            abort();
        /* Keys are unique: the value found is this entry's. */
        char *key = rk_xstrndup(os.vars[i], (size_t)(eq - os.vars[i]));
        if (rk_os_release_get(&os, key) != eq + 1)
            abort();
        free(key);
    }
    for (size_t i = 0; os.id_like[i]; i++)
        if (!*os.id_like[i] || strpbrk(os.id_like[i], " \t\n"))
            abort();
    rk_os_family f = rk_os_family_detect(&os);
    /* Every tool mask: none, all, and each tool alone. */
    for (unsigned m = 0; m <= RK_PKG_MAX_; m++) {
        unsigned tools = m == RK_PKG_MAX_ ? ~0u : m ? RK_PKG_BIT(m) : 0;
        rk_recipe r;
        bool unknown = false;
        if (rk_recipe_for(&os, tools, &r, &unknown, &err) < 0) {
            if (!err || unknown != (f == RK_OS_UNKNOWN))
                abort();
            rk_error_free(err);
            err = NULL;
            continue;
        }
        if (f == RK_OS_UNKNOWN || r.family != f || r.tool == RK_PKG_NONE ||
            !(tools & RK_PKG_BIT(r.tool)) || !rk_digest_valid(r.key) || !r.commands ||
            rk_strv_len(r.commands) < 2 || !strstr(r.text, r.script))
            abort();
        /* The commands never carry text from the file. */
        for (size_t i = 0; r.commands[i]; i++)
            if (strchr(r.commands[i], '\n'))
                abort();
        rk_recipe_clear(&r);
    }
    rk_os_release_clear(&os);
    return 0;
}

/* Fuzz the parsers of runtime/boot.c: what comes from an OS container
 * (notify datagrams, console bytes) or its image (/etc/locale.conf,
 * /etc/default/locale, /etc/fstab). The first byte picks the parser. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/error.h"
#include "base/strv.h"
#include "runtime/boot.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    uint8_t which = data[0] % 4;
    const char *p = (const char *)data + 1;
    size_t n = size - 1;
    char *text = malloc(n + 1);
    if (!text)
        return 0;
    memcpy(text, p, n);
    text[n] = 0;
    switch (which) {
    case 0: {
        char **env = rk_boot_locale_parse(text);
        for (size_t i = 0; env && env[i]; i++)
            if (!strchr(env[i], '='))
                abort();
        rk_strv_free(env);
        break;
    }
    case 1: {
        char *status = NULL;
        (void)rk_boot_notify_ready(p, n, &status); /* not NUL terminated */
        free(status);
        break;
    }
    case 2: {
        rk_console_tail *t = calloc(1, sizeof(*t));
        if (!t)
            break;
        /* in pieces, as a pty delivers them */
        for (size_t off = 0; off < n; off += 97)
            rk_console_tail_add(t, p + off, n - off < 97 ? n - off : 97);
        for (size_t lines = 0; lines < 20; lines += 7) {
            char *l = rk_console_tail_lines(t, lines);
            if (strchr(l, '\x1b') || strchr(l, '\r'))
                abort();
            free(l);
        }
        free(t);
        break;
    }
    case 3:
        (void)rk_boot_fstab_empty(text);
        break;
    }
    free(text);
    return 0;
}

/* libFuzzer target: postroj's image catalogue (JSON and its validation). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/error.h"
#include "base/strv.h"
#include "image/reference.h"
#include "probe/catalogue.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 65536)
        return 0;
    rk_catalogue *c = NULL;
    rk_error *err = NULL;
    if (rk_catalogue_parse((const char *)data, size, "fuzz.json", &c, &err) <
        0) {
        /* One printable line that names the file. */
        if (!err || !strstr(err->msg, "fuzz.json"))
            abort();
        for (const unsigned char *p = (const unsigned char *)err->msg; *p; p++)
            if (*p < 0x20)
                abort();
        rk_error_free(err);
        return 0;
    }
    if (!c || c->n == 0)
        abort();
    for (size_t i = 0; i < c->n; i++) {
        const rk_catalogue_image *img = &c->images[i];
        /* Every label and alias selects its own entry, and only it. */
        if (rk_catalogue_lookup(c, img->label) != img)
            abort();
        for (size_t k = 0; img->aliases[k]; k++)
            if (rk_catalogue_lookup(c, img->aliases[k]) != img)
                abort();
        /* References are canonical: they parse to themselves. */
        rk_ref *r = NULL;
        if (rk_ref_parse(img->reference, &r, NULL) < 0)
            abort();
        char *s = rk_ref_string(r);
        if (strcmp(s, img->reference))
            abort();
        free(s);
        rk_ref_free(r);
        if (!rk_catalogue_package_type(img) || img->webserver.port < 1 ||
            img->webserver.port > 65535 || !img->webserver.unit || !img->family)
            abort();
    }
    rk_catalogue_free(c);
    return 0;
}

/* libFuzzer target: image references (rk_ref_parse and friends).
 * Beyond "no crash", it checks that a normalized reference parses back to
 * itself. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/error.h"
#include "image/reference.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 4096)
        return 0;
    char *s = rk_xstrndup((const char *)data, size);
    rk_error *err = NULL;
    rk_ref *r = NULL;
    (void)rk_domain_is_loopback(s);
    (void)rk_tag_valid(s);
    (void)rk_ref_domain_valid(s);
    (void)rk_ref_path_valid(s);
    if (rk_ref_parse(s, &r, &err) == 0) {
        char *full = rk_ref_string(r);
        char *fam = rk_ref_familiar(r);
        char *name = rk_ref_name(r);
        rk_ref *again = NULL;
        rk_error *e2 = NULL;
        if (rk_ref_parse(full, &again, &e2) < 0)
            abort(); /* a normalized reference must parse */
        char *full2 = rk_ref_string(again);
        if (strcmp(full, full2) != 0)
            abort(); /* ... to itself */
        rk_ref *fr = NULL;
        if (rk_ref_parse(fam, &fr, &e2) < 0)
            abort(); /* so must the familiar form */
        char *full3 = rk_ref_string(fr);
        if (strcmp(full, full3) != 0)
            abort();
        rk_ref *moved = rk_ref_with_domain(r, "quay.io");
        char *ms = rk_ref_string(moved);
        free(ms);
        rk_ref_free(moved);
        (void)rk_ref_api_host(r->domain);
        (void)rk_domain_is_loopback(r->domain);
        free(full3);
        rk_ref_free(fr);
        free(full2);
        rk_ref_free(again);
        free(name);
        free(fam);
        free(full);
        rk_ref_free(r);
    } else {
        if (!err || err->status != 125 || strchr(err->msg, '\n'))
            abort(); /* errors are one line with status 125 */
        rk_error_free(err);
    }
    free(s);
    return 0;
}

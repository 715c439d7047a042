/* libFuzzer target: WWW-Authenticate headers and the token URL. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/error.h"
#include "image/challenge.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *s = rk_xstrndup((const char *)data, size);
    rk_challenges *cs = NULL;
    rk_error *err = NULL;
    if (rk_challenges_parse(s, &cs, &err) == 0) {
        if (cs->n == 0)
            abort();
        for (size_t i = 0; i < cs->n; i++) {
            const rk_challenge *c = &cs->v[i];
            for (size_t k = 0; k < c->n_params; k++)
                if (rk_challenge_param(c, c->params[k].name) !=
                    c->params[k].value)
                    abort(); /* names are unique */
            const char *realm = rk_challenge_param(c, "realm");
            const char *service = rk_challenge_param(c, "service");
            const char *scope = rk_challenge_param(c, "scope");
            const char *scopes[] = {scope, NULL};
            char *url = NULL;
            rk_error *e2 = NULL;
            if (rk_bearer_token_url(realm, service, scope ? scopes : NULL, &url,
                                    &e2) == 0) {
                for (const char *p = url; *p; p++)
                    if ((unsigned char)*p <= 0x20 || (unsigned char)*p >= 0x7f)
                        abort(); /* the URL is always clean */
                free(url);
            } else {
                rk_error_free(e2);
            }
        }
        (void)rk_challenges_find(cs, "bearer");
        rk_challenges_free(cs);
    } else {
        if (!err || strchr(err->msg, '\n'))
            abort();
        rk_error_free(err);
    }
    char *e = rk_url_escape(s);
    free(e);
    free(s);
    return 0;
}

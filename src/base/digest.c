#include "base/digest.h"

#include <errno.h>
#include <openssl/evp.h>
#include <string.h>

int rk_sha256_init(rk_sha256 *h)
{
    EVP_MD_CTX *c = EVP_MD_CTX_new();
    if (!c || EVP_DigestInit_ex(c, EVP_sha256(), NULL) != 1) {
        EVP_MD_CTX_free(c);
        h->ctx = NULL;
        return -1;
    }
    h->ctx = c;
    return 0;
}

void rk_sha256_update(rk_sha256 *h, const void *data, size_t len)
{
    if (h->ctx && len)
        EVP_DigestUpdate(h->ctx, data, len);
}

static void to_hex(const unsigned char *md, char out[RK_DIGEST_LEN + 1])
{
    static const char hex[] = "0123456789abcdef";
    memcpy(out, "sha256:", 7);
    for (int i = 0; i < 32; i++) {
        out[7 + 2 * i] = hex[md[i] >> 4];
        out[8 + 2 * i] = hex[md[i] & 15];
    }
    out[RK_DIGEST_LEN] = 0;
}

void rk_sha256_final(rk_sha256 *h, char out[RK_DIGEST_LEN + 1])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    if (!h->ctx || EVP_DigestFinal_ex(h->ctx, md, &n) != 1 || n != 32)
        memset(md, 0, sizeof(md));
    to_hex(md, out);
    rk_sha256_free(h);
}

void rk_sha256_free(rk_sha256 *h)
{
    EVP_MD_CTX_free(h->ctx);
    h->ctx = NULL;
}

void rk_sha256_buf(const void *data, size_t len, char out[RK_DIGEST_LEN + 1])
{
    rk_sha256 h;
    rk_sha256_init(&h);
    rk_sha256_update(&h, data, len);
    rk_sha256_final(&h, out);
}

bool rk_digest_valid(const char *d)
{
    if (!d || strncmp(d, "sha256:", 7) != 0)
        return false;
    for (int i = 0; i < 64; i++) {
        char c = d[7 + i];
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
            return false;
    }
    return d[RK_DIGEST_LEN] == 0;
}

int rk_digest_check(const char *d, rk_error **err)
{
    if (rk_digest_valid(d))
        return 0;
    if (d && strchr(d, ':') && strncmp(d, "sha256:", 7) != 0)
        return rk_error_set(err, 0, "unsupported digest algorithm in \"%.80s\"",
                            d);
    return rk_error_set(err, 0, "invalid digest \"%.80s\"", d ? d : "");
}

char *rk_digest_short(const char *d)
{
    if (d && !strncmp(d, "sha256:", 7))
        d += 7;
    return rk_xstrndup(d ? d : "", 12);
}

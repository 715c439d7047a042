#include "config.h"

#include "probe/catalogue.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "base/cleanup.h"
#include "base/fs.h"
#include "base/json.h"
#include "base/strv.h"
#include "image/reference.h"

#define CATALOGUE_FILE "postroj-images.json"
#define CATALOGUE_MAX_SIZE (1u << 20)
#define LABEL_MAX 64
#define TOKEN_MAX 64

static const char *const families[] = {"debian", "fedora", "rhel",
                                       "suse",   "arch",   NULL};

/* Which package managers each family may name. */
static const struct {
    const char *family;
    const char *managers[4];
} family_managers[] = {
    {"debian", {"apt"}},
    {"fedora", {"dnf"}},
    {"rhel", {"dnf", "yum", "microdnf"}},
    {"suse", {"zypper"}},
    {"arch", {"pacman"}},
};

static const char *const managers[] = {"apt",    "dnf",    "yum", "microdnf",
                                       "zypper", "pacman", NULL};

static bool in_list(const char *const *list, const char *s)
{
    for (; *list; list++)
        if (!strcmp(*list, s))
            return true;
    return false;
}

static char *join_list(const char *const *list)
{
    return rk_strv_join((char *const *)list, ", ");
}

static bool label_valid(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > LABEL_MAX)
        return false;
    if (!((s[0] >= 'a' && s[0] <= 'z') || (s[0] >= '0' && s[0] <= '9')))
        return false;
    for (const char *p = s; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') ||
              *p == '.' || *p == '_' || *p == '-'))
            return false;
    return true;
}

/* name, release, version, package: short printable words. */
static bool token_valid(const char *s, const char *extra)
{
    size_t n = strlen(s);
    if (n == 0 || n > TOKEN_MAX)
        return false;
    for (const char *p = s; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
              (*p >= '0' && *p <= '9') || strchr(extra, *p)))
            return false;
    return true;
}

/* systemd unit names: [A-Za-z0-9:_.\\@-]+, here always a service. */
static bool unit_valid(const char *s)
{
    size_t n = strlen(s);
    if (n <= strlen(".service") || n > 255 || !rk_endswith(s, ".service"))
        return false;
    for (const char *p = s; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
              (*p >= '0' && *p <= '9') || strchr(":_.\\@-", *p)))
            return false;
    return true;
}

static bool text_valid(const char *s)
{
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        if (*p < 0x20 || *p == 0x7f)
            return false;
    return true;
}

/* Context for messages about one entry. */
struct ctx {
    const char *source;
    size_t index;
    const char *label; /* once known and valid */
};

__attribute__((format(printf, 3, 4))) static int
entry_error(rk_error **err, const struct ctx *c, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    _cleanup_free_ char *m = rk_xvasprintf(fmt, ap);
    va_end(ap);
    if (c->label)
        return rk_error_set(err, 0, "%s: images[%zu] (\"%s\"): %s", c->source,
                            c->index, c->label, m);
    return rk_error_set(err, 0, "%s: images[%zu]: %s", c->source, c->index,
                        m);
}

static int check_keys(json_t *obj, const char *const *allowed,
                      const struct ctx *c, const char *where, rk_error **err)
{
    const char *key;
    json_t *v;
    json_object_foreach(obj, key, v)
    {
        if (!in_list(allowed, key)) {
            _cleanup_free_ char *list = join_list(allowed);
            if (c)
                return entry_error(
                    err, c, "unknown key \"%.64s\"%s%s (known: %s)", key,
                    where ? " in " : "", where ? where : "", list);
            return rk_error_set(
                err, 0, "%s: unknown top-level key \"%.64s\" (known: %s)",
                where, key, list);
        }
    }
    return 0;
}

/* A required (or optional) string member, copied into *out. */
static int get_string(json_t *obj, const char *key, bool required,
                      const struct ctx *c, const char *where, char **out,
                      rk_error **err)
{
    json_t *v = json_object_get(obj, key);
    if (!v) {
        if (!required)
            return 0;
        return entry_error(err, c, "missing \"%s\"%s%s", key,
                           where ? " in " : "", where ? where : "");
    }
    if (!json_is_string(v))
        return entry_error(err, c, "\"%s\"%s%s must be a string", key,
                           where ? " in " : "", where ? where : "");
    const char *s = json_string_value(v);
    if (!*s)
        return entry_error(err, c, "\"%s\"%s%s must not be empty", key,
                           where ? " in " : "", where ? where : "");
    *out = rk_xstrdup(s);
    return 0;
}

static void image_clear(rk_catalogue_image *img)
{
    free(img->label);
    rk_strv_free(img->aliases);
    free(img->name);
    free(img->release);
    free(img->version);
    free(img->family);
    free(img->package_manager);
    free(img->reference);
    free(img->webserver.package);
    free(img->webserver.unit);
    free(img->notes);
    memset(img, 0, sizeof(*img));
}

static int parse_webserver(json_t *v, struct ctx *c, rk_catalogue_webserver *ws,
                           rk_error **err)
{
    static const char *const keys[] = {"package", "unit", "port", NULL};
    if (!v)
        return entry_error(err, c, "missing \"webserver\"");
    if (!json_is_object(v))
        return entry_error(err, c, "\"webserver\" must be an object");
    if (check_keys(v, keys, c, "\"webserver\"", err) < 0)
        return -1;
    if (get_string(v, "package", true, c, "\"webserver\"", &ws->package, err) <
            0 ||
        get_string(v, "unit", true, c, "\"webserver\"", &ws->unit, err) < 0)
        return -1;
    if (!token_valid(ws->package, "+._-"))
        return entry_error(
            err, c, "\"webserver\" package \"%.64s\" is not a package name",
            ws->package);
    if (!unit_valid(ws->unit))
        return entry_error(
            err, c, "\"webserver\" unit \"%.64s\" is not a .service unit name",
            ws->unit);
    json_t *port = json_object_get(v, "port");
    if (!port)
        return entry_error(err, c, "missing \"port\" in \"webserver\"");
    if (!json_is_integer(port) || json_integer_value(port) < 1 ||
        json_integer_value(port) > 65535)
        return entry_error(
            err, c,
            "\"port\" in \"webserver\" must be an integer from 1 to 65535");
    ws->port = (unsigned)json_integer_value(port);
    return 0;
}

static int parse_entry(json_t *e, struct ctx *c, rk_catalogue_image *img,
                       rk_error **err)
{
    static const char *const keys[] = {
        "label",  "aliases",         "name",      "release",   "version",
        "family", "package_manager", "reference", "webserver", "notes",
        NULL};
    if (!json_is_object(e))
        return entry_error(err, c, "must be an object");
    /* The label first, so that every later message can name the entry. */
    if (get_string(e, "label", true, c, NULL, &img->label, err) < 0)
        return -1;
    if (!label_valid(img->label))
        return entry_error(err, c,
                           "label \"%.64s\" must be lowercase letters, digits, "
                           "'.', '_' or '-' "
                           "(at most %d, starting with a letter or digit)",
                           img->label, LABEL_MAX);
    c->label = img->label;
    if (check_keys(e, keys, c, NULL, err) < 0)
        return -1;

    img->aliases = rk_xcalloc(1, sizeof(char *));
    json_t *al = json_object_get(e, "aliases");
    if (al) {
        if (!json_is_array(al))
            return entry_error(err, c,
                               "\"aliases\" must be an array of strings");
        size_t i;
        json_t *a;
        json_array_foreach(al, i, a)
        {
            if (!json_is_string(a))
                return entry_error(err, c, "\"aliases\"[%zu] must be a string",
                                   i);
            const char *s = json_string_value(a);
            if (!label_valid(s))
                return entry_error(err, c,
                                   "alias \"%.64s\" is not a valid label", s);
            if (!strcmp(s, img->label) || rk_strv_contains(img->aliases, s))
                return entry_error(err, c, "alias \"%.64s\" is given twice", s);
            rk_strv_push_dup(&img->aliases, s);
        }
    }

    if (get_string(e, "name", true, c, NULL, &img->name, err) < 0 ||
        get_string(e, "release", true, c, NULL, &img->release, err) < 0 ||
        get_string(e, "version", true, c, NULL, &img->version, err) < 0 ||
        get_string(e, "family", true, c, NULL, &img->family, err) < 0 ||
        get_string(e, "package_manager", true, c, NULL, &img->package_manager,
                   err) < 0 ||
        get_string(e, "reference", true, c, NULL, &img->reference, err) < 0 ||
        get_string(e, "notes", false, c, NULL, &img->notes, err) < 0)
        return -1;
    if (!label_valid(img->name))
        return entry_error(
            err, c,
            "name \"%.64s\" must be lowercase letters, digits, '.', '_' or '-'",
            img->name);
    if (!token_valid(img->release, "._-"))
        return entry_error(
            err, c,
            "release \"%.64s\" must be letters, digits, '.', '_' or '-'",
            img->release);
    if (!token_valid(img->version, "._-"))
        return entry_error(
            err, c,
            "version \"%.64s\" must be letters, digits, '.', '_' or '-'",
            img->version);
    if (!in_list(families, img->family)) {
        _cleanup_free_ char *list = join_list(families);
        return entry_error(err, c,
                           "\"family\" must be one of %s, not \"%.64s\"", list,
                           img->family);
    }
    if (!in_list(managers, img->package_manager)) {
        _cleanup_free_ char *list = join_list(managers);
        return entry_error(
            err, c, "\"package_manager\" must be one of %s, not \"%.64s\"",
            list, img->package_manager);
    }
    for (size_t i = 0; i < RK_ELEMENTSOF(family_managers); i++) {
        if (strcmp(family_managers[i].family, img->family))
            continue;
        bool ok = false;
        for (size_t k = 0; k < RK_ELEMENTSOF(family_managers[i].managers) &&
                           family_managers[i].managers[k];
             k++)
            ok |= !strcmp(family_managers[i].managers[k], img->package_manager);
        if (!ok)
            return entry_error(
                err, c, "package manager \"%s\" does not go with family \"%s\"",
                img->package_manager, img->family);
    }
    if (img->notes && !text_valid(img->notes))
        return entry_error(
            err, c, "\"notes\" must be one line without control characters");

    if (!text_valid(img->reference) || strlen(img->reference) > 300)
        return entry_error(err, c, "reference \"%.64s\" is not a reference",
                           img->reference);
    rk_error *rerr = NULL;
    _cleanup_ref_ rk_ref *ref = NULL;
    if (rk_ref_parse(img->reference, &ref, &rerr) < 0) {
        entry_error(err, c, "%s", rerr->msg);
        rk_error_free(rerr);
        return -1;
    }
    _cleanup_free_ char *canon = rk_ref_string(ref);
    /* A curated image names its registry, path and tag exactly, so that
     * what list-images shows is what is pulled, whatever the host's
     * unqualified-search-registries say. */
    if (ref->unqualified || strcmp(canon, img->reference))
        return entry_error(
            err, c,
            "reference \"%.64s\" is not in canonical form; write \"%.64s\"",
            img->reference, canon);

    return parse_webserver(json_object_get(e, "webserver"), c, &img->webserver,
                           err);
}

/* Every label and alias must select one image only. */
static int check_unique(const rk_catalogue *cat, rk_error **err)
{
    for (size_t i = 0; i < cat->n; i++) {
        const rk_catalogue_image *a = &cat->images[i];
        for (size_t k = 0; k <= rk_strv_len(a->aliases); k++) {
            const char *name = k == 0 ? a->label : a->aliases[k - 1];
            for (size_t j = 0; j < i; j++) {
                const rk_catalogue_image *b = &cat->images[j];
                if (!strcmp(b->label, name) ||
                    rk_strv_contains(b->aliases, name))
                    return rk_error_set(
                        err, 0,
                        "%s: images[%zu] (\"%s\"): \"%s\" already names "
                        "images[%zu] (\"%s\")",
                        cat->path, i, a->label, name, j, b->label);
            }
        }
    }
    return 0;
}

/* Messages quote values from the file: keep them one printable line. */
static void sanitize_message(char *m)
{
    for (unsigned char *p = (unsigned char *)m; *p; p++)
        if (*p < 0x20 || *p == 0x7f)
            *p = '?';
}

static int parse_text(const char *text, size_t len, const char *source,
                      rk_catalogue **ret, rk_error **err);

int rk_catalogue_parse(const char *text, size_t len, const char *source,
                       rk_catalogue **ret, rk_error **err)
{
    rk_error *e = NULL;
    if (parse_text(text, len, source ? source : "<string>", ret, &e) < 0) {
        if (!e)
            rk_error_set(&e, 0, "%s: invalid catalogue",
                         source ? source : "<string>");
        sanitize_message(e->msg);
        if (err && !*err)
            *err = e;
        else
            rk_error_free(e);
        return -1;
    }
    return 0;
}

static int parse_text(const char *text, size_t len, const char *source,
                      rk_catalogue **ret, rk_error **err)
{
    json_error_t jerr;
    _cleanup_json_ json_t *root =
        json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!root)
        return rk_error_set(err, 0, "%s:%d:%d: invalid JSON: %s", source,
                            jerr.line, jerr.column, jerr.text);
    if (!json_is_object(root))
        return rk_error_set(err, 0, "%s: the catalogue must be a JSON object",
                            source);
    static const char *const top_keys[] = {"format", "comment", "images", NULL};
    if (check_keys(root, top_keys, NULL, source, err) < 0)
        return -1;
    json_t *fmt = json_object_get(root, "format");
    if (!fmt)
        return rk_error_set(err, 0, "%s: missing \"format\" (1)", source);
    if (!json_is_integer(fmt) || json_integer_value(fmt) != 1)
        return rk_error_set(
            err, 0, "%s: unsupported \"format\" (this postroj reads format 1)",
            source);
    json_t *comment = json_object_get(root, "comment");
    if (comment && !json_is_string(comment))
        return rk_error_set(err, 0, "%s: \"comment\" must be a string", source);
    json_t *images = json_object_get(root, "images");
    if (!images)
        return rk_error_set(err, 0, "%s: missing \"images\"", source);
    if (!json_is_array(images) || json_array_size(images) == 0)
        return rk_error_set(err, 0, "%s: \"images\" must be a non-empty array",
                            source);

    rk_catalogue *cat = rk_xcalloc(1, sizeof(*cat));
    cat->path = rk_xstrdup(source);
    cat->images =
        rk_xcalloc(json_array_size(images), sizeof(rk_catalogue_image));
    size_t i;
    json_t *e;
    json_array_foreach(images, i, e)
    {
        struct ctx c = {.source = source, .index = i};
        /* Counted before parsing so that a half-filled entry is freed too. */
        cat->n = i + 1;
        if (parse_entry(e, &c, &cat->images[i], err) < 0) {
            rk_catalogue_free(cat);
            return -1;
        }
    }
    if (check_unique(cat, err) < 0) {
        rk_catalogue_free(cat);
        return -1;
    }
    *ret = cat;
    return 0;
}

int rk_catalogue_load(const char *path, rk_catalogue **ret, rk_error **err)
{
    _cleanup_free_ char *text = NULL;
    size_t len = 0;
    if (rk_read_file_at(AT_FDCWD, path, CATALOGUE_MAX_SIZE, &text, &len, err) <
        0)
        return rk_error_wrap(err, "reading the image catalogue");
    return rk_catalogue_parse(text, len, path, ret, err);
}

static bool is_regular(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

int rk_catalogue_default_path(char **ret, rk_error **err)
{
    const char *env = getenv("POSTROJ_CATALOGUE");
    if (env && *env) {
        struct stat st;
        if (stat(env, &st) < 0)
            return rk_error_set(err, errno,
                                "image catalogue %s (from $POSTROJ_CATALOGUE)",
                                env);
        if (!S_ISREG(st.st_mode))
            return rk_error_set(err, 0,
                                "image catalogue %s (from $POSTROJ_CATALOGUE) "
                                "is not a regular file",
                                env);
        *ret = rk_xstrdup(env);
        return 0;
    }
    _cleanup_free_ char *installed =
        rk_path_join(RACKER_DATA_DIR, CATALOGUE_FILE);
    if (is_regular(installed)) {
        *ret = TAKE_PTR(installed);
        return 0;
    }
    _cleanup_free_ char *source =
        rk_path_join(RACKER_SOURCE_DATA_DIR, CATALOGUE_FILE);
    if (is_regular(source)) {
        *ret = TAKE_PTR(source);
        return 0;
    }
    return rk_error_set(
        err, 0,
        "no image catalogue: neither %s nor %s exists (set $POSTROJ_CATALOGUE)",
        installed, source);
}

int rk_catalogue_load_default(rk_catalogue **ret, rk_error **err)
{
    _cleanup_free_ char *path = NULL;
    if (rk_catalogue_default_path(&path, err) < 0)
        return -1;
    return rk_catalogue_load(path, ret, err);
}

const rk_catalogue_image *rk_catalogue_lookup(const rk_catalogue *c,
                                              const char *label)
{
    if (!c || !label)
        return NULL;
    for (size_t i = 0; i < c->n; i++)
        if (!strcmp(c->images[i].label, label) ||
            rk_strv_contains(c->images[i].aliases, label))
            return &c->images[i];
    return NULL;
}

const char *rk_catalogue_package_type(const rk_catalogue_image *img)
{
    if (!strcmp(img->package_manager, "apt"))
        return "deb";
    if (!strcmp(img->package_manager, "pacman"))
        return "pacman";
    return "rpm";
}

void rk_catalogue_free(rk_catalogue *c)
{
    if (!c)
        return;
    for (size_t i = 0; i < c->n; i++)
        image_clear(&c->images[i]);
    free(c->images);
    free(c->path);
    free(c);
}

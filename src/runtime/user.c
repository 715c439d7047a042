#include "runtime/user.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "base/cleanup.h"
#include "base/strv.h"

void rk_user_clear(rk_user *u)
{
    free(u->groups);
    free(u->home);
    memset(u, 0, sizeof(*u));
}

int rk_user_spec_split(const char *spec, char **ret_user, char **ret_group,
                       rk_error **err)
{
    *ret_user = *ret_group = NULL;
    if (!spec)
        spec = "";
    const char *colon = strchr(spec, ':');
    if (colon && strchr(colon + 1, ':'))
        return rk_error_set_status(err, 125, 0, "invalid user '%s': expected user[:group]", spec);
    if (colon && !colon[1])
        return rk_error_set_status(err, 125, 0, "invalid user '%s': empty group", spec);
    *ret_user = colon ? rk_xstrndup(spec, (size_t)(colon - spec)) : rk_xstrdup(spec);
    *ret_group = colon ? rk_xstrdup(colon + 1) : NULL;
    return 0;
}

static bool parse_id(const char *s, unsigned long *ret)
{
    unsigned long long v;
    if (!rk_parse_uint64(s, &v) || v > 0xfffffffeULL)
        return false;
    *ret = (unsigned long)v;
    return true;
}

/* Split one line of a colon-separated database into at most max fields
 * (the line is modified). Returns the number of fields. */
static size_t split_fields(char *line, char **f, size_t max)
{
    size_t n = 0;
    f[n++] = line;
    for (char *p = line; *p && n < max; p++)
        if (*p == ':') {
            *p = 0;
            f[n++] = p + 1;
        }
    return n;
}

typedef struct pw_entry {
    char *name;
    unsigned long uid, gid;
    char *home;
} pw_entry;

/* Find the passwd entry with this name (by_name) or uid. 1 found, 0 not. */
static int passwd_find(const char *text, const char *name, bool by_name,
                       unsigned long uid, pw_entry *ret)
{
    if (!text)
        return 0;
    _cleanup_free_ char *copy = rk_xstrdup(text);
    char *save = NULL;
    for (char *line = strtok_r(copy, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        if (line[0] == '#' || line[0] == '+' || line[0] == '-')
            continue;
        char *f[7];
        if (split_fields(line, f, 7) < 7)
            continue;
        unsigned long u, g;
        if (!parse_id(f[2], &u) || !parse_id(f[3], &g))
            continue;
        if (by_name ? strcmp(f[0], name) != 0 : u != uid)
            continue;
        ret->name = rk_xstrdup(f[0]);
        ret->uid = u;
        ret->gid = g;
        ret->home = rk_xstrdup(f[5]);
        return 1;
    }
    return 0;
}

/* Find a group by name; 1 found. */
static int group_find_name(const char *text, const char *name, unsigned long *gid)
{
    if (!text)
        return 0;
    _cleanup_free_ char *copy = rk_xstrdup(text);
    char *save = NULL;
    for (char *line = strtok_r(copy, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        char *f[4];
        if (line[0] == '#' || split_fields(line, f, 4) < 3)
            continue;
        unsigned long g;
        if (!strcmp(f[0], name) && parse_id(f[2], &g)) {
            *gid = g;
            return 1;
        }
    }
    return 0;
}

static void add_group(rk_user *u, gid_t g)
{
    for (size_t i = 0; i < u->n_groups; i++)
        if (u->groups[i] == g)
            return;
    u->groups = rk_xrealloc(u->groups, (u->n_groups + 1) * sizeof(gid_t));
    u->groups[u->n_groups++] = g;
}

static void add_member_groups(rk_user *u, const char *text, const char *user)
{
    if (!text || !user)
        return;
    _cleanup_free_ char *copy = rk_xstrdup(text);
    char *save = NULL;
    for (char *line = strtok_r(copy, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        char *f[4];
        unsigned long g;
        if (line[0] == '#' || split_fields(line, f, 4) < 4 || !parse_id(f[2], &g))
            continue;
        char *msave = NULL;
        for (char *m = strtok_r(f[3], ",", &msave); m; m = strtok_r(NULL, ",", &msave))
            if (!strcmp(m, user)) {
                add_group(u, (gid_t)g);
                break;
            }
    }
}

int rk_user_resolve(const char *spec, const char *passwd, const char *group,
                    rk_user *ret, rk_error **err)
{
    memset(ret, 0, sizeof(*ret));
    _cleanup_free_ char *uname = NULL, *gname = NULL;
    if (rk_user_spec_split(spec, &uname, &gname, err) < 0)
        return -1;

    pw_entry pw = {0};
    unsigned long num;
    int found;
    if (!*uname) {
        found = passwd_find(passwd, NULL, false, 0, &pw);
        if (!found)
            pw.uid = pw.gid = 0;
    } else if (parse_id(uname, &num)) {
        found = passwd_find(passwd, NULL, false, num, &pw);
        if (!found) {
            pw.uid = num;
            pw.gid = 0;
        }
    } else {
        found = passwd_find(passwd, uname, true, 0, &pw);
        if (!found)
            return rk_error_set_status(err, 125, 0,
                                       "unable to find user %s: no matching entries in passwd file",
                                       uname);
    }
    ret->uid = (uid_t)pw.uid;
    ret->gid = (gid_t)pw.gid;
    ret->home = pw.home && *pw.home ? TAKE_PTR(pw.home) : rk_xstrdup("/");
    free(pw.home);

    if (gname) {
        unsigned long g;
        if (parse_id(gname, &g)) {
            ret->gid = (gid_t)g;
        } else if (group_find_name(group, gname, &g)) {
            ret->gid = (gid_t)g;
        } else {
            free(pw.name);
            rk_user_clear(ret);
            return rk_error_set_status(err, 125, 0,
                                       "unable to find group %s: no matching entries in group file",
                                       gname);
        }
    }
    add_group(ret, ret->gid);
    if (found)
        add_member_groups(ret, group, pw.name);
    free(pw.name);
    return 0;
}

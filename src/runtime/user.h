/* Resolving `-u user[:group]` against the container's /etc/passwd and
 * /etc/group. Pure: the caller reads the files through the container's
 * root (never the host's) and hands over their text. */
#pragma once

#include <stddef.h>
#include <sys/types.h>

#include "base/error.h"

typedef struct rk_user {
    uid_t uid;
    gid_t gid;
    gid_t *groups; /* supplementary groups (the primary one included) */
    size_t n_groups;
    char *home;    /* from passwd; "/" when the user has no entry */
} rk_user;

void rk_user_clear(rk_user *u);

/* Split "user[:group]" into its parts. An empty user part ("" or ":g")
 * means root. Error status 125. */
int rk_user_spec_split(const char *spec, char **ret_user, char **ret_group,
                       rk_error **err);

/* Resolve spec (NULL or "" = root) in the given passwd and group texts
 * (either may be NULL: a missing file). Docker's rules:
 *   - a name must exist in passwd; a number need not (then gid 0, HOME /);
 *   - the group is the passwd entry's unless ":group" names one, by name
 *     (must exist in group) or number;
 *   - supplementary groups are the groups that list the user as a member.
 * Error status 125 ("unable to find user X: no matching entries in passwd
 * file"). */
int rk_user_resolve(const char *spec, const char *passwd, const char *group,
                    rk_user *ret, rk_error **err);

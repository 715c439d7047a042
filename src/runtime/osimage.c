#include "runtime/osimage.h"

#include "base/strv.h"
#include "runtime/boot.h"
#include "runtime/provision.h"

int rk_boot_decide(rk_store *store, const rk_boot_decision_opts *o, const char *what,
                   rk_image **img, char ***layers, char **ret_init, rk_error **err)
{
    *ret_init = NULL;
    if (o->mode == RK_BOOT_NO)
        return 0;
    *ret_init = rk_boot_find_systemd(*layers, rk_strv_len(*layers));
    if (*ret_init)
        return 0;
    if (!*img) {
        if (o->mode == RK_BOOT_YES)
            return rk_error_set_status(err, 125, 0,
                                       "--boot=yes: cannot boot %s: it has no systemd "
                                       "(/lib/systemd/systemd, /usr/lib/systemd/systemd or "
                                       "/sbin/init as systemd)", what);
        return 0;
    }
    rk_provision_plan plan;
    if (rk_provision_inspect(*img, &plan, err) < 0)
        return -1;
    int rc = 0;
    switch (plan.kind) {
    case RK_PROVISION_NOT_OS:
    case RK_PROVISION_UNKNOWN_OS:
        if (o->mode == RK_BOOT_YES)
            rc = rk_error_set_status(err, 125, 0,
                                     "--boot=yes: cannot boot %s: it has no systemd, and racker "
                                     "cannot install it (%s)", what, plan.reason);
        break;
    case RK_PROVISION_IMPOSSIBLE:
        rc = rk_error_set_status(err, 125, 0,
                                 "cannot boot %s: it has no systemd, and racker cannot install "
                                 "it: %s (run it with --boot=no as an application container)",
                                 what, plan.reason);
        break;
    case RK_PROVISION_READY: {
        rk_image *derived = NULL;
        if (rk_provision_find(store, *img, &derived, err) < 0) {
            rc = -1;
            break;
        }
        if (!derived) {
            if (o->on_provision)
                o->on_provision(o->ctx, what, rk_pkg_tool_name(plan.recipe.tool));
            rk_provision_opts po = {
                .containers_dir = o->containers_dir,
                .rundir = o->rundir,
                .on_line = o->on_line,
                .ctx = o->ctx,
            };
            if (rk_provision(store, *img, &po, &derived, err) < 0) {
                rc = rk_error_wrap(err, "provisioning %s", what);
                break;
            }
        }
        rk_image_free(*img);
        *img = derived;
        rk_strv_free(*layers);
        *layers = rk_strv_dup(derived->layer_dirs);
        *ret_init = rk_boot_find_systemd(*layers, rk_strv_len(*layers));
        if (!*ret_init)
            rc = rk_error_set_status(err, 125, 0,
                                     "the provisioned image of %s has no systemd after all", what);
        break;
    }
    }
    rk_provision_plan_clear(&plan);
    return rc;
}

/* Whether an image boots, and the image that does: the decision behind
 * `racker run --boot=auto|yes|no` and postroj's probes. */
#pragma once

#include "base/error.h"
#include "image/store.h"
#include "runtime/spec.h"

typedef struct rk_boot_decision_opts {
    enum rk_boot_mode mode;     /* RK_BOOT_NO, RK_BOOT_AUTO or RK_BOOT_YES */
    const char *containers_dir; /* for provisioning */
    const char *rundir;
    /* Provisioning starts (tool: "apt-get", "dnf"...), and each line its
     * package manager prints. Both may be NULL. */
    void (*on_provision)(void *ctx, const char *what, const char *tool);
    void (*on_line)(void *ctx, const char *line);
    void *ctx;
} rk_boot_decision_opts;

/* auto boots an image that has systemd, provisions an operating system
 * image that lacks it (and boots the result), and runs anything else
 * directly; yes fails where auto would not boot; no never boots.
 *
 * *img may be NULL (a --rootfs tree: then only its layers are looked
 * at). On success *ret_init is the path of PID 1 (NULL: an application
 * container) and *img, *layers may have become the provisioned image's.
 * `what` names the image in messages. Errors have status 125. */
int rk_boot_decide(rk_store *store, const rk_boot_decision_opts *o, const char *what,
                   rk_image **img, char ***layers, char **ret_init, rk_error **err);

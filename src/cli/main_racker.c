/* racker's verb table and top-level option parsing. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/cleanup.h"
#include "cli/cli.h"

const struct rk_verb rk_racker_verbs[] = {
    {"pull", rk_cmd_pull, "pull an image from a registry into the store",
     "pull [-q] [--platform OS/ARCH[/VARIANT]] [--tls-verify=false] [--cert-dir DIR] REF\n"
     "\nDownload an image and unpack its layers into the store.\n"
     "\nOptions:\n"
     "  -q, --quiet           print nothing but errors\n"
     "  --platform P          pick P from a multi-platform image (default: the host's)\n"
     "  --tls-verify=BOOL     verify TLS certificates (default true); false also\n"
     "                        allows plain HTTP. Loopback registries always use HTTP\n"
     "  --cert-dir DIR        extra CA certificates DIR/*.crt and a client\n"
     "                        certificate DIR/NAME.cert with DIR/NAME.key (default:\n"
     "                        /etc/containers/certs.d/HOST/, /etc/docker/certs.d/HOST/)\n"
     "\nThe full reference is printed on stdout once the image is stored.\n"
     "Registries, mirrors and search registries come from registries.conf(5)\n"
     "($CONTAINERS_REGISTRIES_CONF, else ~/.config/containers/registries.conf or\n"
     "/etc/containers/registries.conf[.d], then ~/.config/containers/registries.conf.d);\n"
     "credentials from $REGISTRY_AUTH_FILE, $XDG_RUNTIME_DIR/containers/auth.json,\n"
     "~/.config/containers/auth.json or ~/.docker/config.json.\n"},
    {"images", rk_cmd_images, "list images in the store",
     "images [-q] [--digests] [--no-trunc] [--format table|json]\n"
     "\nOptions:\n"
     "  -q, --quiet    print image IDs only\n"
     "  --digests      show the registry digest of each image\n"
     "  --no-trunc     print full IDs\n"
     "  --format F     table (default) or json\n"},
    {"rmi", rk_cmd_rmi, "remove images",
     "rmi [-f] REF|ID...\n"
     "\nUntag and remove images. With an ID, every tag of that image goes.\n"
     "\nOptions:\n"
     "  -f, --force    remove even when the image has several tags or is used by a container\n"},
    {"inspect", rk_cmd_inspect, "show details of containers or images as JSON",
     "inspect [--type image|container] NAME|REF|ID...\n"
     "\nA container (by name or ID) is shown when there is one of that name, as\n"
     "in Docker; otherwise the image. One JSON array holds every object found;\n"
     "one that is not found is an error (exit 125) and the others are still\n"
     "printed.\n"},
    {"image", rk_cmd_image, "manage images (ls, rm, inspect, prune, mount, unmount)",
     "image ls|rm|inspect|prune|mount|unmount ...\n"
     "\n  image ls             same as 'images'\n"
     "  image rm REF...      same as 'rmi'\n"
     "  image inspect REF    same as 'inspect'\n"
     "  image prune          remove blobs and layers no image uses\n"
     "  image mount REF      mount the image's root file system read-only and print its path\n"
     "  image unmount REF    unmount it again\n"},
    {"info", rk_cmd_info, "show store, kernel and cgroup information",
     "info [--format table|json]\n"},
    {"run", rk_cmd_run, "run a command in a new container",
     "run [OPTIONS] IMAGE [COMMAND [ARG...]]\n"
     "       run [OPTIONS] --rootfs DIR COMMAND [ARG...]\n"
     "\nCreate a container from IMAGE (pulled when missing) and run COMMAND in it\n"
     "(default: the image's Entrypoint and Cmd). Everything after IMAGE belongs to\n"
     "the command.\n"
     "\nOptions:\n"
     "  -d, --detach             run in the background and print the container ID\n"
     "  -i, --interactive        forward stdin (without it, stdin is /dev/null)\n"
     "  -t, --tty                allocate a pty in the container\n"
     "  --rm                     remove the container when it exits\n"
     "  --name NAME              name the container (names are unique)\n"
     "  -e, --env K=V|K          set an environment variable (K alone: the host's value)\n"
     "  --env-file FILE          read K=V lines from FILE\n"
     "  -w, --workdir DIR        working directory in the container\n"
     "  -u, --user USER[:GROUP]  user (and group) from the container's passwd/group\n"
     "  --entrypoint CMD         replace the image's Entrypoint (and drop its Cmd)\n"
     "  -v, --volume SRC:DST[:ro|rw]  bind-mount host path SRC at DST\n"
     "  --tmpfs DST[:OPTS]       mount a tmpfs at DST\n"
     "  --read-only              mount the container's root read-only\n"
     "  --hostname NAME          the container's host name (default: its short ID)\n"
     "  --network host|none      the host's network (default) or only loopback\n"
     "  -p, --publish, -P        accepted and discarded with a warning: with the\n"
     "                           host's network a service is reachable as it is\n"
     "  -m, --memory SIZE        memory limit (e.g. 256m); the OOM killer enforces it\n"
     "  --cpus N                 CPU limit (e.g. 1.5)\n"
     "  --pids-limit N           limit on the number of processes\n"
     "  --cap-add CAP, --cap-drop CAP  change the capability set (ALL for all)\n"
     "  --privileged             all capabilities, no seccomp filter, writable /sys\n"
     "  --init                   run a tiny init as PID 1 that reaps and forwards signals\n"
     "  --stop-signal SIG        signal for 'racker stop' (default: the image's, or TERM)\n"
     "  --pull missing|always|never  when to pull the image (default missing)\n"
     "  --platform OS/ARCH       platform to pull\n"
     "  --tls-verify=BOOL        verify TLS certificates when pulling\n"
     "  --boot auto|yes|no       boot systemd as PID 1 and run the command in the\n"
     "                           booted system: auto (default) when the image has\n"
     "                           systemd, after installing it when the image is an\n"
     "                           OS without it; yes: fail when it cannot boot\n"
     "  --boot-timeout SECONDS   time to wait for systemd's READY=1 (default 30)\n"
     "  --rootfs DIR             run DIR (a root file system) instead of an image; it is\n"
     "                           the read-only layer under the container's writable one\n"
     "\nExit status: the command's, 128+N when signal N killed it, 125 when racker\n"
     "fails, 126 when the command cannot be executed, 127 when it is not found.\n"},
    {"ps", rk_cmd_ps, "list containers",
     "ps [-a] [-q] [--no-trunc] [--format table|json]\n"
     "\nOptions:\n"
     "  -a, --all      also stopped containers\n"
     "  -q, --quiet    print container IDs only\n"
     "  --no-trunc     print full IDs\n"
     "  --format F     table (default) or json\n"},
    {"exec", rk_cmd_exec, "run a command in a running container",
     "exec [-d] [-i] [-t] [-e K=V] [-w DIR] [-u USER[:GROUP]] CONTAINER COMMAND [ARG...]\n"
     "\nOptions:\n"
     "  -d, --detach       start the command in the background and return (its\n"
     "                     stdio is /dev/null; not with -t)\n"
     "  -i, --interactive  forward stdin\n"
     "  -t, --tty          allocate a terminal\n"
     "  -e, --env K[=V]    set an environment variable (K alone: from the host)\n"
     "  -w, --workdir DIR  working directory\n"
     "  -u, --user U[:G]   user and group, names or numbers\n"
     "\nThe command joins the container's namespaces and cgroup, with its\n"
     "capabilities, seccomp filter and environment. The exit status is the\n"
     "command's, as for run (125, 126, 127, 128+N).\n"},
    {"stop", rk_cmd_stop, "stop running containers",
     "stop [-t SECONDS] [-s SIGNAL] CONTAINER...\n"
     "\nSend the stop signal (the image's StopSignal, or TERM; SIGRTMIN+3, an\n"
     "orderly halt, for an OS container), then KILL after SECONDS (default 10).\n"},
    {"rm", rk_cmd_rm, "remove containers",
     "rm [-f] CONTAINER...\n"
     "\nOptions:\n"
     "  -f, --force    kill a running container first\n"},
    {"logs", rk_cmd_logs, "print the output of a detached container",
     "logs [-f] [-n LINES] CONTAINER\n"
     "\nOptions:\n"
     "  -f, --follow       keep printing new output until the container exits\n"
     "  -n, --tail LINES   only the last LINES lines of each stream (or \"all\")\n"
     "\nFor an OS container: its console (systemd's boot and shutdown messages),\n"
     "then what its command printed. stdout and stderr are kept apart, each on\n"
     "its own stream: their relative order is not kept.\n"},
    {NULL, NULL, NULL, NULL},
};

static void print_main_help(struct rk_cli *cli)
{
    printf("Usage: %s [GLOBAL OPTIONS] COMMAND [OPTIONS] [ARGS...]\n\n"
           "Pull OCI and Docker images and run them as OS containers.\n\n"
           "Commands:\n",
           cli->prog);
    for (const struct rk_verb *v = rk_racker_verbs; v->name; v++)
        printf("  %-10s %s\n", v->name, v->summary);
    rk_cli_print_global_help();
    printf("\nExit status: 125 when racker itself fails (bad flag, bad reference,\n"
           "registry or store error); see docs/CLI.md for the rest.\n"
           "Run '%s COMMAND --help' for a command's options.\n",
           cli->prog);
}

const struct rk_verb *rk_cli_find_verb(const struct rk_verb *table, const char *name)
{
    for (const struct rk_verb *v = table; v->name; v++)
        if (!strcmp(v->name, name))
            return v;
    return NULL;
}

int rk_cli_init(struct rk_cli *cli, const char *prog, int usage_status)
{
    memset(cli, 0, sizeof(*cli));
    cli->prog = prog;
    cli->usage_status = usage_status;
    const char *root = getenv("RACKER_ROOT");
    cli->root = rk_xstrdup(root && *root ? root : RACKER_DEFAULT_ROOT);
    const char *run = getenv("RACKER_RUNDIR");
    cli->rundir = rk_xstrdup(run && *run ? run : RACKER_DEFAULT_RUNDIR);
    cli->level = RK_LOG_NORMAL;
    rk_log_init(prog, cli->level);
    return 0;
}

void rk_cli_done(struct rk_cli *cli)
{
    free(cli->root);
    free(cli->rundir);
}

int rk_cli_main_racker(int argc, char **argv)
{
    return rk_cli_main(argc, argv, "racker", RK_EXIT_FAILURE, rk_racker_verbs, print_main_help);
}

/* rk-helper: a tiny static multi-call program for the runtime's tests. It
 * is copied into a test root file system (no distribution needed) and
 * reports what the container looks like from inside.
 *
 *   rk-helper args A B...        each argument as [A] on its own line
 *   rk-helper env                the environment, one per line
 *   rk-helper cwd                the working directory
 *   rk-helper ids                uid=U gid=G groups=G1,G2
 *   rk-helper caps               CapEff/CapBnd/... NoNewPrivs Seccomp lines
 *   rk-helper hostname           the host name
 *   rk-helper mounts             /proc/self/mountinfo
 *   rk-helper pid                pid=P ppid=Q
 *   rk-helper exit N             exit with status N
 *   rk-helper killself N         die of signal N (by a child when PID 1)
 *   rk-helper cat                copy stdin to stdout until EOF, then print
 *                                "EOF" to stderr
 *   rk-helper isatty             stdin=0|1 stdout=0|1 stderr=0|1
 *   rk-helper tty                ttyname of stdin, and rows cols
 *   rk-helper winch              print rows cols at start and after each SIGWINCH
 *   rk-helper sleep S            sleep S seconds (fractions allowed)
 *   rk-helper trap               print "ready", then on INT TERM HUP QUIT USR1
 *                                USR2 print "got N" and exit 100+N
 *   rk-helper forkbomb           fork until it fails; print "forks=N errno=E"
 *   rk-helper memhog MB          allocate and touch MB MiB; print "survived"
 *   rk-helper write PATH TEXT    write TEXT to PATH
 *   rk-helper read PATH          print PATH's content
 *   rk-helper out TEXT           TEXT on stdout
 *   rk-helper err TEXT           TEXT on stderr
 *   rk-helper syscalls           try privileged operations, print name=OK|ERRNO
 *   rk-helper mknod              mknod a block device and try to open it
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/personality.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

static const char *errname(int e)
{
    switch (e) {
    case 0: return "OK";
    case EPERM: return "EPERM";
    case EACCES: return "EACCES";
    case ENOSYS: return "ENOSYS";
    case EINVAL: return "EINVAL";
    case ENOENT: return "ENOENT";
    case EROFS: return "EROFS";
    case EBUSY: return "EBUSY";
    default: return strerror(e);
    }
}

static void cat_file(const char *path)
{
    int fd = open(path, O_RDONLY);
    if (fd < 0) {
        fprintf(stderr, "rk-helper: %s: %s\n", path, strerror(errno));
        exit(1);
    }
    char buf[8192];
    ssize_t n;
    while ((n = read(fd, buf, sizeof(buf))) > 0)
        fwrite(buf, 1, (size_t)n, stdout);
    close(fd);
}

static void print_winsize(int fd)
{
    struct winsize ws;
    if (ioctl(fd, TIOCGWINSZ, &ws) == 0)
        printf("rows=%u cols=%u\n", ws.ws_row, ws.ws_col);
    else
        printf("winsize: %s\n", strerror(errno));
    fflush(stdout);
}

static volatile sig_atomic_t got;
static void on_signal(int s) { got = s; }

static int try_syscalls(void)
{
    errno = 0;
    int r = mount("none", "/tmp", "tmpfs", 0, NULL);
    printf("mount=%s\n", errname(r < 0 ? errno : 0));
    if (r == 0)
        umount("/tmp");
    errno = 0;
    r = unshare(CLONE_NEWNS);
    printf("unshare=%s\n", errname(r < 0 ? errno : 0));
    errno = 0;
    r = (int)syscall(SYS_keyctl, 0 /* KEYCTL_GET_KEYRING_ID */, -3, 0);
    printf("keyctl=%s\n", errname(r < 0 ? errno : 0));
    errno = 0;
    r = personality(ADDR_NO_RANDOMIZE);
    printf("personality_aslr=%s\n", errname(r < 0 ? errno : 0));
    errno = 0;
    r = personality(PER_LINUX);
    printf("personality_linux=%s\n", errname(r < 0 ? errno : 0));
    errno = 0;
    r = sethostname("x", 1);
    printf("sethostname=%s\n", errname(r < 0 ? errno : 0));
    errno = 0;
    long p = ptrace(PTRACE_PEEKUSER, getppid() > 0 ? getppid() : 1, 0, 0);
    printf("ptrace=%s\n", errname(p < 0 ? errno : 0));
    errno = 0;
    r = (int)syscall(SYS_clone3, NULL, 0);
    printf("clone3=%s\n", errname(r < 0 ? errno : 0));
    errno = 0;
    r = chroot("/");
    printf("chroot=%s\n", errname(r < 0 ? errno : 0));
    errno = 0;
    int fd = open("/proc/sysrq-trigger", O_WRONLY);
    printf("sysrq=%s\n", errname(fd < 0 ? errno : 0));
    if (fd >= 0)
        close(fd);
    errno = 0;
    fd = open("/proc/sys/kernel/hostname", O_WRONLY);
    printf("procsys_write=%s\n", errname(fd < 0 ? errno : 0));
    if (fd >= 0)
        close(fd);
    errno = 0;
    fd = open("/sys/kernel/uevent_helper", O_WRONLY);
    printf("sys_write=%s\n", errname(fd < 0 ? errno : 0));
    if (fd >= 0)
        close(fd);
    return 0;
}

int main(int argc, char **argv)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (argc < 2) {
        fprintf(stderr, "usage: rk-helper COMMAND [ARGS]\n");
        return 2;
    }
    const char *cmd = argv[1];
    if (!strcmp(cmd, "args")) {
        for (int i = 2; i < argc; i++)
            printf("[%s]\n", argv[i]);
    } else if (!strcmp(cmd, "env")) {
        for (char **e = environ; *e; e++)
            printf("%s\n", *e);
    } else if (!strcmp(cmd, "cwd")) {
        char buf[4096];
        printf("%s\n", getcwd(buf, sizeof(buf)) ? buf : strerror(errno));
    } else if (!strcmp(cmd, "ids")) {
        gid_t g[256];
        int n = getgroups(256, g);
        printf("uid=%u gid=%u groups=", (unsigned)getuid(), (unsigned)getgid());
        for (int i = 0; i < n; i++)
            printf("%s%u", i ? "," : "", (unsigned)g[i]);
        printf("\n");
    } else if (!strcmp(cmd, "caps")) {
        FILE *f = fopen("/proc/self/status", "r");
        char line[512];
        while (f && fgets(line, sizeof(line), f))
            if (!strncmp(line, "Cap", 3) || !strncmp(line, "NoNewPrivs", 10) ||
                !strncmp(line, "Seccomp:", 8))
                fputs(line, stdout);
        if (f)
            fclose(f);
    } else if (!strcmp(cmd, "hostname")) {
        char buf[256];
        gethostname(buf, sizeof(buf));
        printf("%s\n", buf);
    } else if (!strcmp(cmd, "mounts")) {
        cat_file("/proc/self/mountinfo");
    } else if (!strcmp(cmd, "pid")) {
        printf("pid=%d ppid=%d\n", (int)getpid(), (int)getppid());
    } else if (!strcmp(cmd, "exit") && argc > 2) {
        return atoi(argv[2]);
    } else if (!strcmp(cmd, "killself") && argc > 2) {
        int sig = atoi(argv[2]);
        if (getpid() == 1) {
            /* A namespace's init cannot be killed by its own signals: let
             * a child die and mirror its fate the only way PID 1 can. */
            fprintf(stderr, "rk-helper: PID 1 cannot die of its own signal\n");
            return 99;
        }
        signal(sig, SIG_DFL);
        kill(getpid(), sig);
        sleep(5);
        return 98;
    } else if (!strcmp(cmd, "cat")) {
        char buf[8192];
        ssize_t n;
        while ((n = read(0, buf, sizeof(buf))) != 0) {
            if (n < 0) {
                if (errno == EINTR)
                    continue;
                perror("read");
                return 1;
            }
            if (write(1, buf, (size_t)n) != n)
                return 1;
        }
        fprintf(stderr, "EOF\n");
    } else if (!strcmp(cmd, "isatty")) {
        printf("stdin=%d stdout=%d stderr=%d\n", isatty(0), isatty(1), isatty(2));
    } else if (!strcmp(cmd, "tty")) {
        char *t = ttyname(0);
        printf("tty=%s\n", t ? t : "none");
        print_winsize(0);
    } else if (!strcmp(cmd, "winch")) {
        struct sigaction sa = {.sa_handler = on_signal};
        sigaction(SIGWINCH, &sa, NULL);
        print_winsize(0);
        for (int i = 0; i < 200; i++) {
            pause();
            if (got == SIGWINCH) {
                got = 0;
                print_winsize(0);
                return 0;
            }
        }
    } else if (!strcmp(cmd, "sleep") && argc > 2) {
        double s = atof(argv[2]);
        struct timespec ts = {(time_t)s, (long)((s - (double)(time_t)s) * 1e9)};
        while (nanosleep(&ts, &ts) < 0 && errno == EINTR) {
        }
    } else if (!strcmp(cmd, "trap")) {
        static const int sigs[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2};
        struct sigaction sa = {.sa_handler = on_signal};
        for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
            sigaction(sigs[i], &sa, NULL);
        printf("ready\n");
        fflush(stdout);
        for (int i = 0; i < 600 && !got; i++)
            usleep(100000);
        if (!got)
            return 1;
        printf("got %d\n", (int)got);
        return 100 + got;
    } else if (!strcmp(cmd, "forkbomb")) {
        int n = 0;
        for (;;) {
            pid_t p = fork();
            if (p < 0) {
                printf("forks=%d errno=%s\n", n, errname(errno));
                break;
            }
            if (p == 0) {
                pause();
                _exit(0);
            }
            if (++n > 100000)
                break;
        }
        fflush(stdout);
        kill(0, SIGKILL); /* our process group: the children, and us */
    } else if (!strcmp(cmd, "memhog") && argc > 2) {
        long mb = atol(argv[2]);
        for (long i = 0; i < mb; i++) {
            char *p = mmap(NULL, 1 << 20, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
            if (p == MAP_FAILED) {
                printf("mmap failed at %ld MiB\n", i);
                return 1;
            }
            memset(p, 0x5a, 1 << 20);
        }
        printf("survived\n");
    } else if (!strcmp(cmd, "write") && argc > 3) {
        int fd = open(argv[2], O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (fd < 0) {
            printf("write %s: %s\n", argv[2], errname(errno));
            return 1;
        }
        if (write(fd, argv[3], strlen(argv[3])) < 0)
            return 1;
        close(fd);
        printf("wrote %s\n", argv[2]);
    } else if (!strcmp(cmd, "read") && argc > 2) {
        cat_file(argv[2]);
    } else if (!strcmp(cmd, "out") && argc > 2) {
        printf("%s\n", argv[2]);
    } else if (!strcmp(cmd, "err") && argc > 2) {
        fprintf(stderr, "%s\n", argv[2]);
    } else if (!strcmp(cmd, "syscalls")) {
        return try_syscalls();
    } else if (!strcmp(cmd, "mknod")) {
        errno = 0;
        int r = mknod("/tmp/rk-blk", S_IFBLK | 0600, makedev(7, 0));
        printf("mknod=%s\n", errname(r < 0 ? errno : 0));
        if (r == 0) {
            errno = 0;
            int fd = open("/tmp/rk-blk", O_RDONLY);
            printf("open=%s\n", errname(fd < 0 ? errno : 0));
            unlink("/tmp/rk-blk");
        }
    } else {
        fprintf(stderr, "rk-helper: unknown command %s\n", cmd);
        return 2;
    }
    return 0;
}

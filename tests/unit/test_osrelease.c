/* Unit tests for src/image/osrelease.c: the os-release(5) parser, family
 * detection and the provisioning recipe chosen for every distribution of
 * the original Racker's curated list and their current releases. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "base/cleanup.h"
#include "base/digest.h"
#include "base/error.h"
#include "base/strv.h"
#include "image/osrelease.h"

/* ------------------------------------------------------------------ */
/* The parser                                                          */
/* ------------------------------------------------------------------ */

static void parse_ok(const char *text, rk_os_release *r)
{
    rk_error *err = NULL;
    if (rk_os_release_parse(text, strlen(text), r, &err) < 0)
        fail_msg("parse failed: %s\n--\n%s", err->msg, text);
}

static void assert_var(const rk_os_release *r, const char *key, const char *want)
{
    const char *got = rk_os_release_get(r, key);
    if (!want) {
        if (got)
            fail_msg("%s: want unset, got \"%s\"", key, got);
        return;
    }
    if (!got)
        fail_msg("%s: want \"%s\", got unset", key, want);
    if (strcmp(got, want))
        fail_msg("%s: want \"%s\", got \"%s\"", key, want, got);
}

static void test_parse_quoting(void **state)
{
    (void)state;
    rk_os_release r;
    parse_ok("BARE=plain\n"
             "DQ=\"two words\"\n"
             "SQ='single $HOME \\n'\n"
             "ESC=\"a \\\"quote\\\" \\\\ \\$ \\` and \\n kept\"\n"
             "BS=bare\\ escaped\\$\n"
             "CAT=\"ab\"'cd'ef\n"
             "EMPTY=\n"
             "EMPTYQ=\"\"\n"
             "TRAIL=value   \n"
             "INNER=bare inner  spaces \t\n"
             "HASH=a#b\n",
             &r);
    assert_var(&r, "BARE", "plain");
    assert_var(&r, "DQ", "two words");
    assert_var(&r, "SQ", "single $HOME \\n");
    assert_var(&r, "ESC", "a \"quote\" \\ $ ` and \\n kept");
    assert_var(&r, "BS", "bare escaped$");
    assert_var(&r, "CAT", "abcdef");
    assert_var(&r, "EMPTY", "");
    assert_var(&r, "EMPTYQ", "");
    assert_var(&r, "TRAIL", "value");
    assert_var(&r, "INNER", "bare inner  spaces");
    assert_var(&r, "HASH", "a#b");
    rk_os_release_clear(&r);
}

static void test_parse_lines(void **state)
{
    (void)state;
    rk_os_release r;
    /* Comments, blank lines, indentation, CRLF, spaces around '=', a
     * repeated key (the last wins, in the first one's place), lines that
     * are no assignment, a multi-line quoted value and continuations. */
    parse_ok("# a comment\n"
             "\n"
             "   \t\n"
             "  ID=first\r\n"
             "NAME = \"Spaced\"\r\n"
             "not an assignment\n"
             "9BAD=x\n"
             "=nokey\n"
             "export KEY=ignored\n"
             "ID=second\n"
             "MULTI=\"line one\nline two\"\n"
             "CONT=\"joined \\\nhere\"\n"
             "BARECONT=ab\\\ncd\n"
             "   # indented comment ID=nope\n"
             "LAST=1",
             &r);
    assert_var(&r, "ID", "second");
    assert_var(&r, "NAME", "Spaced");
    assert_var(&r, "9BAD", NULL);
    assert_var(&r, "export", NULL);
    assert_var(&r, "KEY", NULL);
    assert_var(&r, "MULTI", "line one\nline two");
    assert_var(&r, "CONT", "joined here");
    assert_var(&r, "BARECONT", "abcd");
    assert_var(&r, "LAST", "1");
    assert_string_equal(r.id, "second");
    /* Order of first appearance. */
    assert_string_equal(r.vars[0], "ID=second");
    assert_string_equal(r.vars[1], "NAME=Spaced");
    assert_int_equal(rk_strv_len(r.vars), 6);
    rk_os_release_clear(&r);
}

static void test_parse_defaults(void **state)
{
    (void)state;
    rk_os_release r;
    /* os-release(5): ID defaults to "linux", PRETTY_NAME to NAME, then "Linux". */
    parse_ok("", &r);
    assert_string_equal(r.id, "linux");
    assert_string_equal(r.pretty_name, "Linux");
    assert_null(r.version_id);
    assert_non_null(r.id_like);
    assert_null(r.id_like[0]);
    assert_non_null(r.vars);
    assert_int_equal(rk_os_family_detect(&r), RK_OS_UNKNOWN);
    rk_os_release_clear(&r);

    parse_ok("ID=\nNAME=\"Only Name\"\nID_LIKE=\"  rhel \t centos   fedora \"\nVERSION_ID=\n", &r);
    assert_string_equal(r.id, "linux");
    assert_string_equal(r.pretty_name, "Only Name");
    assert_null(r.version_id);
    assert_int_equal(rk_strv_len(r.id_like), 3);
    assert_string_equal(r.id_like[0], "rhel");
    assert_string_equal(r.id_like[1], "centos");
    assert_string_equal(r.id_like[2], "fedora");
    assert_int_equal(rk_os_family_detect(&r), RK_OS_FEDORA);
    rk_os_release_clear(&r);
}

static void test_parse_errors(void **state)
{
    (void)state;
    static const struct {
        const char *text;
        size_t len; /* 0: strlen */
        const char *want;
    } cases[] = {
        {"ID=debian\nNAME=\"Debian\n", 0, "line 2: unterminated double quote"},
        {"ID=debian\n\nNAME='x\nVERSION=1\n", 0, "line 3: unterminated single quote"},
        {"ID=\"a\\\"", 0, "line 1: unterminated double quote"},
        {"ID=deb\0ian\n", 11, "NUL byte"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        rk_error *err = NULL;
        rk_os_release r;
        size_t len = cases[i].len ? cases[i].len : strlen(cases[i].text);
        assert_int_equal(rk_os_release_parse(cases[i].text, len, &r, &err), -1);
        assert_non_null(err);
        if (!strstr(err->msg, cases[i].want))
            fail_msg("case %zu: \"%s\" does not contain \"%s\"", i, err->msg, cases[i].want);
        assert_int_equal(err->status, 125);
        rk_error_free(err);
    }
}

static void test_parse_not_terminated(void **state)
{
    (void)state;
    /* The length counts, not a NUL: the bytes after len are never read. */
    const char text[] = "ID=fedora\nVERSION_ID=42GARBAGE";
    rk_os_release r;
    rk_error *err = NULL;
    assert_int_equal(rk_os_release_parse(text, strlen("ID=fedora\nVERSION_ID=42"), &r, &err), 0);
    assert_string_equal(r.version_id, "42");
    rk_os_release_clear(&r);
}

/* ------------------------------------------------------------------ */
/* Distributions                                                       */
/* ------------------------------------------------------------------ */

#define APT RK_PKG_BIT(RK_PKG_APT_GET)
/* RHEL 8/9-style images: dnf, with yum as another name for it. */
#define DNF (RK_PKG_BIT(RK_PKG_DNF) | RK_PKG_BIT(RK_PKG_YUM))
/* Fedora 41+: dnf5, and dnf pointing at it. */
#define DNF5 (RK_PKG_BIT(RK_PKG_DNF5) | RK_PKG_BIT(RK_PKG_DNF))
#define MICRO RK_PKG_BIT(RK_PKG_MICRODNF)
#define YUM RK_PKG_BIT(RK_PKG_YUM)
#define ZYPPER RK_PKG_BIT(RK_PKG_ZYPPER)
#define PACMAN RK_PKG_BIT(RK_PKG_PACMAN)

typedef struct distro {
    const char *label; /* as in the original Racker's list, where it is there */
    const char *text;
    unsigned tools;
    rk_os_family family;
    rk_pkg_tool tool;       /* RK_PKG_NONE with err */
    const char *err;        /* substring of the error, or NULL */
    const char *want[4];    /* substrings of the script */
    const char *absent[3];  /* substrings the script must not have */
} distro;

#define DEBIAN_URLS                                                                \
    "HOME_URL=\"https://www.debian.org/\"\n"                                     \
    "SUPPORT_URL=\"https://www.debian.org/support\"\n"                           \
    "BUG_REPORT_URL=\"https://bugs.debian.org/\"\n"

#define APT_INSTALL                                                                \
    "apt-get -q -o Dpkg::Options::=--force-unsafe-io install -y "                \
    "--no-install-recommends systemd systemd-sysv dbus "                         \
    "ca-certificates curl wget"

#define UBUNTU_URLS                                                                \
    "HOME_URL=\"https://www.ubuntu.com/\"\n"                                     \
    "SUPPORT_URL=\"https://help.ubuntu.com/\"\n"                                 \
    "BUG_REPORT_URL=\"https://bugs.launchpad.net/ubuntu/\"\n"                    \
    "PRIVACY_POLICY_URL=\"https://www.ubuntu.com/legal/terms-and-policies/privacy-policy\"\n"

#define FEDORA_CONTAINER(n, extra)                                                 \
    "NAME=\"Fedora Linux\"\n"                                                    \
    "VERSION=\"" #n " (Container Image)\"\n"                                     \
    extra                                                                        \
    "ID=fedora\n"                                                                \
    "VERSION_ID=" #n "\n"                                                        \
    "VERSION_CODENAME=\"\"\n"                                                    \
    "PLATFORM_ID=\"platform:f" #n "\"\n"                                         \
    "PRETTY_NAME=\"Fedora Linux " #n " (Container Image)\"\n"                    \
    "ANSI_COLOR=\"0;38;2;60;110;180\"\n"                                         \
    "LOGO=fedora-logo-icon\n"                                                    \
    "CPE_NAME=\"cpe:/o:fedoraproject:fedora:" #n "\"\n"                          \
    "DEFAULT_HOSTNAME=\"fedora\"\n"                                              \
    "HOME_URL=\"https://fedoraproject.org/\"\n"                                  \
    "DOCUMENTATION_URL=\"https://docs.fedoraproject.org/en-US/fedora/f" #n "/system-administrators-guide/\"\n" \
    "SUPPORT_URL=\"https://ask.fedoraproject.org/\"\n"                           \
    "BUG_REPORT_URL=\"https://bugzilla.redhat.com/\"\n"                          \
    "REDHAT_BUGZILLA_PRODUCT=\"Fedora\"\n"                                       \
    "REDHAT_BUGZILLA_PRODUCT_VERSION=" #n "\n"                                   \
    "REDHAT_SUPPORT_PRODUCT=\"Fedora\"\n"                                        \
    "REDHAT_SUPPORT_PRODUCT_VERSION=" #n "\n"                                    \
    "VARIANT=\"Container Image\"\n"                                              \
    "VARIANT_ID=container\n"

#define UBI(ver, major, code, like)                                                \
    "NAME=\"Red Hat Enterprise Linux\"\n"                                        \
    "VERSION=\"" ver " (" code ")\"\n"                                           \
    "ID=\"rhel\"\n"                                                              \
    "ID_LIKE=\"" like "\"\n"                                                     \
    "VERSION_ID=\"" ver "\"\n"                                                   \
    "PLATFORM_ID=\"platform:el" major "\"\n"                                     \
    "PRETTY_NAME=\"Red Hat Enterprise Linux " ver " (" code ")\"\n"              \
    "ANSI_COLOR=\"0;31\"\n"                                                      \
    "LOGO=\"fedora-logo-icon\"\n"                                                \
    "CPE_NAME=\"cpe:/o:redhat:enterprise_linux:" major "::baseos\"\n"            \
    "HOME_URL=\"https://www.redhat.com/\"\n"                                     \
    "DOCUMENTATION_URL=\"https://access.redhat.com/documentation/en-us/red_hat_enterprise_linux/" major "\"\n" \
    "BUG_REPORT_URL=\"https://issues.redhat.com/\"\n"                            \
    "\n"                                                                         \
    "REDHAT_BUGZILLA_PRODUCT=\"Red Hat Enterprise Linux " major "\"\n"           \
    "REDHAT_BUGZILLA_PRODUCT_VERSION=" ver "\n"                                  \
    "REDHAT_SUPPORT_PRODUCT=\"Red Hat Enterprise Linux\"\n"                      \
    "REDHAT_SUPPORT_PRODUCT_VERSION=\"" ver "\"\n"

#define RPM_PKGS "command -v curl >/dev/null 2>&1 || pkgs=\"$pkgs curl\""
#define DNF_INSTALL "dnf install -y --skip-broken --setopt=install_weak_deps=0 $pkgs"
#define DNF5_INSTALL "dnf5 install -y --skip-broken --setopt=install_weak_deps=0 $pkgs"
#define MICRO_INSTALL "microdnf install -y --setopt=install_weak_deps=0 $pkgs"
/* Racker names no package host: no archive or vault rewrite. */
#define VAULT "vault."
#define ARCHIVE "archive."
#define ZYPPER_INSTALL "zypper --non-interactive install systemd curl wget"
#define TOO_OLD "ships a systemd older than 225"
#define NO_PM "has no package manager to install systemd with"

#define SLES15(sp, spnum)                                                          \
    "NAME=\"SLES\"\n"                                                            \
    "VERSION=\"15-SP" sp "\"\n"                                                  \
    "VERSION_ID=\"15." sp "\"\n"                                                 \
    "PRETTY_NAME=\"SUSE Linux Enterprise Server 15 SP" sp "\"\n"                 \
    "ID=\"sles\"\n"                                                              \
    "ID_LIKE=\"suse\"\n"                                                         \
    "ANSI_COLOR=\"0;32\"\n"                                                      \
    "CPE_NAME=\"cpe:/o:suse:sles:15:sp" spnum "\"\n"                             \
    "DOCUMENTATION_URL=\"https://documentation.suse.com/\"\n"

static const distro distros[] = {
    /* ---- Debian (docker.io/debian:<release>-slim) ---- */
    {"debian-jessie",
     "PRETTY_NAME=\"Debian GNU/Linux 8 (jessie)\"\nNAME=\"Debian GNU/Linux\"\nVERSION_ID=\"8\"\n"
     "VERSION=\"8 (jessie)\"\nID=debian\n" DEBIAN_URLS,
     APT, RK_OS_DEBIAN, RK_PKG_NONE, TOO_OLD, {0}, {0}},
    {"debian-stretch",
     "PRETTY_NAME=\"Debian GNU/Linux 9 (stretch)\"\nNAME=\"Debian GNU/Linux\"\nVERSION_ID=\"9\"\n"
     "VERSION=\"9 (stretch)\"\nVERSION_CODENAME=stretch\nID=debian\n" DEBIAN_URLS,
     APT, RK_OS_DEBIAN, RK_PKG_APT_GET, NULL,
     {"apt-get -q -o Acquire::Languages=none -o Acquire::Check-Valid-Until=false update", APT_INSTALL, "-e '/-updates/d'"},
     {ARCHIVE}},
    {"debian-buster",
     "PRETTY_NAME=\"Debian GNU/Linux 10 (buster)\"\nNAME=\"Debian GNU/Linux\"\nVERSION_ID=\"10\"\n"
     "VERSION=\"10 (buster)\"\nVERSION_CODENAME=buster\nID=debian\n" DEBIAN_URLS,
     APT, RK_OS_DEBIAN, RK_PKG_APT_GET, NULL, {"Check-Valid-Until=false", APT_INSTALL}, {ARCHIVE}},
    {"debian-bullseye",
     "PRETTY_NAME=\"Debian GNU/Linux 11 (bullseye)\"\nNAME=\"Debian GNU/Linux\"\nVERSION_ID=\"11\"\n"
     "VERSION=\"11 (bullseye)\"\nVERSION_CODENAME=bullseye\nID=debian\n" DEBIAN_URLS,
     APT, RK_OS_DEBIAN, RK_PKG_APT_GET, NULL,
     {"export DEBIAN_FRONTEND=noninteractive", "apt-get -q -o Acquire::Languages=none update", APT_INSTALL, "apt-get clean"},
     {ARCHIVE, "Check-Valid-Until"}},
    {"debian-bookworm",
     "PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\nNAME=\"Debian GNU/Linux\"\nVERSION_ID=\"12\"\n"
     "VERSION=\"12 (bookworm)\"\nVERSION_CODENAME=bookworm\nID=debian\n" DEBIAN_URLS,
     APT, RK_OS_DEBIAN, RK_PKG_APT_GET, NULL, {"apt-get -q -o Acquire::Languages=none update", APT_INSTALL}, {ARCHIVE}},
    {"debian-trixie",
     "PRETTY_NAME=\"Debian GNU/Linux 13 (trixie)\"\nNAME=\"Debian GNU/Linux\"\nVERSION_ID=\"13\"\n"
     "VERSION=\"13 (trixie)\"\nVERSION_CODENAME=trixie\nDEBIAN_VERSION_FULL=13.1\nID=debian\n" DEBIAN_URLS,
     APT, RK_OS_DEBIAN, RK_PKG_APT_GET, NULL, {APT_INSTALL}, {ARCHIVE}},
    {"debian-sid",
     "PRETTY_NAME=\"Debian GNU/Linux forky/sid\"\nNAME=\"Debian GNU/Linux\"\n"
     "VERSION_CODENAME=forky\nID=debian\n" DEBIAN_URLS,
     APT, RK_OS_DEBIAN, RK_PKG_APT_GET, NULL, {APT_INSTALL}, {ARCHIVE}},
    /* distroless-style: an os-release but no apt. */
    {"debian-distroless",
     "PRETTY_NAME=\"Distroless\"\nNAME=\"Debian GNU/Linux\"\nID=\"debian\"\nVERSION_ID=\"12\"\n"
     "VERSION=\"Debian GNU/Linux 12 (bookworm)\"\n",
     0, RK_OS_DEBIAN, RK_PKG_NONE, "Distroless has no package manager to install systemd with "
                                   "(none of /usr/bin/apt-get)", {0}, {0}},

    /* ---- Ubuntu ---- */
    {"ubuntu-trusty",
     "NAME=\"Ubuntu\"\nVERSION=\"14.04.6 LTS, Trusty Tahr\"\nID=ubuntu\nID_LIKE=debian\n"
     "PRETTY_NAME=\"Ubuntu 14.04.6 LTS\"\nVERSION_ID=\"14.04\"\n"
     "HOME_URL=\"http://www.ubuntu.com/\"\n",
     APT, RK_OS_DEBIAN, RK_PKG_NONE, TOO_OLD, {0}, {0}},
    {"ubuntu-focal",
     "NAME=\"Ubuntu\"\nVERSION=\"20.04.6 LTS (Focal Fossa)\"\nID=ubuntu\nID_LIKE=debian\n"
     "PRETTY_NAME=\"Ubuntu 20.04.6 LTS\"\nVERSION_ID=\"20.04\"\n" UBUNTU_URLS
     "VERSION_CODENAME=focal\nUBUNTU_CODENAME=focal\n",
     APT, RK_OS_DEBIAN, RK_PKG_APT_GET, NULL, {"apt-get -q -o Acquire::Languages=none update", APT_INSTALL}, {ARCHIVE}},
    {"ubuntu-jammy",
     "PRETTY_NAME=\"Ubuntu 22.04.5 LTS\"\nNAME=\"Ubuntu\"\nVERSION_ID=\"22.04\"\n"
     "VERSION=\"22.04.5 LTS (Jammy Jellyfish)\"\nVERSION_CODENAME=jammy\nID=ubuntu\nID_LIKE=debian\n"
     UBUNTU_URLS "UBUNTU_CODENAME=jammy\n",
     APT, RK_OS_DEBIAN, RK_PKG_APT_GET, NULL, {APT_INSTALL}, {ARCHIVE}},
    {"ubuntu-noble",
     "PRETTY_NAME=\"Ubuntu 24.04.3 LTS\"\nNAME=\"Ubuntu\"\nVERSION_ID=\"24.04\"\n"
     "VERSION=\"24.04.3 LTS (Noble Numbat)\"\nVERSION_CODENAME=noble\nID=ubuntu\nID_LIKE=debian\n"
     UBUNTU_URLS "UBUNTU_CODENAME=noble\nLOGO=ubuntu-logo\n",
     APT, RK_OS_DEBIAN, RK_PKG_APT_GET, NULL, {APT_INSTALL}, {ARCHIVE}},
    /* A derivative known only through ID_LIKE. */
    {"linuxmint-22",
     "NAME=\"Linux Mint\"\nVERSION=\"22 (Wilma)\"\nID=linuxmint\nID_LIKE=\"ubuntu debian\"\n"
     "PRETTY_NAME=\"Linux Mint 22\"\nVERSION_ID=\"22\"\nVERSION_CODENAME=wilma\nUBUNTU_CODENAME=noble\n",
     APT, RK_OS_DEBIAN, RK_PKG_APT_GET, NULL, {APT_INSTALL}, {ARCHIVE}},

    /* ---- Fedora (docker.io/fedora:NN) ---- */
    {"fedora-35", FEDORA_CONTAINER(35, ""), DNF, RK_OS_FEDORA, RK_PKG_DNF, NULL,
     {"pkgs=systemd", RPM_PKGS, DNF_INSTALL}, {VAULT, "dnf5"}},
    {"fedora-36", FEDORA_CONTAINER(36, ""), DNF, RK_OS_FEDORA, RK_PKG_DNF, NULL, {DNF_INSTALL}, {0}},
    {"fedora-37", FEDORA_CONTAINER(37, ""), DNF, RK_OS_FEDORA, RK_PKG_DNF, NULL, {DNF_INSTALL}, {0}},
    {"fedora-38", FEDORA_CONTAINER(38, ""), DNF, RK_OS_FEDORA, RK_PKG_DNF, NULL, {DNF_INSTALL}, {0}},
    {"fedora-39", FEDORA_CONTAINER(39, "RELEASE_TYPE=stable\n"), DNF, RK_OS_FEDORA, RK_PKG_DNF, NULL,
     {DNF_INSTALL}, {0}},
    {"fedora-40", FEDORA_CONTAINER(40, "RELEASE_TYPE=stable\n"), DNF, RK_OS_FEDORA, RK_PKG_DNF, NULL,
     {DNF_INSTALL}, {0}},
    {"fedora-41", FEDORA_CONTAINER(41, "RELEASE_TYPE=stable\n"), DNF5, RK_OS_FEDORA, RK_PKG_DNF5, NULL,
     {RPM_PKGS, DNF5_INSTALL}, {"\ndnf install"}},
    {"fedora-42", FEDORA_CONTAINER(42, "RELEASE_TYPE=stable\n"), DNF5, RK_OS_FEDORA, RK_PKG_DNF5,
     NULL, {DNF5_INSTALL}, {0}},
    /* fedora-minimal: microdnf only. */
    {"fedora-minimal-38", FEDORA_CONTAINER(38, ""), MICRO, RK_OS_FEDORA, RK_PKG_MICRODNF, NULL,
     {RPM_PKGS, MICRO_INSTALL}, {"\ndnf install"}},
    {"fedora-22", FEDORA_CONTAINER(22, ""), DNF, RK_OS_FEDORA, RK_PKG_NONE, TOO_OLD, {0}, {0}},

    /* ---- RHEL / UBI (registry.access.redhat.com/ubiN/ubi) ---- */
    {"rhel-8", UBI("8.10", "8", "Ootpa", "fedora"), DNF, RK_OS_FEDORA, RK_PKG_DNF, NULL,
     {RPM_PKGS, DNF_INSTALL}, {VAULT}},
    {"rhel-8-minimal", UBI("8.10", "8", "Ootpa", "fedora"), MICRO, RK_OS_FEDORA,
     RK_PKG_MICRODNF, NULL, {MICRO_INSTALL}, {0}},
    {"rhel-9", UBI("9.6", "9", "Plow", "fedora"), DNF, RK_OS_FEDORA, RK_PKG_DNF, NULL,
     {DNF_INSTALL}, {0}},
    {"rhel-9-minimal", UBI("9.6", "9", "Plow", "fedora"), MICRO, RK_OS_FEDORA, RK_PKG_MICRODNF,
     NULL, {MICRO_INSTALL}, {0}},
    {"rhel-10", UBI("10.0", "10", "Coughlan", "centos fedora"), DNF, RK_OS_FEDORA, RK_PKG_DNF,
     NULL, {DNF_INSTALL}, {0}},
    /* ubi-micro: no package manager at all. */
    {"rhel-9-micro", UBI("9.6", "9", "Plow", "fedora"), 0, RK_OS_FEDORA, RK_PKG_NONE,
     "Red Hat Enterprise Linux 9.6 (Plow) has no package manager to install systemd with (none "
     "of /usr/bin/dnf5, /usr/bin/dnf, /usr/bin/microdnf, /usr/bin/yum)",
     {0}, {0}},
    {"rhel-7",
     "NAME=\"Red Hat Enterprise Linux Server\"\nVERSION=\"7.9 (Maipo)\"\nID=\"rhel\"\nID_LIKE=\"fedora\"\n"
     "VARIANT=\"Server\"\nVARIANT_ID=\"server\"\nVERSION_ID=\"7.9\"\n"
     "PRETTY_NAME=\"Red Hat Enterprise Linux Server 7.9 (Maipo)\"\n",
     YUM, RK_OS_FEDORA, RK_PKG_NONE, TOO_OLD, {0}, {0}},

    /* ---- CentOS ---- */
    {"centos-7",
     "NAME=\"CentOS Linux\"\nVERSION=\"7 (Core)\"\nID=\"centos\"\nID_LIKE=\"rhel fedora\"\n"
     "VERSION_ID=\"7\"\nPRETTY_NAME=\"CentOS Linux 7 (Core)\"\nANSI_COLOR=\"0;31\"\n"
     "CPE_NAME=\"cpe:/o:centos:centos:7\"\nHOME_URL=\"https://www.centos.org/\"\n"
     "BUG_REPORT_URL=\"https://bugs.centos.org/\"\n\nCENTOS_MANTISBT_PROJECT=\"CentOS-7\"\n"
     "CENTOS_MANTISBT_PROJECT_VERSION=\"7\"\nREDHAT_SUPPORT_PRODUCT=\"centos\"\n"
     "REDHAT_SUPPORT_PRODUCT_VERSION=\"7\"\n\n",
     YUM, RK_OS_FEDORA, RK_PKG_NONE,
     "CentOS Linux 7 (Core) ships a systemd older than 225, which cannot boot in a container",
     {0}, {0}},
    {"centos-8",
     "NAME=\"CentOS Linux\"\nVERSION=\"8\"\nID=\"centos\"\nID_LIKE=\"rhel fedora\"\nVERSION_ID=\"8\"\n"
     "PLATFORM_ID=\"platform:el8\"\nPRETTY_NAME=\"CentOS Linux 8\"\nANSI_COLOR=\"0;31\"\n"
     "CPE_NAME=\"cpe:/o:centos:centos:8\"\nHOME_URL=\"https://centos.org/\"\n"
     "BUG_REPORT_URL=\"https://bugs.centos.org/\"\nCENTOS_MANTISBT_PROJECT=\"CentOS-8\"\n"
     "CENTOS_MANTISBT_PROJECT_VERSION=\"8\"\n",
     DNF, RK_OS_FEDORA, RK_PKG_DNF, NULL,
     {RPM_PKGS, DNF_INSTALL}, {VAULT, "mirrorlist"}},
    {"centos-stream8",
     "NAME=\"CentOS Stream\"\nVERSION=\"8\"\nID=\"centos\"\nID_LIKE=\"rhel fedora\"\nVERSION_ID=\"8\"\n"
     "PLATFORM_ID=\"platform:el8\"\nPRETTY_NAME=\"CentOS Stream 8\"\nANSI_COLOR=\"0;31\"\n"
     "CPE_NAME=\"cpe:/o:centos:centos:8\"\nHOME_URL=\"https://centos.org/\"\n"
     "BUG_REPORT_URL=\"https://bugzilla.redhat.com/\"\n"
     "REDHAT_SUPPORT_PRODUCT=\"Red Hat Enterprise Linux 8\"\n"
     "REDHAT_SUPPORT_PRODUCT_VERSION=\"CentOS Stream\"\n",
     DNF, RK_OS_FEDORA, RK_PKG_DNF, NULL, {DNF_INSTALL}, {VAULT, "mirrorlist"}},
    {"centos-9",
     "NAME=\"CentOS Stream\"\nVERSION=\"9\"\nID=\"centos\"\nID_LIKE=\"rhel fedora\"\nVERSION_ID=\"9\"\n"
     "PLATFORM_ID=\"platform:el9\"\nPRETTY_NAME=\"CentOS Stream 9\"\nANSI_COLOR=\"0;31\"\n"
     "LOGO=\"fedora-logo-icon\"\nCPE_NAME=\"cpe:/o:centos:centos:9\"\n"
     "HOME_URL=\"https://centos.org/\"\nBUG_REPORT_URL=\"https://issues.redhat.com/\"\n"
     "REDHAT_SUPPORT_PRODUCT=\"Red Hat Enterprise Linux 9\"\n"
     "REDHAT_SUPPORT_PRODUCT_VERSION=\"CentOS Stream\"\n",
     DNF, RK_OS_FEDORA, RK_PKG_DNF, NULL, {RPM_PKGS, DNF_INSTALL}, {VAULT}},
    {"centos-10",
     "NAME=\"CentOS Stream\"\nVERSION=\"10 (Coughlan)\"\nID=\"centos\"\nID_LIKE=\"rhel fedora\"\n"
     "VERSION_ID=\"10\"\nPLATFORM_ID=\"platform:el10\"\nPRETTY_NAME=\"CentOS Stream 10 (Coughlan)\"\n"
     "ANSI_COLOR=\"0;31\"\nLOGO=\"fedora-logo-icon\"\nCPE_NAME=\"cpe:/o:centos:centos:10\"\n"
     "HOME_URL=\"https://centos.org/\"\nVENDOR_NAME=\"CentOS\"\nVENDOR_URL=\"https://centos.org/\"\n"
     "BUG_REPORT_URL=\"https://issues.redhat.com/\"\n",
     DNF, RK_OS_FEDORA, RK_PKG_DNF, NULL, {DNF_INSTALL}, {VAULT}},

    /* ---- Rocky, Alma ---- */
    {"rockylinux-8",
     "NAME=\"Rocky Linux\"\nVERSION=\"8.10 (Green Obsidian)\"\nID=\"rocky\"\n"
     "ID_LIKE=\"rhel centos fedora\"\nVERSION_ID=\"8.10\"\nPLATFORM_ID=\"platform:el8\"\n"
     "PRETTY_NAME=\"Rocky Linux 8.10 (Green Obsidian)\"\nANSI_COLOR=\"0;32\"\n"
     "LOGO=\"fedora-logo-icon\"\nCPE_NAME=\"cpe:/o:rocky:rocky:8:GA\"\n"
     "HOME_URL=\"https://rockylinux.org/\"\nBUG_REPORT_URL=\"https://bugs.rockylinux.org/\"\n"
     "SUPPORT_END=\"2029-05-31\"\nROCKY_SUPPORT_PRODUCT=\"Rocky-Linux-8\"\n"
     "ROCKY_SUPPORT_PRODUCT_VERSION=\"8.10\"\nREDHAT_SUPPORT_PRODUCT=\"Rocky Linux\"\n"
     "REDHAT_SUPPORT_PRODUCT_VERSION=\"8.10\"\n",
     DNF, RK_OS_FEDORA, RK_PKG_DNF, NULL, {DNF_INSTALL}, {VAULT}},
    {"rockylinux-9",
     "NAME=\"Rocky Linux\"\nVERSION=\"9.6 (Blue Onyx)\"\nID=\"rocky\"\nID_LIKE=\"rhel centos fedora\"\n"
     "VERSION_ID=\"9.6\"\nPLATFORM_ID=\"platform:el9\"\nPRETTY_NAME=\"Rocky Linux 9.6 (Blue Onyx)\"\n"
     "ANSI_COLOR=\"0;32\"\nLOGO=\"fedora-logo-icon\"\nCPE_NAME=\"cpe:/o:rocky:rocky:9::baseos\"\n"
     "HOME_URL=\"https://rockylinux.org/\"\nVENDOR_NAME=\"RESF\"\nVENDOR_URL=\"https://resf.org/\"\n"
     "BUG_REPORT_URL=\"https://bugs.rockylinux.org/\"\nSUPPORT_END=\"2032-05-31\"\n",
     DNF, RK_OS_FEDORA, RK_PKG_DNF, NULL, {DNF_INSTALL}, {0}},
    /* rockylinux:9-minimal */
    {"rockylinux-9-minimal",
     "NAME=\"Rocky Linux\"\nVERSION=\"9.6 (Blue Onyx)\"\nID=\"rocky\"\nID_LIKE=\"rhel centos fedora\"\n"
     "VERSION_ID=\"9.6\"\nPRETTY_NAME=\"Rocky Linux 9.6 (Blue Onyx)\"\n",
     MICRO, RK_OS_FEDORA, RK_PKG_MICRODNF, NULL, {MICRO_INSTALL}, {0}},
    {"almalinux-9",
     "NAME=\"AlmaLinux\"\nVERSION=\"9.6 (Sage Margay)\"\nID=\"almalinux\"\nID_LIKE=\"rhel centos fedora\"\n"
     "VERSION_ID=\"9.6\"\nPLATFORM_ID=\"platform:el9\"\nPRETTY_NAME=\"AlmaLinux 9.6 (Sage Margay)\"\n"
     "ANSI_COLOR=\"0;34\"\nLOGO=\"fedora-logo-icon\"\nCPE_NAME=\"cpe:/o:almalinux:almalinux:9::baseos\"\n"
     "HOME_URL=\"https://almalinux.org/\"\nDOCUMENTATION_URL=\"https://wiki.almalinux.org/\"\n"
     "BUG_REPORT_URL=\"https://bugs.almalinux.org/\"\n\nALMALINUX_MANTISBT_PROJECT=\"AlmaLinux-9\"\n"
     "ALMALINUX_MANTISBT_PROJECT_VERSION=\"9.6\"\nREDHAT_SUPPORT_PRODUCT=\"AlmaLinux\"\n"
     "REDHAT_SUPPORT_PRODUCT_VERSION=\"9.6\"\nSUPPORT_END=2032-06-01\n",
     DNF, RK_OS_FEDORA, RK_PKG_DNF, NULL, {DNF_INSTALL}, {0}},
    {"almalinux-8",
     "NAME=\"AlmaLinux\"\nVERSION=\"8.10 (Cerulean Leopard)\"\nID=\"almalinux\"\n"
     "ID_LIKE=\"rhel centos fedora\"\nVERSION_ID=\"8.10\"\nPLATFORM_ID=\"platform:el8\"\n"
     "PRETTY_NAME=\"AlmaLinux 8.10 (Cerulean Leopard)\"\n",
     DNF, RK_OS_FEDORA, RK_PKG_DNF, NULL, {DNF_INSTALL}, {0}},

    /* ---- Amazon Linux ---- */
    {"amazonlinux-2",
     "NAME=\"Amazon Linux\"\nVERSION=\"2\"\nID=\"amzn\"\nID_LIKE=\"centos rhel fedora\"\n"
     "VERSION_ID=\"2\"\nPRETTY_NAME=\"Amazon Linux 2\"\nANSI_COLOR=\"0;33\"\n"
     "CPE_NAME=\"cpe:2.3:o:amazon:amazon_linux:2\"\nHOME_URL=\"https://amazonlinux.com/\"\n"
     "SUPPORT_END=\"2026-06-30\"\n",
     YUM, RK_OS_FEDORA, RK_PKG_NONE, "Amazon Linux 2 " TOO_OLD, {0}, {0}},
    {"amazonlinux-2022",
     "NAME=\"Amazon Linux\"\nVERSION=\"2022\"\nID=\"amzn\"\nID_LIKE=\"fedora\"\nVERSION_ID=\"2022\"\n"
     "PLATFORM_ID=\"platform:al2022\"\nPRETTY_NAME=\"Amazon Linux 2022\"\nANSI_COLOR=\"0;33\"\n"
     "CPE_NAME=\"cpe:2.3:o:amazon:amazon_linux:2022\"\nHOME_URL=\"https://aws.amazon.com/linux/\"\n"
     "BUG_REPORT_URL=\"https://github.com/amazonlinux/amazon-linux-2022\"\n",
     DNF, RK_OS_FEDORA, RK_PKG_DNF, NULL, {DNF_INSTALL}, {0}},
    {"amazonlinux-2023",
     "NAME=\"Amazon Linux\"\nVERSION=\"2023\"\nID=\"amzn\"\nID_LIKE=\"fedora\"\nVERSION_ID=\"2023\"\n"
     "PLATFORM_ID=\"platform:al2023\"\nPRETTY_NAME=\"Amazon Linux 2023.9.20250929\"\n"
     "ANSI_COLOR=\"0;33\"\nCPE_NAME=\"cpe:2.3:o:amazon:amazon_linux:2023\"\n"
     "HOME_URL=\"https://aws.amazon.com/linux/amazon-linux-2023/\"\n"
     "DOCUMENTATION_URL=\"https://docs.aws.amazon.com/linux/\"\n"
     "SUPPORT_URL=\"https://aws.amazon.com/premiumsupport/\"\n"
     "BUG_REPORT_URL=\"https://github.com/amazonlinux/amazon-linux-2023\"\n"
     "VENDOR_NAME=\"AWS\"\nVENDOR_URL=\"https://aws.amazon.com/\"\nSUPPORT_END=\"2029-06-30\"\n",
     DNF, RK_OS_FEDORA, RK_PKG_DNF, NULL, {RPM_PKGS, DNF_INSTALL}, {0}},

    /* ---- Oracle Linux ---- */
    {"oraclelinux-7",
     "NAME=\"Oracle Linux Server\"\nVERSION=\"7.9\"\nID=\"ol\"\nID_LIKE=\"fedora\"\nVARIANT=\"Server\"\n"
     "VARIANT_ID=\"server\"\nVERSION_ID=\"7.9\"\nPRETTY_NAME=\"Oracle Linux Server 7.9\"\n",
     YUM, RK_OS_FEDORA, RK_PKG_NONE, TOO_OLD, {0}, {0}},
    {"oraclelinux-8",
     "NAME=\"Oracle Linux Server\"\nVERSION=\"8.10\"\nID=\"ol\"\nID_LIKE=\"fedora\"\nVARIANT=\"Server\"\n"
     "VARIANT_ID=\"server\"\nVERSION_ID=\"8.10\"\nPLATFORM_ID=\"platform:el8\"\n"
     "PRETTY_NAME=\"Oracle Linux Server 8.10\"\nANSI_COLOR=\"0;31\"\n"
     "CPE_NAME=\"cpe:/o:oracle:linux:8:10:server\"\nHOME_URL=\"https://linux.oracle.com/\"\n"
     "BUG_REPORT_URL=\"https://github.com/oracle/oracle-linux\"\n\n"
     "ORACLE_BUGZILLA_PRODUCT=\"Oracle Linux 8\"\nORACLE_BUGZILLA_PRODUCT_VERSION=8.10\n"
     "ORACLE_SUPPORT_PRODUCT=\"Oracle Linux\"\nORACLE_SUPPORT_PRODUCT_VERSION=8.10\n",
     DNF, RK_OS_FEDORA, RK_PKG_DNF, NULL, {DNF_INSTALL}, {0}},
    /* oraclelinux:8-slim */
    {"oraclelinux-8-slim",
     "NAME=\"Oracle Linux Server\"\nVERSION=\"8.10\"\nID=\"ol\"\nID_LIKE=\"fedora\"\n"
     "VERSION_ID=\"8.10\"\nPRETTY_NAME=\"Oracle Linux Server 8.10\"\n",
     MICRO, RK_OS_FEDORA, RK_PKG_MICRODNF, NULL, {MICRO_INSTALL}, {0}},
    {"oraclelinux-9",
     "NAME=\"Oracle Linux Server\"\nVERSION=\"9.6\"\nID=\"ol\"\nID_LIKE=\"fedora\"\nVARIANT=\"Server\"\n"
     "VARIANT_ID=\"server\"\nVERSION_ID=\"9.6\"\nPLATFORM_ID=\"platform:el9\"\n"
     "PRETTY_NAME=\"Oracle Linux Server 9.6\"\n",
     DNF, RK_OS_FEDORA, RK_PKG_DNF, NULL, {DNF_INSTALL}, {0}},
    {"oraclelinux-10",
     "NAME=\"Oracle Linux Server\"\nVERSION=\"10.0\"\nID=\"ol\"\nID_LIKE=\"fedora\"\n"
     "VERSION_ID=\"10.0\"\nPLATFORM_ID=\"platform:el10\"\nPRETTY_NAME=\"Oracle Linux Server 10.0\"\n",
     DNF, RK_OS_FEDORA, RK_PKG_DNF, NULL, {DNF_INSTALL}, {0}},

    /* ---- SUSE ---- */
    {"opensuse-leap",
     "NAME=\"openSUSE Leap\"\nVERSION=\"15.6\"\nID=\"opensuse-leap\"\nID_LIKE=\"suse opensuse\"\n"
     "VERSION_ID=\"15.6\"\nPRETTY_NAME=\"openSUSE Leap 15.6\"\nANSI_COLOR=\"0;32\"\n"
     "CPE_NAME=\"cpe:/o:opensuse:leap:15.6\"\nBUG_REPORT_URL=\"https://bugs.opensuse.org\"\n"
     "HOME_URL=\"https://www.opensuse.org/\"\nDOCUMENTATION_URL=\"https://en.opensuse.org/Portal:Leap\"\n"
     "LOGO=\"distributor-logo-Leap\"\n",
     ZYPPER, RK_OS_SUSE, RK_PKG_ZYPPER, NULL, {ZYPPER_INSTALL}, {"apt-get", "dnf"}},
    {"opensuse-leap16",
     "NAME=\"openSUSE Leap\"\nVERSION=\"16.0\"\nID=\"opensuse-leap\"\nID_LIKE=\"suse opensuse\"\n"
     "VERSION_ID=\"16.0\"\nPRETTY_NAME=\"openSUSE Leap 16.0\"\nANSI_COLOR=\"0;32\"\n"
     "CPE_NAME=\"cpe:/o:opensuse:leap:16.0\"\n",
     ZYPPER, RK_OS_SUSE, RK_PKG_ZYPPER, NULL, {ZYPPER_INSTALL}, {0}},
    {"opensuse-tumbleweed",
     "NAME=\"openSUSE Tumbleweed\"\n# VERSION=\"20251014\"\nID=\"opensuse-tumbleweed\"\n"
     "ID_LIKE=\"opensuse suse\"\nVERSION_ID=\"20251014\"\nPRETTY_NAME=\"openSUSE Tumbleweed\"\n"
     "ANSI_COLOR=\"0;32\"\n# CPE 2.3 format, boo#1217921\n"
     "CPE_NAME=\"cpe:2.3:o:opensuse:tumbleweed:20251014:*:*:*:*:*:*:*\"\n#CPE 2.2 format\n"
     "#CPE_NAME=\"cpe:/o:opensuse:tumbleweed:20251014\"\nBUG_REPORT_URL=\"https://bugzilla.opensuse.org\"\n"
     "SUPPORT_URL=\"https://bugs.opensuse.org\"\nHOME_URL=\"https://www.opensuse.org\"\n"
     "DOCUMENTATION_URL=\"https://en.opensuse.org/Portal:Tumbleweed\"\n"
     "LOGO=\"distributor-logo-Tumbleweed\"\n",
     ZYPPER, RK_OS_SUSE, RK_PKG_ZYPPER, NULL, {ZYPPER_INSTALL}, {0}},
    /* registry.suse.com/suse/sle15 */
    {"sles-15", SLES15("6", "6"), ZYPPER, RK_OS_SUSE, RK_PKG_ZYPPER, NULL, {ZYPPER_INSTALL}, {0}},
    /* registry.suse.com/bci/bci-base: the same os-release as SLES. */
    {"sles-bci", SLES15("7", "7"), ZYPPER, RK_OS_SUSE, RK_PKG_ZYPPER, NULL, {ZYPPER_INSTALL}, {0}},
    {"sle-bci-id",
     "NAME=\"SLE BCI\"\nID=\"sle-bci\"\nVERSION_ID=\"15.6\"\nPRETTY_NAME=\"SLE BCI 15 SP6\"\n",
     ZYPPER, RK_OS_SUSE, RK_PKG_ZYPPER, NULL, {ZYPPER_INSTALL}, {0}},

    /* ---- Arch (docker.io/archlinux:base) ---- */
    {"archlinux",
     "NAME=\"Arch Linux\"\nPRETTY_NAME=\"Arch Linux\"\nID=arch\nBUILD_ID=rolling\n"
     "ANSI_COLOR=\"38;2;23;147;209\"\nHOME_URL=\"https://archlinux.org/\"\n"
     "DOCUMENTATION_URL=\"https://wiki.archlinux.org/\"\nSUPPORT_URL=\"https://bbs.archlinux.org/\"\n"
     "BUG_REPORT_URL=\"https://gitlab.archlinux.org/groups/archlinux/-/issues\"\n"
     "PRIVACY_POLICY_URL=\"https://terms.archlinux.org/docs/privacy-policy/\"\nLOGO=archlinux-logo\n",
     PACMAN, RK_OS_ARCH, RK_PKG_PACMAN, NULL,
     {"pacman -Syu --noconfirm --needed --noprogressbar systemd curl wget"}, {0}},
    {"manjaro",
     "NAME=\"Manjaro Linux\"\nPRETTY_NAME=\"Manjaro Linux\"\nID=manjaro\nID_LIKE=arch\n"
     "BUILD_ID=rolling\n",
     PACMAN, RK_OS_ARCH, RK_PKG_PACMAN, NULL, {"pacman -Syu"}, {0}},

    /* ---- What Racker does not know ---- */
    {"alpine",
     "NAME=\"Alpine Linux\"\nID=alpine\nVERSION_ID=3.22.1\nPRETTY_NAME=\"Alpine Linux v3.22\"\n"
     "HOME_URL=\"https://alpinelinux.org/\"\nBUG_REPORT_URL=\"https://gitlab.alpinelinux.org/alpine/aports/-/issues\"\n",
     0, RK_OS_UNKNOWN, RK_PKG_NONE, "Alpine Linux v3.22 (ID=alpine) is no distribution Racker "
                                    "can install systemd into",
     {0}, {0}},
};

#define CHECK_LINE "if [ ! -x /usr/lib/systemd/systemd ] && [ ! -x /lib/systemd/systemd ]"

static void check_distro(const distro *d)
{
    rk_os_release os;
    rk_error *err = NULL;
    if (rk_os_release_parse(d->text, strlen(d->text), &os, &err) < 0)
        fail_msg("%s: parse: %s", d->label, err->msg);
    if (rk_os_family_detect(&os) != d->family)
        fail_msg("%s: family %s, want %s", d->label, rk_os_family_name(rk_os_family_detect(&os)),
                 rk_os_family_name(d->family));
    rk_recipe r;
    bool unknown = true;
    int rc = rk_recipe_for(&os, d->tools, &r, &unknown, &err);
    if (d->err) {
        if (rc == 0)
            fail_msg("%s: want error \"%s\", got recipe:\n%s", d->label, d->err, r.script);
        if (!strstr(err->msg, d->err))
            fail_msg("%s: error \"%s\" lacks \"%s\"", d->label, err->msg, d->err);
        assert_int_equal(err->status, 125);
        assert_true(unknown == (d->family == RK_OS_UNKNOWN));
        rk_error_free(err);
        rk_os_release_clear(&os);
        return;
    }
    if (rc < 0)
        fail_msg("%s: %s", d->label, err->msg);
    assert_false(unknown);
    if (r.tool != d->tool)
        fail_msg("%s: tool %s, want %s", d->label, rk_pkg_tool_name(r.tool),
                 rk_pkg_tool_name(d->tool));
    assert_int_equal(r.family, d->family);
    for (size_t i = 0; i < 4 && d->want[i]; i++)
        if (!strstr(r.script, d->want[i]))
            fail_msg("%s: script lacks \"%s\":\n%s", d->label, d->want[i], r.script);
    for (size_t i = 0; i < 3 && d->absent[i]; i++)
        if (strstr(r.script, d->absent[i]))
            fail_msg("%s: script has \"%s\":\n%s", d->label, d->absent[i], r.script);
    /* Every recipe: systemd, curl and wget asked for, the check last, the
     * commands one per line of the script, and a well-formed key. */
    assert_non_null(strstr(r.script, "systemd"));
    assert_non_null(strstr(r.script, "curl"));
    assert_non_null(strstr(r.script, "wget"));
    size_t n = rk_strv_len(r.commands);
    assert_true(n >= 2);
    assert_true(rk_startswith(r.commands[n - 1], CHECK_LINE));
    /* The script: each command announced ("+ CMD"), then run; the package
     * manager's in the background and waited for (so that a SIGINT to the
     * shell ends it at once). */
    _cleanup_strv_ char **lines = NULL;
    {
        _cleanup_free_ char *copy = rk_xstrdup(r.script);
        char *save = NULL;
        for (char *l = strtok_r(copy, "\n", &save); l; l = strtok_r(NULL, "\n", &save))
            rk_strv_push_dup(&lines, l);
    }
    assert_int_equal(rk_strv_len(lines), 2 * n);
    size_t n_pm = 0;
    for (size_t i = 0; i < n; i++) {
        const char *c = r.commands[i];
        const char *tname = rk_pkg_tool_name(d->tool);
        bool pm = rk_startswith(c, tname) && c[strlen(tname)] == ' ';
        n_pm += pm;
        assert_true(rk_startswith(lines[2 * i], "printf '+ %s\\n' '"));
        _cleanup_free_ char *want = pm ? rk_xasprintf("%s & wait $!", c) : rk_xstrdup(c);
        assert_string_equal(lines[2 * i + 1], want);
    }
    assert_true(n_pm >= 1);
    assert_true(rk_digest_valid(r.key));
    char want_key[RK_DIGEST_LEN + 1];
    rk_sha256_buf(r.text, strlen(r.text), want_key);
    assert_string_equal(r.key, want_key);
    _cleanup_free_ char *fam = rk_xasprintf("\nfamily %s\ntool %s\n", rk_os_family_name(d->family),
                                           rk_pkg_tool_name(d->tool));
    if (!strstr(r.text, fam))
        fail_msg("%s: text lacks \"%s\":\n%s", d->label, fam, r.text);
    assert_non_null(strstr(r.text, r.script));
    rk_recipe_clear(&r);
    rk_os_release_clear(&os);
}

static void test_distros(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(distros) / sizeof(distros[0]); i++)
        check_distro(&distros[i]);
}

/* The key depends on the commands (and only on what the recipe runs):
 * equal recipes give equal keys, any change a new one. */
static void test_recipe_keys(void **state)
{
    (void)state;
    static const char *const texts[] = {
        "ID=debian\nVERSION_ID=\"12\"\n",
        "ID=debian\nVERSION_ID=\"11\"\nPRETTY_NAME=\"Debian GNU/Linux 11 (bullseye)\"\n",
        "ID=debian\nVERSION_ID=\"10\"\n", /* archive sources: other commands */
        "ID=ubuntu\nID_LIKE=debian\nVERSION_ID=\"24.04\"\n",
        "ID=fedora\nVERSION_ID=40\n",
        "ID=centos\nVERSION_ID=\"8\"\n",
        "ID=centos\nVERSION_ID=\"9\"\n",
    };
    unsigned tools = APT | DNF;
    char keys[7][RK_DIGEST_LEN + 1];
    for (size_t i = 0; i < 7; i++) {
        rk_os_release os;
        rk_recipe r;
        parse_ok(texts[i], &os);
        assert_int_equal(rk_recipe_for(&os, tools, &r, NULL, NULL), 0);
        strcpy(keys[i], r.key);
        rk_recipe r2;
        assert_int_equal(rk_recipe_for(&os, tools, &r2, NULL, NULL), 0);
        assert_string_equal(r.key, r2.key);
        rk_recipe_clear(&r);
        rk_recipe_clear(&r2);
        rk_os_release_clear(&os);
    }
    /* Debian 12, 11 and Ubuntu run the same commands: one key. */
    assert_string_equal(keys[0], keys[1]);
    assert_string_equal(keys[0], keys[3]);
    /* Debian 10 (archived: other apt options) and 12 differ; CentOS 8 and
     * 9 run the same dnf commands. */
    assert_string_not_equal(keys[0], keys[2]);
    assert_string_equal(keys[5], keys[6]);
    /* Fedora and CentOS 9 share the dnf commands. */
    assert_string_equal(keys[4], keys[6]);
    assert_string_not_equal(keys[0], keys[4]);

    /* The same family with another tool is another recipe. */
    rk_os_release os;
    parse_ok("ID=rhel\nVERSION_ID=\"9.6\"\n", &os);
    rk_recipe a, b;
    assert_int_equal(rk_recipe_for(&os, DNF, &a, NULL, NULL), 0);
    assert_int_equal(rk_recipe_for(&os, MICRO, &b, NULL, NULL), 0);
    assert_string_not_equal(a.key, b.key);
    rk_recipe_clear(&a);
    rk_recipe_clear(&b);
    rk_os_release_clear(&os);
}

/* dnf5 > dnf > microdnf > yum, whatever else is there. */
static void test_tool_preference(void **state)
{
    (void)state;
    static const struct {
        unsigned tools;
        rk_pkg_tool want;
    } cases[] = {
        {RK_PKG_BIT(RK_PKG_DNF5) | RK_PKG_BIT(RK_PKG_DNF) | MICRO | YUM, RK_PKG_DNF5},
        {RK_PKG_BIT(RK_PKG_DNF) | MICRO | YUM, RK_PKG_DNF},
        {MICRO | YUM, RK_PKG_MICRODNF},
        {YUM, RK_PKG_YUM},
        /* Tools of other families do not count. */
        {YUM | APT | ZYPPER | PACMAN, RK_PKG_YUM},
    };
    rk_os_release os;
    parse_ok("ID=fedora\nVERSION_ID=39\n", &os);
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        rk_recipe r;
        assert_int_equal(rk_recipe_for(&os, cases[i].tools, &r, NULL, NULL), 0);
        assert_int_equal(r.tool, cases[i].want);
        if (cases[i].want == RK_PKG_YUM)
            assert_non_null(strstr(r.script, "yum install -y --skip-broken $pkgs"));
        rk_recipe_clear(&r);
    }
    rk_error *err = NULL;
    rk_recipe r;
    assert_int_equal(rk_recipe_for(&os, APT | ZYPPER | PACMAN, &r, NULL, &err), -1);
    assert_non_null(strstr(err->msg, NO_PM));
    rk_error_free(err);
    rk_os_release_clear(&os);

    /* The lists and names themselves. */
    const rk_pkg_tool *t = rk_os_family_tools(RK_OS_FEDORA);
    assert_int_equal(t[0], RK_PKG_DNF5);
    assert_int_equal(t[1], RK_PKG_DNF);
    assert_int_equal(t[2], RK_PKG_MICRODNF);
    assert_int_equal(t[3], RK_PKG_YUM);
    assert_int_equal(t[4], RK_PKG_NONE);
    assert_int_equal(rk_os_family_tools(RK_OS_UNKNOWN)[0], RK_PKG_NONE);
    assert_string_equal(rk_pkg_tool_path(RK_PKG_APT_GET), "/usr/bin/apt-get");
    assert_string_equal(rk_pkg_tool_path(RK_PKG_MICRODNF), "/usr/bin/microdnf");
    assert_string_equal(rk_pkg_tool_path(RK_PKG_ZYPPER), "/usr/bin/zypper");
    assert_string_equal(rk_pkg_tool_path(RK_PKG_PACMAN), "/usr/bin/pacman");
    assert_null(rk_pkg_tool_path(RK_PKG_NONE));
    assert_string_equal(rk_pkg_tool_name(RK_PKG_DNF5), "dnf5");
    assert_string_equal(rk_pkg_tool_name((rk_pkg_tool)99), "none");
}

/* ID wins over ID_LIKE; ID_LIKE words are tried in order. */
static void test_family_order(void **state)
{
    (void)state;
    static const struct {
        const char *text;
        rk_os_family want;
    } cases[] = {
        {"ID=ubuntu\nID_LIKE=fedora\n", RK_OS_DEBIAN},
        {"ID=weird\nID_LIKE=\"nothing suse debian\"\n", RK_OS_SUSE},
        {"ID=weird\nID_LIKE=\"nothing\"\n", RK_OS_UNKNOWN},
        {"ID=\"kali\"\nID_LIKE=debian\n", RK_OS_DEBIAN},
        {"ID=\"DEBIAN\"\n", RK_OS_UNKNOWN}, /* IDs are lowercase by definition */
        {"ID=opensuse-tumbleweed\n", RK_OS_SUSE},
        {"ID=scientific\nVERSION_ID=\"8\"\n", RK_OS_FEDORA},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        rk_os_release os;
        parse_ok(cases[i].text, &os);
        if (rk_os_family_detect(&os) != cases[i].want)
            fail_msg("\"%s\": family %s", cases[i].text, rk_os_family_name(rk_os_family_detect(&os)));
        rk_os_release_clear(&os);
    }
    assert_string_equal(rk_os_family_name(RK_OS_DEBIAN), "debian");
    assert_string_equal(rk_os_family_name(RK_OS_FEDORA), "fedora");
    assert_string_equal(rk_os_family_name(RK_OS_SUSE), "suse");
    assert_string_equal(rk_os_family_name(RK_OS_ARCH), "arch");
    assert_string_equal(rk_os_family_name(RK_OS_UNKNOWN), "unknown");
}

/* The "+ CMD" announcements print each command exactly, quotes and
 * backslashes included: run them (only them) through the host's sh. */
static void test_script_announcements(void **state)
{
    (void)state;
    rk_os_release os;
    parse_ok("ID=debian\nVERSION_ID=\"9\"\n", &os);
    rk_recipe r;
    assert_int_equal(rk_recipe_for(&os, APT, &r, NULL, NULL), 0);
    _cleanup_strv_ char **printfs = NULL;
    _cleanup_free_ char *copy = rk_xstrdup(r.script);
    char *save = NULL;
    for (char *l = strtok_r(copy, "\n", &save); l; l = strtok_r(NULL, "\n", &save))
        if (rk_startswith(l, "printf "))
            rk_strv_push_dup(&printfs, l);
    _cleanup_free_ char *script = rk_strv_join(printfs, "\n");
    char path[] = "/tmp/test_osrelease-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, script, strlen(script)), (ssize_t)strlen(script));
    close(fd);
    _cleanup_free_ char *cmd = rk_xasprintf("/bin/sh %s", path);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    char buf[4096];
    size_t i = 0;
    while (fgets(buf, sizeof(buf), p)) {
        buf[strcspn(buf, "\n")] = '\0';
        assert_non_null(r.commands[i]);
        _cleanup_free_ char *want = rk_xasprintf("+ %s", r.commands[i]);
        assert_string_equal(buf, want);
        i++;
    }
    assert_int_equal(pclose(p), 0);
    unlink(path);
    assert_int_equal(i, rk_strv_len(r.commands));
    /* The sources line of an archived release has quotes worth checking. */
    assert_non_null(strstr(r.commands[1], "-e '/-updates/d'"));
    rk_recipe_clear(&r);
    rk_os_release_clear(&os);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_quoting),
        cmocka_unit_test(test_parse_lines),
        cmocka_unit_test(test_parse_defaults),
        cmocka_unit_test(test_parse_errors),
        cmocka_unit_test(test_parse_not_terminated),
        cmocka_unit_test(test_distros),
        cmocka_unit_test(test_recipe_keys),
        cmocka_unit_test(test_tool_preference),
        cmocka_unit_test(test_family_order),
        cmocka_unit_test(test_script_announcements),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

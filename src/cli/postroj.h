/* postroj's verbs (src/cli/cmd_postroj.c, main_postroj.c). */
#pragma once

#include "cli/cli.h"

extern const struct rk_verb rk_postroj_verbs[];

int rk_cmd_postroj_pull(struct rk_cli *cli, int argc, char **argv);
int rk_cmd_postroj_pkgprobe(struct rk_cli *cli, int argc, char **argv);
int rk_cmd_postroj_selftest(struct rk_cli *cli, int argc, char **argv);

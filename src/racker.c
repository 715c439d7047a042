/* racker: the command line. Parses global options, then hands over to the
 * verb; every verb lives in src/cli/. */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include "cli/cli.h"

int main(int argc, char **argv)
{
    return rk_cli_main_racker(argc, argv);
}

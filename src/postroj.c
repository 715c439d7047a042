/* postroj: the package-testing harness on top of racker. Parses global
 * options, then hands over to the verb; everything lives in src/cli/ and
 * src/probe/. */
#include "config.h"

#include "cli/cli.h"

int main(int argc, char **argv)
{
    return rk_cli_main_postroj(argc, argv);
}

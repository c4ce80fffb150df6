/* The `roost` program's entry point. All the work is in cli_main (dispatch.c)
 * so that the rest of src/cli links into the test library. */
#include "cli/cli.h"

int main(int argc, char **argv)
{
	return cli_main(argc - 1, argv + 1);
}

/*
 * exit_status CODE: exits with CODE.
 * exit_status segv: dies of SIGSEGV (a store to address 0).
 */
#include <stdlib.h>
#include <string.h>

int main(int argc, char **argv)
{
	if (argc > 1 && strcmp(argv[1], "segv") == 0)
		*(volatile int *)0 = 1;
	return argc > 1 ? atoi(argv[1]) : 0;
}

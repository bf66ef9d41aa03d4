/*
 * showargs: prints its argc and each argv element quoted, one a line: the
 * interpreter of the `#!` script tests, which shows exactly what argv
 * execve built from the `#!` lines.
 */
#include <stdio.h>

int main(int argc, char **argv)
{
	printf("argc=%d\n", argc);
	for (int i = 0; i < argc; i++)
		printf("argv[%d]=\"%s\"\n", i, argv[i]);
	return 0;
}

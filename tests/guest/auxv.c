/* What a dynamically linked program sees of its own loading: AT_ENTRY is
 * its entry point, AT_PHDR its program headers as the loader reports
 * them, AT_BASE the loader's base (non-zero), and libc works. Prints the
 * loader's base on stderr, for the test to compare across runs. */
#define _GNU_SOURCE
#include <link.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>

extern char _start[];
static const void *first_phdr;
static int first(struct dl_phdr_info *i, size_t n, void *d) {
    (void)n; (void)d;
    if (!first_phdr) first_phdr = i->dlpi_phdr;
    return 1;
}

int main(int argc, char **argv) {
    dl_iterate_phdr(first, 0);
    printf("entry ok %d\n", getauxval(AT_ENTRY) == (unsigned long)_start);
    printf("phdr ok %d\n", getauxval(AT_PHDR) == (unsigned long)first_phdr);
    printf("base set %d\n", getauxval(AT_BASE) != 0);
    char *s = strdup(argc > 1 ? argv[1] : "none");
    printf("arg %s\n", s);
    free(s);
    fprintf(stderr, "%lx\n", getauxval(AT_BASE));
    return 0;
}

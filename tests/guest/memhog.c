/* Memory pressure for the mem= tests.
 *   memhog touch N   malloc and touch N MiB, 1 MiB at a time, then hold
 *                    it for two seconds (so that a limit is noticed) and
 *                    exit 0 ("touched N MiB").
 *   memhog big N     one malloc, one private anonymous mmap and one brk
 *                    of N MiB, untouched: prints each result and errno. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#define MIB (1024UL * 1024UL)

int main(int argc, char **argv) {
    if (argc != 3)
        return 2;
    unsigned long n = strtoul(argv[2], NULL, 10);
    if (strcmp(argv[1], "touch") == 0) {
        for (unsigned long i = 0; i < n; i++) {
            char *p = malloc(MIB);
            if (!p) {
                printf("malloc failed at %lu MiB: %s\n", i, strerror(errno));
                return 1;
            }
            memset(p, (int)i | 1, MIB);
        }
        printf("touched %lu MiB\n", n);
        fflush(stdout);
        sleep(2);
        return 0;
    }
    if (strcmp(argv[1], "big") == 0) {
        errno = 0;
        void *p = malloc(n * MIB);
        printf("malloc: %s %s\n", p ? "ok" : "NULL", p ? "-" : strerror(errno));
        free(p);
        errno = 0;
        void *m = mmap(NULL, n * MIB, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        printf("mmap: %s %s\n", m == MAP_FAILED ? "failed" : "ok", m == MAP_FAILED ? strerror(errno) : "-");
        if (m != MAP_FAILED)
            munmap(m, n * MIB);
        errno = 0;
        /* musl's sbrk refuses any increment: ask brk itself. */
        long cur = syscall(SYS_brk, 0);
        long got = syscall(SYS_brk, cur + (long)(n * MIB));
        void *b = got == cur + (long)(n * MIB) ? (void *)cur : (void *)-1;
        if (b == (void *)-1)
            errno = ENOMEM;
        printf("brk: %s %s\n", b == (void *)-1 ? "failed" : "ok", b == (void *)-1 ? strerror(errno) : "-");
        return 0;
    }
    return 2;
}

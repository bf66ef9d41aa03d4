/* The trap core's guarantees, seen from a guest:
 *  - a signal handler that returns (rt_sigreturn) leaves the program
 *    traced: getpid() is still the virtual pid 1;
 *  - no memory syscall may change or remove the stub's page (the lowest
 *    mappable page, argv[1]): each is EINVAL, and the program goes on. */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

static char *page;
static volatile int faults;

static void on_segv(int sig, siginfo_t *si, void *uc) {
    (void)sig; (void)uc;
    faults++;
    if ((char *)si->si_addr == page)
        mprotect(page, 4096, PROT_READ | PROT_WRITE);
}

static int err(long r) { return r == -1 ? errno : 0; }

int main(int argc, char **argv) {
    if (argc < 2) return 2;
    unsigned long stub = strtoul(argv[1], 0, 0);
    page = mmap(0, 4096, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    struct sigaction sa = {0};
    sa.sa_sigaction = on_segv;
    sa.sa_flags = SA_SIGINFO;
    sigaction(SIGSEGV, &sa, 0);
    page[0] = 'x'; /* faults once; the handler makes the page writable */
    printf("handler ran %d time(s), page=%c, pid=%ld\n", faults, page[0], syscall(SYS_getpid));

    void *s = (void *)stub;
    printf("mprotect=%d\n", err(mprotect(s, 4096, PROT_READ | PROT_WRITE | PROT_EXEC)));
    printf("munmap=%d\n", err(munmap(s, 4096)));
    printf("munmap-all=%d\n", err(munmap(0, 1UL << 46)));
    printf("madvise=%d\n", err(madvise(s, 4096, MADV_DONTNEED)));
    void *m = mmap(s, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
    printf("mmap-fixed=%d\n", m == MAP_FAILED ? errno : 0);
    void *r = mremap(page, 4096, 4096, MREMAP_MAYMOVE | MREMAP_FIXED, s);
    printf("mremap-onto=%d\n", r == MAP_FAILED ? errno : 0);
    /* Ordinary memory calls above the stub still work. */
    char *q = mmap(0, 8192, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    q[0] = 1;
    int own_mprotect = err(mprotect(q, 4096, PROT_READ));
    int own_munmap = err(munmap(q, 8192));
    printf("mprotect-own=%d munmap-own=%d\n", own_mprotect, own_munmap);
    printf("still traced: pid=%ld\n", syscall(SYS_getpid));
    return 0;
}

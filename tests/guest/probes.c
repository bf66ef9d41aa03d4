/* How umvm answers calls whose subsystem it does not have yet, or that
 * only report: a socket family it lacks (AF_IPX: EAFNOSUPPORT; ENOTSOCK on
 * an fd that is no socket), no xattrs (EOPNOTSUPP, ENOENT for a missing
 * file), personality, CPU affinity and getcpu, fadvise on a pipe (ESPIPE),
 * nice values. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/personality.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/xattr.h>
#include <unistd.h>

static void r(const char *what, long v) { printf("%s: %s\n", what, v < 0 ? strerror(errno) : "ok"); }

int main(void) {
    r("socket", socket(AF_IPX, SOCK_DGRAM, 0));
    int sv[2];
    r("socketpair", socketpair(AF_IPX, SOCK_DGRAM, 0, sv));
    struct sockaddr sa;
    socklen_t len = sizeof sa;
    r("getpeername(0)", getpeername(0, &sa, &len));
    r("getpeername(99)", getpeername(99, &sa, &len));
    char buf[64];
    r("lgetxattr /", lgetxattr("/", "user.x", buf, sizeof buf));
    r("getxattr /nope", getxattr("/nope", "user.x", buf, sizeof buf));
    r("listxattr /", listxattr("/", buf, sizeof buf));
    printf("personality %#x\n", personality(0xffffffff));
    printf("set ADDR_NO_RANDOMIZE: old %#x\n", personality(ADDR_NO_RANDOMIZE));
    printf("personality %#x\n", personality(0xffffffff));
    cpu_set_t set;
    CPU_ZERO(&set);
    r("sched_getaffinity", sched_getaffinity(0, sizeof set, &set));
    printf("cpus >= 1: %d\n", CPU_COUNT(&set) >= 1);
    unsigned cpu = 99, node = 99;
    r("getcpu", syscall(SYS_getcpu, &cpu, &node, 0));
    printf("node %u\n", node);
    int p[2];
    pipe(p);
    errno = posix_fadvise(p[0], 0, 0, POSIX_FADV_SEQUENTIAL);
    printf("fadvise pipe: %s\n", strerror(errno));
    printf("nice %d\n", getpriority(PRIO_PROCESS, 0));
    r("setpriority 5", setpriority(PRIO_PROCESS, 0, 5));
    printf("nice %d\n", getpriority(PRIO_PROCESS, 0));
    return 0;
}

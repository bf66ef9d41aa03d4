/* Capabilities as Linux's kernel/capability.c and security/commoncap.c
 * keep them, for root: capget/capset with versions 1-3, version
 * negotiation, NULL data, other processes, bad pointers; capset's limits;
 * the bounding set; execve giving root its sets back.
 *
 * `caps setuid` shows what changes of uid do to them (not comparable with
 * a native run in a user namespace, where only uid 0 is mapped). `caps
 * show` prints the sets (after exec). */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/fsuid.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#define V1 0x19980330
#define V2 0x20071026
#define V3 0x20080522
#define CAP_CHOWN 0
#define CAP_SETPCAP 8
#define CAP_SYS_CHROOT 18

struct hdr {
    uint32_t version;
    int pid;
};
struct data {
    uint32_t effective, permitted, inheritable;
};

static const char *err(long r) { return r == 0 ? "0" : strerror(errno); }

static long capget(uint32_t version, int pid, struct data *d) {
    struct hdr h = {version, pid};
    return syscall(SYS_capget, &h, d);
}

static long capset3(uint64_t e, uint64_t p, uint64_t i) {
    struct hdr h = {V3, 0};
    struct data d[2] = {{(uint32_t)e, (uint32_t)p, (uint32_t)i}, {e >> 32, p >> 32, i >> 32}};
    return syscall(SYS_capset, &h, d);
}

static void show(const char *what, int pid) {
    struct data d[2];
    long r = capget(V3, pid, d);
    if (r) {
        printf("%s: capget %s\n", what, strerror(errno));
        return;
    }
    printf("%s: eff %x%08x prm %x%08x inh %x%08x\n", what, d[1].effective, d[0].effective, d[1].permitted,
           d[0].permitted, d[1].inheritable, d[0].inheritable);
}

/* The Cap* lines of /proc/self/status. */
static void status(void) {
    char buf[8192];
    int fd = open("/proc/self/status", O_RDONLY);
    ssize_t n = fd < 0 ? -1 : read(fd, buf, sizeof buf - 1);
    if (n < 0) {
        printf("status: %s\n", strerror(errno));
        return;
    }
    buf[n] = 0;
    for (char *l = strtok(buf, "\n"); l; l = strtok(0, "\n"))
        if (strncmp(l, "Cap", 3) == 0) printf("  %s\n", l);
    close(fd);
}

static void run_self(const char *arg) {
    fflush(stdout);
    if (fork() == 0) {
        execl("/proc/self/exe", "caps", arg, (char *)0);
        _exit(127);
    }
    int st;
    wait(&st);
}

static void show_after_exec(void) {
    show("after exec", 0);
    printf("  keepcaps %d, bounding has CAP_SYS_CHROOT: %d\n", prctl(PR_GET_KEEPCAPS), prctl(PR_CAPBSET_READ, CAP_SYS_CHROOT));
}

static void setuid_mode(void) {
    /* setuid(1000) by root: every set empties; chroot is refused. */
    if (fork() == 0) {
        printf("setuid(1000) = %s\n", err(setuid(1000)));
        show("after setuid", 0);
        printf("chroot(/) = %s\n", err(chroot("/")));
        printf("capset back = %s\n", err(capset3(1 << CAP_SYS_CHROOT, 1 << CAP_SYS_CHROOT, 0)));
        _exit(0);
    }
    wait(0);
    /* seteuid moves the effective set only. */
    if (fork() == 0) {
        printf("seteuid(1000) = %s\n", err(seteuid(1000)));
        show("after seteuid(1000)", 0);
        printf("seteuid(0) = %s\n", err(seteuid(0)));
        show("after seteuid(0)", 0);
        setfsuid(1000);
        show("after setfsuid(1000)", 0);
        setfsuid(0);
        show("after setfsuid(0)", 0);
        _exit(0);
    }
    wait(0);
    /* PR_SET_KEEPCAPS keeps the permitted set across setuid; execve by a
     * non-root user clears everything (and the flag). */
    if (fork() == 0) {
        printf("PR_SET_KEEPCAPS = %s\n", err(prctl(PR_SET_KEEPCAPS, 1)));
        printf("PR_SET_KEEPCAPS 2 = %s\n", err(prctl(PR_SET_KEEPCAPS, 2)));
        printf("setresuid(1000) = %s\n", err(setresuid(1000, 1000, 1000)));
        show("kept", 0);
        printf("keepcaps %d\n", prctl(PR_GET_KEEPCAPS));
        struct data kept[2];
        capget(V3, 0, kept);
        uint64_t permitted = kept[0].permitted | (uint64_t)kept[1].permitted << 32;
        printf("raise CAP_SYS_CHROOT = %s\n", err(capset3(1 << CAP_SYS_CHROOT, permitted, 0)));
        printf("chroot(/) as uid 1000 = %s\n", err(chroot("/")));
        run_self("show");
        _exit(0);
    }
    wait(0);
}

int main(int argc, char **argv) {
    setvbuf(stdout, 0, _IOLBF, 0);
    if (argc > 1 && strcmp(argv[1], "show") == 0) {
        show_after_exec();
        return 0;
    }
    if (argc > 1 && strcmp(argv[1], "setuid") == 0) {
        setuid_mode();
        return 0;
    }
    show("root", 0);
    show("by pid", getpid());
    status();

    /* Versions: 1 fills one record, 2 and 3 two. */
    struct data d[2];
    memset(d, 0xaa, sizeof d);
    const char *r = err(capget(V1, 0, d));
    printf("v1 = %s, low word %x, second record untouched: %d\n", r, d[0].permitted, d[1].effective == 0xaaaaaaaa);
    r = err(capget(V2, 0, d));
    printf("v2 = %s, high word %x\n", r, d[1].permitted);

    /* A bad version: the preferred one is written back. */
    struct hdr h = {0x12345678, 0};
    r = err(syscall(SYS_capget, &h, d));
    printf("bad version = %s, version now %x\n", r, h.version);
    h.version = 1;
    r = err(syscall(SYS_capget, &h, 0));
    printf("bad version, NULL data = %s, version now %x\n", r, h.version);
    h.version = V3;
    printf("good version, NULL data = %s\n", err(syscall(SYS_capget, &h, 0)));
    printf("bad header = %s\n", err(syscall(SYS_capget, (void *)8, d)));
    printf("bad data = %s\n", err(capget(V3, 0, (struct data *)8)));
    printf("pid -1 = %s\n", err(capget(V3, -1, d)));
    printf("no such pid = %s\n", err(capget(V3, 99999, d)));
    h.version = 0;
    r = err(syscall(SYS_capset, &h, d));
    printf("capset bad version = %s, version now %x\n", r, h.version);
    printf("capset bad data = %s\n", err(syscall(SYS_capset, &(struct hdr){V3, 0}, (void *)8)));

    /* Another process's sets, and capset's limits, in a child. */
    int go[2], done[2];
    pipe(go);
    pipe(done);
    pid_t child = fork();
    if (child == 0) {
        char c;
        uint64_t all = (1ull << 41) - 1, chroot_bit = 1ull << CAP_SYS_CHROOT;
        printf("drop CAP_CHOWN from effective = %s\n", err(capset3(all & ~1ull, all, 0)));
        printf("raise it again = %s\n", err(capset3(all, all, 0)));
        printf("permitted = CAP_SYS_CHROOT only = %s\n", err(capset3(chroot_bit, chroot_bit, 0)));
        printf("permitted back up = %s\n", err(capset3(chroot_bit, all, 0)));
        printf("effective beyond permitted = %s\n", err(capset3(chroot_bit | 1, chroot_bit, 0)));
        printf("inheritable beyond permitted = %s\n", err(capset3(0, chroot_bit, 1)));
        printf("inheritable within = %s\n", err(capset3(0, chroot_bit, chroot_bit)));
        printf("capset of another pid = %s\n", err(syscall(SYS_capset, &(struct hdr){V3, getppid()}, d)));
        write(go[1], "x", 1);
        read(done[0], &c, 1);
        _exit(0);
    }
    char c;
    read(go[0], &c, 1);
    show("child's", child);
    write(done[1], "x", 1);
    waitpid(child, 0, 0);

    /* The bounding set, and execve giving root its sets back. */
    printf("bounding has CAP_SYS_CHROOT: %d, cap 64: %s\n", prctl(PR_CAPBSET_READ, CAP_SYS_CHROOT),
           prctl(PR_CAPBSET_READ, 64) < 0 ? strerror(errno) : "?");
    if (fork() == 0) {
        uint64_t all = (1ull << 41) - 1;
        printf("effective emptied = %s\n", err(capset3(0, all, 0)));
        run_self("show");
        printf("PR_CAPBSET_DROP without CAP_SETPCAP = %s\n", err(prctl(PR_CAPBSET_DROP, CAP_SYS_CHROOT)));
        capset3(all, all, 0);
        printf("PR_CAPBSET_DROP = %s\n", err(prctl(PR_CAPBSET_DROP, CAP_SYS_CHROOT)));
        run_self("show");
        _exit(0);
    }
    wait(0);
    return 0;
}

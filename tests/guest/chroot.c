/* chroot(2) as Linux does it, run as root in a tree that has /jail with
 * its own /etc/hello ("inside"), /bin/chroot (this program), /bin/dyn (this
 * program linked dynamically, with musl's loader in /jail/lib only), and
 * symlinks /jail/abs -> /etc and /jail/up -> ../../..; the outer tree's
 * /etc/hello says "outside".
 *
 * Absolute paths, absolute symlinks and `..` stay in the root; the cwd is
 * not moved, so relative paths still reach outside, and getcwd shows it
 * as unreachable; procfs's root, cwd and fd links; fork, threads
 * (CLONE_FS), exec and fexecve keep the root; errors: EFAULT, ENOENT,
 * ENOTDIR, ELOOP, and EPERM without CAP_SYS_CHROOT.
 *
 * With an argument, prints what it sees of its root (after exec). */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#define CAP_SYS_CHROOT 18
#define CAP_VERSION_3 0x20080522

struct cap_header {
    uint32_t version;
    int pid;
};
struct cap_data {
    uint32_t effective, permitted, inheritable;
};

static const char *err(int r) { return r == 0 ? "0" : strerror(errno); }

static void try_chroot(const char *what, const char *path) {
    printf("chroot(%s) = %s\n", what, err((int)syscall(SYS_chroot, path)));
}

/* The first line of a file, or the error. */
static void cat(const char *path) {
    char buf[64] = {0};
    int fd = open(path, O_RDONLY);
    if (fd < 0) {
        printf("  %s: %s\n", path, strerror(errno));
        return;
    }
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n > 0 && buf[n - 1] == '\n') buf[n - 1] = 0;
    printf("  %s: %s\n", path, buf);
}

/* The raw getcwd: libc's refuses what does not start with '/'. Only the
 * "(unreachable)" mark is printed for a cwd outside the root: the path
 * after it is from the namespace's root, which differs between the guest
 * and a native run. */
static void cwd(const char *what) {
    char buf[4096];
    long r = syscall(SYS_getcwd, buf, sizeof buf);
    if (r < 0) {
        printf("  getcwd %s: %s\n", what, strerror(errno));
    } else if (strncmp(buf, "(unreachable)", 13) == 0) {
        printf("  getcwd %s: (unreachable)...\n", what);
    } else {
        printf("  getcwd %s: %s (%ld)\n", what, buf, r);
    }
}

/* Prints the target of link `path`, naming it `label`. */
static void link_as(const char *path, const char *label) {
    char buf[4096];
    ssize_t n = readlink(path, buf, sizeof buf - 1);
    if (n < 0) {
        printf("  readlink %s: %s\n", label, strerror(errno));
        return;
    }
    buf[n] = 0;
    printf("  readlink %s: %s\n", label, buf);
}

static void link_of(const char *path) { link_as(path, path); }

/* How many lines a file has. */
static void lines(const char *path) {
    char buf[4096];
    int fd = open(path, O_RDONLY), n = 0;
    ssize_t r;
    while (fd >= 0 && (r = read(fd, buf, sizeof buf)) > 0)
        for (ssize_t i = 0; i < r; i++) n += buf[i] == '\n';
    printf("  %s: %d lines\n", path, n);
    if (fd >= 0) close(fd);
}

static void wait_child(const char *what) {
    int st;
    fflush(stdout);
    wait(&st);
    printf("%s: exited=%d status=%d\n", what, WIFEXITED(st), WEXITSTATUS(st));
}

static void *thread_chroot(void *arg) {
    (void)arg;
    printf("thread: chroot(/jail) = %s\n", err(chroot("/jail")));
    return 0;
}

static void inner(const char *how) {
    printf("%s: exec'd in the root\n", how);
    cwd(how);
    cat("/etc/hello");
    cat("/../etc/hello");
}

int main(int argc, char **argv) {
    if (argc > 1) {
        inner(argv[1]);
        return 0;
    }
    setvbuf(stdout, 0, _IOLBF, 0);

    /* Errors, as root. */
    try_chroot("NULL", NULL);
    try_chroot("bad pointer", (const char *)1);
    try_chroot("\"\"", "");
    try_chroot("/nonexistent", "/nonexistent");
    try_chroot("/etc/hello", "/etc/hello");
    try_chroot("/etc/hello/x", "/etc/hello/x");
    try_chroot("/jail/loop", "/jail/loop");

    /* Without CAP_SYS_CHROOT: EPERM, but lookup errors come first. */
    if (fork() == 0) {
        struct cap_header h = {CAP_VERSION_3, 0};
        struct cap_data d[2];
        syscall(SYS_capget, &h, d);
        d[0].effective &= ~(1u << CAP_SYS_CHROOT);
        printf("drop CAP_SYS_CHROOT = %s\n", err((int)syscall(SYS_capset, &h, d)));
        try_chroot("/jail", "/jail");
        try_chroot("/nonexistent", "/nonexistent");
        try_chroot("/etc/hello", "/etc/hello");
        _exit(0);
    }
    wait_child("unprivileged child");

    /* A child chroots; its parent reads its procfs links. */
    int go[2], done[2];
    pipe(go);
    pipe(done);
    pid_t child = fork();
    if (child == 0) {
        char c;
        printf("child: chroot(/jail) = %s\n", err(chroot("/jail")));
        cwd("after chroot");
        cat("/etc/hello");
        cat("/../../etc/hello");
        cat("/abs/hello");
        cat("/up/etc/hello");
        cat("etc/hello");
        cat("jail/abs/hello");
        cat("proc/self/root/etc/hello");
        link_of("proc/self/root");
        int hello = open("/etc/hello", O_RDONLY);
        char fdlink[64];
        snprintf(fdlink, sizeof fdlink, "proc/self/fd/%d", hello);
        link_as(fdlink, "proc/self/fd/N (/etc/hello)");
        close(hello);
        /* No mount point is under the jail: no mount is shown. */
        lines("proc/self/mounts");
        lines("proc/self/mountinfo");
        printf("child: chdir(/) = %s\n", err(chdir("/")));
        cwd("after chdir(/)");
        printf("child: chdir(..) = %s\n", err(chdir("..")));
        cwd("after chdir(..)");
        cat("etc/hello");
        write(go[1], "x", 1);
        read(done[0], &c, 1);
        _exit(0);
    }
    char c;
    read(go[0], &c, 1);
    char path[64];
    printf("parent:\n");
    snprintf(path, sizeof path, "/proc/%d/root", child);
    link_as(path, "/proc/CHILD/root");
    snprintf(path, sizeof path, "/proc/%d/cwd", child);
    link_as(path, "/proc/CHILD/cwd");
    snprintf(path, sizeof path, "/proc/%d/root/etc/hello", child);
    int fd = open(path, O_RDONLY);
    char buf[16] = {0};
    printf("  /proc/CHILD/root/etc/hello: %.6s\n", fd >= 0 && read(fd, buf, 6) == 6 ? buf : strerror(errno));
    write(done[1], "x", 1);
    wait_child("child");

    /* chdir + chroot(".") and a nested chroot; fork and exec keep the root;
     * the loader a dynamic program names is looked up in the root. */
    if (fork() == 0) {
        printf("chdir(/jail) = %s\n", err(chdir("/jail")));
        printf("chroot(.) = %s\n", err(chroot(".")));
        cwd("after chroot(.)");
        if (fork() == 0) {
            cat("/etc/hello");
            _exit(0);
        }
        wait_child("grandchild");
        if (fork() == 0) {
            execl("/bin/chroot", "chroot", "static", (char *)0);
            printf("exec static: %s\n", strerror(errno));
            _exit(1);
        }
        wait_child("static exec");
        if (fork() == 0) {
            execl("/bin/dyn", "dyn", "dynamic", (char *)0);
            printf("exec dynamic: %s\n", strerror(errno));
            _exit(1);
        }
        wait_child("dynamic exec");
        if (fork() == 0) {
            int fd = open("/bin/chroot", O_RDONLY);
            char *args[] = {"chroot", "fexecve", 0}, *env[] = {0};
            fexecve(fd, args, env);
            printf("fexecve: %s\n", strerror(errno));
            _exit(1);
        }
        wait_child("fexecve");
        printf("chroot(/sub) = %s\n", err(chroot("/sub")));
        cat("/hello");
        cat("/etc/hello");
        cwd("in /sub");
        _exit(0);
    }
    wait_child("chroot(.) child");

    /* Threads share the root (CLONE_FS). */
    if (fork() == 0) {
        pthread_t t;
        pthread_create(&t, 0, thread_chroot, 0);
        pthread_join(t, 0);
        cat("/etc/hello");
        _exit(0);
    }
    wait_child("thread child");

    /* The parent's root never moved. */
    cwd("parent");
    cat("/etc/hello");
    return 0;
}

/* chroot(2) with the permission checks of the virtual credentials, run as
 * root in the tree of tests/chroot.rs: /jail has its own /etc/hello
 * ("inside"), musl's loader in /jail/lib, and (made by the test) /jail/priv
 * with a file f and a program x, /jail/bin/inner (this program, found only
 * in the jail), /jail/bin/dynp (this program linked dynamically), the
 * scripts /jail/s-ok (#!/bin/inner script) and /jail/s-priv (#!/priv/x),
 * and /jail/other.
 *
 * Root closes the namespace's `/` and chroots into /jail; then the
 * directories walked are checked from the jail's root down: for a user's paths, its programs, their loader
 * and #! interpreters. The filesystem capabilities, not uid 0, override
 * the checks: setfsuid(1000) drops them, capset can too.
 *
 * With an argument, prints who runs it and what /etc/hello says. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/fsuid.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#define CAP_DAC_OVERRIDE 1
#define CAP_DAC_READ_SEARCH 2
#define CAP_VERSION_3 0x20080522

struct cap_header {
    uint32_t version;
    int pid;
};
struct cap_data {
    uint32_t effective, permitted, inheritable;
};

static const char *name(int e) {
    switch (e) {
    case EACCES: return "EACCES";
    case EPERM: return "EPERM";
    case ENOENT: return "ENOENT";
    default: return strerror(e);
    }
}

static void try(const char *what, int r) {
    printf("%s: %s\n", what, r >= 0 ? "0" : name(errno));
}

static void tryopen(const char *what, const char *path) {
    int fd = open(path, O_RDONLY);
    try(what, fd);
    if (fd >= 0) close(fd);
}

static void must(int r, const char *what) {
    if (r < 0) {
        printf("setup %s: %s\n", what, strerror(errno));
        exit(1);
    }
}

static void hello(const char *who) {
    char buf[64] = "";
    int fd = open("/etc/hello", O_RDONLY);
    ssize_t n = fd >= 0 ? read(fd, buf, sizeof buf - 1) : -1;
    if (n > 0 && buf[n - 1] == '\n') buf[n - 1] = 0;
    printf("%s: uid %d, /etc/hello: %s\n", who, (int)getuid(), n > 0 ? buf : name(errno));
}

/* Runs `f` in a child that has become uid 1000, gid 100. */
static void as_user(const char *what, void (*f)(void)) {
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        must(setgroups(0, NULL), "setgroups");
        must(setresgid(100, 100, 100), "setresgid");
        must(setresuid(1000, 1000, 1000), "setresuid");
        f();
        fflush(stdout);
        _exit(0);
    }
    int status;
    waitpid(pid, &status, 0);
    printf("%s: exited=%d status=%d\n", what, WIFEXITED(status), WEXITSTATUS(status));
}

static void run(const char *path, char *arg) {
    char *argv[] = {(char *)path, arg, NULL};
    execve(path, argv, NULL);
    printf("execve %s: %s\n", path, name(errno));
}

static void paths(void) {
    tryopen("open /priv/f", "/priv/f");
    tryopen("open /../priv/f", "/../priv/f");
    tryopen("open /etc/hello", "/etc/hello");
    try("chdir /priv", chdir("/priv"));
    try("chroot /priv", chroot("/priv"));
    try("chroot /etc", chroot("/etc"));
    try("execve /priv/x", execve("/priv/x", (char *[]){"x", NULL}, NULL));
    try("execve /s-priv", execve("/s-priv", (char *[]){"s-priv", NULL}, NULL));
}

static void dynamic(void) { run("/bin/dynp", "dynamic"); }
static void script(void) { run("/s-ok", NULL); }

int main(int argc, char **argv) {
    if (argc > 1) {
        hello(argv[1]);
        return 0;
    }
    /* Above the jail's root nothing is checked: the namespace's `/` may
     * be closed. */
    must(chmod("/", 0700), "chmod /");
    must(chmod("/jail/priv", 0700), "chmod /jail/priv");
    must(chown("/jail/other", 1000, 100), "chown /jail/other");
    must(chmod("/jail/other", 0700), "chmod /jail/other");
    must(chroot("/jail"), "chroot");
    must(chdir("/"), "chdir");

    /* Root: the filesystem capabilities follow the fsuid. */
    tryopen("root: open /other/.", "/other/.");
    setfsuid(1000);
    tryopen("fsuid 1000: open /priv/f", "/priv/f");
    tryopen("fsuid 1000: open /other/.", "/other/.");
    setfsuid(0);
    tryopen("fsuid 0: open /priv/f", "/priv/f");
    struct cap_header h = {CAP_VERSION_3, 0};
    struct cap_data d[2];
    must(syscall(SYS_capget, &h, d), "capget");
    d[0].effective &= ~((1u << CAP_DAC_OVERRIDE) | (1u << CAP_DAC_READ_SEARCH));
    must(syscall(SYS_capset, &h, d), "capset");
    tryopen("no DAC capabilities: open /other/.", "/other/.");
    tryopen("no DAC capabilities: open /priv/f (root's)", "/priv/f");
    d[0].effective = d[0].permitted;
    must(syscall(SYS_capset, &h, d), "capset");
    tryopen("capabilities back: open /other/.", "/other/.");

    /* A user in the jail. */
    as_user("paths", paths);
    as_user("dynamic", dynamic);
    as_user("script", script);
    /* The loader must be searchable and executable too. */
    must(chmod("/lib", 0700), "chmod /lib");
    as_user("dynamic, /lib closed", dynamic);
    must(chmod("/lib", 0755), "chmod /lib");
    must(chmod("/bin/inner", 0700), "chmod /bin/inner");
    as_user("script, interpreter closed", script);
    return 0;
}

/* Set-user-ID and set-group-ID programs under the guest's credentials:
 * exec takes the file's owner as the effective uid (S_ISUID) and its
 * group as the effective gid (S_ISGID with group execute only); the new
 * program's auxv says AT_SECURE; no_new_privs (inherited by fork, kept by
 * exec) turns both off. Run as root: copies itself to /tmp/probe, owned
 * 1000:1000, and execs it as uid 2000 (and as root) in several modes. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <grp.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/auxv.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static void probe(void) {
    uid_t r, e, s;
    gid_t gr, ge, gs;
    getresuid(&r, &e, &s);
    getresgid(&gr, &ge, &gs);
    printf("  uid %d/%d/%d gid %d/%d/%d secure %lu nnp %d\n", r, e, s, gr, ge, gs, getauxval(AT_SECURE),
           prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0));
}

static void run(const char *what, mode_t mode, int as_user, int nnp) {
    printf("%s:\n", what);
    fflush(stdout);
    chmod("/tmp/probe", mode);
    pid_t p = fork();
    if (p == 0) {
        if (as_user && (setgroups(0, 0) || setresgid(3000, 3000, 3000) || setresuid(2000, 2000, 2000))) _exit(90);
        if (nnp && prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)) _exit(91);
        execl("/tmp/probe", "probe", "probe", (char *)0);
        _exit(92);
    }
    int st;
    waitpid(p, &st, 0);
    if (!WIFEXITED(st) || WEXITSTATUS(st)) printf("  failed: %x\n", st);
}

int main(int argc, char **argv) {
    setvbuf(stdout, NULL, _IONBF, 0);
    if (argc > 1) {
        probe();
        return 0;
    }
    int in = open("/proc/self/exe", O_RDONLY), out = open("/tmp/probe", O_WRONLY | O_CREAT | O_TRUNC, 0755);
    char buf[65536];
    ssize_t n;
    while ((n = read(in, buf, sizeof buf)) > 0) write(out, buf, n);
    close(in);
    close(out);
    if (chown("/tmp/probe", 1000, 1000)) {
        perror("chown");
        return 1;
    }
    printf("nnp at start %d\n", prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0));
    run("plain, as 2000", 0755, 1, 0);
    run("setuid, as 2000", 04755, 1, 0);
    run("setgid, as 2000", 02755, 1, 0);
    run("setuid+setgid, as 2000", 06755, 1, 0);
    run("setgid without group x, as 2000", 02745, 1, 0);
    run("setuid+setgid, as 2000, no_new_privs", 06755, 1, 1);
    run("setuid, as root", 04755, 0, 0);
    printf("prctl bad args: %d\n", prctl(PR_SET_NO_NEW_PRIVS, 1, 1, 0, 0));
    return 0;
}

/* Credentials as Linux's kernel/sys.c changes them: root sets all ids,
 * setresuid/setreuid keep or move the saved id, an unprivileged process
 * moves only among its own ids, setgroups needs privilege, setfsuid
 * returns the old id. */
#define _GNU_SOURCE
#include <errno.h>
#include <grp.h>
#include <stdio.h>
#include <string.h>
#include <sys/fsuid.h>
#include <unistd.h>

static void show(const char *what) {
    uid_t r, e, s;
    gid_t gr, ge, gs;
    getresuid(&r, &e, &s);
    getresgid(&gr, &ge, &gs);
    gid_t g[8];
    int n = getgroups(8, g);
    printf("%s: uid %u %u %u gid %u %u %u groups", what, r, e, s, gr, ge, gs);
    for (int i = 0; i < n; i++) printf(" %u", g[i]);
    printf("\n");
}

static void try(const char *what, int r) { printf("%s = %s\n", what, r == 0 ? "0" : strerror(errno)); }

int main(void) {
    gid_t gs[] = {30, 10, 20};
    try("setgroups", setgroups(3, gs));
    printf("getgroups(0) = %d\n", getgroups(0, 0));
    gid_t small[1];
    try("getgroups(1)", getgroups(1, small) < 0 ? -1 : 0);
    try("setresgid(100, 100, 0)", setresgid(100, 100, 0));
    try("setresuid(1000, 1000, 0)", setresuid(1000, 1000, 0));
    show("after setresuid");
    try("setgroups unprivileged", setgroups(0, 0));
    try("setuid(0) via saved", setuid(0));
    show("after setuid(0)");
    try("setreuid(-1, 1000)", setreuid(-1, 1000));
    show("after setreuid");
    printf("setfsuid(5) returns %d\n", setfsuid(5));
    printf("setfsuid(-1) returns %d\n", setfsuid(-1));
    try("seteuid(0) back", seteuid(0));
    try("setuid(2000) as root", setuid(2000));
    show("after setuid(2000)");
    try("setuid(0) now", setuid(0));
    try("setresuid(1, 1, 1)", setresuid(1, 1, 1));
    return 0;
}

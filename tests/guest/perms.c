/* File permissions with the caller's credentials, as Linux's fs/namei.c
 * and fs/attr.c check them. Root makes a tree under BASE (argv[1]), then
 * the program becomes uid 1000, gid 100, groups {50} and tries each
 * operation, printing 0 or the errno's name. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const char *base;

static const char *p(const char *rel) {
    static char buf[8][256];
    static int i;
    i = (i + 1) % 8;
    snprintf(buf[i], sizeof buf[i], "%s/%s", base, rel);
    return buf[i];
}

static const char *name(int e) {
    switch (e) {
    case EACCES: return "EACCES";
    case EPERM: return "EPERM";
    case EEXIST: return "EEXIST";
    case ENOENT: return "ENOENT";
    case EISDIR: return "EISDIR";
    case EINVAL: return "EINVAL";
    default: return strerror(e);
    }
}

static void try(const char *what, int r) { printf("%s: %s\n", what, r >= 0 ? "0" : name(errno)); }

static void tryopen(const char *what, const char *path, int flags) {
    int fd = open(path, flags, 0640);
    try(what, fd);
    if (fd >= 0) close(fd);
}

static void owner(const char *what, const char *path) {
    struct stat st;
    if (lstat(path, &st) < 0) {
        printf("%s: stat %s\n", what, name(errno));
        return;
    }
    printf("%s: %u:%u %o\n", what, st.st_uid, st.st_gid, st.st_mode & 07777);
}

static void must(int r, const char *what) {
    if (r < 0) {
        printf("setup %s: %s\n", what, strerror(errno));
        exit(1);
    }
}

static void file(const char *rel, int mode, uid_t u, gid_t g) {
    int fd = open(p(rel), O_CREAT | O_WRONLY | O_TRUNC, 0600);
    must(fd, rel);
    must(write(fd, "#!/bin/sh\nexit 0\n", 17), rel);
    close(fd);
    must(chown(p(rel), u, g), rel);
    must(chmod(p(rel), mode), rel);
}

static void dir(const char *rel, int mode, uid_t u, gid_t g) {
    must(mkdir(p(rel), 0700), rel);
    must(chown(p(rel), u, g), rel);
    must(chmod(p(rel), mode), rel);
}

int main(int argc, char **argv) {
    base = argc > 1 ? argv[1] : "/tmp";
    umask(0);
    mkdir(base, 0755);
    dir("d", 0755, 0, 0);
    file("d/f", 0644, 0, 0);
    dir("d/sub", 0755, 0, 0);
    dir("w", 0777, 0, 0);
    file("w/ww", 0666, 0, 0);
    file("w/noexec", 0744, 0, 0);
    file("w/other", 0644, 1000, 7);
    file("w/suid", 04755, 1000, 100);
    dir("s", 01777, 0, 0);
    file("s/rootf", 0666, 0, 0);
    file("s/minef", 0600, 1000, 100);
    dir("priv", 0700, 0, 0);
    file("priv/x", 0644, 0, 0);
    dir("priv/pub", 0755, 0, 0);
    file("priv/pub/file", 0644, 0, 0);
    dir("sg", 02777, 0, 50);

    gid_t groups[] = {50};
    must(setgroups(1, groups), "setgroups");
    must(setresgid(100, 100, 100), "setresgid");
    /* access(2) checks the real ids, AT_EACCESS the effective ones. */
    must(setresuid(1000, 0, 0), "setresuid");
    try("access real R_OK priv/x", access(p("priv/x"), R_OK));
    try("faccessat AT_EACCESS priv/x", faccessat(AT_FDCWD, p("priv/x"), R_OK, AT_EACCESS));
    must(chdir(p("priv/pub")), "chdir");
    must(setresuid(1000, 1000, 1000), "setresuid");

    /* Search permission: from the cwd, only the cwd is searched. */
    tryopen("open relative in cwd under priv", "file", O_RDONLY);
    tryopen("open absolute under priv", p("priv/pub/file"), O_RDONLY);
    struct stat st;
    try("stat priv/x", stat(p("priv/x"), &st));
    try("stat priv", stat(p("priv"), &st));
    try("chdir priv", chdir(p("priv")));
    must(chdir("/"), "chdir /");

    /* open */
    tryopen("open d/f read", p("d/f"), O_RDONLY);
    tryopen("open d/f write", p("d/f"), O_WRONLY);
    tryopen("open d/f read trunc", p("d/f"), O_RDONLY | O_TRUNC);
    tryopen("open d/f path", p("d/f"), O_PATH);
    tryopen("open w write", p("w"), O_WRONLY);
    tryopen("open d/new creat", p("d/new"), O_CREAT | O_WRONLY);
    tryopen("open d/f creat excl", p("d/f"), O_CREAT | O_EXCL | O_WRONLY);
    tryopen("open w/mine creat", p("w/mine"), O_CREAT | O_RDWR);
    owner("w/mine", p("w/mine"));
    tryopen("open sg/file creat", p("sg/file"), O_CREAT | O_RDWR);
    owner("sg/file", p("sg/file"));

    /* create and delete */
    try("mkdir d/f", mkdir(p("d/f"), 0755));
    try("mkdir d/n", mkdir(p("d/n"), 0755));
    try("mkdir w/md", mkdir(p("w/md"), 0750));
    owner("w/md", p("w/md"));
    try("mkdir sg/sub", mkdir(p("sg/sub"), 0755));
    owner("sg/sub", p("sg/sub"));
    try("mkfifo d/fifo", mkfifo(p("d/fifo"), 0644));
    try("mkfifo w/fifo", mkfifo(p("w/fifo"), 0644));
    owner("w/fifo", p("w/fifo"));
    try("symlink d/l", symlink("x", p("d/l")));
    try("symlink w/l", symlink("x", p("w/l")));
    owner("w/l", p("w/l"));
    try("link w/mine d/hl", link(p("w/mine"), p("d/hl")));
    try("link w/mine w/hl", link(p("w/mine"), p("w/hl")));
    try("unlink d/f", unlink(p("d/f")));
    try("rmdir d/sub", rmdir(p("d/sub")));
    try("unlink s/rootf", unlink(p("s/rootf")));
    try("rename s/rootf", rename(p("s/rootf"), p("s/x")));
    try("rename w/mine d/m", rename(p("w/mine"), p("d/m")));
    try("rename w/ww over s/rootf", rename(p("w/ww"), p("s/rootf")));
    try("rename s/minef w/minef", rename(p("s/minef"), p("w/minef")));
    try("unlink w/hl", unlink(p("w/hl")));

    /* attributes */
    try("chmod d/f", chmod(p("d/f"), 0666));
    try("chmod w/mine 2640", chmod(p("w/mine"), 02640));
    owner("w/mine", p("w/mine"));
    try("chmod w/other 2644", chmod(p("w/other"), 02644));
    owner("w/other", p("w/other"));
    try("chown w/mine 1000 -1", chown(p("w/mine"), 1000, -1));
    try("chown w/mine -1 50", chown(p("w/mine"), -1, 50));
    owner("w/mine", p("w/mine"));
    try("chown w/mine -1 7", chown(p("w/mine"), -1, 7));
    try("chown w/mine 0 -1", chown(p("w/mine"), 0, -1));
    try("chown d/f -1 100", chown(p("d/f"), -1, 100));
    try("chown w/suid -1 50", chown(p("w/suid"), -1, 50));
    owner("w/suid", p("w/suid"));
    struct timespec t[2] = {{1, 0}, {2, 0}};
    try("utimensat d/f explicit", utimensat(AT_FDCWD, p("d/f"), t, 0));
    try("utimensat d/f now", utimensat(AT_FDCWD, p("d/f"), NULL, 0));
    try("utimensat w/ww now", utimensat(AT_FDCWD, p("w/ww"), NULL, 0));
    try("utimensat w/ww explicit", utimensat(AT_FDCWD, p("w/ww"), t, 0));
    try("utimensat w/mine explicit", utimensat(AT_FDCWD, p("w/mine"), t, 0));
    try("truncate d/f", truncate(p("d/f"), 0));
    try("truncate w/mine", truncate(p("w/mine"), 0));
    int fd = open(p("d/f"), O_RDONLY);
    try("fchmod d/f", fchmod(fd, 0600));
    try("fchown d/f", fchown(fd, 1000, -1));
    close(fd);

    /* exec and access */
    try("access d/f R_OK", access(p("d/f"), R_OK));
    try("access d/f W_OK", access(p("d/f"), W_OK));
    try("access w/noexec X_OK", access(p("w/noexec"), X_OK));
    char *args[] = {"noexec", NULL};
    try("execve w/noexec", execve(p("w/noexec"), args, NULL));
    return 0;
}

/* File mappings: two processes mapping one file MAP_SHARED see each
 * other's writes; a MAP_PRIVATE write stays private; the file holds the
 * shared writes after munmap (and msync); a mapping outlives close();
 * MAP_SHARED|PROT_WRITE of a read-only fd is EACCES; /dev/zero maps as
 * zeroed memory, shared across fork with MAP_SHARED. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

int main(int argc, char **argv) {
    setvbuf(stdout, NULL, _IONBF, 0);
    const char *path = argc > 1 ? argv[1] : "/tmp/filemap.dat";
    int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0644);
    char page[4096];
    memset(page, '.', sizeof page);
    write(fd, page, sizeof page);
    char *sh = mmap(0, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    char *pr = mmap(0, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
    close(fd); /* the mappings stay */
    printf("mapped %d %d\n", sh != MAP_FAILED, pr != MAP_FAILED);
    int up[2], down[2];
    pipe(up);
    pipe(down);
    pid_t c = fork();
    if (c == 0) {
        /* The child maps the file on its own and writes through it. */
        int f = open(path, O_RDWR);
        char *m = mmap(0, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, f, 0);
        memcpy(m, "child", 5);
        msync(m, 4096, MS_SYNC);
        munmap(m, 4096);
        close(f);
        write(up[1], "x", 1);
        char b;
        read(down[0], &b, 1); /* wait: the parent wrote too */
        f = open(path, O_RDONLY);
        m = mmap(0, 4096, PROT_READ, MAP_SHARED, f, 0);
        printf("child sees %.6s\n", m + 100);
        _exit(0);
    }
    char b;
    read(up[0], &b, 1);
    printf("parent sees %.5s\n", sh);
    memcpy(sh + 100, "parent", 6);
    pr[0] = 'P';
    write(down[1], "y", 1);
    waitpid(c, 0, 0);
    printf("private %.5s shared %.5s\n", pr, sh);
    munmap(sh, 4096);
    munmap(pr, 4096);
    fd = open(path, O_RDONLY);
    char buf[8] = {0};
    pread(fd, buf, 5, 0);
    char buf2[8] = {0};
    pread(fd, buf2, 6, 100);
    printf("file %s %s\n", buf, buf2);
    void *w = mmap(0, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    printf("rdonly shared write: %s\n", w == MAP_FAILED ? strerror(errno) : "mapped");
    close(fd);

    int z = open("/dev/zero", O_RDWR);
    int *zs = mmap(0, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, z, 0);
    close(z);
    printf("zero %d\n", zs[0]);
    if (fork() == 0) { zs[0] = 42; _exit(0); }
    wait(0);
    printf("shared zero page %d\n", zs[0]);
    return 0;
}

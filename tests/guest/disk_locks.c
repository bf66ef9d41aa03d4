// File locks on a disk file: two opens of one file are two open file
// descriptions, whose flock and record locks conflict; another process
// sees a record lock; a lock dies with its last close.
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/wait.h>
#include <unistd.h>

static int wlock(int fd, int cmd) {
    struct flock fl = {.l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 0, .l_len = 10};
    return fcntl(fd, cmd, &fl) == 0 ? 0 : errno;
}

int main(int argc, char **argv) {
    const char *path = argc > 1 ? argv[1] : "/lockme";
    int a = open(path, O_RDWR | O_CREAT, 0644);
    int b = open(path, O_RDWR);
    if (a < 0 || b < 0) { perror("open"); return 1; }
    printf("flock a: %d\n", flock(a, LOCK_EX | LOCK_NB) == 0 ? 0 : errno);
    printf("flock b: %s\n", flock(b, LOCK_EX | LOCK_NB) == 0 ? "granted" : strerror(errno));
    flock(a, LOCK_UN);
    printf("flock b after unlock: %d\n", flock(b, LOCK_EX | LOCK_NB) == 0 ? 0 : errno);
    flock(b, LOCK_UN);
    printf("ofd lock a: %d\n", wlock(a, F_OFD_SETLK));
    printf("ofd lock b: %s\n", strerror(wlock(b, F_OFD_SETLK)));
    close(a);
    printf("ofd lock b after close(a): %d\n", wlock(b, F_OFD_SETLK));
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        int c = open(path, O_RDWR);
        printf("child record lock: %s\n", strerror(wlock(c, F_SETLK)));
        fflush(stdout);
        _exit(0);
    }
    waitpid(pid, NULL, 0);
    return 0;
}

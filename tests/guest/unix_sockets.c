/* AF_UNIX sockets between guest processes: stream over a path and an
 * abstract name, socketpair, datagrams with MSG_TRUNC, seqpacket record
 * boundaries, SCM_RIGHTS passing a pipe's read end to another process,
 * SCM_CREDENTIALS and SO_PEERCRED after setuid, non-blocking EAGAIN,
 * poll readiness, EOF, EPIPE, ECONNREFUSED and EADDRINUSE. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

static const char *err(long r) {
    if (r >= 0)
        return "ok";
    switch (errno) {
    case EAGAIN: return "EAGAIN";
    case EPIPE: return "EPIPE";
    case ECONNREFUSED: return "ECONNREFUSED";
    case EADDRINUSE: return "EADDRINUSE";
    case ENOENT: return "ENOENT";
    case EINVAL: return "EINVAL";
    case ENOTCONN: return "ENOTCONN";
    case EPERM: return "EPERM";
    case EPROTOTYPE: return "EPROTOTYPE";
    case EBADF: return "EBADF";
    case ENOTSOCK: return "ENOTSOCK";
    case EAFNOSUPPORT: return "EAFNOSUPPORT";
    default: return strerror(errno);
    }
}

static socklen_t mkaddr(struct sockaddr_un *a, const char *path, int abstract) {
    memset(a, 0, sizeof *a);
    a->sun_family = AF_UNIX;
    size_t n = strlen(path);
    memcpy(a->sun_path + (abstract ? 1 : 0), path, n);
    return offsetof(struct sockaddr_un, sun_path) + n + (abstract ? 1 : 1);
}

static void wait_child(pid_t p) {
    int st;
    waitpid(p, &st, 0);
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
        printf("child failed: %#x\n", st);
}

static void echo_server_client(const char *name, int abstract) {
    struct sockaddr_un a;
    socklen_t len = mkaddr(&a, name, abstract);
    int l = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    printf("%s: bind %s", abstract ? "abstract" : "path", err(bind(l, (void *)&a, len)));
    printf(", listen %s", err(listen(l, 4)));
    int again = socket(AF_UNIX, SOCK_STREAM, 0);
    printf(", rebind %s\n", err(bind(again, (void *)&a, len)));
    close(again);
    if (!abstract) {
        struct stat st;
        stat(name, &st);
        printf("path: socket file %s\n", S_ISSOCK(st.st_mode) ? "yes" : "no");
    }
    pid_t c = fork();
    if (c == 0) {
        int s = socket(AF_UNIX, SOCK_STREAM, 0);
        if (connect(s, (void *)&a, len) < 0)
            _exit(1);
        char buf[64];
        for (int i = 0; i < 3; i++) {
            char msg[16];
            int n = snprintf(msg, sizeof msg, "ping %d", i);
            write(s, msg, n);
            int got = read(s, buf, sizeof buf - 1);
            buf[got > 0 ? got : 0] = 0;
            printf("client got: %s\n", buf);
            fflush(stdout);
        }
        close(s);
        _exit(0);
    }
    struct sockaddr_un peer;
    socklen_t plen = sizeof peer;
    int s = accept4(l, (void *)&peer, &plen, SOCK_CLOEXEC);
    printf("accepted: %s, peer name length %d\n", err(s), (int)plen);
    struct sockaddr_un me;
    socklen_t mlen = sizeof me;
    getsockname(s, (void *)&me, &mlen);
    printf("server end name matches: %s\n", mlen == len && memcmp(&me, &a, len) == 0 ? "yes" : "no");
    char buf[64];
    int n;
    while ((n = read(s, buf, sizeof buf)) > 0) {
        for (int i = 0; i < n; i++)
            if (buf[i] == 'p')
                buf[i] = 'P';
        write(s, buf, n);
    }
    printf("server: EOF %d\n", n);
    wait_child(c);
    close(s);
    close(l);
    if (!abstract)
        unlink(name);
}

static void pair_and_errors(void) {
    int sv[2];
    printf("socketpair: %s\n", err(socketpair(AF_UNIX, SOCK_STREAM, 0, sv)));
    write(sv[0], "abc", 3);
    char buf[8];
    int n = recv(sv[1], buf, sizeof buf, MSG_PEEK);
    int m = read(sv[1], buf, sizeof buf);
    printf("peek %d then read %d: %.3s\n", n, m, buf);
    printf("empty non-blocking: %s\n", err(recv(sv[1], buf, 1, MSG_DONTWAIT)));
    struct pollfd p = { .fd = sv[1], .events = POLLIN | POLLOUT | POLLRDHUP };
    poll(&p, 1, 0);
    printf("poll idle: in %d out %d\n", !!(p.revents & POLLIN), !!(p.revents & POLLOUT));
    fcntl(sv[0], F_SETFL, O_NONBLOCK);
    static char big[65536];
    long total = 0, r;
    while ((r = write(sv[0], big, sizeof big)) > 0)
        total += r;
    printf("fill: %s after more than 64K %s\n", err(r), total > 65536 ? "yes" : "no");
    p.fd = sv[0];
    p.events = POLLOUT;
    poll(&p, 1, 0);
    printf("full: out %d\n", !!(p.revents & POLLOUT));
    shutdown(sv[0], SHUT_WR);
    p.fd = sv[1];
    p.events = POLLIN | POLLRDHUP;
    poll(&p, 1, 0);
    printf("after SHUT_WR: in %d rdhup %d hup %d\n", !!(p.revents & POLLIN), !!(p.revents & POLLRDHUP),
           !!(p.revents & POLLHUP));
    close(sv[0]);
    while (read(sv[1], big, sizeof big) > 0)
        ;
    printf("after drain: read %d\n", (int)read(sv[1], buf, 1));
    int sv2[2];
    socketpair(AF_UNIX, SOCK_STREAM, 0, sv2);
    close(sv2[1]);
    printf("send to closed peer, MSG_NOSIGNAL: %s\n", err(send(sv2[0], "x", 1, MSG_NOSIGNAL)));
    signal(SIGPIPE, SIG_IGN);
    printf("write to closed peer: %s\n", err(write(sv2[0], "x", 1)));
    signal(SIGPIPE, SIG_DFL);
    close(sv2[0]);
    close(sv[1]);

    struct sockaddr_un a;
    socklen_t len = mkaddr(&a, "/tmp/nobody.sock", 0);
    int s = socket(AF_UNIX, SOCK_STREAM, 0);
    printf("connect to missing path: %s\n", err(connect(s, (void *)&a, len)));
    len = mkaddr(&a, "nobody-here", 1);
    printf("connect to missing abstract: %s\n", err(connect(s, (void *)&a, len)));
    int d = socket(AF_UNIX, SOCK_DGRAM, 0);
    len = mkaddr(&a, "/tmp/dg.sock", 0);
    bind(d, (void *)&a, len);
    printf("connect stream to dgram: %s\n", err(connect(s, (void *)&a, len)));
    close(d);
    printf("connect after close: %s\n", err(connect(s, (void *)&a, len)));
    unlink("/tmp/dg.sock");
    close(s);
    printf("unknown family: %s\n", err(socket(AF_INET6 + 100, SOCK_STREAM, 0)));
    int pp[2];
    pipe(pp);
    struct sockaddr_un na;
    socklen_t nl = sizeof na;
    printf("getpeername on a pipe: %s\n", err(getpeername(pp[0], (void *)&na, &nl)));
    close(pp[0]);
    close(pp[1]);
}

static void datagrams(void) {
    int sv[2];
    socketpair(AF_UNIX, SOCK_DGRAM, 0, sv);
    send(sv[0], "hello world", 11, 0);
    send(sv[0], "second", 6, 0);
    char buf[32];
    int n = recv(sv[1], buf, 5, 0);
    printf("dgram short read: %d %.5s\n", n, buf);
    send(sv[0], "hello world", 11, 0);
    struct iovec iov = { buf, 5 };
    struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
    n = recvmsg(sv[1], &mh, MSG_TRUNC);
    printf("dgram MSG_TRUNC: %d flags trunc %d\n", n, !!(mh.msg_flags & MSG_TRUNC));
    n = recv(sv[1], buf, sizeof buf, 0);
    printf("next datagram: %d %.*s\n", n, n, buf);
    printf("empty: %s\n", err(recv(sv[1], buf, 1, MSG_DONTWAIT)));
    close(sv[0]);
    close(sv[1]);

    struct sockaddr_un a, from;
    socklen_t len = mkaddr(&a, "dgram-server", 1);
    int srv = socket(AF_UNIX, SOCK_DGRAM, 0);
    bind(srv, (void *)&a, len);
    int cl = socket(AF_UNIX, SOCK_DGRAM, 0);
    struct sockaddr_un ca;
    socklen_t clen = mkaddr(&ca, "dgram-client", 1);
    bind(cl, (void *)&ca, clen);
    printf("sendto: %s\n", err(sendto(cl, "to server", 9, 0, (void *)&a, len)));
    socklen_t flen = sizeof from;
    n = recvfrom(srv, buf, sizeof buf, 0, (void *)&from, &flen);
    printf("recvfrom: %d from %s\n", n, flen == clen && memcmp(&from, &ca, clen) == 0 ? "client" : "?");
    int full = 0;
    while (sendto(cl, "x", 1, MSG_DONTWAIT, (void *)&a, len) == 1)
        full++;
    printf("dgram queue full after %s: %s\n", full > 0 ? "some" : "none", err(-1));
    close(srv);
    printf("sendto closed: %s\n", err(sendto(cl, "x", 1, 0, (void *)&a, len)));
    close(cl);

    socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sv);
    send(sv[0], "one", 3, 0);
    send(sv[0], "two!", 4, 0);
    n = recv(sv[1], buf, sizeof buf, 0);
    int m = recv(sv[1], buf + n, sizeof buf, 0);
    printf("seqpacket records: %d %d\n", n, m);
    send(sv[0], "abcdef", 6, 0);
    n = recv(sv[1], buf, 2, 0);
    printf("seqpacket truncated: %d, rest gone: %s\n", n, err(recv(sv[1], buf, 8, MSG_DONTWAIT)));
    close(sv[0]);
    printf("seqpacket EOF: %d\n", (int)recv(sv[1], buf, 8, 0));
    close(sv[1]);
}

static int send_fd(int s, int fd) {
    char c = 'F';
    struct iovec iov = { &c, 1 };
    union { struct cmsghdr h; char b[CMSG_SPACE(sizeof(int))]; } u;
    struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.b, .msg_controllen = sizeof u.b };
    struct cmsghdr *cm = CMSG_FIRSTHDR(&mh);
    cm->cmsg_level = SOL_SOCKET;
    cm->cmsg_type = SCM_RIGHTS;
    cm->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(cm), &fd, sizeof fd);
    return sendmsg(s, &mh, 0);
}

static void rights(void) {
    int sv[2], p[2];
    socketpair(AF_UNIX, SOCK_STREAM, 0, sv);
    pipe(p);
    pid_t c = fork();
    if (c == 0) {
        close(sv[0]);
        close(p[0]);
        close(p[1]);
        char c1;
        struct iovec iov = { &c1, 1 };
        union { struct cmsghdr h; char b[CMSG_SPACE(sizeof(int))]; } u;
        struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.b, .msg_controllen = sizeof u.b };
        int n = recvmsg(sv[1], &mh, MSG_CMSG_CLOEXEC);
        struct cmsghdr *cm = CMSG_FIRSTHDR(&mh);
        if (n != 1 || !cm || cm->cmsg_type != SCM_RIGHTS)
            _exit(2);
        int fd;
        memcpy(&fd, CMSG_DATA(cm), sizeof fd);
        char buf[64];
        n = read(fd, buf, sizeof buf);
        printf("child read through passed fd: %.*s, cloexec %d\n", n, buf, !!(fcntl(fd, F_GETFD) & FD_CLOEXEC));
        n = read(fd, buf, sizeof buf);
        printf("child sees EOF: %d\n", n);
        /* A second fd, with no room for it. */
        mh.msg_controllen = 0;
        n = recvmsg(sv[1], &mh, 0);
        printf("no control room: %d ctrunc %d\n", n, !!(mh.msg_flags & MSG_CTRUNC));
        _exit(0);
    }
    close(sv[1]);
    printf("sendmsg SCM_RIGHTS: %s\n", err(send_fd(sv[0], p[0])));
    close(p[0]);
    write(p[1], "through the pipe", 16);
    close(p[1]);
    int p2[2];
    pipe(p2);
    send_fd(sv[0], p2[0]);
    close(p2[0]);
    wait_child(c);
    /* The fd the child had no room for was closed with the message. */
    signal(SIGPIPE, SIG_IGN);
    printf("writer of the dropped fd: %s\n", err(write(p2[1], "x", 1)));
    signal(SIGPIPE, SIG_DFL);
    close(p2[1]);
    printf("bad fd in SCM_RIGHTS: %s\n", err(send_fd(sv[0], 99)) );
    close(sv[0]);
}

static void credentials(void) {
    int sv[2];
    socketpair(AF_UNIX, SOCK_STREAM, 0, sv);
    pid_t c = fork();
    if (c == 0) {
        close(sv[0]);
        if (setgid(200) || setuid(100))
            _exit(3);
        struct ucred claim = { getpid(), 0, 200 };
        char b[CMSG_SPACE(sizeof claim)];
        char x = 'c';
        struct iovec iov = { &x, 1 };
        struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = b, .msg_controllen = sizeof b };
        struct cmsghdr *cm = CMSG_FIRSTHDR(&mh);
        cm->cmsg_level = SOL_SOCKET;
        cm->cmsg_type = SCM_CREDENTIALS;
        cm->cmsg_len = CMSG_LEN(sizeof claim);
        memcpy(CMSG_DATA(cm), &claim, sizeof claim);
        printf("claim uid 0 unprivileged: %s\n", err(sendmsg(sv[1], &mh, 0)));
        claim.uid = 100;
        memcpy(CMSG_DATA(cm), &claim, sizeof claim);
        printf("claim own ids: %s\n", err(sendmsg(sv[1], &mh, 0)));
        fflush(stdout);
        int s = socket(AF_UNIX, SOCK_STREAM, 0);
        struct sockaddr_un a;
        socklen_t len = mkaddr(&a, "cred-server", 1);
        if (connect(s, (void *)&a, len) < 0)
            _exit(4);
        read(s, &x, 1);
        _exit(0);
    }
    close(sv[1]);
    int on = 1;
    setsockopt(sv[0], SOL_SOCKET, SO_PASSCRED, &on, sizeof on);
    struct sockaddr_un a;
    socklen_t len = mkaddr(&a, "cred-server", 1);
    int l = socket(AF_UNIX, SOCK_STREAM, 0);
    bind(l, (void *)&a, len);
    listen(l, 1);
    char x;
    struct iovec iov = { &x, 1 };
    char b[CMSG_SPACE(sizeof(struct ucred))];
    struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = b, .msg_controllen = sizeof b };
    int n = recvmsg(sv[0], &mh, 0);
    struct cmsghdr *cm = CMSG_FIRSTHDR(&mh);
    struct ucred uc = { 0 };
    if (cm && cm->cmsg_type == SCM_CREDENTIALS)
        memcpy(&uc, CMSG_DATA(cm), sizeof uc);
    /* The child connects once it has printed. */
    int s = accept(l, NULL, NULL);
    printf("SCM_CREDENTIALS: %d bytes, pid is child %s, uid %u gid %u\n", n, uc.pid == c ? "yes" : "no", uc.uid,
           uc.gid);
    socklen_t ul = sizeof uc;
    getsockopt(s, SOL_SOCKET, SO_PEERCRED, &uc, &ul);
    printf("SO_PEERCRED: pid is child %s, uid %u gid %u\n", uc.pid == c ? "yes" : "no", uc.uid, uc.gid);
    int ty = 0, acc = 0, dom = 0;
    socklen_t il = sizeof ty;
    getsockopt(s, SOL_SOCKET, SO_TYPE, &ty, &il);
    getsockopt(l, SOL_SOCKET, SO_ACCEPTCONN, &acc, &il);
    getsockopt(l, SOL_SOCKET, SO_DOMAIN, &dom, &il);
    printf("SO_TYPE stream %d, SO_ACCEPTCONN %d, SO_DOMAIN unix %d\n", ty == SOCK_STREAM, acc, dom == AF_UNIX);
    write(s, "k", 1);
    wait_child(c);
    int e = -1;
    getsockopt(s, SOL_SOCKET, SO_ERROR, &e, &il);
    printf("SO_ERROR: %d\n", e);
    struct stat st;
    fstat(s, &st);
    char link[64], path[64];
    snprintf(path, sizeof path, "/proc/self/fd/%d", s);
    int ln = readlink(path, link, sizeof link - 1);
    link[ln > 0 ? ln : 0] = 0;
    printf("fstat S_IFSOCK %d, fd link socket:[ino] %s\n", S_ISSOCK(st.st_mode),
           strncmp(link, "socket:[", 8) == 0 && (unsigned long)atoll(link + 8) == st.st_ino ? "yes" : link);
    close(s);
    close(l);
    close(sv[0]);
}

static void blocking_accept_and_poll(void) {
    struct sockaddr_un a;
    socklen_t len = mkaddr(&a, "/tmp/poll.sock", 0);
    int l = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0);
    bind(l, (void *)&a, len);
    listen(l, 0);
    printf("accept none pending: %s\n", err(accept(l, NULL, NULL)));
    struct pollfd p = { .fd = l, .events = POLLIN };
    pid_t c = fork();
    if (c == 0) {
        usleep(100000);
        int s = socket(AF_UNIX, SOCK_STREAM, 0);
        connect(s, (void *)&a, len);
        write(s, "late", 4);
        close(s);
        _exit(0);
    }
    int r = poll(&p, 1, 5000);
    printf("poll listener: %d in %d\n", r, !!(p.revents & POLLIN));
    int s = accept(l, NULL, NULL);
    char buf[8];
    fcntl(s, F_SETFL, 0);
    int n = recv(s, buf, sizeof buf, MSG_WAITALL);
    printf("MSG_WAITALL until EOF: %d %.4s\n", n, buf);
    wait_child(c);
    close(s);
    close(l);
    unlink("/tmp/poll.sock");
}

int main(int argc, char **argv) {
    setvbuf(stdout, NULL, _IONBF, 0);
    /* Natively the test runs in a user namespace that maps uid 0 alone:
     * no setuid to show credentials with. */
    int native = argc > 1 && strcmp(argv[1], "native") == 0;
    echo_server_client("/tmp/echo.sock", 0);
    echo_server_client("echo-abstract", 1);
    pair_and_errors();
    datagrams();
    rights();
    if (!native)
        credentials();
    blocking_accept_and_poll();
    return 0;
}

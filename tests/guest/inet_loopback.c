/* AF_INET and AF_INET6 over the guest's loopback: a TCP echo between two
 * processes, a 10 MB transfer with a checksum, UDP echo, ECONNREFUSED, a
 * non-blocking connect finished by poll, getsockname/getpeername, socket
 * options, and TCP over ::1. Every port is chosen by the kernel (bind to
 * port 0), so nothing depends on what else listens. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
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
    case EINPROGRESS: return "EINPROGRESS";
    case EINVAL: return "EINVAL";
    case ENOTCONN: return "ENOTCONN";
    case EAFNOSUPPORT: return "EAFNOSUPPORT";
    case EISCONN: return "EISCONN";
    case EPROTONOSUPPORT: return "EPROTONOSUPPORT";
    default: return strerror(errno);
    }
}

static void wait_child(pid_t p) {
    int st;
    waitpid(p, &st, 0);
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
        printf("child failed: %#x\n", st);
}

static struct sockaddr_in lo4(int port) {
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    return a;
}

/* A listener on 127.0.0.1 at a port the kernel picks; returns the port. */
static int listener4(int *port) {
    int l = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = lo4(0);
    int one = 1;
    setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (bind(l, (void *)&a, sizeof a) < 0 || listen(l, 8) < 0) {
        printf("listener: %s\n", err(-1));
        exit(1);
    }
    socklen_t len = sizeof a;
    getsockname(l, (void *)&a, &len);
    *port = ntohs(a.sin_port);
    return l;
}

static int connect4(int port) {
    int c = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = lo4(port);
    if (connect(c, (void *)&a, sizeof a) < 0) {
        printf("connect: %s\n", err(-1));
        exit(1);
    }
    return c;
}

static void tcp_echo(void) {
    int port;
    int l = listener4(&port);
    printf("tcp listen: port ephemeral %d\n", port >= 32768 && port <= 60999);
    pid_t p = fork();
    if (p == 0) {
        int c = connect4(port);
        char buf[64];
        for (int i = 0; i < 3; i++) {
            int n = snprintf(buf, sizeof buf, "Ping %d", i);
            write(c, buf, n);
            int got = 0;
            while (got < n) {
                int r = read(c, buf + got, n - got);
                if (r <= 0)
                    break;
                got += r;
            }
            printf("client got: %.*s\n", got, buf);
        }
        close(c);
        _exit(0);
    }
    struct sockaddr_in peer;
    socklen_t plen = sizeof peer;
    int s = accept(l, (void *)&peer, &plen);
    printf("accepted: %s, peer len %d, peer 127.0.0.1 %d\n", err(s), (int)plen,
           peer.sin_addr.s_addr == htonl(INADDR_LOOPBACK));
    struct sockaddr_in me, them;
    socklen_t ml = sizeof me, tl = sizeof them;
    getsockname(s, (void *)&me, &ml);
    getpeername(s, (void *)&them, &tl);
    printf("server end: local port %d, peer port equals accept's %d\n", ntohs(me.sin_port) == port,
           them.sin_port == peer.sin_port);
    char buf[64];
    ssize_t n;
    while ((n = read(s, buf, sizeof buf)) > 0)
        write(s, buf, n);
    printf("server: EOF %zd\n", n);
    close(s);
    wait_child(p);
    close(l);
}

static uint32_t mix(uint32_t h, const unsigned char *b, size_t n) {
    for (size_t i = 0; i < n; i++)
        h = (h ^ b[i]) * 16777619u;
    return h;
}

static void big_transfer(void) {
    enum { TOTAL = 10 * 1024 * 1024 };
    int port;
    int l = listener4(&port);
    pid_t p = fork();
    if (p == 0) {
        int c = connect4(port);
        static unsigned char buf[100000];
        uint32_t h = 2166136261u;
        size_t sent = 0;
        unsigned seed = 1;
        while (sent < TOTAL) {
            size_t n = TOTAL - sent < sizeof buf ? TOTAL - sent : sizeof buf;
            for (size_t i = 0; i < n; i++) {
                seed = seed * 1103515245u + 12345u;
                buf[i] = seed >> 16;
            }
            h = mix(h, buf, n);
            size_t off = 0;
            while (off < n) {
                ssize_t w = write(c, buf + off, n - off);
                if (w <= 0) {
                    printf("write: %s\n", err(w));
                    _exit(1);
                }
                off += w;
            }
            sent += n;
        }
        shutdown(c, SHUT_WR);
        uint32_t back;
        read(c, &back, sizeof back);
        printf("10 MB: receiver's checksum matches %d\n", back == h);
        close(c);
        _exit(0);
    }
    int s = accept(l, NULL, NULL);
    static unsigned char buf[65536];
    uint32_t h = 2166136261u;
    size_t got = 0;
    ssize_t n;
    while ((n = read(s, buf, sizeof buf)) > 0) {
        h = mix(h, buf, n);
        got += n;
    }
    printf("10 MB: received %zu\n", got);
    write(s, &h, sizeof h);
    close(s);
    wait_child(p);
    close(l);
}

static void udp_echo(void) {
    int srv = socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in a = lo4(0);
    bind(srv, (void *)&a, sizeof a);
    socklen_t len = sizeof a;
    getsockname(srv, (void *)&a, &len);
    int port = ntohs(a.sin_port);
    pid_t p = fork();
    if (p == 0) {
        int c = socket(AF_INET, SOCK_DGRAM, 0);
        struct sockaddr_in to = lo4(port);
        sendto(c, "datagram one", 12, 0, (void *)&to, sizeof to);
        char buf[64];
        struct sockaddr_in from;
        socklen_t fl = sizeof from;
        ssize_t n = recvfrom(c, buf, sizeof buf, 0, (void *)&from, &fl);
        printf("udp client got: %.*s from server port %d\n", (int)n, buf, ntohs(from.sin_port) == port);
        close(c);
        _exit(0);
    }
    char buf[64];
    struct sockaddr_in from;
    socklen_t fl = sizeof from;
    ssize_t n = recvfrom(srv, buf, sizeof buf, 0, (void *)&from, &fl);
    printf("udp server got: %.*s, sender len %d\n", (int)n, buf, (int)fl);
    for (ssize_t i = 0; i < n; i++)
        if (buf[i] >= 'a' && buf[i] <= 'z')
            buf[i] -= 32;
    sendto(srv, buf, n, 0, (void *)&from, fl);
    wait_child(p);
    /* Truncation and emptiness. */
    int c = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);
    struct sockaddr_in to = lo4(port);
    printf("udp connect: %s\n", err(connect(c, (void *)&to, sizeof to)));
    send(c, "0123456789", 10, 0);
    struct msghdr m;
    struct iovec iov = {buf, 4};
    memset(&m, 0, sizeof m);
    m.msg_iov = &iov;
    m.msg_iovlen = 1;
    n = recvmsg(srv, &m, 0);
    printf("udp truncated: %zd flags trunc %d\n", n, (m.msg_flags & MSG_TRUNC) != 0);
    n = recv(c, buf, sizeof buf, 0);
    printf("udp empty non-blocking: %s\n", err(n));
    close(c);
    close(srv);
}

static void refused(void) {
    /* A port nobody listens on: bind one, learn its number, close it. */
    int t = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = lo4(0);
    bind(t, (void *)&a, sizeof a);
    socklen_t len = sizeof a;
    getsockname(t, (void *)&a, &len);
    close(t);
    int c = socket(AF_INET, SOCK_STREAM, 0);
    printf("connect to closed port: %s\n", err(connect(c, (void *)&a, sizeof a)));
    close(c);
    c = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    int r = connect(c, (void *)&a, sizeof a);
    printf("non-blocking connect to closed port: %s\n", err(r));
    struct pollfd pfd = {c, POLLOUT, 0};
    poll(&pfd, 1, 5000);
    int e = 0;
    socklen_t el = sizeof e;
    getsockopt(c, SOL_SOCKET, SO_ERROR, &e, &el);
    printf("then poll err %d, SO_ERROR %s\n", (pfd.revents & POLLERR) != 0, e == ECONNREFUSED ? "ECONNREFUSED" : strerror(e));
    close(c);
}

static void nonblocking_connect(void) {
    int port;
    int l = listener4(&port);
    int c = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    struct sockaddr_in a = lo4(port);
    printf("non-blocking connect: %s\n", err(connect(c, (void *)&a, sizeof a)));
    struct pollfd pfd = {c, POLLOUT, 0};
    int n = poll(&pfd, 1, 5000);
    int e = -1;
    socklen_t el = sizeof e;
    getsockopt(c, SOL_SOCKET, SO_ERROR, &e, &el);
    printf("poll: %d out %d, SO_ERROR %d\n", n, (pfd.revents & POLLOUT) != 0, e);
    printf("connect again: %s\n", err(connect(c, (void *)&a, sizeof a)));
    struct pollfd lp = {l, POLLIN, 0};
    int lr = poll(&lp, 1, 5000);
    printf("listener poll: %d revents %#x\n", lr, lp.revents);
    int s = accept4(l, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    printf("accept4: %s, nonblock %d, cloexec %d\n", err(s), (fcntl(s, F_GETFL) & O_NONBLOCK) != 0,
           (fcntl(s, F_GETFD) & FD_CLOEXEC) != 0);
    char buf[8];
    printf("empty read: %s\n", err(read(s, buf, sizeof buf)));
    send(c, "x", 1, 0);
    struct pollfd sp = {s, POLLIN, 0};
    poll(&sp, 1, 5000);
    printf("after send: in %d, read %zd\n", (sp.revents & POLLIN) != 0, read(s, buf, sizeof buf));
    fcntl(l, F_SETFL, O_NONBLOCK);
    printf("accept none pending: %s\n", err(accept(l, NULL, NULL)));
    int v = 0;
    socklen_t vl = sizeof v;
    getsockopt(c, SOL_SOCKET, SO_TYPE, &v, &vl);
    printf("SO_TYPE stream %d", v == SOCK_STREAM);
    vl = sizeof v;
    getsockopt(l, SOL_SOCKET, SO_ACCEPTCONN, &v, &vl);
    printf(", SO_ACCEPTCONN %d", v);
    int one = 1;
    printf(", TCP_NODELAY %s", err(setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one)));
    printf(", SO_KEEPALIVE %s", err(setsockopt(c, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof one)));
    int sz = 65536;
    printf(", SO_RCVBUF %s", err(setsockopt(c, SOL_SOCKET, SO_RCVBUF, &sz, sizeof sz)));
    int ttl = 32;
    printf(", IP_TTL %s\n", err(setsockopt(c, IPPROTO_IP, IP_TTL, &ttl, sizeof ttl)));
    int nd = -1, ka = -1, ra = -1;
    vl = sizeof nd;
    getsockopt(c, IPPROTO_TCP, TCP_NODELAY, &nd, &vl);
    vl = sizeof ka;
    getsockopt(c, SOL_SOCKET, SO_KEEPALIVE, &ka, &vl);
    vl = sizeof ra;
    getsockopt(c, SOL_SOCKET, SO_REUSEADDR, &ra, &vl);
    struct linger lg = {1, 1};
    socklen_t lgl = sizeof lg;
    getsockopt(c, SOL_SOCKET, SO_LINGER, &lg, &lgl);
    printf("read back: nodelay %d keepalive %d reuseaddr %d, linger %d len %d\n", nd != 0, ka != 0, ra, lg.l_onoff, (int)lgl);
    struct stat st;
    fstat(s, &st);
    char link[64], want[64];
    snprintf(link, sizeof link, "/proc/self/fd/%d", s);
    ssize_t ll = readlink(link, want, sizeof want - 1);
    want[ll > 0 ? ll : 0] = 0;
    char expect[64];
    snprintf(expect, sizeof expect, "socket:[%lu]", (unsigned long)st.st_ino);
    printf("fstat S_IFSOCK %d, fd link socket:[ino] %s\n", S_ISSOCK(st.st_mode), strcmp(want, expect) == 0 ? "yes" : want);
    close(s);
    /* The peer's close: EOF, and writes fail with EPIPE. */
    struct pollfd cp = {c, POLLIN, 0};
    poll(&cp, 1, 5000);
    printf("peer closed: in %d, read %zd\n", (cp.revents & POLLIN) != 0, read(c, buf, sizeof buf));
    close(c);
    close(l);
}

static void peek_waitall_epoll(void) {
    int port;
    int l = listener4(&port);
    pid_t p = fork();
    if (p == 0) {
        int c = connect4(port);
        write(c, "peekaboo", 8);
        usleep(100000);
        write(c, "late", 4);
        close(c);
        _exit(0);
    }
    int s = accept(l, NULL, NULL);
    int ep = epoll_create1(0);
    struct epoll_event ev = {.events = EPOLLIN, .data.fd = s};
    epoll_ctl(ep, EPOLL_CTL_ADD, s, &ev);
    struct epoll_event out;
    int n = epoll_wait(ep, &out, 1, 5000);
    printf("epoll: %d in %d\n", n, n == 1 && (out.events & EPOLLIN) != 0);
    char buf[32];
    ssize_t r = recv(s, buf, 4, MSG_PEEK);
    printf("tcp peek: %.*s", (int)r, buf);
    r = recv(s, buf, 8, 0);
    printf(", then read: %.*s\n", (int)r, buf);
    r = recv(s, buf, sizeof buf, MSG_WAITALL);
    printf("MSG_WAITALL until EOF: %zd %.*s\n", r, (int)r, buf);
    close(ep);
    close(s);
    wait_child(p);
    close(l);
    int u = socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in a = lo4(0);
    bind(u, (void *)&a, sizeof a);
    socklen_t len = sizeof a;
    getsockname(u, (void *)&a, &len);
    sendto(u, "to myself", 9, 0, (void *)&a, sizeof a);
    r = recv(u, buf, sizeof buf, MSG_PEEK);
    ssize_t r2 = recv(u, buf + 16, 16, 0);
    printf("udp peek %zd then recv %zd: %.*s\n", r, r2, (int)r2, buf + 16);
    struct mmsghdr mm[3];
    struct iovec iv[3];
    char bufs[3][8];
    const char *words[3] = {"one", "two", "three"};
    memset(mm, 0, sizeof mm);
    for (int i = 0; i < 3; i++) {
        iv[i].iov_base = (void *)words[i];
        iv[i].iov_len = strlen(words[i]);
        mm[i].msg_hdr.msg_iov = &iv[i];
        mm[i].msg_hdr.msg_iovlen = 1;
        mm[i].msg_hdr.msg_name = &a;
        mm[i].msg_hdr.msg_namelen = sizeof a;
    }
    printf("sendmmsg: %d", sendmmsg(u, mm, 3, 0));
    for (int i = 0; i < 3; i++) {
        iv[i].iov_base = bufs[i];
        iv[i].iov_len = sizeof bufs[i];
        mm[i].msg_hdr.msg_name = NULL;
        mm[i].msg_hdr.msg_namelen = 0;
    }
    int got = recvmmsg(u, mm, 3, 0, NULL);
    printf(", recvmmsg: %d: %.*s %.*s %.*s\n", got, (int)mm[0].msg_len, bufs[0], (int)mm[1].msg_len, bufs[1],
           (int)mm[2].msg_len, bufs[2]);
    close(u);
}

static void on_alarm(int sig) {
    (void)sig;
}

/* A blocked recv and accept end with EINTR when a signal without SA_RESTART arrives. */
static void interrupted(void) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_alarm;
    sigaction(SIGALRM, &sa, NULL);
    int port;
    int l = listener4(&port);
    int c = connect4(port);
    int s = accept(l, NULL, NULL);
    char buf[8];
    ualarm(200000, 0);
    ssize_t r = recv(s, buf, sizeof buf, 0);
    printf("blocked recv, then a signal: %s", r < 0 && errno == EINTR ? "EINTR" : err(r));
    ualarm(200000, 0);
    r = accept(l, NULL, NULL);
    printf(", blocked accept: %s\n", r < 0 && errno == EINTR ? "EINTR" : err(r));
    close(s);
    close(c);
    close(l);
}

static void bind_errors(void) {
    int port;
    int l = listener4(&port);
    int t = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = lo4(port);
    printf("bind taken port: %s\n", err(bind(t, (void *)&a, sizeof a)));
    struct sockaddr_in6 a6;
    memset(&a6, 0, sizeof a6);
    a6.sin6_family = AF_INET6;
    printf("bind v6 address to v4 socket: %s\n", err(bind(t, (void *)&a6, sizeof a6)));
    printf("getpeername unconnected: %s\n", err(getpeername(t, (void *)&a, &(socklen_t){sizeof a})));
    close(t);
    close(l);
}

static void tcp6(void) {
    int l = socket(AF_INET6, SOCK_STREAM, 0);
    struct sockaddr_in6 a;
    memset(&a, 0, sizeof a);
    a.sin6_family = AF_INET6;
    a.sin6_addr = in6addr_loopback;
    printf("v6 bind: %s", err(bind(l, (void *)&a, sizeof a)));
    printf(", listen: %s\n", err(listen(l, 4)));
    socklen_t len = sizeof a;
    getsockname(l, (void *)&a, &len);
    pid_t p = fork();
    if (p == 0) {
        int c = socket(AF_INET6, SOCK_STREAM, 0);
        if (connect(c, (void *)&a, sizeof a) < 0) {
            printf("v6 connect: %s\n", err(-1));
            _exit(1);
        }
        write(c, "over ::1", 8);
        close(c);
        _exit(0);
    }
    struct sockaddr_in6 peer;
    socklen_t pl = sizeof peer;
    int s = accept(l, (void *)&peer, &pl);
    char buf[64];
    ssize_t n, got = 0;
    while ((n = read(s, buf + got, sizeof buf - got)) > 0)
        got += n;
    char ip[64];
    inet_ntop(AF_INET6, &peer.sin6_addr, ip, sizeof ip);
    printf("v6 server got: %.*s from %s, len %d\n", (int)got, buf, ip, (int)pl);
    close(s);
    wait_child(p);
    close(l);
}

/* An IPv6 listener on :: takes IPv4 clients too, and names them IPv4-mapped. */
static void dual_stack(void) {
    int l = socket(AF_INET6, SOCK_STREAM, 0);
    struct sockaddr_in6 a;
    memset(&a, 0, sizeof a);
    a.sin6_family = AF_INET6;
    a.sin6_addr = in6addr_any;
    bind(l, (void *)&a, sizeof a);
    listen(l, 4);
    socklen_t len = sizeof a;
    getsockname(l, (void *)&a, &len);
    int c = connect4(ntohs(a.sin6_port));
    struct sockaddr_in6 peer;
    socklen_t pl = sizeof peer;
    int s = accept(l, (void *)&peer, &pl);
    char ip[64];
    inet_ntop(AF_INET6, &peer.sin6_addr, ip, sizeof ip);
    printf("dual stack: v4 client seen as %s\n", ip);
    close(s);
    close(c);
    /* And an IPv6 socket reaches an IPv4 listener through a mapped address. */
    int port;
    int l4 = listener4(&port);
    int c6 = socket(AF_INET6, SOCK_STREAM, 0);
    memset(&a, 0, sizeof a);
    a.sin6_family = AF_INET6;
    a.sin6_port = htons(port);
    inet_pton(AF_INET6, "::ffff:127.0.0.1", &a.sin6_addr);
    printf("v6 socket to mapped v4: %s", err(connect(c6, (void *)&a, sizeof a)));
    pl = sizeof peer;
    getpeername(c6, (void *)&peer, &pl);
    inet_ntop(AF_INET6, &peer.sin6_addr, ip, sizeof ip);
    printf(", peer %s\n", ip);
    close(c6);
    close(l4);
    close(l);
}

int main(void) {
    setvbuf(stdout, NULL, _IONBF, 0);
    signal(SIGPIPE, SIG_IGN);
    printf("AF_NETLINK audit: %s\n", err(socket(AF_NETLINK, SOCK_RAW, 9 /* NETLINK_AUDIT */)));
    tcp_echo();
    big_transfer();
    udp_echo();
    refused();
    nonblocking_connect();
    peek_waitall_epoll();
    interrupted();
    bind_errors();
    tcp6();
    dual_stack();
    return 0;
}

/* Network peers for the two-guest tests (tests/net_guests.rs), as small as busybox lacks them:
 *   netpeer gen BYTES SEED            a pseudo-random stream on stdout (xorshift64*), for nc
 *   netpeer udp-echo PORT COUNT       echo COUNT datagrams back to their senders
 *   netpeer udp-ping HOST PORT COUNT  send COUNT numbered datagrams, check each echo (retrying lost ones)
 *   netpeer tcp-serve PORT COUNT      accept COUNT connections one by one: read to EOF, answer "echo:" + data
 *   netpeer tcp-parallel HOST PORT N  open N connections at once, then send on each, check each answer
 *   netpeer tcp-sink PORT             accept one connection, read it to EOF in 64 KiB reads, print bytes and MB/s
 *   netpeer tcp-send HOST PORT BYTES  connect (retrying), send BYTES in 64 KiB writes
 * Every failure prints what failed and exits 1. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static void die(const char *what) {
    printf("netpeer: %s: %s\n", what, strerror(errno));
    fflush(stdout);
    exit(1);
}

static struct sockaddr_in addr_of(const char *host, int port) {
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
    if (!host) a.sin_addr.s_addr = htonl(INADDR_ANY);
    else if (inet_pton(AF_INET, host, &a.sin_addr) != 1) { errno = EINVAL; die(host); }
    return a;
}

static int gen(unsigned long long bytes, unsigned long long seed) {
    static uint64_t buf[8192];
    uint64_t x = seed * 0x9E3779B97F4A7C15ull + 1;
    while (bytes > 0) {
        for (size_t i = 0; i < 8192; i++) {
            x ^= x >> 12; x ^= x << 25; x ^= x >> 27;
            buf[i] = x * 0x2545F4914F6CDD1Dull;
        }
        size_t n = bytes < sizeof buf ? bytes : sizeof buf;
        for (size_t off = 0; off < n;) {
            ssize_t w = write(1, (char *)buf + off, n - off);
            if (w <= 0) die("write");
            off += w;
        }
        bytes -= n;
    }
    return 0;
}

static int udp_echo(int port, int count) {
    int s = socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in a = addr_of(NULL, port);
    if (s < 0 || bind(s, (void *)&a, sizeof a)) die("udp bind");
    char buf[2048];
    for (int i = 0; i < count; i++) {
        struct sockaddr_in from;
        socklen_t fl = sizeof from;
        ssize_t n = recvfrom(s, buf, sizeof buf, 0, (void *)&from, &fl);
        if (n < 0) die("recvfrom");
        if (sendto(s, buf, n, 0, (void *)&from, fl) != n) die("sendto");
    }
    printf("udp-echo: echoed %d\n", count);
    return 0;
}

static int udp_ping(const char *host, int port, int count) {
    int s = socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in a = addr_of(host, port);
    if (s < 0 || connect(s, (void *)&a, sizeof a)) die("udp connect");
    for (int i = 0; i < count; i++) {
        char msg[64], got[64];
        int len = snprintf(msg, sizeof msg, "datagram %d", i);
        int ok = 0;
        /* The echo server may not be up yet, and UDP may lose: send again after a second. */
        for (int tries = 0; tries < 30 && !ok; tries++) {
            if (send(s, msg, len, 0) != len && errno != ECONNREFUSED) die("send");
            struct pollfd p = {.fd = s, .events = POLLIN};
            while (poll(&p, 1, 1000) == 1) {
                ssize_t n = recv(s, got, sizeof got, 0);
                if (n == len && memcmp(got, msg, len) == 0) { ok = 1; break; }
                if (n < 0 && errno != ECONNREFUSED) die("recv");
            }
        }
        if (!ok) { printf("udp-ping: no echo of %s\n", msg); return 1; }
    }
    printf("udp-ping: %d echoes\n", count);
    return 0;
}

static int tcp_serve(int port, int count) {
    int l = socket(AF_INET, SOCK_STREAM, 0), one = 1;
    setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in a = addr_of(NULL, port);
    if (l < 0 || bind(l, (void *)&a, sizeof a) || listen(l, 128)) die("tcp listen");
    for (int i = 0; i < count; i++) {
        int c = accept(l, NULL, NULL);
        if (c < 0) die("accept");
        char buf[512] = "echo:";
        size_t have = 5;
        ssize_t n;
        while ((n = read(c, buf + have, sizeof buf - have)) > 0) have += n;
        if (n < 0) die("read");
        if (write(c, buf, have) != (ssize_t)have) die("write");
        close(c);
    }
    printf("tcp-serve: served %d\n", count);
    return 0;
}

static int tcp_parallel(const char *host, int port, int n) {
    int *fds = calloc(n, sizeof *fds);
    struct sockaddr_in a = addr_of(host, port);
    for (int i = 0; i < n; i++) {
        for (int tries = 0;; tries++) {
            fds[i] = socket(AF_INET, SOCK_STREAM, 0);
            if (connect(fds[i], (void *)&a, sizeof a) == 0) break;
            /* The server may not listen yet. */
            if (errno != ECONNREFUSED || tries == 100) die("connect");
            close(fds[i]);
            usleep(200000);
        }
    }
    for (int i = 0; i < n; i++) {
        char msg[64];
        int len = snprintf(msg, sizeof msg, "connection %d", i);
        if (write(fds[i], msg, len) != len) die("write");
        shutdown(fds[i], SHUT_WR);
    }
    for (int i = 0; i < n; i++) {
        char want[80], got[80];
        int len = snprintf(want, sizeof want, "echo:connection %d", i), have = 0;
        ssize_t r;
        while ((r = read(fds[i], got + have, sizeof got - have)) > 0) have += r;
        if (r < 0) die("read");
        if (have != len || memcmp(got, want, len)) { printf("tcp-parallel: connection %d answered %.*s\n", i, have, got); return 1; }
        close(fds[i]);
    }
    printf("tcp-parallel: %d connections\n", n);
    return 0;
}

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec / 1e9;
}

static int tcp_sink(int port) {
    int l = socket(AF_INET, SOCK_STREAM, 0), one = 1;
    setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in a = addr_of(NULL, port);
    if (l < 0 || bind(l, (void *)&a, sizeof a) || listen(l, 1)) die("tcp listen");
    int c = accept(l, NULL, NULL);
    if (c < 0) die("accept");
    static char buf[65536];
    unsigned long long total = 0;
    double t0 = now();
    ssize_t n;
    while ((n = read(c, buf, sizeof buf)) > 0) total += n;
    if (n < 0) die("read");
    double dt = now() - t0;
    printf("tcp-sink: %llu bytes in %.3f s: %.1f MB/s\n", total, dt, total / dt / 1e6);
    return 0;
}

static int tcp_send(const char *host, int port, unsigned long long bytes) {
    struct sockaddr_in a = addr_of(host, port);
    int s;
    for (int tries = 0;; tries++) {
        s = socket(AF_INET, SOCK_STREAM, 0);
        if (connect(s, (void *)&a, sizeof a) == 0) break;
        if (errno != ECONNREFUSED || tries == 100) die("connect");
        close(s);
        usleep(100000);
    }
    static char buf[65536];
    memset(buf, 'x', sizeof buf);
    while (bytes > 0) {
        size_t n = bytes < sizeof buf ? bytes : sizeof buf;
        ssize_t w = write(s, buf, n);
        if (w <= 0) die("write");
        bytes -= w;
    }
    /* Wait for the sink to close: umvm ends with its init, and unsent data would go with it. */
    shutdown(s, SHUT_WR);
    while (read(s, buf, sizeof buf) > 0) {}
    close(s);
    return 0;
}

int main(int argc, char **argv) {
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (argc == 4 && !strcmp(argv[1], "gen")) return gen(strtoull(argv[2], 0, 10), strtoull(argv[3], 0, 10));
    if (argc == 4 && !strcmp(argv[1], "udp-echo")) return udp_echo(atoi(argv[2]), atoi(argv[3]));
    if (argc == 5 && !strcmp(argv[1], "udp-ping")) return udp_ping(argv[2], atoi(argv[3]), atoi(argv[4]));
    if (argc == 4 && !strcmp(argv[1], "tcp-serve")) return tcp_serve(atoi(argv[2]), atoi(argv[3]));
    if (argc == 3 && !strcmp(argv[1], "tcp-sink")) return tcp_sink(atoi(argv[2]));
    if (argc == 5 && !strcmp(argv[1], "tcp-send")) return tcp_send(argv[2], atoi(argv[3]), strtoull(argv[4], 0, 10));
    if (argc == 5 && !strcmp(argv[1], "tcp-parallel")) return tcp_parallel(argv[2], atoi(argv[3]), atoi(argv[4]));
    fprintf(stderr, "usage: see netpeer.c\n");
    return 2;
}

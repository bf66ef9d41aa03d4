/* Interface configuration as libc and raw NETLINK_ROUTE see it (tests/netconfig.rs).
 *
 * netconfig ifaddrs: getifaddrs(3) (musl: RTM_GETLINK and RTM_GETADDR dumps), if_nametoindex,
 *   if_indextoname and if_nameindex (SIOCGIFINDEX, SIOCGIFNAME, SIOCGIFCONF...), SIOCGIF* on sockets
 *   of three families.
 * netconfig netlink: a raw NETLINK_ROUTE socket: autobind and getsockname, MSG_PEEK|MSG_TRUNC sizing,
 *   a dump read to NLMSG_DONE, a truncated read, acks and their errnos, EPROTONOSUPPORT.
 * netconfig fionread: FIONREAD on TCP and UDP sockets.
 * netconfig perm: changes as an unprivileged user: EPERM by ioctl and by netlink.
 * Each prints lines the test compares with what Linux prints. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "rtnetlink.h"

static const char *errname(int e) {
    switch (e) {
    case 0: return "ok";
    case EPERM: return "EPERM";
    case EINVAL: return "EINVAL";
    case ENODEV: return "ENODEV";
    case EEXIST: return "EEXIST";
    case EOPNOTSUPP: return "EOPNOTSUPP";
    case EPROTONOSUPPORT: return "EPROTONOSUPPORT";
    case EADDRNOTAVAIL: return "EADDRNOTAVAIL";
    case EAGAIN: return "EAGAIN";
    case ENOTTY: return "ENOTTY";
    case ENXIO: return "ENXIO";
    default: return "other";
    }
}

static const char *fam(int f) {
    switch (f) {
    case AF_INET: return "inet";
    case AF_INET6: return "inet6";
    case AF_PACKET: return "packet";
    default: return "?";
    }
}

static void show_addr(const char *what, struct sockaddr *sa) {
    char buf[64] = "-";
    if (sa && sa->sa_family == AF_INET)
        inet_ntop(AF_INET, &((struct sockaddr_in *)sa)->sin_addr, buf, sizeof buf);
    if (sa && sa->sa_family == AF_INET6)
        inet_ntop(AF_INET6, &((struct sockaddr_in6 *)sa)->sin6_addr, buf, sizeof buf);
    printf(" %s %s", what, buf);
}

static void ifaddrs(void) {
    struct ifaddrs *list;
    if (getifaddrs(&list) != 0) {
        printf("getifaddrs: %s\n", errname(errno));
        return;
    }
    for (struct ifaddrs *i = list; i; i = i->ifa_next) {
        printf("%s %s flags 0x%x", i->ifa_name, i->ifa_addr ? fam(i->ifa_addr->sa_family) : "none", i->ifa_flags);
        if (i->ifa_addr && i->ifa_addr->sa_family != AF_PACKET) {
            show_addr("addr", i->ifa_addr);
            show_addr("mask", i->ifa_netmask);
        }
        printf("\n");
    }
    freeifaddrs(list);
    printf("if_nametoindex(lo) %u\n", if_nametoindex("lo"));
    errno = 0;
    printf("if_nametoindex(nope) %u %s\n", if_nametoindex("nope"), errname(errno));
    char name[IF_NAMESIZE];
    printf("if_indextoname(1) %s\n", if_indextoname(1, name) ? name : errname(errno));
    printf("if_indextoname(99) %s\n", if_indextoname(99, name) ? name : errname(errno));
    struct if_nameindex *ni = if_nameindex();
    for (struct if_nameindex *p = ni; p && p->if_index; p++)
        printf("if_nameindex %u %s\n", p->if_index, p->if_name);
    if_freenameindex(ni);
    int fams[] = {AF_INET, AF_UNIX, AF_INET6};
    for (int f = 0; f < 3; f++) {
        int s = socket(fams[f], SOCK_DGRAM, 0);
        struct ifreq r;
        memset(&r, 0, sizeof r);
        strcpy(r.ifr_name, "lo");
        int flags = ioctl(s, SIOCGIFFLAGS, &r) == 0 ? r.ifr_flags : -errno;
        int mtu = ioctl(s, SIOCGIFMTU, &r) == 0 ? r.ifr_mtu : -errno;
        int idx = ioctl(s, SIOCGIFINDEX, &r) == 0 ? r.ifr_ifindex : -errno;
        int got = ioctl(s, SIOCGIFADDR, &r);
        printf("family %d: flags 0x%x mtu %s index %d, SIOCGIFADDR %s", fams[f], flags, mtu > 60000 ? "64k" : "?",
               idx, errname(got ? errno : 0));
        if (got == 0)
            show_addr("=", &r.ifr_addr);
        strcpy(r.ifr_name, "nope0");
        printf(", nope0: %s\n", errname(ioctl(s, SIOCGIFFLAGS, &r) ? errno : 0));
        close(s);
    }
}

static int nl_socket(void) {
    int s = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
    struct sockaddr_nl a = {.nl_family = AF_NETLINK};
    if (s < 0 || bind(s, (struct sockaddr *)&a, sizeof a) != 0)
        printf("netlink socket/bind: %s\n", errname(errno));
    return s;
}

static void nl_send(int s, uint16_t type, uint16_t flags, uint32_t seq, const void *body, size_t len) {
    char buf[256];
    struct nlmsghdr *h = (struct nlmsghdr *)buf;
    memset(buf, 0, sizeof buf);
    h->nlmsg_len = sizeof *h + len;
    h->nlmsg_type = type;
    h->nlmsg_flags = NLM_F_REQUEST | flags;
    h->nlmsg_seq = seq;
    memcpy(buf + sizeof *h, body, len);
    struct sockaddr_nl k = {.nl_family = AF_NETLINK};
    if (sendto(s, buf, h->nlmsg_len, 0, (struct sockaddr *)&k, sizeof k) != (ssize_t)h->nlmsg_len)
        printf("sendto: %s\n", errname(errno));
}

/* The errno of the ack that answers seq, or -1. */
static int nl_ack(int s) {
    char buf[1024];
    ssize_t n = recv(s, buf, sizeof buf, 0);
    struct nlmsghdr *h = (struct nlmsghdr *)buf;
    if (n < (ssize_t)(sizeof *h + 4) || h->nlmsg_type != NLMSG_ERROR)
        return -1;
    return -*(int *)(buf + sizeof *h);
}

static int add_addr(int s, const char *ip, uint32_t seq, uint32_t index) {
    struct {
        struct ifaddrmsg m;
        struct rtattr a;
        struct in_addr v;
    } req = {{AF_INET, 24, 0, 0, index}, {8, IFA_LOCAL}, {0}};
    inet_pton(AF_INET, ip, &req.v);
    nl_send(s, RTM_NEWADDR, NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL, seq, &req, sizeof req);
    return nl_ack(s);
}

static void netlink(void) {
    int s = nl_socket();
    struct sockaddr_nl me;
    socklen_t len = sizeof me;
    getsockname(s, (struct sockaddr *)&me, &len);
    printf("bound: len %u family %d, port is pid %d\n", len, me.nl_family, me.nl_pid == (uint32_t)getpid());
    int s2 = nl_socket();
    len = sizeof me;
    getsockname(s2, (struct sockaddr *)&me, &len);
    printf("second socket: port is pid %d, nonzero %d\n", me.nl_pid == (uint32_t)getpid(), me.nl_pid != 0);
    struct sockaddr_nl other = {.nl_family = AF_NETLINK, .nl_pid = 12345};
    printf("bind again elsewhere: %s\n", errname(bind(s, (struct sockaddr *)&other, sizeof other) ? errno : 0));
    close(s2);
    printf("protocol 30: %s\n", errname(socket(AF_NETLINK, SOCK_RAW, 30) < 0 ? errno : 0));
    printf("empty, non-blocking: %s\n", errname(recv(s, &me, sizeof me, MSG_DONTWAIT) < 0 ? errno : 0));

    /* An address dump, sized with MSG_PEEK|MSG_TRUNC, read to NLMSG_DONE. */
    struct ifaddrmsg any = {AF_INET, 0, 0, 0, 0};
    nl_send(s, RTM_GETADDR, NLM_F_DUMP, 7, &any, sizeof any);
    struct pollfd p = {s, POLLIN, 0};
    int ready = poll(&p, 1, 1000);
    printf("poll after request: %d revents 0x%x\n", ready, p.revents);
    int addrs = 0, done = 0, seq_ok = 1;
    while (!done) {
        ssize_t want = recv(s, NULL, 0, MSG_PEEK | MSG_TRUNC);
        char *buf = malloc(want > 0 ? want : 1);
        ssize_t n = recv(s, buf, want, 0);
        if (n != want || n <= 0) {
            printf("peeked %zd, read %zd\n", want, n);
            break;
        }
        for (struct nlmsghdr *h = (struct nlmsghdr *)buf; n >= (ssize_t)sizeof *h && h->nlmsg_len >= sizeof *h &&
                                                          h->nlmsg_len <= (uint32_t)n;) {
            seq_ok &= h->nlmsg_seq == 7;
            if (h->nlmsg_type == NLMSG_DONE)
                done = 1;
            else if (h->nlmsg_type == RTM_NEWADDR)
                addrs++;
            uint32_t step = (h->nlmsg_len + 3) & ~3u;
            n -= step;
            h = (struct nlmsghdr *)((char *)h + step);
        }
        free(buf);
    }
    printf("IPv4 address dump: %d addresses, done %d, seq %d\n", addrs, done, seq_ok);

    /* A link dump into a buffer too small: truncated, MSG_TRUNC in msg_flags, the rest dropped. */
    nl_send(s, RTM_GETLINK, NLM_F_DUMP, 8, &any, 1);
    char small[20];
    struct iovec iov = {small, sizeof small};
    struct msghdr mh = {0};
    struct sockaddr_nl from;
    mh.msg_name = &from;
    mh.msg_namelen = sizeof from;
    mh.msg_iov = &iov;
    mh.msg_iovlen = 1;
    ssize_t n = recvmsg(s, &mh, 0);
    printf("small read: %zd, MSG_TRUNC %d, from port %u len %u\n", n, !!(mh.msg_flags & MSG_TRUNC), from.nl_pid,
           mh.msg_namelen);
    printf("then: %s\n", errname(recv(s, small, sizeof small, MSG_DONTWAIT) < 0 ? errno : 0));

    /* Acks and their errnos. */
    printf("add 10.9.8.7/24: %s\n", errname(add_addr(s, "10.9.8.7", 9, 1)));
    printf("add it again: %s\n", errname(add_addr(s, "10.9.8.7", 10, 1)));
    struct ifaddrmsg bad = {AF_INET, 24, 0, 0, 42};
    nl_send(s, RTM_NEWADDR, NLM_F_ACK, 11, &bad, sizeof bad);
    printf("no IFA_LOCAL: %s\n", errname(nl_ack(s)));
    printf("no such interface: %s\n", errname(add_addr(s, "10.9.8.7", 12, 42)));
    nl_send(s, 0x70, NLM_F_ACK, 12, &bad, sizeof bad);
    printf("unknown message type: %s\n", errname(nl_ack(s)));
    close(s);
}

static void perm(void) {
    pid_t c = fork();
    if (c == 0) {
        if (setuid(65534) != 0) {
            printf("setuid: %s\n", errname(errno));
            _exit(1);
        }
        int u = socket(AF_INET, SOCK_DGRAM, 0);
        struct ifreq r;
        memset(&r, 0, sizeof r);
        strcpy(r.ifr_name, "lo");
        ioctl(u, SIOCGIFFLAGS, &r);
        printf("user SIOCGIFFLAGS up %d\n", !!(r.ifr_flags & IFF_UP));
        r.ifr_flags &= ~IFF_UP;
        printf("user SIOCSIFFLAGS: %s\n", errname(ioctl(u, SIOCSIFFLAGS, &r) ? errno : 0));
        int s = nl_socket();
        printf("user RTM_NEWADDR: %s\n", errname(add_addr(s, "10.1.1.1", 1, 1)));
        _exit(0);
    }
    waitpid(c, NULL, 0);
}

/* FIONREAD (SIOCINQ) and SIOCOUTQ on TCP and UDP sockets over 127.0.0.1. */
static void fionread(void) {
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    int l = socket(AF_INET, SOCK_STREAM, 0);
    bind(l, (struct sockaddr *)&a, sizeof a);
    listen(l, 1);
    getsockname(l, (struct sockaddr *)&a, &len);
    int n = -1;
    printf("listener FIONREAD: %s\n", errname(ioctl(l, FIONREAD, &n) ? errno : 0));
    int c = socket(AF_INET, SOCK_STREAM, 0);
    connect(c, (struct sockaddr *)&a, sizeof a);
    int srv = accept(l, NULL, NULL);
    ioctl(srv, FIONREAD, &n);
    printf("tcp nothing sent: %d\n", n);
    write(c, "hello", 5);
    struct pollfd p = {srv, POLLIN, 0};
    poll(&p, 1, 5000);
    ioctl(srv, FIONREAD, &n);
    printf("tcp after 5 bytes: %d\n", n);
    char buf[16];
    read(srv, buf, 2);
    ioctl(srv, FIONREAD, &n);
    printf("tcp after reading 2: %d\n", n);
    int u = socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in ua = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    len = sizeof ua;
    bind(u, (struct sockaddr *)&ua, sizeof ua);
    getsockname(u, (struct sockaddr *)&ua, &len);
    ioctl(u, FIONREAD, &n);
    printf("udp empty: %d\n", n);
    sendto(u, "seven!!", 7, 0, (struct sockaddr *)&ua, sizeof ua);
    sendto(u, "abc", 3, 0, (struct sockaddr *)&ua, sizeof ua);
    struct pollfd up = {u, POLLIN, 0};
    poll(&up, 1, 5000);
    ioctl(u, FIONREAD, &n);
    printf("udp next datagram: %d\n", n);
    recv(u, buf, sizeof buf, 0);
    ioctl(u, FIONREAD, &n);
    printf("udp then: %d\n", n);
    close(u);
    close(c);
    close(srv);
    close(l);
}

int main(int argc, char **argv) {
    setvbuf(stdout, NULL, _IONBF, 0);
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "ifaddrs"))
            ifaddrs();
        else if (!strcmp(argv[i], "netlink"))
            netlink();
        else if (!strcmp(argv[i], "fionread"))
            fionread();
        else if (!strcmp(argv[i], "perm"))
            perm();
    }
    return 0;
}

/* rtnetlink notifications, as `ip monitor` reads them.
 *   nlmon GROUPS CMD   joins GROUPS (a bind(2) nl_groups bitmap, decimal),
 *                      runs CMD with /bin/sh -c, then prints each
 *                      notification that arrives until none has for
 *                      300 ms, one line each:
 *     NEWLINK|DELLINK name flags=0xF mtu=N
 *     NEWADDR|DELADDR fam=F addr/len scope=S dev=I [label=L]
 *     NEWROUTE|DELROUTE fam=F dst/len table=T type=Y scope=S proto=P dev=I [src=A] [via=G]
 */
#include <arpa/inet.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "rtnetlink.h"

#define ALIGN4(n) (((n) + 3) & ~3u)
#define NLMSG_HDRLEN ((int)ALIGN4(sizeof(struct nlmsghdr)))
#define NLMSG_DATA(h) ((void *)((char *)(h) + NLMSG_HDRLEN))
#define NLMSG_OK(h, n) ((n) >= (int)sizeof(struct nlmsghdr) && (h)->nlmsg_len >= sizeof(struct nlmsghdr) && (h)->nlmsg_len <= (unsigned)(n))
#define NLMSG_NEXT(h, n) ((n) -= ALIGN4((h)->nlmsg_len), (struct nlmsghdr *)((char *)(h) + ALIGN4((h)->nlmsg_len)))
#define RTA_OK(a, n) ((n) >= (int)sizeof(struct rtattr) && (a)->rta_len >= sizeof(struct rtattr) && (a)->rta_len <= (n))
#define RTA_NEXT(a, n) ((n) -= ALIGN4((a)->rta_len), (struct rtattr *)((char *)(a) + ALIGN4((a)->rta_len)))
#define RTA_DATA(a) ((void *)((char *)(a) + ALIGN4(sizeof(struct rtattr))))
/* The attributes after a family header of `hdr` bytes, and their length. */
#define ATTRS(h, hdr) ((struct rtattr *)((char *)NLMSG_DATA(h) + ALIGN4(hdr)))
#define ATTRLEN(h, hdr) ((int)(h)->nlmsg_len - NLMSG_HDRLEN - (int)ALIGN4(hdr))

static const char *ip(int fam, const void *a, char *buf) {
    return inet_ntop(fam, a, buf, INET6_ADDRSTRLEN) ? buf : "?";
}

static void link_line(struct nlmsghdr *h) {
    struct ifinfomsg *i = NLMSG_DATA(h);
    const char *name = "?";
    unsigned mtu = 0;
    int len = ATTRLEN(h, sizeof *i);
    for (struct rtattr *a = ATTRS(h, sizeof *i); RTA_OK(a, len); a = RTA_NEXT(a, len)) {
        if (a->rta_type == IFLA_IFNAME)
            name = RTA_DATA(a);
        if (a->rta_type == IFLA_MTU)
            mtu = *(unsigned *)RTA_DATA(a);
    }
    printf("%s %s flags=0x%x mtu=%u\n", h->nlmsg_type == RTM_NEWLINK ? "NEWLINK" : "DELLINK", name,
           i->ifi_flags, mtu);
}

static void addr_line(struct nlmsghdr *h) {
    struct ifaddrmsg *i = NLMSG_DATA(h);
    char buf[INET6_ADDRSTRLEN];
    const char *addr = "?", *label = NULL;
    int len = ATTRLEN(h, sizeof *i);
    for (struct rtattr *a = ATTRS(h, sizeof *i); RTA_OK(a, len); a = RTA_NEXT(a, len)) {
        if (a->rta_type == IFA_ADDRESS)
            addr = ip(i->ifa_family, RTA_DATA(a), buf);
        if (a->rta_type == IFA_LABEL)
            label = RTA_DATA(a);
    }
    printf("%s fam=%d %s/%d scope=%d dev=%d", h->nlmsg_type == RTM_NEWADDR ? "NEWADDR" : "DELADDR", i->ifa_family,
           addr, i->ifa_prefixlen, i->ifa_scope, i->ifa_index);
    if (label)
        printf(" label=%s", label);
    printf("\n");
}

static void route_line(struct nlmsghdr *h) {
    struct rtmsg *r = NLMSG_DATA(h);
    char b1[INET6_ADDRSTRLEN], b2[INET6_ADDRSTRLEN], b3[INET6_ADDRSTRLEN];
    const char *dst = r->rtm_family == AF_INET ? "0.0.0.0" : "::", *src = NULL, *via = NULL;
    unsigned table = r->rtm_table, oif = 0;
    int len = ATTRLEN(h, sizeof *r);
    for (struct rtattr *a = ATTRS(h, sizeof *r); RTA_OK(a, len); a = RTA_NEXT(a, len)) {
        if (a->rta_type == RTA_DST)
            dst = ip(r->rtm_family, RTA_DATA(a), b1);
        if (a->rta_type == RTA_PREFSRC)
            src = ip(r->rtm_family, RTA_DATA(a), b2);
        if (a->rta_type == RTA_GATEWAY)
            via = ip(r->rtm_family, RTA_DATA(a), b3);
        if (a->rta_type == RTA_TABLE)
            table = *(unsigned *)RTA_DATA(a);
        if (a->rta_type == RTA_OIF)
            oif = *(unsigned *)RTA_DATA(a);
    }
    printf("%s fam=%d %s/%d table=%u type=%d scope=%d proto=%d dev=%u",
           h->nlmsg_type == RTM_NEWROUTE ? "NEWROUTE" : "DELROUTE", r->rtm_family, dst, r->rtm_dst_len, table,
           r->rtm_type, r->rtm_scope, r->rtm_protocol, oif);
    if (src)
        printf(" src=%s", src);
    if (via)
        printf(" via=%s", via);
    printf("\n");
}

int main(int argc, char **argv) {
    if (argc != 3)
        return 2;
    int s = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
    struct sockaddr_nl sa = {.nl_family = AF_NETLINK, .nl_groups = (unsigned)strtoul(argv[1], NULL, 10)};
    if (s < 0 || bind(s, (struct sockaddr *)&sa, sizeof sa) < 0) {
        perror("nlmon: socket");
        return 1;
    }
    fflush(stdout);
    int rc = system(argv[2]);
    if (rc != 0) {
        fprintf(stderr, "nlmon: %s: status %d\n", argv[2], rc);
        return 1;
    }
    static char buf[65536];
    struct pollfd p = {.fd = s, .events = POLLIN};
    while (poll(&p, 1, 300) == 1) {
        int n = (int)recv(s, buf, sizeof buf, 0);
        if (n < 0) {
            perror("nlmon: recv");
            return 1;
        }
        for (struct nlmsghdr *h = (void *)buf; NLMSG_OK(h, n); h = NLMSG_NEXT(h, n)) {
            switch (h->nlmsg_type) {
            case RTM_NEWLINK:
            case RTM_DELLINK:
                link_line(h);
                break;
            case RTM_NEWADDR:
            case RTM_DELADDR:
                addr_line(h);
                break;
            case RTM_NEWROUTE:
            case RTM_DELROUTE:
                route_line(h);
                break;
            default:
                printf("type %d\n", h->nlmsg_type);
            }
        }
    }
    return 0;
}

/* The rtnetlink ABI the guest programs use, spelled out: musl ships no
 * linux/ headers. */
#ifndef UMVM_TEST_RTNETLINK_H
#define UMVM_TEST_RTNETLINK_H
#include <stdint.h>

#define NETLINK_ROUTE 0
#define NLMSG_ERROR 2
#define NLMSG_DONE 3
#define NLM_F_REQUEST 1
#define NLM_F_ACK 4
#define NLM_F_DUMP 0x300
#define NLM_F_CREATE 0x400
#define NLM_F_EXCL 0x200

enum { RTM_NEWLINK = 16, RTM_DELLINK, RTM_GETLINK, RTM_NEWADDR = 20, RTM_DELADDR, RTM_GETADDR,
       RTM_NEWROUTE = 24, RTM_DELROUTE };
enum { IFLA_IFNAME = 3, IFLA_MTU = 4 };
enum { IFA_ADDRESS = 1, IFA_LOCAL = 2, IFA_LABEL = 3 };
enum { RTA_DST = 1, RTA_OIF = 4, RTA_GATEWAY = 5, RTA_PREFSRC = 7, RTA_TABLE = 15 };

struct nlmsghdr {
    uint32_t nlmsg_len;
    uint16_t nlmsg_type, nlmsg_flags;
    uint32_t nlmsg_seq, nlmsg_pid;
};
struct sockaddr_nl {
    unsigned short nl_family, nl_pad;
    uint32_t nl_pid, nl_groups;
};
struct rtattr {
    unsigned short rta_len, rta_type;
};
struct ifinfomsg {
    unsigned char ifi_family, ifi_pad;
    unsigned short ifi_type;
    int ifi_index;
    unsigned ifi_flags, ifi_change;
};
struct ifaddrmsg {
    uint8_t ifa_family, ifa_prefixlen, ifa_flags, ifa_scope;
    uint32_t ifa_index;
};
struct rtmsg {
    unsigned char rtm_family, rtm_dst_len, rtm_src_len, rtm_tos, rtm_table, rtm_protocol, rtm_scope, rtm_type;
    unsigned rtm_flags;
};
#endif

/* Umbrella header for libnftnl, libmnl and the netfilter uapi.
 * glibc headers must come before any <linux/...> header, or Clang modules see two
 * definitions of in_addr (linux/in.h and netinet/in.h). */
#ifndef RAMPART_CNETFILTER_SHIM_H
#define RAMPART_CNETFILTER_SHIM_H

#include <sys/types.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <net/if.h>
#include <errno.h>
#include <string.h>
#include <unistd.h>
#include <time.h>
#include <sys/syscall.h>

#include <libmnl/libmnl.h>
#include <libnftnl/common.h>
#include <libnftnl/batch.h>
#include <libnftnl/table.h>
#include <libnftnl/chain.h>
#include <libnftnl/set.h>
#include <libnftnl/rule.h>
#include <libnftnl/expr.h>
#include <libnftnl/udata.h>

#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink_log.h>

/* What Swift cannot import directly, as inline functions and types. */
/* struct ucred needs _GNU_SOURCE; this is the same layout, for SO_PEERCRED. */
struct rampart_ucred { pid_t pid; uid_t uid; gid_t gid; };
static inline int rampart_so_peercred(void) { return SO_PEERCRED; }
/* O_PATH and AT_EMPTY_PATH are _GNU_SOURCE too: the control socket's owner is set through an
 * O_PATH|O_NOFOLLOW descriptor, so a symlink swapped in after bind is never followed. */
#include <fcntl.h>
#ifndef O_PATH
#define O_PATH 010000000
#endif
#ifndef AT_EMPTY_PATH
#define AT_EMPTY_PATH 0x1000
#endif
static inline int rampart_o_path(void) { return O_PATH; }
static inline int rampart_at_empty_path(void) { return AT_EMPTY_PATH; }

/* setns(fd, CLONE_NEWNET) without _GNU_SOURCE: moves the calling thread into a network namespace. */
static inline int rampart_enter_netns(int fd) { return (int)syscall(SYS_setns, fd, 0x40000000); }

#endif

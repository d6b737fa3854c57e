/* The few system interfaces Swift's Glibc module does not import (they need _GNU_SOURCE or a
 * header it leaves out), as inline functions. Nothing netfilter: that is CNetfilter. */
#ifndef RAMPART_CSYSTEM_H
#define RAMPART_CSYSTEM_H

#include <sys/types.h>
#include <sys/socket.h>
#include <sys/eventfd.h>
#include <sys/syscall.h>
#include <fcntl.h>
#include <unistd.h>
#include <sys/prctl.h>

/* struct ucred needs _GNU_SOURCE; this is the same layout, for SO_PEERCRED. */
struct rampart_ucred { pid_t pid; uid_t uid; gid_t gid; };
static inline int rampart_so_peercred(void) { return SO_PEERCRED; }

/* O_PATH and AT_EMPTY_PATH are _GNU_SOURCE too: the control socket's owner is set through an
 * O_PATH|O_NOFOLLOW descriptor, so a symlink swapped in after bind is never followed. */
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

/* eventfd(2), which Glibc's module map leaves out. */
static inline int rampart_eventfd(unsigned int initial, int flags) { return eventfd(initial, flags); }
static inline int rampart_efd_cloexec(void) { return EFD_CLOEXEC; }
static inline int rampart_efd_nonblock(void) { return EFD_NONBLOCK; }

/* tgkill(2): a signal to one thread of this process (tests interrupt a blocking poll with it). */
static inline int rampart_tgkill(pid_t tgid, pid_t tid, int sig) { return (int)syscall(SYS_tgkill, tgid, tid, sig); }

/* The Swift runtime's global-enqueue hook, by its C name. A runtime linked statically
 * (--static-swift-stdlib links with --exclude-libs ALL) does not export it, so dlsym, which
 * NIO's executor take-over uses, cannot find it; a reference from our own code still links. */
extern void *swift_task_enqueueGlobal_hook;
static inline void **rampart_swift_enqueue_global_hook(void) { return &swift_task_enqueueGlobal_hook; }

/* Names the calling thread (ps -L, /proc/PID/task/TID/comm); at most 15 bytes are kept. */
static inline int rampart_name_thread(const char *name) { return prctl(PR_SET_NAME, (unsigned long)name, 0, 0, 0); }

#endif

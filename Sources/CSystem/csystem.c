#define _GNU_SOURCE
#include <errno.h>
#include <execinfo.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <spawn.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>
#include "csystem.h"

#ifndef RENAME_EXCHANGE
#define RENAME_EXCHANGE (1 << 1)
#endif

int csystem_exchange(const char *first, const char *second) {
    return (int)syscall(SYS_renameat2, AT_FDCWD, first, AT_FDCWD, second, RENAME_EXCHANGE);
}

int csystem_lock_file(int fd, int wait) {
    struct flock lock;
    memset(&lock, 0, sizeof lock);
    lock.l_type = F_WRLCK;
    lock.l_whence = SEEK_SET;
    lock.l_start = 0;
    lock.l_len = 0;
    int result;
    do {
        result = fcntl(fd, wait ? F_OFD_SETLKW : F_OFD_SETLK, &lock);
    } while (result != 0 && errno == EINTR && wait);
    return result;
}

void csystem_write_backtrace(int fd) {
    void *frames[48];
    int count = backtrace(frames, 48);
    backtrace_symbols_fd(frames, count, fd);
}

int csystem_spawn_close_from(posix_spawn_file_actions_t *actions, int lowest) {
    return posix_spawn_file_actions_addclosefrom_np(actions, lowest);
}

// The process groups of running hooks; 0 is a free slot. Read in a signal handler: atomics only.
#define CSYSTEM_GROUPS 64
static _Atomic int csystem_groups[CSYSTEM_GROUPS];
static const int csystem_forwarded[] = { SIGINT, SIGTERM, SIGHUP, SIGQUIT };
static pthread_once_t csystem_forwarding_once = PTHREAD_ONCE_INIT;

// A hook being spawned whose group is not in the table yet: a signal arriving then is held until
// the group is (csystem_forward_signals_to) or the spawn failed (csystem_forward_abort).
static atomic_int csystem_spawning = 0;
static atomic_int csystem_pending = 0;

static void csystem_forward(int signo) {
    int saved = errno;
    for (int i = 0; i < CSYSTEM_GROUPS; i++) {
        int group = atomic_load(&csystem_groups[i]);
        if (group > 0) kill(-group, signo);
    }
    if (atomic_load(&csystem_spawning) > 0) {
        atomic_store(&csystem_pending, signo);
        errno = saved;
        return;
    }
    // Then what the default would have done: the signal is blocked while this handler runs, so
    // raise() takes effect, with the default disposition, when it returns.
    signal(signo, SIG_DFL);
    raise(signo);
    errno = saved;
}

static void csystem_install_forwarding(void) {
    for (size_t i = 0; i < sizeof csystem_forwarded / sizeof csystem_forwarded[0]; i++) {
        struct sigaction current;
        if (sigaction(csystem_forwarded[i], NULL, &current) != 0) continue;
        if (!(current.sa_flags & SA_SIGINFO) && current.sa_handler == SIG_DFL) {
            struct sigaction forward;
            memset(&forward, 0, sizeof forward);
            forward.sa_handler = csystem_forward;
            sigemptyset(&forward.sa_mask);
            forward.sa_flags = SA_RESTART;
            sigaction(csystem_forwarded[i], &forward, NULL);
        }
    }
}

void csystem_forward_begin(void) {
    pthread_once(&csystem_forwarding_once, csystem_install_forwarding);
    atomic_fetch_add(&csystem_spawning, 1);
}

/// Ends a spawn phase; a signal that arrived during it is passed on now, then acts as its default.
static void csystem_forward_end(void) {
    if (atomic_fetch_sub(&csystem_spawning, 1) != 1) return;
    int pending = atomic_exchange(&csystem_pending, 0);
    if (pending == 0) return;
    for (int i = 0; i < CSYSTEM_GROUPS; i++) {
        int group = atomic_load(&csystem_groups[i]);
        if (group > 0) kill(-group, pending);
    }
    signal(pending, SIG_DFL);
    raise(pending);
}

void csystem_forward_abort(void) {
    csystem_forward_end();
}

int csystem_forward_signals_to(int group) {
    pthread_once(&csystem_forwarding_once, csystem_install_forwarding);
    int result = -1;
    for (int i = 0; i < CSYSTEM_GROUPS; i++) {
        int free_slot = 0;
        if (atomic_compare_exchange_strong(&csystem_groups[i], &free_slot, group)) { result = 0; break; }
    }
    csystem_forward_end();
    return result;
}

void csystem_stop_forwarding_to(int group) {
    for (int i = 0; i < CSYSTEM_GROUPS; i++) {
        int expected = group;
        if (atomic_compare_exchange_strong(&csystem_groups[i], &expected, 0)) return;
    }
}

int csystem_pipe_cloexec(int fds[2]) {
    return pipe2(fds, O_CLOEXEC);
}

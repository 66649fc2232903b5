#ifndef CSYSTEM_H
#define CSYSTEM_H

#include <spawn.h>

/// Swaps two paths (files or directories) in one atomic step
/// (renameat2 with RENAME_EXCHANGE, Linux 3.15+). 0 or -1 with errno.
int csystem_exchange(const char *first, const char *second);

/// Takes a write lock on the whole file that conflicts with the POSIX record lock certbot takes
/// with fcntl.lockf(LOCK_EX): an open file description lock (F_OFD_SETLK, Linux 3.15+), which
/// also excludes another thread of this process that opened the file itself (a classic POSIX
/// lock belongs to the process, so two threads would both get it). wait != 0 blocks until the
/// lock is free.
/// 0 on success, -1 with errno (EAGAIN/EACCES: held elsewhere).
int csystem_lock_file(int fd, int wait);

/// pipe2(fds, O_CLOEXEC), which Swift's Glibc module does not show: a pipe no child spawned by
/// another thread in the same instant inherits. 0 or -1 with errno.
int csystem_pipe_cloexec(int fds[2]);

/// Adds "close every descriptor from `lowest` up" to a spawn's file actions (glibc's
/// posix_spawn_file_actions_addclosefrom_np, a GNU extension Swift's Glibc module does not show):
/// a child gets only the descriptors its spawn gave it, whatever other threads had open.
int csystem_spawn_close_from(posix_spawn_file_actions_t *actions, int lowest);

/// Writes the calling thread's stack (return addresses with symbol names where the
/// dynamic linker knows them) to `fd`: glibc's backtrace(3), which Swift does not import.
void csystem_write_backtrace(int fd);

/// Records `group`, the process group of a running hook (spawned with POSIX_SPAWN_SETPGROUP), so
/// that SIGINT, SIGTERM, SIGHUP and SIGQUIT sent to acme reach the hook too, as timeout(1) does:
/// the first call installs, for each of these signals whose disposition is still the default,
/// a handler that sends the signal to every recorded group and then ends acme with it as before.
/// A signal acme ignores or handles itself (the daemon's) is left alone. 0, or -1 when 64 groups
/// are already recorded (the hook still runs; it just does not get acme's signals).
int csystem_forward_signals_to(int group);

/// Call before spawning a hook in its own group and end with csystem_forward_signals_to (spawned)
/// or csystem_forward_abort (failed): a signal arriving in between is held, then passed on.
void csystem_forward_begin(void);
void csystem_forward_abort(void);

/// Forgets `group` (its hook has ended).
void csystem_stop_forwarding_to(int group);

#endif

#ifndef LOWBIT_SYSTEM_H
#define LOWBIT_SYSTEM_H

#include <stdint.h>

/// Signal handling for Lowbit's clean exits. The handlers only do what is async-signal-safe:
/// they write the signal number to a pipe that a watcher thread reads, and that thread does the
/// cleaning up in ordinary code.
///
/// - SIGINT, SIGTERM, SIGHUP: the number is written to the pipe; the process goes on until the
///   watcher exits it.
/// - SIGBUS (a mapped input shrank under us): the faulting address is recorded, the number is
///   written, and the faulting thread then waits for the watcher to end the process; it never
///   returns into the code that touched the missing page.
/// - SIGXFSZ is ignored, so that a write past RLIMIT_FSIZE fails with EFBIG instead of killing
///   the process.
///
/// Returns the read end of the pipe, or -1 with errno set. Call once, early.
int lowbit_signals_install(void);

/// Blocks until a signal arrives and returns its number; for SIGBUS, `*fault_address` is the
/// address that faulted. Returns -1 if the pipe failed.
int lowbit_signals_next(int fd, uintptr_t *fault_address);

#endif

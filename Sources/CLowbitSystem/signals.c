#define _GNU_SOURCE
#include "lowbit_system.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

static int pipe_write_end = -1;
static volatile uintptr_t bus_fault_address = 0;

static void forward(int signo) {
    int saved = errno;
    int value = signo;
    ssize_t ignored = write(pipe_write_end, &value, sizeof value);
    (void)ignored;
    errno = saved;
}

static void on_termination(int signo) { forward(signo); }

static void on_bus_error(int signo, siginfo_t *info, void *context) {
    (void)context;
    bus_fault_address = (uintptr_t)info->si_addr;
    if (pipe_write_end < 0) _exit(1);
    forward(signo);
    // The watcher thread removes the temporary output and exits the process; this thread must
    // not return to the instruction that faulted.
    for (;;) pause();
}

int lowbit_signals_install(void) {
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) != 0) return -1;
    pipe_write_end = fds[1];

    struct sigaction action;
    memset(&action, 0, sizeof action);
    sigemptyset(&action.sa_mask);
    action.sa_flags = SA_RESTART;
    action.sa_handler = on_termination;
    if (sigaction(SIGINT, &action, NULL) != 0 || sigaction(SIGTERM, &action, NULL) != 0
        || sigaction(SIGHUP, &action, NULL) != 0) return -1;

    struct sigaction bus;
    memset(&bus, 0, sizeof bus);
    sigemptyset(&bus.sa_mask);
    bus.sa_flags = SA_SIGINFO;
    bus.sa_sigaction = on_bus_error;
    if (sigaction(SIGBUS, &bus, NULL) != 0) return -1;

    signal(SIGXFSZ, SIG_IGN);
    return fds[0];
}

int lowbit_signals_next(int fd, uintptr_t *fault_address) {
    int value = 0;
    for (;;) {
        ssize_t n = read(fd, &value, sizeof value);
        if (n == (ssize_t)sizeof value) break;
        if (n < 0 && errno == EINTR) continue;
        return -1;
    }
    if (fault_address) *fault_address = bus_fault_address;
    return value;
}

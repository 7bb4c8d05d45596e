/* Native frames of a crash where no debugger exists (the GPU machine has no gdb, perf or strace).
   LD_PRELOAD'd into a process (scripts/aoti_probe.py does so): on SIGSEGV, SIGBUS or SIGABRT it
   writes the native stack to stderr, then dies of the same signal, so the exit status is kept.
   Python's faulthandler, enabled later, runs first and hands the signal back to this handler.
   Build: cc -shared -fPIC -O1 -o /tmp/native_backtrace.so scripts/native_backtrace.c */
#define _GNU_SOURCE
#include <execinfo.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

static void on_fatal_signal(int signal_number) {
    void *frames[64];
    int count = backtrace(frames, 64);
    static const char head[] = "\n== native frames (innermost first) ==\n";
    write(STDERR_FILENO, head, sizeof head - 1);
    backtrace_symbols_fd(frames, count, STDERR_FILENO);
    signal(signal_number, SIG_DFL);
    raise(signal_number);
}

__attribute__((constructor)) static void install_handlers(void) {
    void *warm_up[1];
    backtrace(warm_up, 1); /* loads libgcc's unwinder now: loading it inside the handler is unsafe */
    struct sigaction action;
    memset(&action, 0, sizeof action);
    action.sa_handler = on_fatal_signal;
    sigemptyset(&action.sa_mask);
    sigaction(SIGSEGV, &action, NULL);
    sigaction(SIGBUS, &action, NULL);
    sigaction(SIGABRT, &action, NULL);
}

// check.c: what a failed CUDA / cuBLAS / cuDNN check does (check.h).
#include "check.h"

#include <stdarg.h>
#include <stdlib.h>


// The innermost armed trap. The program drives the device from one thread, so one pointer is
// the whole state; it is only ever set by check_trap_arm / check_trap_disarm.
static CheckTrap *armed_trap;

void check_trap_arm(CheckTrap *trap) {
    trap->message[0] = '\0';
    trap->outer = armed_trap;
    armed_trap = trap;
}

void check_trap_disarm(CheckTrap *trap) {
    if (armed_trap == trap) armed_trap = trap->outer;
}

PbStatus check_call(CheckBody body, void *arg, char *err, size_t errlen) {
    CheckTrap trap;
    if (setjmp(trap.env)) {
        snprintf(err, errlen, "%s", trap.message);
        return PB_DEVICE_ERROR;
    }
    check_trap_arm(&trap);
    PbStatus rc = body(arg, err, errlen);
    check_trap_disarm(&trap);
    return rc;
}

void check_fail(const char *lib, const char *file, int line, const char *fmt, ...) {
    char detail[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(detail, sizeof detail, fmt, ap);
    va_end(ap);
    CheckTrap *t = armed_trap;
    if (!t) {
        fprintf(stderr, "packbench: %s error at %s:%d %s\n", lib, file, line, detail);
        exit(PB_EXIT_DEVICE);
    }
    snprintf(t->message, sizeof t->message, "%s error at %s:%d %s", lib, file, line, detail);
    armed_trap = t->outer; // a failure while the trap's owner cleans up goes to the next one out
    longjmp(t->env, 1);
}

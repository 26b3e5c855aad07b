/*
 * test_check.c: what a failed device check does (kernels/check.h), without a GPU: with a trap
 * armed, a failing cudaCheck and checkFail return to the trap with "LIB error at FILE:LINE ..."
 * and disarm it; traps nest (the inner one catches, the outer one stays armed); with none armed
 * a failure exits with code 3 (run in a child process).
 */
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../../core/status.h"
#include "../../kernels/check.h"
#include "../test_util.h"

static int caught(CheckTrap *t, int which) {
    if (setjmp(t->env)) return 1;
    check_trap_arm(t);
    if (which == 0) cudaCheck(cudaErrorInvalidValue);
    else checkFail("bad argument %d", 42);
    check_trap_disarm(t);
    return 0;
}

int main(void) {
    CheckTrap outer, inner;
    CHECK(caught(&inner, 0), "cudaCheck did not reach the trap");
    CHECK(strstr(inner.message, "CUDA error at") && strstr(inner.message, "test_check.c:") &&
          strstr(inner.message, "cudaErrorInvalidValue"), "message '%s'", inner.message);
    CHECK(caught(&inner, 1), "checkFail did not reach the trap");
    CHECK(strstr(inner.message, "bad argument 42"), "message '%s'", inner.message);

    // nested: the inner trap catches; the outer one is still armed afterwards
    if (setjmp(outer.env) == 0) {
        check_trap_arm(&outer);
        CHECK(caught(&inner, 1), "inner trap missed");
        checkFail("second failure");
        CHECK(0, "checkFail returned");
    } else {
        CHECK(strstr(outer.message, "second failure"), "outer message '%s'", outer.message);
    }

    // no trap: exit code 3 (PB_EXIT_DEVICE)
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) { cudaCheck(cudaErrorInvalidValue); _exit(0); }
    int status = 0;
    CHECK(pid > 0 && waitpid(pid, &status, 0) == pid, "fork/wait");
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == PB_EXIT_DEVICE, "unarmed failure: status %d, want exit %d",
          status, PB_EXIT_DEVICE);
    return test_finish("test_check");
}

/*
 * test_sm_clock.c: the NVML reader degrades cleanly (gpu/sm_clock.h): a device that does not
 * exist, or a host without libnvidia-ml.so.1, gives NULL and a one-line reason, and reading or
 * closing NULL is safe (the step then reports the clocks as "unknown"). Where NVML and a GPU
 * are present it also reads the first GPU's SM clock through its PCI bus id when one is given
 * as argv[1] (the gpu suite does not need this: the step's own CSV columns show it).
 */
#include <string.h>

#include "../../gpu/sm_clock.h"
#include "../test_util.h"

int main(int argc, char **argv) {
    char why[256] = "";
    SmClock *c = sm_clock_open("ffff:ff:ff.7", why, sizeof why);
    CHECK(c == NULL, "a device at PCI ffff:ff:ff.7 was opened");
    CHECK(why[0] && !strchr(why, '\n'), "no one-line reason: '%s'", why);
    printf("no such device: %s\n", why);
    SmClockSample s = { 123, 1 };
    CHECK(sm_clock_read(NULL, &s) == -1 && s.sm_mhz == 0 && s.slowdown == 0, "reading NULL");
    sm_clock_close(NULL);
    if (argc > 1) {
        c = sm_clock_open(argv[1], why, sizeof why);
        CHECK(c != NULL, "NVML: %s", why);
        CHECK(c && sm_clock_read(c, &s) == 0 && s.sm_mhz > 0, "no SM clock read");
        printf("%s: SM clock %u MHz, slowdown %d\n", argv[1], s.sm_mhz, s.slowdown);
        sm_clock_close(c);
    }
    return test_finish("test_sm_clock");
}

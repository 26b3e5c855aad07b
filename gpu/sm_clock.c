/*
 * sm_clock.c: NVML through dlopen (sm_clock.h). The entry points are declared here from NVML's
 * documented C API (nvml.h of the CUDA toolkit / the NVML API reference): every handle is an
 * opaque pointer, every call returns nvmlReturn_t (0 = NVML_SUCCESS).
 */
#include "sm_clock.h"

#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>

typedef int nvml_return;                  // nvmlReturn_t
typedef struct nvml_device *nvml_device;  // nvmlDevice_t
enum { NVML_SUCCESS_ = 0, NVML_CLOCK_SM_ = 1 }; // nvmlReturn_t NVML_SUCCESS, nvmlClockType_t NVML_CLOCK_SM

struct SmClock {
    void *lib;
    nvml_device dev;
    nvml_return (*get_clock)(nvml_device, int, unsigned *);             // nvmlDeviceGetClockInfo
    nvml_return (*get_reasons)(nvml_device, unsigned long long *);      // ...ClocksEventReasons / ThrottleReasons
    nvml_return (*shutdown)(void);                                      // nvmlShutdown
    const char *(*error_string)(nvml_return);                           // nvmlErrorString
};

static void *sym(void *lib, const char *name) { return lib ? dlsym(lib, name) : NULL; }

SmClock *sm_clock_open(const char *pci_bus_id, char *why, size_t whylen) {
    void *lib = dlopen("libnvidia-ml.so.1", RTLD_NOW | RTLD_LOCAL);
    if (!lib) { snprintf(why, whylen, "NVML not available (libnvidia-ml.so.1: %s)", dlerror()); return NULL; }
    SmClock *c = calloc(1, sizeof *c);
    nvml_return (*init)(void) = (nvml_return (*)(void))sym(lib, "nvmlInit_v2");
    nvml_return (*by_bus)(const char *, nvml_device *) =
        (nvml_return (*)(const char *, nvml_device *))sym(lib, "nvmlDeviceGetHandleByPciBusId_v2");
    if (c) {
        c->lib = lib;
        c->get_clock = (nvml_return (*)(nvml_device, int, unsigned *))sym(lib, "nvmlDeviceGetClockInfo");
        // renamed in CUDA 12.2's NVML; drivers keep the old name as well
        c->get_reasons = (nvml_return (*)(nvml_device, unsigned long long *))sym(lib, "nvmlDeviceGetCurrentClocksEventReasons");
        if (!c->get_reasons)
            c->get_reasons = (nvml_return (*)(nvml_device, unsigned long long *))sym(lib, "nvmlDeviceGetCurrentClocksThrottleReasons");
        c->shutdown = (nvml_return (*)(void))sym(lib, "nvmlShutdown");
        c->error_string = (const char *(*)(nvml_return))sym(lib, "nvmlErrorString");
    }
    if (!c || !init || !by_bus || !c->get_clock || !c->get_reasons || !c->shutdown) {
        snprintf(why, whylen, "NVML: %s", c ? "libnvidia-ml.so.1 lacks an entry point" : "out of host memory");
        free(c);
        dlclose(lib);
        return NULL;
    }
    nvml_return r = init();
    if (r != NVML_SUCCESS_) {
        snprintf(why, whylen, "NVML: nvmlInit_v2: %s", c->error_string ? c->error_string(r) : "failed");
        free(c);
        dlclose(lib);
        return NULL;
    }
    r = by_bus(pci_bus_id, &c->dev);
    if (r != NVML_SUCCESS_) {
        snprintf(why, whylen, "NVML: no device at PCI %s: %s", pci_bus_id, c->error_string ? c->error_string(r) : "failed");
        sm_clock_close(c);
        return NULL;
    }
    return c;
}

int sm_clock_read(SmClock *c, SmClockSample *out) {
    out->sm_mhz = 0;
    out->slowdown = 0;
    unsigned mhz = 0;
    unsigned long long reasons = 0;
    if (!c || c->get_clock(c->dev, NVML_CLOCK_SM_, &mhz) != NVML_SUCCESS_ ||
        c->get_reasons(c->dev, &reasons) != NVML_SUCCESS_)
        return -1;
    out->sm_mhz = mhz;
    out->slowdown = (reasons & SM_CLOCK_SLOWDOWN_MASK) != 0;
    return 0;
}

void sm_clock_close(SmClock *c) {
    if (!c) return;
    c->shutdown();
    dlclose(c->lib);
    free(c);
}

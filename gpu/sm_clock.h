/*
 * sm_clock.h: the SM clock a GPU actually runs at, and why it is lower when it is, read
 * through NVML from the driver (libnvidia-ml.so.1, opened at run time: there is no nvml.h to
 * build against, and a host without the library still runs, with the clocks "unknown").
 * nvbench samples the same facts per trial to flag throttled measurements.
 */
#ifndef PB_SM_CLOCK_H
#define PB_SM_CLOCK_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct SmClock SmClock; // opaque: the NVML library and one device handle

typedef struct SmClockSample {
    unsigned sm_mhz;    // the current SM clock
    int slowdown;       // 1: NVML names a power cap, thermal or hardware slowdown as a reason right now
} SmClockSample;

// The device with this PCI bus id (cudaDeviceGetPCIBusId's form, e.g. "0000:19:00.0"). NULL with
// the reason in why when NVML or the device cannot be reached; callers then report "unknown".
SmClock *sm_clock_open(const char *pci_bus_id, char *why, size_t whylen);
// 0, or -1 when the reading failed (the sample is then zero).
int sm_clock_read(SmClock *c, SmClockSample *out);
void sm_clock_close(SmClock *c);

// The slowdown reasons (NVML's clocks event / throttle reason bits) that mean the clock was held
// down by power or heat: SW power cap 0x4, HW slowdown 0x8, SW thermal 0x20, HW thermal 0x40,
// HW power brake 0x80. Idle (0x1), application clocks (0x2), sync boost (0x10) and display (0x100)
// are not slowdowns of a running step.
#define SM_CLOCK_SLOWDOWN_MASK 0xECull

#ifdef __cplusplus
}
#endif

#endif

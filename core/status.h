/*
 * status.h: the one status code of every layer (layouts, reference, kernels, attention backends,
 * the step, the harness). Functions that can fail return a PbStatus and write a one-line reason
 * into the caller's err buffer; nothing below the CLI exits the process.
 *
 *   PB_OK            done
 *   PB_ERROR         bad input or a failure the caller can report and go on from
 *   PB_NO_MEMORY     the cell does not fit (host or device memory); the object stays usable
 *   PB_DEVICE_ERROR  a CUDA / cuBLAS / cuDNN call failed; the device context cannot be trusted
 *                    any more, so a sweep records the cell as `error` and stops (exit code 3)
 */
#ifndef PB_STATUS_H
#define PB_STATUS_H

typedef enum PbStatus {
    PB_OK = 0,
    PB_ERROR = -1,
    PB_NO_MEMORY = -2,
    PB_DEVICE_ERROR = -3,
} PbStatus;

#ifdef __cplusplus
extern "C" {
#endif
// "ok", "error", "oom", "device error": the words the progress lines use.
const char *pb_status_name(PbStatus s);
#ifdef __cplusplus
}
#endif

/*
 * Process exit codes of packbench (README "Exit status"): one table for main, the sweep and
 * the tests of the CLI.
 */
enum {
    PB_EXIT_OK = 0,          // done
    PB_EXIT_FAILED = 1,      // a step failed or the losses of a cell disagree (the sweep went on)
    PB_EXIT_USAGE = 2,       // bad flag, config or input file
    PB_EXIT_DEVICE = 3,      // a CUDA / cuBLAS / cuDNN error: the cell is recorded as error, the sweep stops
    PB_EXIT_INTERRUPTED = 130,
};

#endif

// status.c: names of the status codes (status.h).
#include "status.h"

const char *pb_status_name(PbStatus s) {
    switch (s) {
    case PB_OK: return "ok";
    case PB_ERROR: return "error";
    case PB_NO_MEMORY: return "oom";
    case PB_DEVICE_ERROR: return "device error";
    }
    return "unknown status";
}

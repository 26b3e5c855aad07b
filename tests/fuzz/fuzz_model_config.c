// fuzz_model_config.c: the model config reader (harness/config.c) on arbitrary bytes. An
// accepted config passes model_validate and its parameter count fits the documented bound.
#include <stdint.h>
#include <stdio.h>

#include "../../harness/config.h"
#include "fuzz_check.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size == 0) return 0;
    FILE *fp = fmemopen((void *)data, size, "r");
    if (!fp) return 0;
    ModelConfig m;
    char err[700] = "", why[300];
    int rc = config_read_model(fp, "fuzz.conf", "fuzz", &m, err, sizeof err);
    fclose(fp);
    if (rc) { fuzz_check_message("model config", err); return 0; }
    fuzz_require(model_validate(&m, why, sizeof why) == 0, "an accepted model fails model_validate");
    uint64_t n;
    fuzz_require(model_param_count_checked(&m, &n) == 0 && n <= PB_MODEL_MAX_PARAMS, "parameter count over the bound");
    size_t off[P_COUNT];
    fuzz_require(model_param_offsets(&m, off) == (size_t)n, "the parameter table disagrees with the checked count");
    return 0;
}

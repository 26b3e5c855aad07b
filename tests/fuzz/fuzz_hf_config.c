// fuzz_hf_config.c: the Hugging Face config.json reader (harness/hf_config.c) on arbitrary
// bytes. An accepted config passes model_validate and its parameter count fits the bound; a
// refusal is one printable line.
#include <stdint.h>
#include <stdio.h>

#include "../../harness/hf_config.h"
#include "fuzz_check.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    ModelConfig m;
    char err[700] = "", why[300];
    if (hf_config_parse((const char *)data, size, "fuzz/config.json", &m, err, sizeof err)) {
        fuzz_check_message("config.json", err);
        return 0;
    }
    fuzz_require(model_validate(&m, why, sizeof why) == 0, "an accepted config.json fails model_validate");
    uint64_t n;
    fuzz_require(model_param_count_checked(&m, &n) == 0 && n <= PB_MODEL_MAX_PARAMS, "parameter count over the bound");
    size_t off[P_COUNT];
    fuzz_require(model_param_offsets(&m, off) == (size_t)n, "the parameter table disagrees with the checked count");
    return 0;
}

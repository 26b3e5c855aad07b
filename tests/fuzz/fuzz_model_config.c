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
    char err[700] = "";
    int rc = config_read_model(fp, "fuzz.conf", "fuzz", &m, err, sizeof err);
    fclose(fp);
    if (rc) { fuzz_check_message("model config", err); return 0; }
    fuzz_check_model(&m, "model config");
    return 0;
}

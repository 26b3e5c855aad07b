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
    char err[700] = "";
    if (hf_config_parse((const char *)data, size, "fuzz/config.json", &m, err, sizeof err)) {
        fuzz_check_message("config.json", err);
        return 0;
    }
    fuzz_check_model(&m, "config.json");
    return 0;
}

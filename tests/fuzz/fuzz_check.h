/*
 * fuzz_check.h: what every fuzz target asserts beyond "no crash, no sanitizer report": an
 * error message is one non-empty line without control bytes (issue 15: errors are one line),
 * and an accepted model is a valid one.
 * A violation aborts, which libFuzzer reports as a finding with the input that caused it.
 */
#ifndef PB_FUZZ_CHECK_H
#define PB_FUZZ_CHECK_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "../../model/model.h"

static inline void fuzz_check_message(const char *what, const char *err) {
    int bad = !err[0];
    for (const unsigned char *c = (const unsigned char *)err; *c; c++) bad |= *c < 0x20 || *c == 0x7f;
    if (bad) {
        fprintf(stderr, "fuzz: %s: the error is not one printable line: '%s'\n", what, err);
        abort();
    }
}

static inline void fuzz_require(int cond, const char *what) {
    if (!cond) { fprintf(stderr, "fuzz: %s\n", what); abort(); }
}

// What a model accepted by a config reader must hold (what: the reader, for the message): it
// passes model_validate, its checked parameter count fits the documented bound, and the
// parameter table agrees with that count.
static inline void fuzz_check_model(const ModelConfig *m, const char *what) {
    char why[300];
    uint64_t n;
    size_t off[P_COUNT];
    if (model_validate(m, why, sizeof why) != 0) { fprintf(stderr, "fuzz: %s: accepted, but model_validate says: %s\n", what, why); abort(); }
    fuzz_require(model_param_count_checked(m, &n) == 0 && n <= PB_MODEL_MAX_PARAMS, "parameter count over the bound");
    fuzz_require(model_param_offsets(m, off) == (size_t)n, "the parameter table disagrees with the checked count");
}

#endif

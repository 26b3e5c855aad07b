/*
 * fuzz_check.h: what every fuzz target asserts beyond "no crash, no sanitizer report": an
 * error message is one non-empty line without control bytes (issue 15: errors are one line).
 * A violation aborts, which libFuzzer reports as a finding with the input that caused it.
 */
#ifndef PB_FUZZ_CHECK_H
#define PB_FUZZ_CHECK_H

#include <stdio.h>
#include <stdlib.h>

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

#endif

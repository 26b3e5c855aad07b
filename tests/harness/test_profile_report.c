/*
 * test_profile_report: the --profile table's arithmetic (harness/profile_report.c) on made-up
 * times for Qwen2.5-7B at T = 1024 slots:
 *   qkv forward 2 * 28 * 1024 * 3584 * 4608 = 947040288768 FLOPs in 1.894080577536 ms is
 *   500.0 TFLOP/s, 61.2% of the 817 TFLOP/s ceiling, 10.0% of an 18.94080577536 ms step;
 *   the forward norms (2L + 1)(4TC + 4T) = 57 * 14684160 = 836997120 bytes in 0.41849856 ms are
 *   2.0 TB/s, 48.8% of 4.1 TB/s; the 16.628 ms no range covered show as "between ranges".
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../harness/profile_report.h"
#include "../test_util.h"

static int line_has(const char *text, const char *row, const char *want) {
    const char *l = strstr(text, row);
    if (!l) return 0;
    const char *end = strchr(l, '\n');
    char buf[512];
    size_t n = end ? (size_t)(end - l) : strlen(l);
    snprintf(buf, sizeof buf, "%.*s", (int)n, l);
    return strstr(buf, want) != NULL;
}

int main(void) {
    ModelConfig q = {.name = "qwen2.5-7b", .vocab = 152064, .hidden = 3584, .layers = 28, .n_head = 28,
                     .n_kv_head = 4, .head_dim = 128, .mlp = 18944, .rms_eps = 1e-6f, .rope_theta = 1e6};
    RoofShape sh = {1024, 1024 * 1025 / 2, 1000, NULL};
    StepProfile p;
    memset(&p, 0, sizeof p);
    p.step_ms = 18.94080577536;
    p.ms[OPK_QKV][OPP_FWD] = 1.894080577536;
    p.calls[OPK_QKV][OPP_FWD] = 28;
    p.ms[OPK_NORM][OPP_FWD] = 0.41849856;
    p.calls[OPK_NORM][OPP_FWD] = 57;
    char *text = NULL;
    size_t len = 0;
    FILE *fp = open_memstream(&text, &len);
    profile_report_print(fp, "padded, test", &q, &sh, &p, 18.0);
    fclose(fp);
    printf("%s", text);
    CHECK(line_has(text, "| qkv gemm         | forward ", "|    28 |     1.894 |  10.0% |    500.0 TF/s |    817.0 TF/s |      61.2% |"),
          "qkv forward row");
    CHECK(line_has(text, "| rmsnorm          | forward ", "|    57 |     0.418 |   2.2% |      2.0 TB/s |      4.1 TB/s |      48.8% |"),
          "norm forward row");
    CHECK(line_has(text, "| between ranges", "|    16.628 |  87.8% |"), "between ranges row");
    CHECK(line_has(text, "| o gemm           | backward ", "|     0 |     0.000 |   0.0% |             - |    732.3 TF/s |          - |"), "a class without ranges");
    CHECK(!strstr(text, "| embedding        | recompute"), "a class without cost or ranges is listed");
    CHECK(strstr(text, "profiled step 18.941 ms (timed median 18.000 ms)") != NULL, "title line");
    free(text);
    return test_finish("test_profile_report");
}

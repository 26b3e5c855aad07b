// cli.c: flag parsing for bench (see cli.h).
#include "cli.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "../strategies/layout.h"
#include "quote.h"
#include "sweep.h"

void cli_usage(FILE *fp) {
    fputs("usage: bench [options]            run a sweep, write a CSV, print a table\n"
          "       bench compare BASE.csv NEW.csv [--threshold PCT]\n"
          "       bench plan [--model M] [--sweep S | --cells PxC,... | --lengths FILE.csv] [--prompts B]\n"
          "                  [--completions K] [--strategy S] [--attention A] [--recompute R [--memory-budget GB]]\n"
          "                  [--device gpu [--min-reps N]] [--out FILE.csv]\n"
          "                          the GPU step's planned peak memory per strategy, the largest\n"
          "                          buffers at the peak and the FLOP-ideal speedups over padded,\n"
          "                          without a GPU; --device gpu also measures\n"
          "       bench estimate [--sweep S | --cells PxC,...] [--strategy S] [--rates FILE.csv] [--overhead S]\n"
          "                  [--min-reps N] [--noise F] [--max-reps N] [--min-time S] [--max-time S]\n"
          "                          the sweep's wall clock on one GPU under the stopping rule: every\n"
          "                          cell's FLOPs at the TFLOP/s and noise of its row in FILE.csv\n"
          "       bench capacity [--model M] --cells PxC,... [--completions K] [--strategy S] [--memory-budget GB]\n"
          "                  [--device cpu|gpu] [--out FILE.csv]\n"
          "                          per strategy and cell the most prompts whose step's planned peak fits\n"
          "                          the budget; with a device also timed (completions/s at capacity)\n"
          "options:\n"
          "  --strategy LIST       padded, packed, prefix, tree (comma-separated) or all (default)\n"
          "  --model NAME|FILE     model config (configs/models; default qwen2.5-7b, tiny on cpu)\n"
          "  --sweep NAME|FILE     sweep config (configs/sweeps; default nll_2_qwen7b, tiny on cpu)\n"
          "  --cells PxC,...       explicit cells instead of the sweep's, e.g. 512x512,2048x128\n"
          "  --lengths FILE.csv    your own batches, one row per segment: batch,id,parent,length,loss\n"
          "  --completions K       completions per prompt (default: the sweep's)\n"
          "  --prompts B           prompts per cell (default: the sweep's)\n"
          "  --seed N              weights and token ids (default 1)\n"
          "  --out FILE.csv        results (default out/<sweep>-<device>.csv)\n"
          "  --device cpu|gpu      default: gpu where usable, else cpu\n"
          "  --attention cudnn|simple   GPU attention backend (default cudnn)\n"
          "  --prefix-attention auto|gather|merge   cudnn prefix / tree forward: gathered K/V copies\n"
          "                        or per-depth calls merged (default auto: gather at 2 levels)\n"
          "  --prefix-share auto|always   prefix: share a group's prompt only where its FLOP gain\n"
          "                        is >= 1.02, else run it the padded way (default); or always\n"
          "  --attention-phases    print the cudnn prefix backward's phase times (development)\n"
          "  --resume              skip cells already in --out (same seed, device, attention and\n"
          "                        prefix attention, strategies), append the rest\n"
          "  --force               run cells over the cpu budget (the cpu step is for tiny models)\n"
          "  --shard i/n           run cells whose index % n == i (0 <= i < n)\n"
          "  --time-limit S        start no cell that would end more than S seconds after the start (by\n"
          "                        the last cell's seconds per FLOP; with --resume, the first cell by the\n"
          "                        largest row kept); the rest are left for --resume (exit 130)\n"
          "  --warmup N|auto       untimed steps first (default 1); auto: none where this sweep measured\n"
          "                        the warm-up's one-time work below a quarter of --noise of the step\n"
          "  --min-reps N          timed steps at least, after the warm-up (default 3)\n"
          "  --noise F             then stop once IQR / median <= F (default 0.01 on the gpu;\n"
          "                        0, the cpu's default: no target, min-reps and min-time alone)\n"
          "  --max-reps N          timed steps at most (default 100)\n"
          "  --min-time S          timed seconds at least (default 1)\n"
          "  --max-time S          timed seconds at most per strategy and cell (default 10; ends\n"
          "                        the timing even below --min-reps, after one timed step)\n"
          "  --matmul-verbose      print every cuBLASLt plan as the GPU step builds it\n"
          "  --mlp-chunk N         GPU: MLP chunks of at most N tokens (default: the memory plan's choice of\n"
          "                        16384, 8192 or 4096, whichever gives the lowest peak)\n"
          "  --recompute full|selective|none|auto   what each layer recomputes in backward: its whole forward\n"
          "                        (default), the norms and the MLP, nothing; or per layer the least that fits\n"
          "                        --memory-budget (model/recompute.h)\n"
          "  --memory-budget GB    auto's budget for the planned peak (default: the GPU's free memory less 1 GiB;\n"
          "                        141 GB where there is no GPU, e.g. bench plan)\n"
          "  --gemm-select heuristic|timed   cuBLASLt algorithm per GEMM shape: the heuristic's first, or\n"
          "                        the fastest of its candidates timed once per shape (default heuristic:\n"
          "                        timing allocates a temporary outside the memory plan)\n"
          "  --profile             after timing, one more step with every op class timed: a table per strategy\n"
          "  --list                list models and sweeps\n"
          "  --help                this text\n"
          "exit status: 0 done, 1 a step failed, losses disagree or the CSV could not be written,\n"
          "  2 usage or config error (or over a bound or the cpu budget),\n"
          "  3 a CUDA/cuBLAS/cuDNN error (its cell is recorded as error, the sweep stops), 130 interrupted\n", fp);
}

static int bad(char *err, size_t errlen, const char *flag, const char *value, const char *want) {
    char q[PB_QUOTE_BUF];
    snprintf(err, errlen, "bad value %s for %s (want %s)", pb_quote(value, PB_QUOTE_VALUE, q, sizeof q), flag, want);
    return 2;
}

static int parse_int(const char *s, long lo, long hi, long *out) {
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < lo || v > hi) return -1;
    *out = v;
    return 0;
}

static int parse_seconds(const char *s, double *out) {
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || *end || !(v >= 0) || v > 1e6) return -1;
    *out = v;
    return 0;
}

static const char *const value_flags[] = {
    "--strategy", "--model", "--sweep", "--cells", "--lengths", "--completions", "--prompts", "--seed", "--out",
    "--device", "--attention", "--prefix-attention", "--prefix-share", "--gemm-select", "--shard", "--min-reps", "--min-time",
    "--max-time", "--mlp-chunk", "--max-reps", "--noise", "--rates", "--overhead", "--warmup", "--recompute", "--memory-budget",
    "--time-limit",
};

static int apply(CliOptions *o, const char *flag, const char *v, char *err, size_t errlen) {
    long n;
    if (!strcmp(flag, "--strategy")) {
        if (!strcmp(v, "all")) { o->strategies = (1u << STRATEGY_COUNT) - 1; return 0; }
        o->strategies = 0; // a comma-separated list of names
        for (const char *p = v; *p;) {
            size_t len = strcspn(p, ",");
            char name[16];
            Strategy s;
            snprintf(name, sizeof name, "%.*s", (int)(len < 15 ? len : 15), p);
            if (len == 0 || len > 15 || strategy_parse(name, &s)) return bad(err, errlen, flag, v, "padded|packed|prefix|tree|all, or a comma list");
            o->strategies |= 1u << s;
            p += len + (p[len] == ',');
        }
        if (!o->strategies) return bad(err, errlen, flag, v, "padded|packed|prefix|tree|all, or a comma list");
    } else if (!strcmp(flag, "--model")) o->model = v;
    else if (!strcmp(flag, "--sweep")) o->sweep = v;
    else if (!strcmp(flag, "--lengths")) o->lengths = v;
    else if (!strcmp(flag, "--cells")) {
        CellSource l;
        char why[256];
        if (cells_from_spec(v, 1, 1, &l, why, sizeof why)) return bad(err, errlen, flag, v, "PxC[,PxC...], e.g. 512x512,2048x128");
        cells_source_free(&l);
        o->cells = v;
    } else if (!strcmp(flag, "--completions")) {
        if (parse_int(v, 1, PB_MAX_COMPLETIONS, &n)) return bad(err, errlen, flag, v, "1..64");
        o->completions = (int)n;
    } else if (!strcmp(flag, "--prompts")) {
        if (parse_int(v, 1, 1 << 16, &n)) return bad(err, errlen, flag, v, "1..65536");
        o->prompts = (int)n;
    } else if (!strcmp(flag, "--seed")) {
        if (parse_int(v, 0, 0x7fffffffL, &n)) return bad(err, errlen, flag, v, "0..2147483647");
        o->seed = n;
    } else if (!strcmp(flag, "--out")) o->out = v;
    else if (!strcmp(flag, "--device")) {
        if (strcmp(v, "cpu") && strcmp(v, "gpu")) return bad(err, errlen, flag, v, "cpu|gpu");
        o->device = v;
    } else if (!strcmp(flag, "--attention")) {
        if (strcmp(v, "cudnn") && strcmp(v, "simple")) return bad(err, errlen, flag, v, "cudnn|simple");
        o->attention = v;
    } else if (!strcmp(flag, "--mlp-chunk")) {
        if (parse_int(v, 64, 1 << 20, &n)) return bad(err, errlen, flag, v, "tokens, 64..1048576");
        o->mlp_chunk = (int)n;
    } else if (!strcmp(flag, "--recompute")) {
        if (strcmp(v, "full") && strcmp(v, "selective") && strcmp(v, "none") && strcmp(v, "auto"))
            return bad(err, errlen, flag, v, "full|selective|none|auto");
        o->recompute = v;
    } else if (!strcmp(flag, "--memory-budget")) {
        double gb;
        if (parse_seconds(v, &gb) || !(gb > 0) || gb > 1e5) return bad(err, errlen, flag, v, "GB, > 0");
        o->memory_budget_gb = gb;
    } else if (!strcmp(flag, "--prefix-attention")) {
        if (strcmp(v, "auto") && strcmp(v, "gather") && strcmp(v, "merge"))
            return bad(err, errlen, flag, v, "auto|gather|merge");
        o->prefix_attention = v;
    } else if (!strcmp(flag, "--prefix-share")) {
        if (strcmp(v, "auto") && strcmp(v, "always")) return bad(err, errlen, flag, v, "auto|always");
        o->prefix_share = v;
    } else if (!strcmp(flag, "--gemm-select")) {
        if (strcmp(v, "heuristic") && strcmp(v, "timed")) return bad(err, errlen, flag, v, "heuristic|timed");
        o->gemm_select = v;
    } else if (!strcmp(flag, "--shard")) {
        if (shard_parse(v, &o->shard_i, &o->shard_n)) return bad(err, errlen, flag, v, "i/n with 0 <= i < n");
    } else if (!strcmp(flag, "--min-reps")) {
        if (parse_int(v, 1, 1 << 20, &n)) return bad(err, errlen, flag, v, "1..1048576");
        o->min_reps = (int)n;
    } else if (!strcmp(flag, "--max-reps")) {
        if (parse_int(v, 1, 1 << 20, &n)) return bad(err, errlen, flag, v, "1..1048576");
        o->max_reps = (int)n;
    } else if (!strcmp(flag, "--noise")) {
        if (parse_seconds(v, &o->noise) || o->noise >= 1) return bad(err, errlen, flag, v, "a fraction, 0 <= F < 1, e.g. 0.01");
    } else if (!strcmp(flag, "--warmup")) {
        if (!strcmp(v, "auto")) o->warmup = 0;
        else if (parse_int(v, 1, 100, &n)) return bad(err, errlen, flag, v, "1..100 or auto");
        else o->warmup = (int)n;
    } else if (!strcmp(flag, "--rates")) o->rates = v;
    else if (!strcmp(flag, "--overhead")) {
        if (parse_seconds(v, &o->overhead)) return bad(err, errlen, flag, v, "seconds >= 0");
    } else if (!strcmp(flag, "--min-time")) {
        if (parse_seconds(v, &o->min_time)) return bad(err, errlen, flag, v, "seconds >= 0");
    } else if (!strcmp(flag, "--max-time")) {
        if (parse_seconds(v, &o->max_time)) return bad(err, errlen, flag, v, "seconds >= 0");
    } else if (!strcmp(flag, "--time-limit")) {
        if (parse_seconds(v, &o->time_limit) || !(o->time_limit > 0)) return bad(err, errlen, flag, v, "seconds > 0");
    }
    return 0;
}

int cli_parse(int argc, char **argv, CliOptions *o, char *err, size_t errlen) {
    memset(o, 0, sizeof *o);
    o->action = CLI_RUN;
    o->strategies = (1u << STRATEGY_COUNT) - 1;
    o->completions = o->prompts = o->min_reps = o->max_reps = o->warmup = -1;
    o->noise = o->overhead = -1;
    o->seed = -1;
    o->shard_i = 0;
    o->shard_n = 1;
    o->min_time = o->max_time = -1;
    o->time_limit = -1;
    o->memory_budget_gb = -1;
    if (argc > 1 && !strcmp(argv[1], "compare")) {
        o->action = CLI_COMPARE;
        o->compare_argc = argc - 2;
        o->compare_argv = argv + 2;
        return 0;
    }
    int first = 1;
    if (argc > 1 && !strcmp(argv[1], "plan")) {
        o->action = CLI_PLAN;
        first = 2;
    } else if (argc > 1 && !strcmp(argv[1], "estimate")) {
        o->action = CLI_ESTIMATE;
        first = 2;
    }
    if (argc > 1 && !strcmp(argv[1], "capacity")) {
        o->action = CLI_CAPACITY;
        first = 2;
    }
    const char *sub_action = o->action == CLI_PLAN ? "plan" : o->action == CLI_ESTIMATE ? "estimate"
                           : o->action == CLI_CAPACITY ? "capacity" : NULL; // bench plan|estimate|capacity
    for (int i = first; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) { o->action = CLI_HELP; continue; }
        const char *eq = strchr(a, '=');
        size_t flag_len = eq ? (size_t)(eq - a) : strlen(a);
        // what only a sweep run does: refused where it would be ignored
        static const char *const run_only[] = { "--resume", "--shard", "--time-limit", "--profile" };
        for (size_t f = 0; f < sizeof run_only / sizeof run_only[0] && sub_action; f++) {
            if (strlen(run_only[f]) != flag_len || strncmp(a, run_only[f], flag_len)) continue;
            snprintf(err, errlen, "%s is for a sweep run, not 'bench %s'", run_only[f], sub_action);
            return 2;
        }
        if (!strcmp(a, "--list") && o->action != CLI_PLAN && o->action != CLI_ESTIMATE && o->action != CLI_CAPACITY) {
            o->action = CLI_LIST;
            continue;
        }
        if (!strcmp(a, "--resume")) { o->resume = 1; continue; }
        if (!strcmp(a, "--matmul-verbose")) { o->matmul_verbose = 1; continue; }
        if (!strcmp(a, "--attention-phases")) { o->attention_phases = 1; continue; }
        if (!strcmp(a, "--force")) { o->force = 1; continue; }
        if (!strcmp(a, "--profile")) { o->profile = 1; continue; }
        int known = 0;
        for (size_t f = 0; f < sizeof value_flags / sizeof value_flags[0] && !known; f++) {
            if (strlen(value_flags[f]) != flag_len || strncmp(a, value_flags[f], flag_len)) continue;
            known = 1;
            const char *v = eq ? eq + 1 : (i + 1 < argc ? argv[++i] : NULL);
            if (!v) { snprintf(err, errlen, "%s needs a value", value_flags[f]); return 2; }
            if (apply(o, value_flags[f], v, err, errlen)) return 2;
        }
        if (!known) {
            char q[PB_QUOTE_BUF];
            snprintf(err, errlen, "unknown argument %s", pb_quote(a, PB_QUOTE_VALUE, q, sizeof q));
            return 2;
        }
    }
    if (o->min_time >= 0 && o->max_time >= 0 && o->max_time < o->min_time) {
        snprintf(err, errlen, "--max-time %g is below --min-time %g", o->max_time, o->min_time);
        return 2;
    }
    if (o->min_reps > 0 && o->max_reps > 0 && o->max_reps < o->min_reps) {
        snprintf(err, errlen, "--max-reps %d is below --min-reps %d", o->max_reps, o->min_reps);
        return 2;
    }
    if (o->resume && !o->out) {
        snprintf(err, errlen, "--resume needs --out FILE.csv");
        return 2;
    }
    return 0;
}

char *cli_command_line(int argc, char **argv) {
    size_t len = 1;
    for (int i = 0; i < argc; i++) len += 4 * strlen(argv[i]) + 8; // pb_escape: 4 bytes a character, and its margin
    char *out = malloc(len), *o = out;
    if (!out) return NULL;
    *o = '\0';
    for (int i = 0; i < argc; i++) {
        if (i) *o++ = ' ';
        pb_escape(argv[i], strlen(argv[i]), o, len - (size_t)(o - out));
        o += strlen(o);
    }
    return out;
}

/*
 * config.h: configs/ files (`key = value`, `#` comments) turned into a ModelConfig or a
 * SweepConfig. A malformed file is rejected with ONE line naming file, line and key (the
 * caller prints it and exits 2). Names are looked up in configs/models and configs/sweeps of
 * the repository the executable lives in; anything with a '/' or ending in .conf is a path.
 */
#ifndef PB_CONFIG_H
#define PB_CONFIG_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "../model/model.h"
#include "../strategies/layout.h"

#define PB_MAX_LENS 32        // lengths in a grid sweep's list
#define PB_MAX_LEN (1 << 24)  // a prompt or completion length
#define PB_MAX_PROMPTS (1 << 16)
#define PB_MAX_CELLS (1 << 20) // cells of a random sweep

#define PB_MAX_LEVELS 8

typedef enum SweepKind { SWEEP_GRID, SWEEP_RANDOM, SWEEP_TREE } SweepKind;

typedef struct SweepConfig {
    char name[64];
    char model[256];       // model name or file
    SweepKind kind;
    int prompts;           // B
    int completions;       // K
    // grid: every (prompt_len, completion_len) pair; all prompts / completions of a cell alike
    int n_prompt_lens, prompt_lens[PB_MAX_LENS];
    int n_completion_lens, completion_lens[PB_MAX_LENS];
    // random: `cells` cells; every prompt and completion its own length in [min_len, max_len]
    int cells, min_len, max_len;
    uint64_t seed;
    // tree: levels 0..n_levels-1; level 0 has branching[0] roots, every node of level d-1
    // branching[d] children; level d's segments carry loss iff level_loss[d]; a cell per
    // combination of the levels' lengths (the last level varies fastest)
    int n_levels, branching[PB_MAX_LEVELS], level_loss[PB_MAX_LEVELS];
    int n_level_lens[PB_MAX_LEVELS], level_lens[PB_MAX_LEVELS][PB_MAX_LENS];
    // measurement defaults of this sweep (0: the harness defaults)
    int min_reps, max_reps;
    double min_time, max_time;
} SweepConfig;

// Parses a model file (.conf, or a Hugging Face config.json: hf_config.h, "FILE: field 'F': reason"). 0, or -1 with "FILE:LINE: key 'K': reason" in err (one line: values
// are quoted and escaped). Sizes are bounded (model.h PB_MODEL_MAX_*, the PB_MAX_* above; the
// cell size bound is sweep.h's, after the command line's overrides), products in 64 bits.
// below PB_MAX_SLOTS token slots) and their products computed in 64 bits.
int config_load_model(const char *path, ModelConfig *m, char *err, size_t errlen);
int config_load_sweep(const char *path, SweepConfig *s, char *err, size_t errlen);
// The same from an open stream (the fuzz targets); shown names the file in messages, stem is
// the default name (the file name without .conf).
int config_read_model(FILE *fp, const char *shown, const char *stem, ModelConfig *m, char *err, size_t errlen);
int config_read_sweep(FILE *fp, const char *shown, const char *stem, SweepConfig *s, char *err, size_t errlen);

// Resolves NAME or FILE for kind "models" / "sweeps" to a readable path. 0 or -1 with err.
int config_find(const char *kind, const char *name_or_path, char *path, size_t pathlen,
                char *err, size_t errlen);
// The configs/ folder used for names (first one found upwards from the executable, else
// the source tree the binary was built from). 0 or -1.
int config_dir(char *dir, size_t dirlen);

#endif

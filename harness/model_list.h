/*
 * model_list.h: `bench --list`'s model table: every config of configs/models (and the
 * config.json forms under configs/models/hf) with its architecture, parameter count, and the
 * GPU step's planned peak (gpu/memory_plan.h) at one stated cell held against one H200.
 */
#ifndef PB_MODEL_LIST_H
#define PB_MODEL_LIST_H

#include <stdio.h>

#define MODEL_LIST_PROMPT 2048   // the cell: 3 prompts of 2048 tokens x 2 completions of 512, padded
#define MODEL_LIST_COMPLETION 512
#define MODEL_LIST_PROMPTS 3
#define MODEL_LIST_COMPLETIONS 2

// Prints the table for the models in dir (configs/models). 0, or 2 when dir cannot be read.
int model_list_print(const char *dir, FILE *out);

#endif

/*
 * hf_config.h: a Hugging Face config.json read into a ModelConfig (with jansson), for the
 * architectures packbench runs: model_type qwen2, llama, mistral and qwen3. What a config asks
 * for that the step does not do (sliding windows in use, experts, rope_scaling other than
 * llama3, biases beyond Qwen2's q/k/v, another activation, partial rotary) is refused with one
 * line naming the field, never silently ignored. Keys that do not change the step (token ids,
 * dtype, max_position_embeddings, ...) are ignored.
 */
#ifndef PB_HF_CONFIG_H
#define PB_HF_CONFIG_H

#include <stddef.h>

#include "../model/model.h"

// 0, or -1 with "FILE: field 'F': reason" (or "FILE:LINE: reason" for bad JSON) in err.
// The model's name: the file's stem, or the folder's name for a file called config.json.
int hf_config_load(const char *path, ModelConfig *m, char *err, size_t errlen);
// The same from len bytes of text (the fuzz target's entry); label stands for the path.
int hf_config_parse(const char *text, size_t len, const char *label, ModelConfig *m, char *err, size_t errlen);

#endif

// attention.c: the attention backends by name (attention.h). "simple" is always built;
// "cudnn" only when meson found cuDNN (PB_HAVE_CUDNN).
#include "attention.h"

#include <string.h>

const AttnOps *attn_ops_find(const char *name) {
    if (!name) return NULL;
    if (strcmp(name, attn_simple_ops.name) == 0) return &attn_simple_ops;
#if PB_HAVE_CUDNN
    if (strcmp(name, attn_cudnn_ops.name) == 0) return &attn_cudnn_ops;
#endif
    return NULL;
}

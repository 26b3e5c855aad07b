/*
 * cpu_step.h: the whole unit of work on the CPU in fp32: forward + backward of the summed
 * completion-token NLL through the decoder (DESIGN.md section 2) for one Layout.
 */
#ifndef PB_CPU_STEP_H
#define PB_CPU_STEP_H

#include "../model/model.h"
#include "../strategies/layout.h"

// params and grads are flat buffers in the model.h table order. grads is overwritten.
// checkpoint = 1 keeps only layer inputs and recomputes each layer in backward
// (same result, less memory). Returns the loss, or NAN on allocation failure.
double cpu_step(const ModelConfig *m, const float *params, float *grads, const Layout *l, int checkpoint);

// Forward only (loss), for finite-difference tests.
double cpu_loss(const ModelConfig *m, const float *params, const Layout *l);

// Bytes of everything cpu_step allocates for this layout besides params and grads (its size table).
size_t cpu_step_activation_bytes(const ModelConfig *m, const Layout *l, int checkpoint);

#endif

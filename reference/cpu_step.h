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

// The same with a RecomputeLevel per layer (levels[m->layers], model/recompute.h): each layer
// keeps or recomputes as its level says. Every level gives the same result, bit for bit.
double cpu_step_levels(const ModelConfig *m, const float *params, float *grads, const Layout *l,
                       const unsigned char *levels);

// Forward only (loss), for finite-difference tests.
double cpu_loss(const ModelConfig *m, const float *params, const Layout *l);

// Bytes of everything cpu_step allocates for this layout besides params and grads (its size table).
size_t cpu_step_activation_bytes(const ModelConfig *m, const Layout *l, int checkpoint);
size_t cpu_step_activation_bytes_levels(const ModelConfig *m, const Layout *l, const unsigned char *levels);

#endif

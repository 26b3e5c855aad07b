/*
 * arena_plan.h: places buffers with live intervals in one arena (plain host C).
 *
 * Each buffer is live over the closed tick interval [first, last]. Two buffers whose intervals
 * intersect must get disjoint bytes; buffers that are never live at the same time may share
 * them. arena_place() is the greedy first fit by size that TFLite's and XLA's arena planners
 * use: buffers live at every tick first (they stack at the bottom, in the order given), then
 * the others from the largest down, each at the lowest aligned offset that overlaps no placed
 * buffer it meets in time. The arena's size is the peak, known before anything is allocated.
 * arena_check() and arena_live_peak() are the independent checks the tests apply to every plan.
 */
#ifndef PB_GPU_ARENA_PLAN_H
#define PB_GPU_ARENA_PLAN_H

#include <stddef.h>

// Placement hints for buffers whose lifetimes nest like a stack: ARENA_UP buffers (born in
// order, dying in reverse: checkpoints) are placed first from the bottom; ARENA_DOWN buffers
// (born in order, living to the end: gradients) from the top down, so the two stacks meet
// where the one frees what the other needs.
enum { ARENA_ANY, ARENA_UP, ARENA_DOWN };

typedef struct ArenaBuf {
    size_t bytes;        // a multiple of the alignment (0: placed nowhere, offset 0)
    int first, last;     // live ticks, inclusive; first <= last
    int stack;           // ARENA_ANY, ARENA_UP or ARENA_DOWN
    size_t offset;       // set by arena_place
} ArenaBuf;

// Offsets for every buffer; returns the arena size (the largest offset + bytes). 0 on a bad
// interval (first > last) or out of host memory, with *bad the buffer's index (-1: memory).
// n_ticks: ticks are 0 .. n_ticks - 1; a buffer with first 0 and last n_ticks - 1 is "always live".
size_t arena_place(ArenaBuf *b, int n, int n_ticks, size_t align, int *bad);
// The placement tries several orders (largest first, by birth, by size x lifetime, longest
// lived first), first and best fit, and ceilings for ARENA_DOWN from the live peak up, and
// keeps the smallest arena.

// 0 when every two buffers that meet in time have disjoint bytes; else -1 and the pair.
int arena_check(const ArenaBuf *b, int n, int *bad_i, int *bad_j);

// The largest sum of bytes live at one tick (a lower bound of any arena), and that tick.
size_t arena_live_peak(const ArenaBuf *b, int n, int n_ticks, int *at_tick);

#endif

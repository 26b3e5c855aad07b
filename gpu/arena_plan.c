// arena_plan.c: interval first-fit arena placement and its checks (see arena_plan.h).
#include "arena_plan.h"

#include <stdint.h>
#include <stdlib.h>

static size_t align_up(size_t n, size_t a) { return (n + a - 1) / a * a; }

static int meet(const ArenaBuf *x, const ArenaBuf *y) { return x->first <= y->last && y->first <= x->last; }

// Placement orders. Every order puts the always-live buffers first, in their given order (they
// stack at the bottom); ties fall back to the index, so a plan is deterministic.
enum { ORDER_SIZE, ORDER_BIRTH, ORDER_AREA, ORDER_SPAN, N_ORDERS };

typedef struct OrderKey { const ArenaBuf *b; int rank, index, order; } OrderKey;

// rank: 0 always live, 1 ARENA_UP, 2 ARENA_DOWN, 3 the rest
static int rank_of(const ArenaBuf *b, int n_ticks) {
    if (b->first == 0 && b->last == n_ticks - 1) return 0;
    return b->stack == ARENA_UP ? 1 : b->stack == ARENA_DOWN ? 2 : 3;
}

static int order_cmp(const void *pa, const void *pb) {
    const OrderKey *a = pa, *b = pb;
    const ArenaBuf *x = a->b, *y = b->b;
    if (a->rank != b->rank) return a->rank - b->rank;
    if (a->rank == 1 || a->rank == 2) { if (x->first != y->first) return x->first - y->first; }
    else if (a->rank == 3) {
        double ax = (double)x->bytes, ay = (double)y->bytes; // ORDER_SIZE: largest first
        if (a->order == ORDER_BIRTH && x->first != y->first) return x->first - y->first;
        if (a->order == ORDER_AREA) { ax *= x->last - x->first + 1; ay *= y->last - y->first + 1; }
        if (a->order == ORDER_SPAN && x->last - x->first != y->last - y->first)
            return (y->last - y->first) - (x->last - x->first);
        if (ax != ay) return ax > ay ? -1 : 1;
        if (x->first != y->first) return x->first - y->first;
    }
    return a->index - b->index;
}

static int offset_cmp(const void *pa, const void *pb) {
    const ArenaBuf *a = *(const ArenaBuf *const *)pa, *b = *(const ArenaBuf *const *)pb;
    return a->offset < b->offset ? -1 : a->offset > b->offset;
}

// The highest aligned offset below ceiling where x fits between the buffers it meets (sorted by
// offset), or SIZE_MAX.
static size_t fit_below(const ArenaBuf *x, const ArenaBuf **meets, int m, size_t ceiling, size_t align) {
    if (x->bytes > ceiling) return SIZE_MAX;
    size_t top = (ceiling - x->bytes) / align * align; // candidate offset
    for (;;) {
        int clash = -1;
        for (int j = 0; j < m; j++)
            if (meets[j]->offset < top + x->bytes && top < meets[j]->offset + meets[j]->bytes) { clash = j; }
        if (clash < 0) return top;
        if (meets[clash]->offset < x->bytes) return SIZE_MAX;
        top = (meets[clash]->offset - x->bytes) / align * align;
    }
}

// One greedy placement: always-live buffers stacked at the bottom; ARENA_UP buffers in birth
// order at the lowest gap; ARENA_DOWN buffers in birth order at the highest gap below ceiling;
// the rest in the given order at the lowest (first fit) or the tightest (best fit) gap between
// the placed buffers each meets in time.
static size_t place_greedy(ArenaBuf *b, int n, int n_ticks, size_t align, int order, int best_fit, size_t ceiling,
                           OrderKey *keys, const ArenaBuf **placed, const ArenaBuf **meets) {
    for (int i = 0; i < n; i++) keys[i] = (OrderKey){&b[i], rank_of(&b[i], n_ticks), i, order};
    qsort(keys, (size_t)n, sizeof *keys, order_cmp);
    size_t size = 0;
    int n_placed = 0;
    for (int i = 0; i < n; i++) {
        ArenaBuf *x = &b[keys[i].index];
        x->offset = 0;
        if (x->bytes == 0) continue;
        int m = 0;
        for (int j = 0; j < n_placed; j++)
            if (meet(x, placed[j])) meets[m++] = placed[j];
        qsort(meets, (size_t)m, sizeof *meets, offset_cmp);
        size_t at = 0, pick = SIZE_MAX, pick_gap = SIZE_MAX;
        if (keys[i].rank == 2 && ceiling && (pick = fit_below(x, meets, m, ceiling, align)) != SIZE_MAX) {
            x->offset = pick;
            placed[n_placed++] = x;
            if (x->offset + x->bytes > size) size = x->offset + x->bytes;
            continue;
        }
        for (int j = 0; j < m; j++) {
            if (at + x->bytes <= meets[j]->offset) {
                size_t gap = meets[j]->offset - at;
                if (!best_fit) { pick = at; break; }
                if (gap < pick_gap) { pick_gap = gap; pick = at; }
            }
            size_t end = align_up(meets[j]->offset + meets[j]->bytes, align);
            if (end > at) at = end;
        }
        x->offset = pick != SIZE_MAX ? pick : at; // else above everything it meets
        placed[n_placed++] = x;
        if (x->offset + x->bytes > size) size = x->offset + x->bytes;
    }
    return size;
}

size_t arena_place(ArenaBuf *b, int n, int n_ticks, size_t align, int *bad) {
    *bad = -1;
    for (int i = 0; i < n; i++)
        if (b[i].first > b[i].last || b[i].first < 0 || b[i].last >= n_ticks) { *bad = i; return 0; }
    size_t m = (size_t)(n > 0 ? n : 1);
    OrderKey *keys = malloc(m * sizeof *keys);
    const ArenaBuf **placed = malloc(m * sizeof *placed), **meets = malloc(m * sizeof *meets);
    size_t *best = malloc(m * sizeof *best);
    size_t best_size = 0;
    if (keys && placed && meets && best) {
        // several greedy orders and fits, ARENA_DOWN under a few ceilings from the live peak up;
        // the smallest arena wins (ties: the first tried)
        int at;
        size_t live = arena_live_peak(b, n, n_ticks, &at);
        for (int c = 0; c < 4; c++) {
            size_t ceiling = live + live / 400 * (size_t)c;
            for (int order = 0; order < N_ORDERS; order++)
                for (int fit = 0; fit < 2; fit++) {
                    size_t size = place_greedy(b, n, n_ticks, align, order, fit, ceiling, keys, placed, meets);
                    if (best_size && size >= best_size) continue;
                    best_size = size;
                    for (int i = 0; i < n; i++) best[i] = b[i].offset;
                    if (best_size == live) goto done; // no arena is smaller
                }
        }
    done:
        for (int i = 0; i < n; i++) b[i].offset = best[i];
    }
    free(keys);
    free(placed);
    free(meets);
    free(best);
    return best_size;
}

int arena_check(const ArenaBuf *b, int n, int *bad_i, int *bad_j) {
    for (int i = 0; i < n; i++)
        for (int j = i + 1; j < n; j++) {
            if (!b[i].bytes || !b[j].bytes || !meet(&b[i], &b[j])) continue;
            if (b[i].offset < b[j].offset + b[j].bytes && b[j].offset < b[i].offset + b[i].bytes) {
                *bad_i = i;
                *bad_j = j;
                return -1;
            }
        }
    return 0;
}

size_t arena_live_peak(const ArenaBuf *b, int n, int n_ticks, int *at_tick) {
    // difference array over ticks: + at first, - after last
    long long *d = calloc((size_t)n_ticks + 1, sizeof *d);
    *at_tick = -1;
    if (!d) return 0;
    for (int i = 0; i < n; i++) {
        d[b[i].first] += (long long)b[i].bytes;
        d[b[i].last + 1] -= (long long)b[i].bytes;
    }
    long long live = 0, peak = -1;
    for (int t = 0; t < n_ticks; t++) {
        live += d[t];
        if (live > peak) { peak = live; *at_tick = t; }
    }
    free(d);
    return peak > 0 ? (size_t)peak : 0;
}

/*
 * fuzz_common.h - shared by the libFuzzer targets in tests/fuzz/: a tracked allocator for the
 * s3__alloc_fn parse helpers (everything it hands out is freed after each input, so
 * LeakSanitizer stays on) and a deterministic splitter that cuts an input into pieces at
 * points the input itself chooses.
 */
#ifndef GZ_FUZZ_COMMON_H
#define GZ_FUZZ_COMMON_H

#include <stddef.h>
#include <stdlib.h>
#include <stdint.h>
#include <string.h>

#include "util/util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

/* Allocations of one input, freed by fuzz_arena_free. */
struct fuzz_arena {
    void **ptrs;
    size_t n, cap;
};

static inline void *fuzz_arena_alloc(void *ud, size_t n)
{
    struct fuzz_arena *a = ud;
    if (a->n == a->cap) {
        a->cap = a->cap ? a->cap * 2 : 64;
        a->ptrs = gz_realloc(a->ptrs, a->cap * sizeof(*a->ptrs));
    }
    a->ptrs[a->n] = gz_malloc(n ? n : 1);
    return a->ptrs[a->n++];
}

static inline void fuzz_arena_free(struct fuzz_arena *a)
{
    for (size_t i = 0; i < a->n; i++)
        gz_free(a->ptrs[i]);
    gz_free(a->ptrs);
    a->ptrs = NULL;
    a->n = a->cap = 0;
}

/* Piece sizes from a seed byte: a small xorshift, so one byte of the input picks a whole
 * split pattern (0 means "all at once"). Returns the next piece length, at least 1. */
static inline size_t fuzz_next_piece(uint32_t *state, size_t left)
{
    uint32_t x = *state;
    if (x == 0)
        return left;
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    *state = x;
    size_t n = (x & 0x100) ? (x % 7) + 1 : (x % 300) + 1;
    return n < left ? n : left;
}

#endif

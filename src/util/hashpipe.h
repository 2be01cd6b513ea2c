/*
 * hashpipe.h - whole-stream digests computed on another core, pipelined with the producer.
 *
 * A hashpipe carries one byte stream (a request body) from its producer thread to a small
 * shared pool of hasher threads, which feed the bytes, in order, to the caller's gz_hash
 * contexts. The producer copies each slice into a bounded ring of fixed blocks; a hasher
 * digests full (or flushed) blocks and gives them back. The producer never waits in normal
 * use: it asks gz_hashpipe_arm_room() before taking more input and, when the ring is too full,
 * stops its input and is told through the notify callback when room frees.
 *
 * Threading: every gz_hashpipe_* function except the notify callback is for the producer
 * thread only (one thread per pipe). notify(ud) runs on a hasher thread, with the pipe's lock
 * held: it must only hand the event to the producer (e.g. post to its loop) and must not call
 * gz_hashpipe_* itself. A notify is one-shot: the producer calls gz_hashpipe_ack() when it
 * handles it, and only then may another notify come.
 *
 * Ownership: the pipe borrows the gz_hash contexts given to gz_hashpipe_new(); the producer
 * must not touch them until gz_hashpipe_arm_idle() returns true (or the pipe is freed). The
 * ring's memory is counted against the pool's budget: gz_hashpipe_new() refuses with -EBUSY
 * when it is spent, and the caller then hashes inline.
 */
#ifndef GZ_UTIL_HASHPIPE_H
#define GZ_UTIL_HASHPIPE_H

#include "hash.h"

/* What the ring holds undigested is what the hasher still has to do after the last byte
 * arrives (a client faster than MD5 keeps it full), so it is kept small: 2 MiB rides out a few
 * milliseconds of the hasher waiting for a core, and measured faster than 8 MiB (bench/rss.py
 * --only-put64, interleaved: 523 vs 360 MB/s and 451 vs 319 MB/s on the busy machine). 8 MiB
 * in total is 4 large uploads on other cores at once: with more, the cores are busy anyway and
 * inline hashing costs no more. */
#define GZ_HASHPIPE_BLOCK (256 * 1024)       /* one ring block */
#define GZ_HASHPIPE_BLOCKS 8                 /* blocks per pipe: 2 MiB of ring */
#define GZ_HASHPIPE_BUDGET (8 * 1024 * 1024) /* ring memory of all pipes of a pool */
#define GZ_HASHPIPE_MAX_THREADS 4
#define GZ_HASHPIPE_MAX_HASHES 4 /* contexts one pipe feeds */

struct gz_hashpool;
struct gz_hashpipe;

typedef void (*gz_hashpipe_notify_cb)(void *ud);

/* A pool of nthreads hasher threads sharing budget bytes of ring memory. */
int gz_hashpool_create(int nthreads, size_t budget, struct gz_hashpool **out);
/* Stops and joins the threads. Every pipe of the pool must have been freed. NULL-safe. */
void gz_hashpool_destroy(struct gz_hashpool *pool);
/* One hasher thread per online core, at most GZ_HASHPIPE_MAX_THREADS. */
int gz_hashpool_default_threads(void);

/* A pipe feeding hashes[0..nhashes) (borrowed, see above). notify as above. -EBUSY over the
 * pool's budget, -EINVAL for a bad argument. */
int gz_hashpipe_new(struct gz_hashpool *pool, struct gz_hash *const *hashes, size_t nhashes,
                    gz_hashpipe_notify_cb notify, void *ud, struct gz_hashpipe **out);

/* Copies n bytes into the ring, handing full blocks to the pool. If the ring lacks room the
 * call waits for the hasher (callers avoid that with gz_hashpipe_arm_room). */
void gz_hashpipe_write(struct gz_hashpipe *hp, const void *p, size_t n);
/* Bytes the ring can take without waiting. */
size_t gz_hashpipe_room(struct gz_hashpipe *hp);
/* true when at least want bytes of room are free now; otherwise false, and notify will run
 * once they are (want <= the ring size). */
bool gz_hashpipe_arm_room(struct gz_hashpipe *hp, size_t want);
/* The end of the stream: hands over the partial block. true when every byte is digested and
 * no notify is outstanding (the hash contexts are the producer's again); otherwise false, and
 * notify will run (call again from there). */
bool gz_hashpipe_arm_idle(struct gz_hashpipe *hp);
/* Without arming anything: are bytes undigested, a hasher on the pipe or a notify unacked? */
bool gz_hashpipe_busy(struct gz_hashpipe *hp);
/* The producer took the notify; another may come. */
void gz_hashpipe_ack(struct gz_hashpipe *hp);
/* Drops the blocks not yet digested (the digests are then meaningless); arm_idle still tells
 * when the hashers are off the pipe. */
void gz_hashpipe_cancel(struct gz_hashpipe *hp);
/* Frees the pipe, first waiting (briefly: at most one block) for a hasher still on it; its
 * budget returns to the pool. A notify already sent is the caller's to account for. NULL-safe. */
void gz_hashpipe_free(struct gz_hashpipe *hp);

#endif

/*
 * audit_int.h - private to src/iam/audit*.c: the on-disk format of the audit log shared by
 * the writer (audit.c) and the offline tools (audit_verify.c), plus test hooks.
 *
 * A line (one entry) is, with fields always in this order and no spaces:
 *   {"seq":N,"time":"ISO","request_id":S,"principal":S,"user":S,"tenant":S,"source":S,
 *    "action":S,"resource":S,"outcome":S,"status":N,"error_code":S,"bytes":N
 *    [,"reset":{...}],"alg":"SM3","prev":"<64 hex>","hash":"<64 hex>"}\n
 * hash = H(prev as 32 raw bytes || the line without its trailing `,"hash":"<64 hex>"` field,
 * i.e. ending in `"prev":"<hex>"}`). The hashed bytes are exactly the bytes on disk, so the
 * input is unambiguous whatever a client put in its strings.
 *
 * Strings: valid UTF-8 is kept; '"', '\\', control characters and DEL are escaped; each byte
 * that is not part of valid UTF-8 is written as \u00XX (its value as a code point), so every
 * line is valid JSON any parser accepts. Each string is cut at AUDIT_FIELD_MAX input bytes.
 *
 * Files in DIR: audit-YYYYMMDD.log (UTC day; a writer never goes back to an earlier file, so
 * file order is chain order), head.json (the last durable entry: rewritten after every
 * fsynced batch, HMAC-signed when the writer has a key), checkpoint.json (the last pruned
 * entry, HMAC-signed), writer.lock (flock: one writer per folder), prune.lock.
 */
#ifndef GZ_IAM_AUDIT_INT_H
#define GZ_IAM_AUDIT_INT_H

#include <stdbool.h>
#include <stdint.h>

#include <cjson/cJSON.h>
#include <openssl/evp.h>

#include "audit.h"

#define AUDIT_HASH_LEN 32
#define AUDIT_HEX_LEN 64
#define AUDIT_FIELD_MAX 2048
#define AUDIT_LINE_MAX (192 * 1024)            /* > 9 fields * 6 * AUDIT_FIELD_MAX + the rest */
#define AUDIT_TAIL_WINDOW (2 * AUDIT_LINE_MAX) /* bytes read from the end of a file at open */
#define AUDIT_HASH_FIELD ",\"hash\":\""
#define AUDIT_HASH_SUFFIX_LEN (sizeof(AUDIT_HASH_FIELD) - 1 + AUDIT_HEX_LEN + 2)
#define AUDIT_HEAD_FILE "head.json"
#define AUDIT_CHECKPOINT_FILE "checkpoint.json"
#define AUDIT_WRITER_LOCK "writer.lock"
#define AUDIT_PRUNE_LOCK "prune.lock"
#define AUDIT_FILE_NAME_LEN 19 /* "audit-YYYYMMDD.log" + NUL */
#define AUDIT_RESET_ACTION "audit:ChainReset"
#define AUDIT_DAY_MS 86400000LL

/* ---- hashing ---- */

struct audit_hasher {
    EVP_MD *sm3;
    EVP_MD *sha256;
    EVP_MD_CTX *ctx;
};

/* Fetches both digests once; -ENOTSUP if this OpenSSL lacks one. */
int audit__hasher_init(struct audit_hasher *h);
void audit__hasher_free(struct audit_hasher *h); /* NULL-safe, idempotent */
/* Is alg a supported algorithm name ("SM3", "SHA256")? */
bool audit__alg_known(const char *alg);
/* H(prev || canon_prefix || "}"), canon_prefix being the line up to its hash field. */
int audit__entry_hash(struct audit_hasher *h, const char *alg, const uint8_t prev[AUDIT_HASH_LEN],
                      const char *canon_prefix, size_t len, uint8_t out[AUDIT_HASH_LEN]);

/* ---- one parsed line ---- */

struct audit_line {
    cJSON *json; /* owned; the strings below point into it */
    int64_t seq;
    int64_t time_ms;
    const char *alg;
    const char *tenant;
    const char *action;
    uint8_t prev[AUDIT_HASH_LEN];
    uint8_t hash[AUDIT_HASH_LEN]; /* the stored hash (from the suffix) */
    size_t canon_len;             /* bytes of the line that are hashed (before the hash field) */
    bool is_reset;
};

/* Parses and checks the shape of a line (without its '\n'); does not check the hash.
 * 0, or GZ_ECORRUPT with why filled. */
int audit__line_parse(const char *p, size_t len, struct audit_line *out, char *why, size_t whysz);
void audit__line_free(struct audit_line *l);
/* Recomputes the line's hash from prev; true if it equals the stored one. */
bool audit__line_hash_ok(struct audit_hasher *h, const char *p, const struct audit_line *l,
                         const uint8_t prev[AUDIT_HASH_LEN]);

/* ---- reading lines ---- */

struct audit_reader {
    int fd;
    char *buf; /* AUDIT_LINE_MAX + 1 bytes */
    size_t start, end;
    bool eof;
    bool skipping;  /* inside an overlong line */
    int64_t lineno; /* of the line last returned */
};

int audit__reader_open(struct audit_reader *r, const char *path);
void audit__reader_close(struct audit_reader *r);
/* 1 and the next line (without '\n') in *line and *len, valid until the next call; 0 at the end.
 * *partial: the line has no '\n' (last line still being written, or torn). *overlong: the
 * line exceeds AUDIT_LINE_MAX and was cut. Negative errno on read errors. */
int audit__reader_next(struct audit_reader *r, const char **line, size_t *len, bool *partial,
                       bool *overlong);

/* ---- the files in the folder ---- */

struct audit_files {
    char (*names)[AUDIT_FILE_NAME_LEN]; /* sorted ascending = chain order */
    size_t n;
};

int audit__files_list(const char *dir, struct audit_files *out); /* empty list if no dir */
void audit__files_free(struct audit_files *f);
/* "audit-YYYYMMDD.log" <-> day number (days since the epoch, UTC). */
void audit__file_name(int64_t day, char out[AUDIT_FILE_NAME_LEN]);
int64_t audit__file_day(const char *name);

/* ---- head.json and checkpoint.json ---- */

struct audit_mark {
    int64_t seq; /* 0 = nothing yet */
    uint8_t hash[AUDIT_HASH_LEN];
    int64_t time_ms;                /* of that entry */
    int64_t created_ms;             /* when the mark was written */
    char file[AUDIT_FILE_NAME_LEN]; /* file holding that entry */
    bool has_mac;
    uint8_t mac[AUDIT_HASH_LEN];
};

enum audit_mark_kind { AUDIT_MARK_HEAD, AUDIT_MARK_CHECKPOINT };

/* 0; -ENOENT if absent; GZ_ECORRUPT if unreadable. */
int audit__mark_read(const char *dir, enum audit_mark_kind kind, struct audit_mark *out);
/* Writes atomically (tmp + rename; fsynced for checkpoints); signs when key is non-NULL. */
int audit__mark_write(const char *dir, enum audit_mark_kind kind, struct audit_mark *m,
                      const uint8_t *key);
/* Checks the mark's HMAC against key (false if unsigned). */
bool audit__mark_mac_ok(enum audit_mark_kind kind, const struct audit_mark *m, const uint8_t *key);

/* ---- small helpers ---- */

int audit__path(char *out, size_t outsz, const char *dir, const char *name);
int audit__fsync_dir(const char *dir);
/* Parses "2006-01-02T15:04:05.000Z" as written in entries; -EINVAL otherwise. */
int audit__time_parse(const char *s, int64_t *ms);
/* The result of walking the chain (audit__verify_run). */
#define AUDIT_VERIFY_MAX_MSGS 8
struct audit_verify_result {
    int64_t entries; /* checked (after the checkpoint) */
    int64_t files;
    int64_t first_seq, last_seq; /* last_seq = the checkpoint's when there are no entries */
    uint8_t last_hash[AUDIT_HASH_LEN];
    int64_t last_time_ms;
    int64_t checkpoint_seq, head_seq;
    int64_t resets;  /* chain-reset entries seen */
    int64_t bad_seq; /* of the first problem, 0 if none */
    int problems;
    char msgs[AUDIT_VERIFY_MAX_MSGS][320]; /* the first problems, msgs[0] the first */
    char note[160];                        /* informational (signatures not checked, ...) */
};
/* Verifies the chain from the checkpoint through the file named last (every file when
 * last is NULL; then a torn line at the very end is taken as being written, and head.json
 * is checked when check_head). Negative errno for I/O errors; problems are in res. */
int audit__verify_run(const char *dir, const uint8_t *hmac_key, const char *last, bool check_head,
                      struct audit_verify_result *res);

/* ---- recovery at open (src/iam/audit_recover.c) ---- */

struct audit_recovery {
    int64_t seq;                  /* the chain continues after this entry */
    uint8_t prev[AUDIT_HASH_LEN]; /* with this hash as prev */
    int64_t last_time_ms;
    int64_t file_day; /* newest file's day, -1 if none */
    char file_name[AUDIT_FILE_NAME_LEN];
    bool reset;           /* record a chain-reset entry first */
    char reason[32];      /* "TruncatedTail", "CorruptTail", ... */
    char resource[64];    /* "audit/<file>" where the break was found */
    char reset_json[512]; /* `"reset":{...}` for that entry */
};

/* Reads the tail of the newest file, head.json and checkpoint.json and decides where the
 * chain continues; cuts off a torn last line that lies beyond the head. Logs what it finds.
 * Negative errno only for I/O errors that make appending impossible. */
int audit__recover(const char *dir, const uint8_t *key, struct audit_hasher *h,
                   struct audit_recovery *out);

/* ---- test hooks (src/iam/audit.c) ---- */

struct audit_stats {
    uint64_t appended;   /* entries accepted by audit_append */
    uint64_t durable;    /* entries written and fsynced */
    uint64_t batches;    /* fsynced batches */
    uint64_t full_waits; /* appends that found the queue full and waited */
    size_t queued;       /* in the queue now */
};
void audit__stats_get(struct audit *a, struct audit_stats *out);
/* Stops / restarts the writer draining the queue (to test a full queue). */
void audit__writer_pause(struct audit *a, bool paused);

#endif

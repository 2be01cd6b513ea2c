/*
 * audit.h - the tamper-evident audit log: every state-changing S3 request, every denied
 * request, every login and every admin action. A separate channel from the diagnostic log.
 *
 * Files: DATA/audit/audit-YYYYMMDD.log, one JSON object per line, append-only. Each entry
 * carries `prev` (the previous entry's hash) and `hash` = H(prev || canonical entry without
 * `hash`), with H recorded per entry in `alg` ("SM3" by default via OpenSSL, or "SHA256").
 * Deleting, reordering or editing an entry breaks the chain at that entry.
 *
 * Appending never blocks the caller on disk: entries go to a bounded in-memory queue drained
 * by one writer thread, which writes batches and fsyncs them (group commit). If the queue is
 * full the caller waits briefly rather than dropping an entry (an audit log may not lose
 * records); the wait is counted.
 *
 * Retention: entries older than retention_days (default 180: the Cybersecurity Law keeps
 * logs six months) are pruned by whole files; the pruned head is recorded in
 * DATA/audit/checkpoint.json (the last pruned hash, its time and sequence number, and an
 * HMAC-SHA256 over them with a key derived from the master key), so verification of what
 * remains starts from a signed, trusted point.
 */
#ifndef GZ_IAM_AUDIT_H
#define GZ_IAM_AUDIT_H

#include <stdio.h>

#include "../util/util.h"

#define AUDIT_DEFAULT_RETENTION_DAYS 180
#define AUDIT_QUEUE_MAX 65536

struct audit;

struct audit_config {
    const char *dir;             /* DATA/audit, created if missing */
    const char *alg;             /* "SM3" (default when NULL) or "SHA256" */
    int retention_days;          /* 0 = default */
    const uint8_t *hmac_key;     /* 32 bytes for checkpoint signatures */
};

/* An entry as the caller describes it; every string is copied. NULL strings are written
 * as empty. */
struct audit_entry {
    int64_t time_ms;             /* 0 = now */
    const char *request_id;
    const char *principal;       /* access key or user id; "anonymous" */
    const char *user;            /* user name, if known */
    const char *tenant;          /* tenant name */
    const char *source;          /* client address "ip:port" */
    const char *action;          /* "s3:PutObject", "admin:CreateTenant", "login" */
    const char *resource;        /* "bucket/key", "tenant/acme", ... */
    const char *outcome;         /* "allow", "deny", "error" */
    int status;                  /* HTTP status */
    const char *error_code;      /* S3 error code or admin error code; NULL if none */
    int64_t bytes;               /* body bytes in + out */
};

/* Opens the log, verifying and continuing the chain from the last entry on disk. */
int audit_open(const struct audit_config *cfg, struct audit **out);
/* Queues an entry (thread-safe, no disk I/O in the caller). */
void audit_append(struct audit *a, const struct audit_entry *e);
/* Blocks until everything queued before the call is on disk. */
void audit_flush(struct audit *a);
/* Flushes, stops the writer, closes. NULL-safe. */
void audit_close(struct audit *a);

/* Offline checks (used by `gzy audit ...`; safe while a server appends). */

/* Verifies the whole chain in dir (and the checkpoint signature when hmac_key is given).
 * Prints a one-line summary to out. Returns 0 if intact; GZ_ECORRUPT if broken, with
 * *bad_seq set to the sequence number of the first bad entry and the reason in msg. */
int audit_verify(const char *dir, const uint8_t *hmac_key, FILE *out, int64_t *bad_seq,
                 char *msg, size_t msgsz);
/* Writes the entries of tenant (NULL = all) with from_ms <= time < to_ms (0 = open) to out
 * as JSON lines ("jsonl") or CSV ("csv"). */
int audit_export(const char *dir, const char *tenant, int64_t from_ms, int64_t to_ms,
                 const char *format, FILE *out);
/* Removes whole files older than retention and writes the signed checkpoint. */
int audit_prune(const char *dir, int retention_days, const uint8_t *hmac_key, int64_t now_ms);

#endif

/*
 * migrate_int.h - internals of the migration engine shared by its files: the S3 client
 * (source.c: requests, listing, reads; dest.c: writes), the journal (journal.c), verification
 * (verify.c), metadata and presets (meta.c), the diff (diff.c) and the copy workers (copy.c).
 */
#ifndef GZ_MIGRATE_INT_H
#define GZ_MIGRATE_INT_H

#include <curl/curl.h>
#include <pthread.h>
#include <sqlite3.h>

#include "../util/hash.h"
#include "../util/util.h"
#include "migrate.h"

#define MIG_MAX_ATTEMPTS 5
#define MIG_ERR_MAX 512

/* One S3 endpoint + bucket; immutable after mig_client_init, shared by all workers. */
struct mig_client {
    char base[512];             /* scheme://host[:port] */
    char scheme[8];
    char host[256];             /* host[:port] */
    char bucket[256];
    char sigv4[128];            /* "aws:amz:REGION:s3" */
    char access[256];
    char secret[256];
    bool path_style;
    const struct gz_mig_preset *preset;
    const char *who;            /* "source" / "destination", for messages */
};

int mig_client_init(struct mig_client *c, const struct gz_mig_endpoint *ep, const char *who,
                    char *err, size_t errsz);

/* A response: status, raw header block and a bounded body (errors, XML, or object bytes). */
struct mig_resp {
    long status;
    CURLcode curl;
    char curl_err[CURL_ERROR_SIZE];
    struct gz_buf headers;      /* raw "Name: value\r\n" lines of the last response */
    struct gz_buf body;
    char code[64];              /* S3 error Code, if any */
    char message[256];
};

void mig_resp_init(struct mig_resp *r, size_t body_max);
void mig_resp_reset(struct mig_resp *r);
void mig_resp_free(struct mig_resp *r);
/* Header value (NUL-terminated copy into out); false if absent. */
bool mig_resp_header(const struct mig_resp *r, const char *name, char *out, size_t outsz);

struct mig_req {
    const char *method;
    const char *key;            /* NULL: the bucket */
    const char *query;          /* sorted and encoded, without '?'; NULL: none */
    struct curl_slist *headers; /* extra headers; borrowed */
    const void *body;           /* PUT/POST body; NULL: none */
    size_t body_len;
    /* streaming sink for the body instead of resp->body (listing); NULL: buffer it */
    size_t (*sink)(char *p, size_t sz, size_t n, void *arg);
    void *sink_arg;
};

/* One attempt; 0 on a response (any status), -EIO on a transport error. */
int mig_s3_once(const struct mig_client *c, CURL *h, const struct mig_req *rq,
                struct mig_resp *resp);
/* With retries (exponential backoff) on transport errors, 5xx, 429 and SlowDown; attempts
 * counts into *retries. */
int mig_s3_call(const struct mig_client *c, CURL *h, const struct mig_req *rq,
                struct mig_resp *resp, int max_attempts, int64_t *retries);
/* Describes a failed response in err: "HTTP 403 AccessDenied: message" / curl error. */
void mig_resp_describe(const struct mig_resp *r, char *err, size_t errsz);
bool mig_resp_transient(const struct mig_resp *r);
void mig_query_add(struct gz_buf *q, const char *name, const char *value);
void mig_uri_encode(struct gz_buf *b, const char *s, bool keep_slash);
void mig_etag_strip(const char *in, char *out, size_t outsz);

/* ---- listing (source.c) ---- */

struct mig_entry {
    char *key;                  /* owned by the lister; valid during the callback */
    int64_t size;
    char etag[80];
    int64_t mtime;
    char storage_class[32];     /* as listed; "" when the listing gives none (STANDARD) */
};
typedef int mig_entry_fn(void *arg, const struct mig_entry *e);
int mig_list(const struct mig_client *c, CURL *h, const char *prefix, mig_entry_fn *fn,
             void *arg, int64_t *retries, char *err, size_t errsz);

/* ---- journal.c ---- */

struct mig_journal {
    sqlite3 *db;
    pthread_mutex_t mu;
    int64_t pass;
    char last_claimed[1100];
};

int mig_journal_open(struct mig_journal *j, const char *path, char *err, size_t errsz);
void mig_journal_close(struct mig_journal *j);
int mig_journal_begin_pass(struct mig_journal *j);
int mig_journal_tx(struct mig_journal *j, const char *sql); /* BEGIN/COMMIT */
int mig_journal_add_src(struct mig_journal *j, const struct mig_entry *e);
int mig_journal_add_dst(struct mig_journal *j, const struct mig_entry *e);
int mig_journal_clear_dst(struct mig_journal *j);
/* Runs the diff over this pass's source rows; fills to_copy/skipped. */
int mig_journal_diff(struct mig_journal *j, struct gz_mig_stats *st);
/* Claims the next pending object (key owned by caller, gz_free); 1 if claimed, 0 if none. */
int mig_journal_claim(struct mig_journal *j, char **key, int64_t *size, char *etag,
                      size_t etagsz);
int mig_journal_done(struct mig_journal *j, const char *key, const char *etag,
                     const char *sha256_hex, const char *method, int64_t retries);
int mig_journal_fail(struct mig_journal *j, const char *key, const char *reason,
                     int64_t retries);
/* Destination keys absent from this pass's listing, in batches (keys owned by caller). */
int mig_journal_extraneous(struct mig_journal *j, const char *after, char **keys, int max);
void mig_journal_failed_each(struct mig_journal *j, gz_mig_failed_fn *fn, void *arg);
int64_t mig_journal_count(struct mig_journal *j, const char *state);

/* ---- verify.c ---- */

enum mig_method { MIG_VERIFY_MD5, MIG_VERIFY_SHA256 };

struct mig_verify {
    struct gz_hash md5, sha256;
    int64_t bytes;
    enum mig_method method;
    char etag[80];              /* source ETag, quotes stripped */
};

void mig_verify_init(struct mig_verify *v, const char *src_etag);
void mig_verify_update(struct mig_verify *v, const void *p, size_t n);
/* Finalises; 0 if verified (sha256 hex written), -EILSEQ on mismatch (reason written). */
int mig_verify_final(struct mig_verify *v, int64_t expect_size, char sha_hex[65],
                     char *reason, size_t reasonsz);
void mig_verify_dispose(struct mig_verify *v);
const char *mig_verify_method_name(enum mig_method m);

/* ---- dest.c ---- */

int mig_put_object(const struct mig_client *c, CURL *h, const char *key,
                   struct curl_slist *meta, const void *body, size_t len, int64_t *retries,
                   char *err, size_t errsz);
int mig_mpu_create(const struct mig_client *c, CURL *h, const char *key,
                   struct curl_slist *meta, char *upload_id, size_t idsz, int64_t *retries,
                   char *err, size_t errsz);
int mig_mpu_part(const struct mig_client *c, CURL *h, const char *key, const char *upload_id,
                 int part, const void *body, size_t len, char *etag, size_t etagsz,
                 int64_t *retries, char *err, size_t errsz);
int mig_mpu_complete(const struct mig_client *c, CURL *h, const char *key,
                     const char *upload_id, const struct gz_buf *parts_xml, int64_t *retries,
                     char *err, size_t errsz);
void mig_mpu_abort(const struct mig_client *c, CURL *h, const char *key,
                   const char *upload_id);
int mig_delete_object(const struct mig_client *c, CURL *h, const char *key, int64_t *retries,
                      char *err, size_t errsz);

/* ---- meta.c ---- */

/* Destination headers for the preserved metadata in a source response (curl list, owned). */
struct curl_slist *mig_meta_headers(const struct gz_mig_preset *preset,
                                    const struct mig_resp *src);

/* ---- copy.c ---- */
int mig_copy_object(const struct mig_client *src, const struct mig_client *dst, CURL *hs,
                    CURL *hd, const char *key, int64_t size, const char *etag,
                    int64_t part_size, char sha_hex[65], enum mig_method *method,
                    int64_t *retries, bool *permanent, char *err, size_t errsz);

#endif

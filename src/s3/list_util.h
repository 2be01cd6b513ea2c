/*
 * list_util.h - pure helpers behind the listing and multipart handlers (list.c, multipart.c):
 * continuation tokens, encoding-type=url, integer query parameters, the accumulator that
 * pages a store listing, the CompleteMultipartUpload body and the multipart ETag, and the
 * x-amz-copy-source* headers. Private to the s3 layer (s3__ prefix); they touch neither the
 * store nor the network, so tests/unit/test_s3_list.c exercises them directly.
 */
#ifndef GZ_S3_LIST_UTIL_H
#define GZ_S3_LIST_UTIL_H

#include "s3_int.h"

/* ---- ListObjectsV2 continuation tokens ----
 * A token is the standard base64 of the last key (or common prefix) a page returned: opaque
 * to clients, stateless for us. */
#define S3_LIST_TOKEN_MAX (4 * ((STORE_MAX_KEY + 2) / 3) + 1)

/* key.len must be <= STORE_MAX_KEY; writes a NUL-terminated token. */
void s3__list_token_encode(struct gz_slice key, char out[S3_LIST_TOKEN_MAX]);
/* Decodes a token into out; returns the key length, or -EINVAL for anything that is not a
 * canonical token of a key of 1..STORE_MAX_KEY bytes. */
int s3__list_token_decode(struct gz_slice token, char out[STORE_MAX_KEY]);

/* ---- encoding-type=url ----
 * Percent-encodes every byte except A-Z a-z 0-9 - _ . ~ and '/', as S3 does (space -> %20,
 * '+' -> %2B). Returns 0 or -E2BIG from the buffer. */
int s3__url_encode(struct gz_buf *out, struct gz_slice in);

/* ---- integer query parameters (max-keys, max-parts, part-number-marker, ...) ----
 * Absent parameter or empty value -> def; above cap -> cap. Returns 0, or -EINVAL for
 * negative, non-numeric, or values beyond INT32_MAX (the caller answers InvalidArgument). */
int s3__param_int(const struct s3_param *p, int def, int cap, int *out);

/* ---- one page of a store listing ----
 * The handler asks the store for max + 1 entries and feeds them here. Common prefixes at or
 * before `after` are dropped: they were reported on an earlier page (a NextMarker or token
 * that is a common prefix must not bring it back), and entries beyond max are trimmed, so
 * IsTruncated is exact whatever the store does with prefixes around `after`. */
struct s3__list_item {
    size_t key_off; /* into s3__list_acc.keys */
    size_t key_len;
    bool is_prefix;
    int64_t size;
    int64_t time_ms;                         /* LastModified or Initiated */
    char etag[48];                           /* objects */
    char upload_id[STORE_UPLOAD_ID_LEN + 1]; /* uploads */
    char storage_class[24];                  /* uploads */
};

struct s3__list_acc {
    struct s3__list_item *items; /* cap entries, owned */
    int n;
    int cap;
    struct gz_buf keys;    /* key bytes of all items, owned */
    struct gz_slice after; /* borrowed; must outlive the accumulator's use */
    int err;               /* first failure (-ENOMEM / -E2BIG), then adds are ignored */
};

/* Room for max + 1 entries. after may be empty. */
void s3__list_acc_init(struct s3__list_acc *a, int max, struct gz_slice after);
void s3__list_acc_free(struct s3__list_acc *a);
/* Copies key; returns the item (NULL if dropped or failed) for the caller to fill in. */
struct s3__list_item *s3__list_acc_add(struct s3__list_acc *a, struct gz_slice key, bool is_prefix);
/* Trims to max entries; returns the page's IsTruncated. */
bool s3__list_acc_finish(struct s3__list_acc *a, int max, bool store_truncated);
struct gz_slice s3__list_acc_key(const struct s3__list_acc *a, int i);
/* Byte-wise (UTF-8 binary order) comparison, shorter first on a common prefix. */
int s3__slice_cmp(struct gz_slice a, struct gz_slice b);

/* ---- CompleteMultipartUpload ----
 * Reads <CompleteMultipartUpload><Part><PartNumber/><ETag/></Part>...</...> from a parsed
 * tree (root is the document element, or a node whose child is). ETags lose their quotes
 * and are lower-cased. Errors: MalformedXML (wrong root, no parts, more than STORE_MAX_PARTS,
 * a Part without a numeric PartNumber or without an ETag), InvalidArgument (number outside
 * 1..10000), InvalidPartOrder (not strictly ascending). On success *parts (gz_free) holds
 * *nparts entries with number and etag set. msg gets a message for the client (or ""). */
enum s3_err s3__mpu_complete_parse(const struct s3_xml_node *root, struct store_part **parts,
                                   int *nparts, char *msg, size_t msgsz);

/* Matches the store's parts (fed in ascending number order) against the requested list:
 * each requested part must exist with the same ETag (InvalidPart) and all but the last must
 * be at least S3_MIN_PART_SIZE (EntityTooSmall, reported only when every part exists).
 * Fills in size and mtime of the requested parts as they match. */
struct s3__mpu_match {
    struct store_part *want; /* borrowed */
    int n;
    int next;      /* index of the first requested part not yet matched */
    int last_seen; /* highest store part number fed so far */
    enum s3_err err;
    int bad_part;   /* the part number that failed */
    int small_part; /* the first non-last part under S3_MIN_PART_SIZE, 0 if none */
};
void s3__mpu_match_init(struct s3__mpu_match *m, struct store_part *want, int n);
void s3__mpu_match_feed(struct s3__mpu_match *m, const struct store_part *p);
/* After all store parts were fed: InvalidPart if some requested part never appeared. */
enum s3_err s3__mpu_match_finish(struct s3__mpu_match *m);

/* The multipart ETag: hex MD5 of the concatenated binary MD5s of the parts, then "-N".
 * Returns 0, or -EINVAL if a part's etag is not 32 hex digits. */
int s3__mpu_etag(const struct store_part *parts, int n, char out[48]);

/* The uploadId parameter as a C string; false for anything that cannot name an upload
 * (wrong length, embedded NUL): the caller answers NoSuchUpload. */
bool s3__upload_id_parse(struct gz_slice v, char out[STORE_UPLOAD_ID_LEN + 1]);

/* ---- UploadPartCopy headers ---- */

/* x-amz-copy-source: "[/]bucket/key[?versionId=null]", percent-encoded. Decodes into buf and
 * points bucket and key into it. -EINVAL if malformed; -ENOTSUP for a versionId other than
 * "null" (we keep no versions). */
int s3__copy_source_parse(struct gz_slice v, char *buf, size_t bufsz, struct gz_slice *bucket,
                          struct gz_slice *key);
/* x-amz-copy-source-range: "bytes=first-last" with first <= last. -EINVAL if malformed. */
int s3__copy_range_parse(struct gz_slice v, int64_t *first, int64_t *last);

#endif

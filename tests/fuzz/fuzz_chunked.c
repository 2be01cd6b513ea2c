/*
 * fuzz_chunked.c - the aws-chunked decoder: s3_payload_new/feed/finish on arbitrary bodies in
 * the three streaming modes, fed in pieces whose sizes the input picks.
 *
 * Input: 7 bytes of parameters, then the raw body.
 *   [0] mode: %3 -> STREAMING-AWS4-HMAC-SHA256-PAYLOAD, ...-PAYLOAD-TRAILER,
 *       STREAMING-UNSIGNED-PAYLOAD-TRAILER
 *   [1] x-amz-trailer: %6 -> none, crc32, crc32c, sha1, sha256, crc64nvme
 *   [2] flags: bit0 send x-amz-decoded-content-length ([4..6], big-endian), bit1 send a
 *       Content-MD5 (of "hello world"), bit2 send x-amz-sdk-checksum-algorithm: CRC32
 *   [3] split seed (0: the whole body in one feed)
 * Signatures use the AWS example key (AKIAIOSFODNN7EXAMPLE) at 20130524T000000Z in
 * us-east-1, seeded with the example's seed signatures, so seeds made with that key verify.
 */
#include <stdio.h>
#include <stdlib.h>

#include "fuzz_common.h"
#include "s3/auth.h"

#define FZ_SECRET "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
#define FZ_DATE "20130524T000000Z"
#define FZ_SCOPE "20130524/us-east-1/s3/aws4_request"
#define FZ_SEED_SIGNED "4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9"
#define FZ_SEED_TRAILER "106e2a8a18243abcf37539882f36619c00e2dfc72633413f02d3b74544bfeb8e"

static uint8_t fz_signing_key[32];
static bool fz_verbose; /* GZ_FUZZ_VERBOSE=1: print each input's outcome */

static int fz_emit(void *ud, struct gz_slice data)
{
    uint64_t *total = ud;
    if (data.len > 0 && data.ptr == NULL)
        abort();
    *total += data.len;
    return 0;
}

static void fz_auth(struct s3_auth *a, uint8_t mode)
{
    static const enum s3_payload_mode modes[] = {S3_PAYLOAD_STREAMING_SIGNED,
                                                 S3_PAYLOAD_STREAMING_SIGNED_TRAILER,
                                                 S3_PAYLOAD_STREAMING_UNSIGNED_TRAILER};
    memset(a, 0, sizeof(*a));
    a->version = 4;
    a->payload = modes[mode % 3];
    memcpy(a->signing_key, fz_signing_key, 32);
    memcpy(a->seed_signature,
           a->payload == S3_PAYLOAD_STREAMING_SIGNED ? FZ_SEED_SIGNED : FZ_SEED_TRAILER, 65);
    memcpy(a->amz_date, FZ_DATE, sizeof(FZ_DATE));
    memcpy(a->scope, FZ_SCOPE, sizeof(FZ_SCOPE));
}

/* Builds the request headers from the parameter bytes into hdrs (room for 8). */
static size_t fz_headers(const uint8_t *prm, struct http_header *hdrs, char *dl, size_t dlsz)
{
    static const char *const trailers[] = {NULL,
                                           "x-amz-checksum-crc32",
                                           "x-amz-checksum-crc32c",
                                           "x-amz-checksum-sha1",
                                           "x-amz-checksum-sha256",
                                           "x-amz-checksum-crc64nvme"};
    static const char *const modes[] = {"STREAMING-AWS4-HMAC-SHA256-PAYLOAD",
                                        "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER",
                                        "STREAMING-UNSIGNED-PAYLOAD-TRAILER"};
    size_t n = 0;
    hdrs[n++] = (struct http_header){GZ_SLICE_LIT("Content-Encoding"), GZ_SLICE_LIT("aws-chunked")};
    hdrs[n++] = (struct http_header){GZ_SLICE_LIT("x-amz-content-sha256"),
                                     gz_slice_cstr(modes[prm[0] % 3])};
    const char *tr = trailers[prm[1] % 6];
    if (tr != NULL)
        hdrs[n++] = (struct http_header){GZ_SLICE_LIT("x-amz-trailer"), gz_slice_cstr(tr)};
    if (prm[2] & 1) {
        unsigned long v = ((unsigned long)prm[4] << 16) | ((unsigned long)prm[5] << 8) | prm[6];
        int len = snprintf(dl, dlsz, "%lu", v);
        hdrs[n++] = (struct http_header){GZ_SLICE_LIT("x-amz-decoded-content-length"),
                                         gz_slice(dl, (size_t)len)};
    }
    if (prm[2] & 2)
        hdrs[n++] = (struct http_header){GZ_SLICE_LIT("Content-MD5"),
                                         GZ_SLICE_LIT("XrY7u+Ae7tCTyyK7j1rNww==")};
    if (prm[2] & 4)
        hdrs[n++] = (struct http_header){GZ_SLICE_LIT("x-amz-sdk-checksum-algorithm"),
                                         GZ_SLICE_LIT("CRC32")};
    return n;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    gz_log_set_level(GZ_LOG_ERROR);
    s3_sigv4_signing_key(FZ_SECRET, GZ_SLICE_LIT("20130524"), GZ_SLICE_LIT("us-east-1"),
                         GZ_SLICE_LIT("s3"), fz_signing_key);
    fz_verbose = getenv("GZ_FUZZ_VERBOSE") != NULL;
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct http_header hdrs[8];
    struct http_req_info info;
    struct s3_auth auth;
    struct s3_payload *p = NULL;
    char msg[256], dl[32];
    if (size < 7)
        return 0;
    memset(&info, 0, sizeof(info));
    info.method = GZ_SLICE_LIT("PUT");
    info.target = info.path = GZ_SLICE_LIT("/examplebucket/chunkObject.txt");
    info.query = GZ_SLICE_LIT("");
    info.headers = hdrs;
    info.nheaders = fz_headers(data, hdrs, dl, sizeof(dl));
    info.content_length = (int64_t)(size - 7);
    fz_auth(&auth, data[0]);
    if (s3_payload_new(&auth, &info, &p, msg, sizeof(msg)) != S3_OK) {
        if (fz_verbose)
            fprintf(stderr, "new: %s\n", msg);
        if (p != NULL)
            abort();
        return 0;
    }
    uint32_t split = data[3] ? 0x9e3779b9u * data[3] : 0;
    const uint8_t *body = data + 7;
    size_t left = size - 7, off = 0;
    uint64_t total = 0;
    enum s3_err e = S3_OK;
    while (left > 0 && e == S3_OK) {
        size_t n = fuzz_next_piece(&split, left);
        e = s3_payload_feed(p, gz_slice(body + off, n), fz_emit, &total);
        off += n;
        left -= n;
    }
    if (e == S3_OK)
        e = s3_payload_finish(p, msg, sizeof(msg));
    else
        snprintf(msg, sizeof(msg), "feed: %s", s3_payload_error(p));
    if (fz_verbose)
        fprintf(stderr, "%s: %llu bytes: %s\n", e == S3_OK ? "ok" : "fail",
                (unsigned long long)total, msg);
    if (e == S3_OK) {
        if (s3_payload_length(p) != (int64_t)total || total > size)
            abort();
        (void)s3_payload_md5(p);
        (void)s3_payload_checksum_b64(p);
    } else {
        (void)s3_payload_error(p);
    }
    s3_payload_free(p);
    return 0;
}

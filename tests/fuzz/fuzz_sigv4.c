/*
 * fuzz_sigv4.c - request authentication: s3_sigv4_canonical_request and s3_auth_verify (SigV4
 * header and presigned, SigV2 header and presigned, anonymous) on a synthetic request, then
 * s3_payload_new for whatever payload mode verification declared.
 *
 * Input: a request head as text, "METHOD TARGET\n" then "Name: value\n" lines (a bare "\n"
 * or the end ends it; CRs are not special). The IAM database (in a temporary folder) holds
 * only the root key, the AWS example AKIAIOSFODNN7EXAMPLE; the clock is fixed at
 * 2013-05-24T00:00:00Z, so the AWS documentation examples verify.
 */
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "fuzz_common.h"
#include "s3/auth.h"

#define FZ_AKID "AKIAIOSFODNN7EXAMPLE"
#define FZ_SECRET "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
#define FZ_NOW 1369353600 /* 20130524T000000Z */
#define FZ_MAX_HEADERS 64

static struct iam *fz_iam;
static char fz_dir[] = "/tmp/gzy-fuzz-sigv4-XXXXXX";
static bool fz_verbose;

static int fz_rm(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    return remove(path);
}

static void fz_cleanup(void)
{
    iam_close(fz_iam);
    fz_iam = NULL;
    nftw(fz_dir, fz_rm, 16, FTW_DEPTH | FTW_PHYS);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    gz_log_set_level(GZ_LOG_ERROR);
    struct iam_config cfg = {.data_dir = fz_dir, .root_access = FZ_AKID, .root_secret = FZ_SECRET};
    if (mkdtemp(fz_dir) == NULL || iam_open(&cfg, &fz_iam) != 0) {
        fprintf(stderr, "fuzz_sigv4: iam_open failed\n");
        exit(1);
    }
    atexit(fz_cleanup);
    fz_verbose = getenv("GZ_FUZZ_VERBOSE") != NULL;
    return 0;
}

/* Next line of *rest (without its '\n'); false at the end. */
static bool fz_line(struct gz_slice *rest, struct gz_slice *line)
{
    if (rest->len == 0)
        return false;
    const char *nl = memchr(rest->ptr, '\n', rest->len);
    size_t n = nl ? (size_t)(nl - rest->ptr) : rest->len;
    *line = gz_slice(rest->ptr, n);
    rest->ptr += nl ? n + 1 : n;
    rest->len -= nl ? n + 1 : n;
    return true;
}

/* Parses the input into info; header slices point into data. */
static bool fz_request(struct gz_slice in, struct http_req_info *info, struct http_header *hdrs)
{
    struct gz_slice line;
    memset(info, 0, sizeof(*info));
    if (!fz_line(&in, &line))
        return false;
    const char *sp = memchr(line.ptr, ' ', line.len);
    if (sp == NULL)
        return false;
    info->method = gz_slice(line.ptr, (size_t)(sp - line.ptr));
    info->target = gz_slice(sp + 1, line.len - info->method.len - 1);
    const char *q = memchr(info->target.ptr, '?', info->target.len);
    info->path = q ? gz_slice(info->target.ptr, (size_t)(q - info->target.ptr)) : info->target;
    info->query = q ? gz_slice(q + 1, info->target.len - info->path.len - 1)
                    : gz_slice(info->target.ptr + info->target.len, 0);
    info->headers = hdrs;
    info->content_length = -1;
    while (fz_line(&in, &line) && line.len > 0 && info->nheaders < FZ_MAX_HEADERS) {
        const char *colon = memchr(line.ptr, ':', line.len);
        if (colon == NULL)
            continue;
        struct http_header *h = &hdrs[info->nheaders++];
        h->name = gz_slice(line.ptr, (size_t)(colon - line.ptr));
        h->value = gz_slice_trim(gz_slice(colon + 1, line.len - h->name.len - 1));
        uint64_t v;
        if (gz_slice_case_eq_cstr(h->name, "content-length") && gz_slice_to_u64(h->value, &v) == 0)
            info->content_length = v > INT64_MAX ? INT64_MAX : (int64_t)v;
    }
    return true;
}

static struct gz_slice fz_header(const struct http_req_info *info, const char *name)
{
    for (size_t i = 0; i < info->nheaders; i++)
        if (gz_slice_case_eq_cstr(info->headers[i].name, name))
            return info->headers[i].value;
    return GZ_SLICE_NULL;
}

/* The canonical request with the SignedHeaders the Authorization header names (or "host"). */
static void fz_canonical(const struct http_req_info *info)
{
    struct gz_slice authz = fz_header(info, "authorization");
    struct gz_slice signed_hdrs = GZ_SLICE_LIT("host");
    struct gz_slice hash = fz_header(info, "x-amz-content-sha256");
    static const char key[] = "SignedHeaders=";
    for (size_t i = 0; authz.ptr && i + sizeof(key) - 1 <= authz.len; i++) {
        if (memcmp(authz.ptr + i, key, sizeof(key) - 1) != 0)
            continue;
        const char *s = authz.ptr + i + sizeof(key) - 1;
        const char *e = memchr(s, ',', authz.len - (size_t)(s - authz.ptr));
        signed_hdrs = gz_slice(s, e ? (size_t)(e - s) : authz.len - (size_t)(s - authz.ptr));
        break;
    }
    if (hash.ptr == NULL)
        hash = GZ_SLICE_LIT("UNSIGNED-PAYLOAD");
    struct gz_buf out;
    gz_buf_init(&out, 64 * 1024);
    for (int presigned = 0; presigned < 2; presigned++) {
        gz_buf_reset(&out);
        (void)s3_sigv4_canonical_request(&out, info->method, info->path, info->query, info->headers,
                                         info->nheaders, signed_hdrs, hash, presigned != 0);
    }
    gz_buf_free(&out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct http_header hdrs[FZ_MAX_HEADERS];
    struct http_req_info info;
    struct s3_auth auth;
    char msg[512];
    if (!fz_request(gz_slice(data, size), &info, hdrs))
        return 0;
    fz_canonical(&info);
    struct gz_slice vhost = GZ_SLICE_NULL;
    for (int v = 0; v < 2; v++) {
        memset(&auth, 0, sizeof(auth));
        enum s3_err e = s3_auth_verify(fz_iam, &info, v ? GZ_SLICE_LIT("examplebucket") : vhost,
                                       FZ_NOW, &auth, msg, sizeof(msg));
        if (fz_verbose)
            fprintf(stderr, "verify (vhost %d): %d %s (v%d payload %d)\n", v, (int)e, msg,
                    auth.version, (int)auth.payload);
        if (e != S3_OK)
            continue;
        struct s3_payload *p = NULL;
        if (s3_payload_new(&auth, &info, &p, msg, sizeof(msg)) == S3_OK)
            s3_payload_free(p);
    }
    return 0;
}

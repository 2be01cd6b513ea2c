/*
 * meta.c - the object headers S3 stores with an object and returns on GET/HEAD: the standard
 * representation headers, user metadata (x-amz-meta-*), the storage class and checksums.
 * They travel through the store as its opaque name/value encoding, under canonical names
 * ("Content-Type", lower-case "x-amz-meta-color").
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>

#include "s3_obj_int.h"

/* Representation headers stored verbatim, with the response-* parameter that overrides each
 * on GET (accepted only on authenticated requests). */
static const struct {
    const char *name;
    const char *override;
} std_headers[] = {
    {"Content-Type", "response-content-type"},
    {"Cache-Control", "response-cache-control"},
    {"Content-Disposition", "response-content-disposition"},
    {"Content-Encoding", "response-content-encoding"},
    {"Content-Language", "response-content-language"},
    {"Expires", "response-expires"},
};

static const char *const checksum_names[] = {
    "x-amz-checksum-crc32", "x-amz-checksum-crc32c", "x-amz-checksum-crc64nvme",
    "x-amz-checksum-sha1",  "x-amz-checksum-sha256",
};

static const char *const storage_classes[] = {
    "STANDARD",        "REDUCED_REDUNDANCY", "STANDARD_IA", "ONEZONE_IA", "INTELLIGENT_TIERING",
    "GLACIER",         "DEEP_ARCHIVE",       "OUTPOSTS",    "GLACIER_IR", "SNOW",
    "EXPRESS_ONEZONE",
};

bool s3__storage_class_valid(struct gz_slice sc)
{
    for (size_t i = 0; i < GZ_ARRAY_LEN(storage_classes); i++)
        if (gz_slice_eq_cstr(sc, storage_classes[i]))
            return true;
    return false;
}

static bool is_user_meta_name(struct gz_slice name)
{
    size_t pl = strlen("x-amz-meta-");
    return name.len > pl && gz_slice_case_eq_cstr(gz_slice(name.ptr, pl), "x-amz-meta-");
}

static bool is_checksum_value_name(struct gz_slice name)
{
    for (size_t i = 0; i < GZ_ARRAY_LEN(checksum_names); i++)
        if (gz_slice_case_eq_cstr(name, checksum_names[i]))
            return true;
    return false;
}

/* Content-Encoding without the aws-chunked token (a transfer detail, never stored). */
static struct gz_slice strip_aws_chunked(struct gz_slice v, char *out, size_t outsz)
{
    size_t o = 0, i = 0;
    while (i < v.len) {
        const char *comma = memchr(v.ptr + i, ',', v.len - i);
        size_t end = comma ? (size_t)(comma - v.ptr) : v.len;
        struct gz_slice tok = gz_slice_trim(gz_slice(v.ptr + i, end - i));
        i = end + 1;
        if (tok.len == 0 || gz_slice_case_eq_cstr(tok, "aws-chunked"))
            continue;
        if (o + tok.len + 1 > outsz)
            return v; /* cannot happen with header-sized input; keep it unchanged */
        if (o)
            out[o++] = ',';
        memcpy(out + o, tok.ptr, tok.len);
        o += tok.len;
    }
    return gz_slice(out, o);
}

static int add_lower(struct gz_buf *enc, struct gz_slice name, struct gz_slice value)
{
    char lname[256];
    if (name.len >= sizeof(lname))
        return -E2BIG;
    for (size_t i = 0; i < name.len; i++)
        lname[i] = (char)tolower((unsigned char)name.ptr[i]);
    return store_headers_add(enc, gz_slice(lname, name.len), value);
}

/* Adds one x-amz-meta-* header (all values of a repeated name joined with ','), once. */
static int add_user_meta(struct s3_request *r, size_t idx, struct gz_buf *enc, size_t *bytes)
{
    const struct http_header *h = r->info->headers;
    for (size_t j = 0; j < idx; j++)
        if (gz_slice_case_eq(h[j].name, h[idx].name))
            return 0; /* joined when its first occurrence was seen */
    struct gz_buf joined;
    gz_buf_init(&joined, S3_MAX_USER_META_BYTES + 1);
    int rc = gz_buf_append(&joined, h[idx].value.ptr, h[idx].value.len);
    for (size_t j = idx + 1; j < r->info->nheaders && rc == 0; j++) {
        if (!gz_slice_case_eq(h[j].name, h[idx].name))
            continue;
        rc = gz_buf_append(&joined, ",", 1);
        rc = rc ? rc : gz_buf_append(&joined, h[j].value.ptr, h[j].value.len);
    }
    *bytes += h[idx].name.len - strlen("x-amz-meta-") + joined.len;
    if (rc == 0 && *bytes <= S3_MAX_USER_META_BYTES)
        rc = add_lower(enc, h[idx].name, gz_buf_slice(&joined));
    gz_buf_free(&joined);
    return rc < 0 ? rc : *bytes > S3_MAX_USER_META_BYTES ? -E2BIG : 0;
}

static int add_std_headers(struct s3_request *r, struct gz_buf *enc)
{
    int rc = 0;
    for (size_t i = 0; i < GZ_ARRAY_LEN(std_headers) && rc == 0; i++) {
        const char *name = std_headers[i].name;
        struct gz_slice v = s3_header(r, name);
        char tmp[1024];
        bool is_type = strcmp(name, "Content-Type") == 0;
        bool is_encoding = strcmp(name, "Content-Encoding") == 0;
        if (is_encoding && v.ptr)
            v = strip_aws_chunked(v, tmp, sizeof(tmp));
        if (is_type && v.len == 0)
            v = GZ_SLICE_LIT(S3_DEFAULT_CONTENT_TYPE);
        if (v.ptr == NULL || (is_encoding && v.len == 0))
            continue;
        rc = store_headers_add(enc, gz_slice_cstr(name), v);
    }
    return rc;
}

enum s3_err s3_meta_from_request(struct s3_request *r, struct gz_buf *enc, char *msg, size_t n)
{
    struct gz_slice sc = s3_header(r, "x-amz-storage-class");
    if (sc.ptr && !s3__storage_class_valid(sc))
        return S3_ERR_INVALID_STORAGE_CLASS;
    int rc = add_std_headers(r, enc);
    if (rc == 0 && sc.ptr)
        rc = store_headers_add(enc, GZ_SLICE_LIT("x-amz-storage-class"), sc);
    size_t meta_bytes = 0;
    const struct http_header *h = r->info->headers;
    for (size_t i = 0; i < r->info->nheaders && rc == 0; i++) {
        if (is_user_meta_name(h[i].name))
            rc = add_user_meta(r, i, enc, &meta_bytes);
        else if (is_checksum_value_name(h[i].name) ||
                 gz_slice_case_eq_cstr(h[i].name, "x-amz-checksum-algorithm") ||
                 gz_slice_case_eq_cstr(h[i].name, "x-amz-checksum-type") ||
                 gz_slice_case_eq_cstr(h[i].name, "x-amz-website-redirect-location"))
            rc = add_lower(enc, h[i].name, h[i].value);
    }
    if (rc == -E2BIG) {
        snprintf(msg, n,
                 "Your metadata headers exceed the maximum allowed metadata size of "
                 "%d bytes.",
                 S3_MAX_USER_META_BYTES);
        return S3_ERR_METADATA_TOO_LARGE;
    }
    return rc < 0 ? S3_ERR_INTERNAL_ERROR : S3_OK;
}

static const struct s3_param *override_param(struct s3_request *r, size_t i)
{
    if (r->auth.anonymous)
        return NULL;
    const struct s3_param *p = s3_param_get(r, std_headers[i].override);
    return p && p->has_value ? p : NULL;
}

/* Does the request carry any response-* parameter at all? Most do not, and then no stored
 * header needs the per-header parameter lookups below. */
static bool any_override(struct s3_request *r)
{
    if (r->auth.anonymous)
        return false;
    for (size_t i = 0; i < r->nparams; i++)
        if (gz_slice_starts_with(r->params[i].name, "response-"))
            return true;
    return false;
}

static int std_header_index(struct gz_slice name)
{
    for (size_t i = 0; i < GZ_ARRAY_LEN(std_headers); i++)
        if (gz_slice_case_eq_cstr(name, std_headers[i].name))
            return (int)i;
    return -1;
}

/* Should a stored header go out on this response? */
static bool emit_stored(struct s3_request *r, struct gz_slice name, struct gz_slice value,
                        bool checksum_mode, bool overrides)
{
    int si = std_header_index(name);
    if (gz_slice_starts_with(name, "x-gzy-"))
        return false; /* internal (the object's ACL) */
    if (si >= 0)
        return !overrides || override_param(r, (size_t)si) == NULL;
    if (gz_slice_case_eq_cstr(name, "x-amz-storage-class"))
        return !gz_slice_eq_cstr(value, "STANDARD");
    if (is_checksum_value_name(name) || gz_slice_case_eq_cstr(name, "x-amz-checksum-type"))
        return checksum_mode;
    if (gz_slice_case_eq_cstr(name, "x-amz-checksum-algorithm"))
        return false;
    return true;
}

void s3_meta_to_response(struct s3_request *r, struct gz_slice enc, bool checksum_mode)
{
    size_t pos = 0;
    struct gz_slice name, value;
    bool have_type = false, overrides = any_override(r);
    while (store_headers_next(enc, &pos, &name, &value)) {
        if (!emit_stored(r, name, value, checksum_mode, overrides))
            continue;
        char cname[256];
        if (name.len >= sizeof(cname))
            continue;
        memcpy(cname, name.ptr, name.len);
        cname[name.len] = '\0';
        have_type |= gz_slice_case_eq_cstr(name, "Content-Type");
        http_resp_header(r->req, cname, value);
    }
    for (size_t i = 0; overrides && i < GZ_ARRAY_LEN(std_headers); i++) {
        const struct s3_param *p = override_param(r, i);
        if (p == NULL)
            continue;
        have_type |= i == 0;
        http_resp_header(r->req, std_headers[i].name, p->value);
    }
    if (!have_type)
        http_resp_header(r->req, "Content-Type", GZ_SLICE_LIT(S3_DEFAULT_CONTENT_TYPE));
}

/*
 * router.c - the S3 front door: every request from the HTTP core arrives here. It resolves
 * the addressing (path-style or virtual-hosted), decodes path and query, authenticates,
 * picks the handler by method and subresource, and authorises (authz.c). Handlers never see an
 * unauthorised request or an undecoded name.
 */
#include <errno.h>
#include <stdio.h>

#include "auth_int.h"
#include "s3_obj_int.h"
#include "sse_int.h"

/* ---- decoding ---- */

/* Where the next byte that needs decoding is ('%', or '+' in a query), from i on. */
static size_t uri_next_special(struct gz_slice in, size_t i, bool plus_is_space)
{
    const char *pct = memchr(in.ptr + i, '%', in.len - i);
    size_t end = pct ? (size_t)(pct - in.ptr) : in.len;
    const char *plus = plus_is_space ? memchr(in.ptr + i, '+', end - i) : NULL;
    return plus ? (size_t)(plus - in.ptr) : end;
}

int s3__uri_decode(struct gz_slice in, bool plus_is_space, char *out, size_t *outlen)
{
    size_t o = 0;
    for (size_t i = 0; i < in.len; i++) {
        size_t next = uri_next_special(in, i, plus_is_space);
        if (next > i) { /* a run that decodes to itself */
            memcpy(out + o, in.ptr + i, next - i);
            o += next - i;
            i = next;
            if (i == in.len)
                break;
        }
        char c = in.ptr[i];
        if (c == '%') {
            if (i + 2 >= in.len)
                return -EINVAL;
            int hi = gz_hex_digit(in.ptr[i + 1]), lo = gz_hex_digit(in.ptr[i + 2]);
            if (hi < 0 || lo < 0)
                return -EINVAL;
            out[o++] = (char)(hi << 4 | lo);
            i += 2;
        } else if (c == '+' && plus_is_space) {
            out[o++] = ' ';
        } else {
            out[o++] = c;
        }
    }
    *outlen = o;
    return 0;
}

/* Decodes into freshly allocated memory (NUL-terminated for convenience). */
static int decode_alloc(struct gz_slice in, bool plus_is_space, s3__alloc_fn alloc, void *ud,
                        struct gz_slice *out)
{
    char *p = alloc(ud, in.len + 1);
    size_t n = 0;
    int rc = s3__uri_decode(in, plus_is_space, p, &n);
    if (rc < 0)
        return rc;
    p[n] = '\0';
    *out = gz_slice(p, n);
    return 0;
}

int s3__query_parse(struct gz_slice query, s3__alloc_fn alloc, void *ud, struct s3_param **out,
                    size_t *nout)
{
    size_t cap = 1;
    for (size_t i = 0; i < query.len; i++)
        cap += query.ptr[i] == '&';
    struct s3_param *params = alloc(ud, cap * sizeof(*params));
    size_t n = 0, start = 0;
    while (start <= query.len && query.len > 0) {
        const char *amp = memchr(query.ptr + start, '&', query.len - start);
        size_t end = amp ? (size_t)(amp - query.ptr) : query.len;
        struct gz_slice piece = gz_slice(query.ptr + start, end - start);
        start = end + 1;
        if (piece.len == 0)
            continue;
        const char *eq = memchr(piece.ptr, '=', piece.len);
        struct gz_slice name = eq ? gz_slice(piece.ptr, (size_t)(eq - piece.ptr)) : piece;
        struct s3_param *p = &params[n];
        memset(p, 0, sizeof(*p));
        int rc = decode_alloc(name, true, alloc, ud, &p->name);
        if (rc == 0 && eq) {
            size_t vlen = piece.len - name.len - 1;
            rc = decode_alloc(gz_slice(eq + 1, vlen), true, alloc, ud, &p->value);
            p->has_value = true;
        }
        if (rc < 0)
            return rc;
        n++;
    }
    *out = params;
    *nout = n;
    return 0;
}

/* ---- names ---- */

static bool is_lower_alnum(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

static bool looks_like_ipv4(struct gz_slice s)
{
    int dots = 0, digits = 0;
    for (size_t i = 0; i < s.len; i++) {
        if (s.ptr[i] == '.') {
            if (digits == 0)
                return false;
            dots++;
            digits = 0;
        } else if (s.ptr[i] >= '0' && s.ptr[i] <= '9') {
            if (++digits > 3)
                return false;
        } else {
            return false;
        }
    }
    return dots == 3 && digits > 0;
}

bool s3__bucket_name_valid(struct gz_slice name)
{
    if (name.len < 3 || name.len > 63)
        return false;
    if (!is_lower_alnum(name.ptr[0]) || !is_lower_alnum(name.ptr[name.len - 1]))
        return false;
    for (size_t i = 0; i < name.len; i++) {
        char c = name.ptr[i];
        if (!is_lower_alnum(c) && c != '.' && c != '-')
            return false;
        if (c == '.' && i + 1 < name.len && (name.ptr[i + 1] == '.' || name.ptr[i + 1] == '-'))
            return false;
        if (c == '-' && i + 1 < name.len && name.ptr[i + 1] == '.')
            return false;
    }
    if (looks_like_ipv4(name) || gz_slice_starts_with(name, "xn--") ||
        gz_slice_starts_with(name, "sthree-"))
        return false;
    static const char *const bad_suffix[] = {"-s3alias", "--ol-s3", "--x-s3"};
    for (size_t i = 0; i < GZ_ARRAY_LEN(bad_suffix); i++) {
        size_t sl = strlen(bad_suffix[i]);
        if (name.len > sl && memcmp(name.ptr + name.len - sl, bad_suffix[i], sl) == 0)
            return false;
    }
    return true;
}

enum s3_err s3__key_check(struct gz_slice key, char *msg, size_t msgsz)
{
    if (key.len > S3_MAX_KEY_BYTES)
        return S3_ERR_KEY_TOO_LONG;
    if (key.len == 0) {
        snprintf(msg, msgsz, "%s", "The object key must not be empty.");
        return S3_ERR_INVALID_ARGUMENT;
    }
    if (!gz_utf8_valid(key)) {
        snprintf(msg, msgsz, "%s", "Object key must be valid UTF-8 without NUL characters.");
        return S3_ERR_INVALID_ARGUMENT;
    }
    return S3_OK;
}

bool s3__vhost_bucket(struct gz_slice host, const char *domain, struct gz_slice *bucket)
{
    size_t dlen = domain ? strlen(domain) : 0;
    if (dlen == 0 || host.len == 0)
        return false;
    /* Strip the port: "[::1]:9000" keeps its brackets, "h:9000" loses ":9000". */
    if (host.ptr[0] != '[') {
        const char *colon = memchr(host.ptr, ':', host.len);
        if (colon)
            host.len = (size_t)(colon - host.ptr);
    }
    if (host.len > 0 && host.ptr[host.len - 1] == '.')
        host.len--; /* fully qualified "b.s3.example.com." */
    if (host.len < dlen + 2 || host.ptr[host.len - dlen - 1] != '.')
        return false;
    if (!gz_slice_case_eq(gz_slice(host.ptr + host.len - dlen, dlen), gz_slice(domain, dlen)))
        return false;
    *bucket = gz_slice(host.ptr, host.len - dlen - 1);
    return true;
}

/* ---- lookups for handlers ---- */

const struct s3_param *s3_param_get(const struct s3_request *r, const char *name)
{
    for (size_t i = 0; i < r->nparams; i++)
        if (gz_slice_eq_cstr(r->params[i].name, name))
            return &r->params[i];
    return NULL;
}

bool s3_param_has(const struct s3_request *r, const char *name)
{
    return s3_param_get(r, name) != NULL;
}

struct gz_slice s3_header(const struct s3_request *r, const char *name)
{
    return http_req_header(r->req, name);
}

/* ---- addressing ---- */

static void *arena_alloc(void *ud, size_t n)
{
    return http_req_alloc(ud, n);
}

static void set_resource(struct s3_request *r)
{
    size_t n = 2 + r->bucket.len + r->key.len;
    char *p = http_req_alloc(r->req, n + 1);
    size_t o = 0;
    p[o++] = '/';
    memcpy(p + o, r->bucket.ptr ? r->bucket.ptr : "", r->bucket.len);
    o += r->bucket.len;
    if (r->key.len) {
        p[o++] = '/';
        memcpy(p + o, r->key.ptr, r->key.len);
        o += r->key.len;
    }
    p[o] = '\0';
    r->resource = gz_slice(p, o);
}

/* A SigV4 scope names a region ("20130524/us-east-1/s3/aws4_request"); like AWS, answer a
 * signature made for another region with the region to use, so the client can correct it. */
static enum s3_err check_region(struct s3_request *r, struct gz_slice region, bool presigned,
                                char *msg, size_t msgsz)
{
    if (gz_slice_eq_cstr(region, r->svc->region))
        return S3_OK;
    char esc[64];
    gz_log_escape(esc, sizeof(esc), region);
    snprintf(msg, msgsz, "The authorization %s malformed; the region '%s' is wrong; "
             "expecting '%s'", presigned ? "query parameters are" : "header is", esc,
             r->svc->region);
    return presigned ? S3_ERR_AUTH_QUERY_MALFORMED : S3_ERR_AUTH_HEADER_MALFORMED;
}

static enum s3_err check_scope_region(struct s3_request *r, char *msg, size_t msgsz)
{
    const char *slash = strchr(r->auth.scope, '/');
    const char *end = slash ? strchr(slash + 1, '/') : NULL;
    if (end == NULL)
        return S3_OK;
    struct gz_slice region = gz_slice(slash + 1, (size_t)(end - slash - 1));
    return check_region(r, region, r->auth.presigned, msg, msgsz);
}

/* The Credential value of a SigV4 Authorization header, or a null slice. */
static struct gz_slice header_credential(struct gz_slice authz)
{
    static const char key[] = "Credential=";
    size_t klen = sizeof(key) - 1;
    for (size_t i = 0; i + klen <= authz.len; i++) {
        if (memcmp(authz.ptr + i, key, klen) != 0)
            continue;
        size_t n = i + klen;
        while (n < authz.len && authz.ptr[n] != ',')
            n++;
        return gz_slice_trim(gz_slice(authz.ptr + i + klen, n - i - klen));
    }
    return GZ_SLICE_NULL;
}

/* The region of a well-formed "AKID/YYYYMMDD/REGION/s3/aws4_request"; false otherwise (the
 * verifier then reports the malformed credential itself). */
static bool credential_region(struct gz_slice cred, struct gz_slice *region)
{
    struct gz_slice part[5];
    for (int i = 0; i < 5; i++) {
        const char *slash = memchr(cred.ptr, '/', cred.len);
        if ((slash == NULL) != (i == 4))
            return false;
        part[i] = gz_slice(cred.ptr, slash ? (size_t)(slash - cred.ptr) : cred.len);
        cred.ptr += slash ? part[i].len + 1 : part[i].len;
        cred.len -= slash ? part[i].len + 1 : part[i].len;
    }
    if (part[0].len == 0 || part[1].len != 8 || part[2].len == 0 ||
        !gz_slice_eq_cstr(part[3], "s3") || !gz_slice_eq_cstr(part[4], "aws4_request"))
        return false;
    *region = part[2];
    return true;
}

/* Before the signature is checked: a SigV4 credential scoped to another region can never
 * verify here, so (like AWS) name the expected region instead of failing the signature.
 * Requests mixing auth mechanisms are left to s3_auth_verify to reject. */
static enum s3_err check_claimed_region(struct s3_request *r, char *msg, size_t msgsz)
{
    struct gz_slice q = r->info->query;
    struct gz_slice authz = s3__header(r->info, "Authorization");
    bool presigned = s3__query_has(q, "X-Amz-Credential");
    char buf[S3__MAX_AUTH_VALUE];
    struct gz_slice cred = GZ_SLICE_NULL, region;
    if ((authz.ptr != NULL && presigned) || s3__query_has(q, "Signature"))
        return S3_OK;
    if (presigned) {
        if (s3__query_get(q, "X-Amz-Credential", buf, sizeof(buf), &cred) != 0)
            return S3_OK;
    } else if (gz_slice_starts_with(authz, "AWS4-HMAC-SHA256 ")) {
        cred = header_credential(authz);
    }
    if (cred.ptr == NULL || !credential_region(cred, &region))
        return S3_OK;
    return check_region(r, region, presigned, msg, msgsz);
}

/* Fills r->bucket, r->key and *vhost from the Host header and the path. */
static enum s3_err resolve_address(struct s3_request *r, struct gz_slice *vhost, char *msg,
                                   size_t msgsz)
{
    struct gz_slice path = r->info->path;
    if (path.len == 0 || path.ptr[0] != '/') {
        snprintf(msg, msgsz, "%s", "Couldn't parse the specified URI.");
        return S3_ERR_INVALID_URI;
    }
    path.ptr++;
    path.len--;
    struct gz_slice braw = GZ_SLICE_NULL, kraw = path;
    if (s3__vhost_bucket(http_req_header(r->req, "host"), r->svc->domain, vhost)) {
        braw = *vhost;
    } else {
        *vhost = GZ_SLICE_NULL;
        const char *slash = memchr(path.ptr, '/', path.len);
        braw = slash ? gz_slice(path.ptr, (size_t)(slash - path.ptr)) : path;
        kraw = slash ? gz_slice(slash + 1, path.len - braw.len - 1) : GZ_SLICE_NULL;
    }
    if (decode_alloc(braw, false, arena_alloc, r->req, &r->bucket) < 0 ||
        decode_alloc(kraw, false, arena_alloc, r->req, &r->key) < 0) {
        snprintf(msg, msgsz, "%s", "Couldn't parse the specified URI.");
        return S3_ERR_INVALID_URI;
    }
    if (r->bucket.len == 0)
        r->key = GZ_SLICE_NULL; /* "//key" names no bucket */
    set_resource(r);
    if (r->key.len > 0)
        return s3__key_check(r->key, msg, msgsz);
    return S3_OK;
}

/* ---- routing ---- */

typedef void (*handler_fn)(struct s3_request *r);

/* Subresources S3 defines that we do not implement: answering them as plain GET/PUT would
 * return a wrong 200 (e.g. an object body for ?acl). */
static const char *const unsupported_subresources[] = {
    "accelerate",
    "analytics",
    "attributes",
    "cors",
    "intelligent-tiering",
    "inventory",
    "legal-hold",
    "lifecycle",
    "logging",
    "metadataTable",
    "metrics",
    "notification",
    "object-lock",
    "ownershipControls",
    "policyStatus",
    "publicAccessBlock",
    "renameObject",
    "replication",
    "requestPayment",
    "restore",
    "retention",
    "select",
    "select-type",
    "session",
    "tagging",
    "torrent",
    "versions",
    "website",
};

/* One pass over the (few) parameters, comparing a name's first byte before anything else:
 * every request pays this check (a presigned URL alone brings seven X-Amz-* parameters). */
static bool has_unsupported_subresource(const struct s3_request *r)
{
    for (size_t p = 0; p < r->nparams; p++) {
        struct gz_slice n = r->params[p].name;
        if (n.len == 0)
            continue;
        for (size_t i = 0; i < GZ_ARRAY_LEN(unsupported_subresources); i++) {
            const char *u = unsupported_subresources[i];
            if (u[0] == n.ptr[0] && strlen(u) == n.len && memcmp(u, n.ptr, n.len) == 0)
                return true;
        }
    }
    return false;
}

static bool method_is(const struct s3_request *r, const char *m)
{
    return gz_slice_eq_cstr(r->info->method, m);
}

static void reply_not_implemented(struct s3_request *r)
{
    s3_reply_error(r, S3_ERR_NOT_IMPLEMENTED, NULL);
}

static void reply_method_not_allowed(struct s3_request *r)
{
    s3_reply_error(r, S3_ERR_METHOD_NOT_ALLOWED, NULL);
}

/* ?policy and ?acl on a bucket (policy.c, acl.c). */
static handler_fn route_bucket_sub(struct s3_request *r)
{
    bool get = method_is(r, "GET"), put = method_is(r, "PUT");
    if (s3_param_has(r, "policy")) {
        if (get || put)
            return get ? s3_bucket_policy_get : s3_bucket_policy_put;
        return method_is(r, "DELETE") ? s3_bucket_policy_delete : reply_method_not_allowed;
    }
    if (s3_param_has(r, "acl")) {
        if (get || put)
            return get ? s3_bucket_acl_get : s3_bucket_acl_put;
        return reply_method_not_allowed;
    }
    if (s3_param_has(r, "encryption")) { /* sse.c */
        if (get || put)
            return get ? s3__bucket_encryption_get : s3__bucket_encryption_put;
        return method_is(r, "DELETE") ? s3__bucket_encryption_delete : reply_method_not_allowed;
    }
    return NULL;
}

static handler_fn route_bucket(struct s3_request *r, bool *is_create)
{
    handler_fn sub = route_bucket_sub(r);
    if (sub != NULL)
        return sub;
    if (method_is(r, "GET")) {
        if (s3_param_has(r, "location"))
            return s3_bucket_location;
        if (s3_param_has(r, "versioning"))
            return s3_bucket_versioning;
        if (s3_param_has(r, "uploads"))
            return s3_multipart_list_uploads;
        return s3_list_objects;
    }
    if (method_is(r, "HEAD"))
        return s3_bucket_head;
    if (method_is(r, "PUT")) {
        if (s3_param_has(r, "versioning"))
            return reply_not_implemented; /* PutBucketVersioning: we cannot keep versions */
        *is_create = true;
        return s3_bucket_create;
    }
    if (method_is(r, "DELETE"))
        return s3_bucket_delete;
    if (method_is(r, "POST")) {
        if (s3_param_has(r, "delete"))
            return s3_objects_delete;
        return reply_not_implemented; /* browser-form POST upload */
    }
    return reply_method_not_allowed;
}

static handler_fn route_object(struct s3_request *r)
{
    bool upload = s3_param_has(r, "uploadId");
    if (s3_param_has(r, "policy") || s3_param_has(r, "encryption"))
        return reply_not_implemented;
    if (s3_param_has(r, "acl")) {
        if (method_is(r, "GET"))
            return s3_object_acl_get;
        return method_is(r, "PUT") ? s3_object_acl_put : reply_method_not_allowed;
    }
    if (method_is(r, "GET"))
        return upload ? s3_multipart_list_parts : s3_object_get;
    if (method_is(r, "HEAD"))
        return s3_object_get;
    if (method_is(r, "PUT")) {
        if (upload)
            return s3_multipart_upload_part;
        if (http_req_header(r->req, "x-amz-copy-source").ptr != NULL)
            return s3_object_copy;
        return s3_object_put;
    }
    if (method_is(r, "POST")) {
        if (s3_param_has(r, "uploads"))
            return s3_multipart_create;
        if (upload)
            return s3_multipart_complete;
        return reply_method_not_allowed;
    }
    if (method_is(r, "DELETE"))
        return upload ? s3_multipart_abort : s3_object_delete;
    return reply_method_not_allowed;
}

/* Characters a bucket name can never contain even under the legacy rules. */
static bool bucket_name_hopeless(struct gz_slice b)
{
    if (b.len > 255)
        return true;
    for (size_t i = 0; i < b.len; i++) {
        char c = b.ptr[i];
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '.' || c == '-' || c == '_';
        if (!ok)
            return true;
    }
    return false;
}

/* Authorises the routed request (authz.c); false if it was answered with an error. */
static bool authorize(struct s3_request *r)
{
    char msg[256] = "";
    enum s3_err e = s3__authz_request(r, msg, sizeof(msg));
    if (e == S3_OK)
        return true;
    s3__audit_arm(r);
    s3_reply_error(r, e, msg[0] ? msg : NULL);
    return false;
}

static void dispatch(struct s3_request *r)
{
    if (r->bucket.len == 0) {
        if (!method_is(r, "GET"))
            reply_method_not_allowed(r);
        else if (authorize(r))
            s3_list_buckets(r);
        return;
    }
    if (has_unsupported_subresource(r)) {
        reply_not_implemented(r);
        return;
    }
    bool is_create = false;
    handler_fn fn = r->key.len ? route_object(r) : route_bucket(r, &is_create);
    if (fn != reply_method_not_allowed && fn != reply_not_implemented &&
        !s3__bucket_name_valid(r->bucket)) {
        /* Only a create can be told the name is bad; any other operation on a name that
         * can never exist simply finds no bucket (as AWS answers for most of them). */
        bool invalid = is_create || bucket_name_hopeless(r->bucket);
        s3_reply_error(r, invalid ? S3_ERR_INVALID_BUCKET_NAME : S3_ERR_NO_SUCH_BUCKET, NULL);
        return;
    }
    if (fn != reply_method_not_allowed && fn != reply_not_implemented && !authorize(r))
        return;
    fn(r);
}

void s3_on_request(struct http_req *req, void *app)
{
    struct s3_service *svc = app;
    struct s3_request *r = http_req_alloc(req, sizeof(*r));
    memset(r, 0, sizeof(*r));
    r->svc = svc;
    r->req = req;
    r->info = http_req_info(req);
    r->now_s = gz_now_ms() / 1000;
    r->resource = r->info->path;
    r->auth.anonymous = true;
    r->authz = http_req_alloc(req, sizeof(*r->authz));
    memset(r->authz, 0, sizeof(*r->authz));

    char msg[256] = "";
    struct gz_slice vhost = GZ_SLICE_NULL;
    enum s3_err e = resolve_address(r, &vhost, msg, sizeof(msg));
    if (e == S3_OK &&
        s3__query_parse(r->info->query, arena_alloc, req, &r->params, &r->nparams) < 0) {
        snprintf(msg, sizeof(msg), "%s", "Couldn't parse the specified URI.");
        e = S3_ERR_INVALID_URI;
    }
    s3__authz_classify(r);
    if (r->authz->write)
        s3__audit_arm(r); /* reads are recorded only when denied */
    if (e == S3_OK) {
        /* Anonymous requests go on to authorisation: public-read ACLs and policies serve
         * them, everything else denies them there. */
        e = check_claimed_region(r, msg, sizeof(msg));
        if (e == S3_OK)
            e = s3_auth_verify(svc->iam, r->info, vhost, r->now_s, &r->auth, msg, sizeof(msg));
        else
            r->auth.anonymous = false; /* as a failed s3_auth_verify leaves it */
        if (e == S3_OK && r->auth.version == 4)
            e = check_scope_region(r, msg, sizeof(msg));
        r->authz->auth_failed = e != S3_OK;
        if (e != S3_OK)
            s3__audit_arm(r);
    }
    if (e != S3_OK) {
        s3_reply_error(r, e, msg[0] ? msg : NULL);
        return;
    }
    dispatch(r);
}

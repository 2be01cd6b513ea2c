/*
 * reply.c - every S3 response leaves through here or through s3_resp_common_headers: the
 * request ids, the XML error document, and the small XML writers handlers build bodies with.
 *
 * The s3_xml_* writers return nothing, so a failed append (the buffer's maximum reached)
 * poisons the buffer: its memory is released and its max set to 0. s3_reply_xml() then
 * answers InternalError instead of sending a truncated document.
 */
#include <stdio.h>

#include "../util/hash.h"
#include "s3_obj_int.h"

#define ERROR_XML_MAX (32 * 1024)

void s3_resp_common_headers(struct s3_request *r)
{
    const char *id = r->info->request_id;
    http_resp_header(r->req, "x-amz-request-id", gz_slice_cstr(id));
    /* x-amz-id-2 is an opaque host id in S3; derive a stable token from the request id. */
    uint8_t digest[32];
    char b64[48];
    gz_sha256(id, strlen(id), digest);
    gz_base64_encode(b64, digest, 24);
    http_resp_header(r->req, "x-amz-id-2", gz_slice_cstr(b64));
}

int s3__error_xml(struct gz_buf *out, const char *code, const char *message, struct gz_slice bucket,
                  struct gz_slice key, struct gz_slice resource, const char *request_id)
{
    int rc = gz_buf_append_cstr(out, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>");
    rc = rc ? rc : gz_buf_append_xml(out, gz_slice_cstr(code));
    rc = rc ? rc : gz_buf_append_cstr(out, "</Code><Message>");
    rc = rc ? rc : gz_buf_append_xml(out, gz_slice_cstr(message));
    rc = rc ? rc : gz_buf_append_cstr(out, "</Message>");
    if (bucket.len) {
        rc = rc ? rc : gz_buf_append_cstr(out, "<BucketName>");
        rc = rc ? rc : gz_buf_append_xml(out, bucket);
        rc = rc ? rc : gz_buf_append_cstr(out, "</BucketName>");
    }
    if (key.len) {
        rc = rc ? rc : gz_buf_append_cstr(out, "<Key>");
        rc = rc ? rc : gz_buf_append_xml(out, key);
        rc = rc ? rc : gz_buf_append_cstr(out, "</Key>");
    }
    rc = rc ? rc : gz_buf_append_cstr(out, "<Resource>");
    rc = rc ? rc : gz_buf_append_xml(out, resource);
    rc = rc ? rc : gz_buf_append_cstr(out, "</Resource><RequestId>");
    rc = rc ? rc : gz_buf_append_xml(out, gz_slice_cstr(request_id));
    rc = rc ? rc : gz_buf_append_cstr(out, "</RequestId></Error>");
    return rc;
}

/* Keys with control characters cannot appear in an XML 1.0 document at all. */
static struct gz_slice xml_safe(struct gz_slice s)
{
    for (size_t i = 0; i < s.len; i++) {
        unsigned char c = (unsigned char)s.ptr[i];
        if (c < 0x20 && c != '\t' && c != '\n' && c != '\r')
            return GZ_SLICE_NULL;
    }
    return s;
}

void s3_reply_error(struct s3_request *r, enum s3_err e, const char *msg)
{
    const struct s3_err_info *ei = s3_err_info(e);
    r->error_code = ei->code; /* for the audit log */
    if (ei->status >= 500 && e != S3_ERR_NOT_IMPLEMENTED)
        log_warn("request %s: %s %s (%s)", r->info->request_id, ei->code, msg ? msg : ei->message,
                 r->info->peer_str);
    else
        log_debug("request %s: %s %s", r->info->request_id, ei->code, msg ? msg : "");
    http_resp_status(r->req, ei->status);
    s3_resp_common_headers(r);
    if (ei->status == 304 || gz_slice_eq_cstr(r->info->method, "HEAD")) {
        http_resp_send(r->req, GZ_SLICE_NULL);
        return;
    }
    struct gz_buf body;
    gz_buf_init(&body, ERROR_XML_MAX);
    int rc = s3__error_xml(&body, ei->code, msg ? msg : ei->message, xml_safe(r->bucket),
                           xml_safe(r->key), xml_safe(r->resource), r->info->request_id);
    if (rc < 0) {
        gz_buf_reset(&body);
        s3__error_xml(&body, ei->code, ei->message, GZ_SLICE_NULL, GZ_SLICE_NULL, GZ_SLICE_NULL,
                      r->info->request_id);
    }
    http_resp_header(r->req, "Content-Type", GZ_SLICE_LIT("application/xml"));
    http_resp_send(r->req, gz_buf_slice(&body));
    gz_buf_free(&body);
}

void s3_reply_xml(struct s3_request *r, int status, struct gz_buf *xml)
{
    if (xml->max == 0) {
        gz_buf_free(xml);
        log_error("request %s: XML reply exceeded its buffer", r->info->request_id);
        s3_reply_error(r, S3_ERR_INTERNAL_ERROR, NULL);
        return;
    }
    http_resp_status(r->req, status);
    s3_resp_common_headers(r);
    http_resp_header(r->req, "Content-Type", GZ_SLICE_LIT("application/xml"));
    http_resp_send(r->req, gz_buf_slice(xml));
    gz_buf_free(xml);
}

void s3_reply_empty(struct s3_request *r, int status)
{
    http_resp_status(r->req, status);
    s3_resp_common_headers(r);
    http_resp_send(r->req, GZ_SLICE_NULL);
}

/* ---- XML writers ---- */

static void xml_poison(struct gz_buf *x)
{
    gz_buf_free(x);
    x->max = 0;
}

static void xml_raw(struct gz_buf *x, const char *s)
{
    if (x->max != 0 && gz_buf_append_cstr(x, s) < 0)
        xml_poison(x);
}

static void xml_text(struct gz_buf *x, struct gz_slice s)
{
    if (x->max != 0 && gz_buf_append_xml(x, s) < 0)
        xml_poison(x);
}

void s3_xml_begin(struct gz_buf *x, const char *root)
{
    xml_raw(x, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<");
    xml_raw(x, root);
    xml_raw(x, " xmlns=\"" S3_XMLNS "\">");
}

void s3_xml_end(struct gz_buf *x, const char *root)
{
    xml_raw(x, "</");
    xml_raw(x, root);
    xml_raw(x, ">");
}

void s3_xml_elem(struct gz_buf *x, const char *name, struct gz_slice text)
{
    xml_raw(x, "<");
    xml_raw(x, name);
    xml_raw(x, ">");
    xml_text(x, text);
    xml_raw(x, "</");
    xml_raw(x, name);
    xml_raw(x, ">");
}

void s3_xml_elemf(struct gz_buf *x, const char *name, const char *fmt, ...)
{
    struct gz_buf tmp;
    gz_buf_init(&tmp, x->max ? x->max : 1);
    va_list ap;
    va_start(ap, fmt);
    int rc = gz_buf_vappendf(&tmp, fmt, ap);
    va_end(ap);
    if (rc < 0)
        xml_poison(x);
    else
        s3_xml_elem(x, name, gz_buf_slice(&tmp));
    gz_buf_free(&tmp);
}

void s3__xml_open(struct gz_buf *x, const char *name)
{
    xml_raw(x, "<");
    xml_raw(x, name);
    xml_raw(x, ">");
}

void s3__xml_close(struct gz_buf *x, const char *name)
{
    xml_raw(x, "</");
    xml_raw(x, name);
    xml_raw(x, ">");
}

void s3_etag_quote(const char *etag, char out[51])
{
    snprintf(out, 51, "\"%.47s\"", etag);
}

/* ---- store outcomes ---- */

void s3__reply_store_error(struct s3_request *r, int err, const char *what)
{
    enum s3_err e = s3_err_from_gz(err);
    if (e == S3_ERR_INTERNAL_ERROR || e == S3_ERR_SERVICE_UNAVAILABLE)
        log_error("request %s: %s: %s", r->info->request_id, what, gz_strerror(err));
    s3_reply_error(r, e, NULL);
}

static void hop_run(struct http_req *req, void *arg)
{
    struct s3__hop *h = arg;
    (void)req;
    h->fn(h->r, h->status, h->ud);
}

void s3__hop_done(void *ud, int status)
{
    struct s3__hop *h = ud;
    h->status = status;
    int rc = http_req_post(h->r->req, hop_run, h);
    if (rc < 0) /* only while the server is being torn down; nothing left to answer */
        log_error("request %s: cannot resume after store operation: %s", h->r->info->request_id,
                  gz_strerror(rc));
}

/*
 * protocol_error.c - S3 error bodies for the errors the HTTP core raises before any S3
 * handler runs (bad framing, header timeout, oversized header blocks), so clients parse
 * them like every other S3 error.
 */
#include "s3.h"

void s3_protocol_error(int status, const char *message, const char *request_id,
                       struct gz_buf *body, const char **content_type, void *app)
{
    const char *code;
    switch (status) {
    case 408: code = "RequestTimeout"; break;
    case 411: code = "MissingContentLength"; break;
    case 413: code = "EntityTooLarge"; break;
    case 414: code = "RequestURITooLong"; break;
    case 431: code = "RequestHeaderSectionTooLarge"; break;
    case 501: code = "NotImplemented"; break;
    case 503: code = "SlowDown"; break;
    case 505: code = "HttpVersionNotSupported"; break;
    default: code = status >= 500 ? "InternalError" : "BadRequest"; break;
    }
    gz_buf_append_cstr(body, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>");
    gz_buf_append_cstr(body, code);
    gz_buf_append_cstr(body, "</Code><Message>");
    gz_buf_append_xml(body, gz_slice_cstr(message));
    gz_buf_append_cstr(body, "</Message><RequestId>");
    gz_buf_append_xml(body, gz_slice_cstr(request_id));
    gz_buf_append_cstr(body, "</RequestId></Error>");
    *content_type = "application/xml";
}

/*
 * source.c - the S3 client used by the engine (libcurl easy handles, one per worker thread,
 * signed with CURLOPT_AWS_SIGV4) and the source listing (ListObjectsV2, falling back to
 * ListObjects v1 with markers), streamed through expat so a page is never held whole.
 *
 * libcurl 7.88 neither adds x-amz-content-sha256 nor sorts the query string: every request
 * carries the body hash and queries are built already sorted and encoded.
 */
#include <ctype.h>
#include <errno.h>
#include <expat.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "migrate_int.h"

#define EMPTY_SHA256 "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

static bool host_is_ip_or_local(const char *host)
{
    if (strncmp(host, "localhost", 9) == 0 || host[0] == '[')
        return true;
    for (const char *p = host; *p && *p != ':'; p++)
        if (!isdigit((unsigned char)*p) && *p != '.')
            return false;
    return true;
}

int mig_client_init(struct mig_client *c, const struct gz_mig_endpoint *ep, const char *who,
                    char *err, size_t errsz)
{
    memset(c, 0, sizeof(*c));
    c->who = who;
    const char *u = ep->endpoint ? ep->endpoint : "";
    char derived[sizeof(c->base)], why[256];
    if (*u == '\0' && ep->provider != GZ_MIG_GENERIC) { /* from the preset and the region */
        if (gz_migrate_preset_endpoint(gz_migrate_preset_get(ep->provider), ep->region,
                                       derived, sizeof(derived), why, sizeof(why)) != 0) {
            snprintf(err, errsz, "%s: %s", who, why);
            return -EINVAL;
        }
        u = derived;
    }
    const char *sep = strstr(u, "://");
    if (!sep || (size_t)(sep - u) >= sizeof(c->scheme) || !sep[3]) {
        snprintf(err, errsz, "%s endpoint '%s' is not a URL (http://HOST[:PORT])", who, u);
        return -EINVAL;
    }
    memcpy(c->scheme, u, (size_t)(sep - u));
    size_t hl = strcspn(sep + 3, "/");
    if (hl == 0 || hl >= sizeof(c->host)) {
        snprintf(err, errsz, "%s endpoint '%s' has no host", who, u);
        return -EINVAL;
    }
    memcpy(c->host, sep + 3, hl);
    if (!ep->bucket || !*ep->bucket || strlen(ep->bucket) >= sizeof(c->bucket) ||
        !ep->access_key || !*ep->access_key || !ep->secret_key || !*ep->secret_key ||
        strlen(ep->access_key) >= sizeof(c->access) ||
        strlen(ep->secret_key) >= sizeof(c->secret)) {
        snprintf(err, errsz, "%s: bucket, access key and secret key are required", who);
        return -EINVAL;
    }
    snprintf(c->bucket, sizeof(c->bucket), "%s", ep->bucket);
    snprintf(c->access, sizeof(c->access), "%s", ep->access_key);
    snprintf(c->secret, sizeof(c->secret), "%s", ep->secret_key);
    snprintf(c->sigv4, sizeof(c->sigv4), "aws:amz:%.64s:s3",
             ep->region && *ep->region ? ep->region : "us-east-1");
    c->preset = gz_migrate_preset_get(ep->provider);
    c->path_style = !c->preset->virtual_hosted || host_is_ip_or_local(c->host);
    snprintf(c->base, sizeof(c->base), "%s://%s", c->scheme, c->host);
    return 0;
}

/* ---- responses ---- */

void mig_resp_init(struct mig_resp *r, size_t body_max)
{
    memset(r, 0, sizeof(*r));
    gz_buf_init(&r->headers, 64 * 1024);
    gz_buf_init(&r->body, body_max);
}

void mig_resp_reset(struct mig_resp *r)
{
    r->status = 0;
    r->curl = CURLE_OK;
    r->curl_err[0] = r->code[0] = r->message[0] = '\0';
    gz_buf_reset(&r->headers);
    gz_buf_reset(&r->body);
}

void mig_resp_free(struct mig_resp *r)
{
    gz_buf_free(&r->headers);
    gz_buf_free(&r->body);
}

bool mig_resp_header(const struct mig_resp *r, const char *name, char *out, size_t outsz)
{
    size_t nl = strlen(name);
    const char *p = r->headers.ptr, *end = p ? p + r->headers.len : NULL;
    while (p && p < end) {
        const char *eol = memchr(p, '\n', (size_t)(end - p));
        const char *le = eol ? eol : end;
        if ((size_t)(le - p) > nl && p[nl] == ':' && strncasecmp(p, name, nl) == 0) {
            const char *v = p + nl + 1;
            while (v < le && (*v == ' ' || *v == '\t'))
                v++;
            const char *ve = le;
            while (ve > v && (ve[-1] == '\r' || ve[-1] == ' '))
                ve--;
            size_t n = (size_t)(ve - v) < outsz - 1 ? (size_t)(ve - v) : outsz - 1;
            memcpy(out, v, n);
            out[n] = '\0';
            return true;
        }
        p = le + 1;
    }
    return false;
}

static size_t on_header(char *p, size_t sz, size_t n, void *arg)
{
    struct mig_resp *r = arg;
    if (n >= 5 && strncmp(p, "HTTP/", 5) == 0)
        gz_buf_reset(&r->headers); /* a new response (after 100 Continue or a redirect) */
    gz_buf_append(&r->headers, p, sz * n); /* overlong header blocks are truncated */
    return sz * n;
}

static size_t on_body(char *p, size_t sz, size_t n, void *arg)
{
    struct mig_resp *r = arg;
    if (r->throttle && !mig_throttle_take(r->throttle, sz * n))
        return 0; /* stopping: CURLE_WRITE_ERROR, the copy sees the stop (copy.c) */
    return gz_buf_append(&r->body, p, sz * n) == 0 ? sz * n : 0;
}

void mig_uri_encode(struct gz_buf *b, const char *s, bool keep_slash)
{
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (isalnum(*p) || *p == '-' || *p == '_' || *p == '.' || *p == '~' ||
            (keep_slash && *p == '/'))
            gz_buf_append(b, p, 1);
        else
            gz_buf_appendf(b, "%%%02X", *p);
    }
}

void mig_query_add(struct gz_buf *q, const char *name, const char *value)
{
    if (!value)
        return;
    if (q->len)
        gz_buf_append(q, "&", 1);
    mig_uri_encode(q, name, false);
    gz_buf_append(q, "=", 1);
    mig_uri_encode(q, value, false);
}

static void build_url(const struct mig_client *c, const struct mig_req *rq, struct gz_buf *u)
{
    if (c->path_style)
        gz_buf_appendf(u, "%s/%s", c->base, c->bucket);
    else
        gz_buf_appendf(u, "%s://%s.%s", c->scheme, c->bucket, c->host);
    gz_buf_append(u, "/", 1);
    if (rq->key)
        mig_uri_encode(u, rq->key, true);
    if (rq->query && *rq->query)
        gz_buf_appendf(u, "?%s", rq->query);
    gz_buf_terminate(u);
}

/* A body whose Content-MD5 the destination checks needs no payload signature as well: the
 * SHA-256 would be one more pass over every byte on both sides (S3 accepts UNSIGNED-PAYLOAD
 * with header signatures). */
static bool has_content_md5(const struct curl_slist *h)
{
    for (; h; h = h->next)
        if (strncasecmp(h->data, "Content-MD5:", 12) == 0)
            return true;
    return false;
}

/* The headers curl signs. No "Expect:" line: curl 7.88 signs a header it then removes (a
 * signature radosgw rightly refuses); the 100-continue wait is switched off instead. */
static struct curl_slist *req_headers(const struct mig_req *rq)
{
    char line[96];
    if (rq->body && rq->body_len && has_content_md5(rq->headers)) {
        snprintf(line, sizeof(line), "x-amz-content-sha256: UNSIGNED-PAYLOAD");
    } else if (rq->body && rq->body_len) {
        uint8_t d[32];
        char hex[65];
        gz_sha256(rq->body, rq->body_len, d);
        gz_hex_encode(hex, d, 32);
        snprintf(line, sizeof(line), "x-amz-content-sha256: %s", hex);
    } else {
        snprintf(line, sizeof(line), "x-amz-content-sha256: %s", EMPTY_SHA256);
    }
    struct curl_slist *h = curl_slist_append(NULL, line);
    for (struct curl_slist *e = rq->headers; e; e = e->next)
        h = curl_slist_append(h, e->data);
    return h;
}

static void parse_error_body(struct mig_resp *r);

/* A request that moves no byte for this long is abandoned (and retried): 60 s, or
 * GZY_MIGRATE_STALL_SECONDS (1..3600; the fault tests shorten it). */
static long stall_seconds(void)
{
    const char *v = getenv("GZY_MIGRATE_STALL_SECONDS");
    long n = v ? strtol(v, NULL, 10) : 0;
    return n >= 1 && n <= 3600 ? n : 60L;
}

/* Options that never change between the requests of one client, set when a handle first
 * serves it (CURLOPT_PRIVATE remembers which client: a handle serving a client set up
 * elsewhere, or another one, is reset first). */
static void handle_bind(const struct mig_client *c, CURL *h)
{
    char *was = NULL;
    if (curl_easy_getinfo(h, CURLINFO_PRIVATE, &was) == CURLE_OK && was == (const char *)c)
        return;
    curl_easy_reset(h);
    if (getenv("GZY_CA_BUNDLE") != NULL) /* a private CA for https endpoints */
        curl_easy_setopt(h, CURLOPT_CAINFO, getenv("GZY_CA_BUNDLE"));
    curl_easy_setopt(h, CURLOPT_PATH_AS_IS, 1L);
    curl_easy_setopt(h, CURLOPT_AWS_SIGV4, c->sigv4);
    curl_easy_setopt(h, CURLOPT_USERNAME, c->access);
    curl_easy_setopt(h, CURLOPT_PASSWORD, c->secret);
    curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, 10L);
    curl_easy_setopt(h, CURLOPT_LOW_SPEED_LIMIT, 1L);
    curl_easy_setopt(h, CURLOPT_LOW_SPEED_TIME, stall_seconds());
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_USERAGENT, "gzy-migrate");
    curl_easy_setopt(h, CURLOPT_EXPECT_100_TIMEOUT_MS, 0L); /* send bodies at once */
    curl_easy_setopt(h, CURLOPT_PRIVATE, (void *)c);
}

/* The method and body of this request; every option a previous request may have changed
 * (HTTPGET also clears NOBODY and UPLOAD). */
static void handle_method(CURL *h, const struct mig_req *rq)
{
    curl_easy_setopt(h, CURLOPT_HTTPGET, 1L);
    curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, NULL);
    if (strcmp(rq->method, "HEAD") == 0) {
        curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
    } else if (rq->body || strcmp(rq->method, "POST") == 0) {
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, rq->body ? rq->body : "");
        curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)rq->body_len);
        curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, rq->method);
    } else if (strcmp(rq->method, "GET") != 0) {
        curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, rq->method);
    }
}

int mig_s3_once(const struct mig_client *c, CURL *h, const struct mig_req *rq,
                struct mig_resp *resp)
{
    struct gz_buf url;
    gz_buf_init(&url, 8192);
    build_url(c, rq, &url);
    struct curl_slist *hdrs = req_headers(rq);
    mig_resp_reset(resp);
    resp->throttle = c->throttle;
    handle_bind(c, h);
    curl_easy_setopt(h, CURLOPT_URL, url.ptr);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
    curl_easy_setopt(h, CURLOPT_HEADERDATA, resp);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, rq->sink ? rq->sink : on_body);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, rq->sink ? rq->sink_arg : (void *)resp);
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, resp->curl_err);
    handle_method(h, rq);
    resp->curl = curl_easy_perform(h);
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &resp->status);
    /* nothing of this request's may be used after it returns: the handle is left as a
     * fresh one would be for these */
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, NULL);
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, NULL);
    if (rq->body || strcmp(rq->method, "POST") == 0) {
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, NULL);
        curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)-1);
        curl_easy_setopt(h, CURLOPT_HTTPGET, 1L);
    }
    curl_slist_free_all(hdrs);
    gz_buf_free(&url);
    if (resp->curl != CURLE_OK && !(rq->sink && resp->curl == CURLE_WRITE_ERROR))
        return -EIO;
    if (resp->status >= 300 && !rq->sink)
        parse_error_body(resp);
    return 0;
}

bool mig_resp_transient(const struct mig_resp *r)
{
    if (r->curl != CURLE_OK)
        return r->curl != CURLE_WRITE_ERROR && r->curl != CURLE_URL_MALFORMAT &&
               r->curl != CURLE_UNSUPPORTED_PROTOCOL;
    /* 501 Not Implemented is an answer, not a hiccup (a v1-only source's ListObjectsV2) */
    return (r->status >= 500 && r->status != 501) || r->status == 429 ||
           strcmp(r->code, "SlowDown") == 0 ||
           strcmp(r->code, "RequestTimeout") == 0;
}

int mig_s3_call(const struct mig_client *c, CURL *h, const struct mig_req *rq,
                struct mig_resp *resp, int max_attempts, int64_t *retries)
{
    int rc = 0;
    for (int attempt = 0; attempt < max_attempts; attempt++) {
        if (attempt > 0) {
            if (retries)
                (*retries)++;
            useconds_t us = (useconds_t)(100000u << (attempt - 1));
            usleep(us + (useconds_t)(gz_monotonic_ns() % 50000));
        }
        rc = mig_s3_once(c, h, rq, resp);
        if (!mig_resp_transient(resp))
            return rc;
    }
    return rc;
}

void mig_resp_describe(const struct mig_resp *r, char *err, size_t errsz)
{
    if (r->curl != CURLE_OK)
        snprintf(err, errsz, "%s", r->curl_err[0] ? r->curl_err : curl_easy_strerror(r->curl));
    else if (r->code[0])
        snprintf(err, errsz, "HTTP %ld %s: %s", r->status, r->code, r->message);
    else
        snprintf(err, errsz, "HTTP %ld", r->status);
}

void mig_etag_strip(const char *in, char *out, size_t outsz)
{
    size_t n = strlen(in);
    if (n >= 2 && in[0] == '"' && in[n - 1] == '"') {
        in++;
        n -= 2;
    }
    if (n >= outsz)
        n = outsz - 1;
    memcpy(out, in, n);
    out[n] = '\0';
}

/* ---- XML: error bodies and listing pages (expat) ---- */

struct xml_state {
    XML_Parser p;
    struct gz_buf text;
    struct mig_entry e;
    bool in_contents, truncated;
    char *next_token, *next_marker, *last_key;
    char code[64], message[256];
    mig_entry_fn *fn;
    void *arg;
    int rc;
    int64_t count;
};

static void xml_start(void *ud, const XML_Char *name, const XML_Char **attrs)
{
    struct xml_state *s = ud;
    gz_buf_reset(&s->text);
    if (strcmp(name, "Contents") == 0) {
        s->in_contents = true;
        memset(&s->e, 0, sizeof(s->e));
    }
}

static void xml_chars(void *ud, const XML_Char *t, int len)
{
    struct xml_state *s = ud;
    gz_buf_append(&s->text, t, (size_t)len);
}

static int64_t parse_iso(const char *t)
{
    struct tm tm = {0};
    if (sscanf(t, "%d-%d-%dT%d:%d:%d", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &tm.tm_hour,
               &tm.tm_min, &tm.tm_sec) != 6)
        return 0;
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    return (int64_t)timegm(&tm);
}

static void xml_set(char **dst, const char *v)
{
    gz_free(*dst);
    *dst = gz_strdup(v);
}

static void xml_end_contents(struct xml_state *s, const char *name, const char *v)
{
    if (strcmp(name, "Key") == 0) {
        xml_set(&s->e.key, v);
    } else if (strcmp(name, "Size") == 0) {
        s->e.size = strtoll(v, NULL, 10);
    } else if (strcmp(name, "ETag") == 0) {
        mig_etag_strip(v, s->e.etag, sizeof(s->e.etag));
    } else if (strcmp(name, "LastModified") == 0) {
        s->e.mtime = parse_iso(v);
    } else if (strcmp(name, "StorageClass") == 0) {
        snprintf(s->e.storage_class, sizeof(s->e.storage_class), "%s", v);
    } else if (strcmp(name, "Contents") == 0) {
        s->in_contents = false;
        if (s->e.key && s->rc == 0) {
            s->rc = s->fn(s->arg, &s->e);
            s->count++;
            xml_set(&s->last_key, s->e.key);
        }
        gz_free(s->e.key);
        s->e.key = NULL;
        if (s->rc)
            XML_StopParser(s->p, XML_FALSE);
    }
}

static void xml_end(void *ud, const XML_Char *name)
{
    struct xml_state *s = ud;
    gz_buf_terminate(&s->text);
    const char *v = s->text.ptr ? s->text.ptr : "";
    if (s->in_contents)
        xml_end_contents(s, name, v);
    else if (strcmp(name, "IsTruncated") == 0)
        s->truncated = strcmp(v, "true") == 0;
    else if (strcmp(name, "NextContinuationToken") == 0)
        xml_set(&s->next_token, v);
    else if (strcmp(name, "NextMarker") == 0)
        xml_set(&s->next_marker, v);
    else if (strcmp(name, "Code") == 0)
        snprintf(s->code, sizeof(s->code), "%s", v);
    else if (strcmp(name, "Message") == 0)
        snprintf(s->message, sizeof(s->message), "%s", v);
    gz_buf_reset(&s->text);
}

static void xml_init(struct xml_state *s, mig_entry_fn *fn, void *arg)
{
    memset(s, 0, sizeof(*s));
    s->p = XML_ParserCreate("UTF-8");
    gz_buf_init(&s->text, 64 * 1024);
    XML_SetUserData(s->p, s);
    XML_SetElementHandler(s->p, xml_start, xml_end);
    XML_SetCharacterDataHandler(s->p, xml_chars);
    s->fn = fn;
    s->arg = arg;
}

static void xml_free_page(struct xml_state *s)
{
    if (s->p)
        XML_ParserFree(s->p);
    s->p = NULL;
    gz_buf_free(&s->text);
    gz_free(s->e.key);
    gz_free(s->next_token);
    gz_free(s->next_marker);
    s->e.key = s->next_token = s->next_marker = NULL;
}

static void parse_error_body(struct mig_resp *r)
{
    struct xml_state s;
    xml_init(&s, NULL, NULL);
    if (r->body.len)
        XML_Parse(s.p, r->body.ptr, (int)r->body.len, XML_TRUE);
    snprintf(r->code, sizeof(r->code), "%s", s.code);
    snprintf(r->message, sizeof(r->message), "%s", s.message);
    xml_free_page(&s);
    gz_free(s.last_key);
}

struct page_sink {
    struct xml_state *xs;
    struct mig_resp *resp;
};

static size_t on_page(char *p, size_t sz, size_t n, void *arg)
{
    struct page_sink *ps = arg;
    long status = 0;
    /* error bodies are buffered for the message; pages stream into expat */
    const char *sp = ps->resp->headers.len ? memchr(ps->resp->headers.ptr, ' ',
                                                    ps->resp->headers.len) : NULL;
    if (sp)
        status = strtol(sp + 1, NULL, 10);
    if (status >= 300)
        return gz_buf_append(&ps->resp->body, p, sz * n) == 0 ? sz * n : 0;
    if (XML_Parse(ps->xs->p, p, (int)(sz * n), XML_FALSE) != XML_STATUS_OK)
        return 0;
    return sz * n;
}

/* One listing page; v2 uses the continuation token, v1 the marker. */
static int list_page(const struct mig_client *c, CURL *h, const char *prefix, bool v2,
                     const char *token, struct xml_state *xs, struct mig_resp *resp,
                     int64_t *retries)
{
    struct gz_buf q;
    gz_buf_init(&q, 16384);
    if (v2) {
        mig_query_add(&q, "continuation-token", token);
        mig_query_add(&q, "list-type", "2");
    } else {
        mig_query_add(&q, "marker", token);
    }
    mig_query_add(&q, "max-keys", "1000");
    mig_query_add(&q, "prefix", prefix && *prefix ? prefix : NULL);
    gz_buf_terminate(&q);
    struct page_sink ps = {.xs = xs, .resp = resp};
    struct mig_req rq = {.method = "GET", .query = q.ptr, .sink = on_page, .sink_arg = &ps};
    int rc = 0;
    for (int attempt = 0; attempt < MIG_MAX_ATTEMPTS; attempt++) {
        if (attempt > 0) {
            (*retries)++;
            usleep((useconds_t)(100000u << (attempt - 1)));
        }
        XML_ParserReset(xs->p, "UTF-8");
        XML_SetUserData(xs->p, xs);
        XML_SetElementHandler(xs->p, xml_start, xml_end);
        XML_SetCharacterDataHandler(xs->p, xml_chars);
        rc = mig_s3_once(c, h, &rq, resp);
        if (rc == 0 && resp->status >= 300)
            parse_error_body(resp);
        if (xs->count > 0 || !mig_resp_transient(resp))
            break; /* entries already went to the journal: no blind retry of a half page */
    }
    if (rc == 0 && resp->status < 300 && XML_Parse(xs->p, "", 0, XML_TRUE) != XML_STATUS_OK &&
        xs->rc == 0)
        rc = -EBADMSG;
    gz_buf_free(&q);
    return rc;
}

int mig_list(const struct mig_client *c, CURL *h, const char *prefix, mig_entry_fn *fn,
             void *arg, int64_t *retries, char *err, size_t errsz)
{
    struct mig_resp resp;
    mig_resp_init(&resp, 64 * 1024);
    bool v2 = c->preset->provider != GZ_MIG_HUAWEI_OBS; /* OBS: v1 only */
    char *token = NULL, *last_key = NULL;
    int rc = 0;
    for (;;) {
        struct xml_state xs;
        xml_init(&xs, fn, arg);
        xs.last_key = last_key;
        rc = list_page(c, h, prefix, v2, token, &xs, &resp, retries);
        last_key = xs.last_key;
        if (rc == 0 && resp.status >= 300 && v2 && !token &&
            (resp.status == 501 || strcmp(resp.code, "NotImplemented") == 0 ||
             strcmp(resp.code, "InvalidArgument") == 0)) {
            v2 = false; /* ListObjects v1 fallback */
            xml_free_page(&xs);
            continue;
        }
        if (rc == -EIO || (rc == 0 && resp.status >= 300)) {
            char why[400];
            mig_resp_describe(&resp, why, sizeof(why));
            if (rc == 0 && resp.status == 404 && !resp.code[0]) /* not an S3 answer */
                snprintf(why, sizeof(why), "HTTP 404 with no S3 error body: is --%s-endpoint "
                         "an S3 endpoint and --%s-bucket right?",
                         strcmp(c->who, "source") == 0 ? "source" : "dest",
                         strcmp(c->who, "source") == 0 ? "source" : "dest");
            snprintf(err, errsz, "%s %s (bucket %s): %s", c->who, c->base, c->bucket, why);
            xml_free_page(&xs);
            rc = rc ? rc : (resp.status == 403 ? -EACCES : resp.status == 404 ? -ENOENT : -EIO);
            break;
        }
        if (rc == 0 && xs.rc)
            rc = xs.rc;
        if (rc) {
            snprintf(err, errsz, "%s listing failed: %s", c->who, gz_strerror(rc));
            xml_free_page(&xs);
            break;
        }
        bool more = xs.truncated;
        gz_free(token);
        token = NULL;
        if (more && v2 && xs.next_token) {
            token = gz_strdup(xs.next_token);
        } else if (more) {
            v2 = false; /* no token: continue with markers (v1, or a v2 that ignored list-type) */
            token = gz_strdup(xs.next_marker ? xs.next_marker : last_key ? last_key : "");
        }
        xml_free_page(&xs);
        if (!more)
            break;
    }
    gz_free(token);
    gz_free(last_key);
    mig_resp_free(&resp);
    return rc;
}

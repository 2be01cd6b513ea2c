/*
 * test_s3.c - the S3 request core's pure parts: Range parsing, request XML (including DTD
 * bombs, external entities and depth), path and query decoding, addressing, bucket and key
 * rules, conditional-request evaluation, the error document, and the tenancy pieces that
 * need no server: IAM action names, ACL documents and the object ACL header.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "../../src/s3/s3_obj_int.h"
#include "tap.h"

/* ---- a tracked allocator standing in for the request arena ---- */

struct blk {
    struct blk *next;
    max_align_t data[];
};
static struct blk *arena;

static void *test_alloc(void *ud, size_t n)
{
    (void)ud;
    struct blk *b = gz_malloc(sizeof(*b) + n);
    b->next = arena;
    arena = b;
    return b->data;
}

static void arena_free(void)
{
    while (arena) {
        struct blk *n = arena->next;
        gz_free(arena);
        arena = n;
    }
}

/* ---- Range ---- */

static int range(const char *h, int64_t size, int64_t *s, int64_t *l)
{
    *s = *l = -1;
    return (int)s3__range_parse(gz_slice_cstr(h), size, s, l);
}

static void t_range_forms(void)
{
    int64_t s, l;
    TAP_OK(range("bytes=0-9", 100, &s, &l) == S3_RANGE_OK && s == 0 && l == 10, "a-b");
    TAP_OK(range("bytes=10-", 100, &s, &l) == S3_RANGE_OK && s == 10 && l == 90, "a-");
    TAP_OK(range("bytes=-10", 100, &s, &l) == S3_RANGE_OK && s == 90 && l == 10, "-n");
    TAP_OK(range("bytes=-1000", 100, &s, &l) == S3_RANGE_OK && s == 0 && l == 100,
           "-n larger than the object is the whole object");
    TAP_OK(range("bytes=90-1000", 100, &s, &l) == S3_RANGE_OK && s == 90 && l == 10,
           "end clamped to size-1");
    TAP_OK(range("bytes=99-99", 100, &s, &l) == S3_RANGE_OK && s == 99 && l == 1, "last byte");
    TAP_OK(range("bytes=0-99999999999999999999999", 100, &s, &l) == S3_RANGE_OK && l == 100,
           "overflowing end clamps");
    TAP_OK(range("Bytes = 1-2", 100, &s, &l) == S3_RANGE_OK && s == 1 && l == 2,
           "unit case and spaces");
}

static void t_range_unsatisfiable(void)
{
    int64_t s, l;
    TAP_OK(range("bytes=100-", 100, &s, &l) == S3_RANGE_UNSATISFIABLE, "start == size");
    TAP_OK(range("bytes=200-300", 100, &s, &l) == S3_RANGE_UNSATISFIABLE, "start > size");
    TAP_OK(range("bytes=-0", 100, &s, &l) == S3_RANGE_UNSATISFIABLE, "-0");
    TAP_OK(range("bytes=0-", 0, &s, &l) == S3_RANGE_UNSATISFIABLE, "empty object 0-");
    TAP_OK(range("bytes=-5", 0, &s, &l) == S3_RANGE_UNSATISFIABLE, "empty object -n");
    TAP_OK(range("bytes=99999999999999999999999-", 10, &s, &l) == S3_RANGE_UNSATISFIABLE,
           "overflowing start");
}

static void t_range_ignored(void)
{
    int64_t s, l;
    const char *bad[] = {"",
                         "bytes",
                         "bytes=",
                         "bytes=-",
                         "bytes=a-b",
                         "bytes=5-3",
                         "bytes=0-1,3-4",
                         "items=0-1",
                         "bytes=1-2-3",
                         "bytes=+1-2",
                         "bytes=0x1-2",
                         "bytes=1 2-3"};
    for (size_t i = 0; i < GZ_ARRAY_LEN(bad); i++)
        TAP_OK(range(bad[i], 100, &s, &l) == S3_RANGE_NONE, "'%s' ignored", bad[i]);
}

/* ---- XML ---- */

static enum s3_err xml(const char *doc, struct s3_xml_node **root)
{
    return s3__xml_parse_with(gz_slice_cstr(doc), test_alloc, NULL, root);
}

static void t_xml_tree(void)
{
    struct s3_xml_node *root = NULL;
    const char *doc = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
                      "<Delete xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">\n"
                      "  <Quiet> true </Quiet>\n"
                      "  <Object><Key> a &amp; b </Key></Object>\n"
                      "  <s3:Object xmlns:s3=\"x\"><Key>c&#x263A;<![CDATA[<d>]]></Key>"
                      "<VersionId/></s3:Object>\n"
                      "  <!-- comment --><?pi data?>\n"
                      "</Delete>";
    TAP_OK(xml(doc, &root) == S3_OK && root != NULL, "parses");
    TAP_OK(root && gz_slice_eq_cstr(root->name, "Delete"), "root name");
    struct s3_xml_node *q = s3_xml_child(root, "Quiet");
    TAP_OK(q && gz_slice_eq_cstr(q->text, "true"), "text trimmed");
    struct s3_xml_node *o = s3_xml_child(root, "Object");
    struct s3_xml_node *k = s3_xml_child(o, "Key");
    TAP_OK(k && gz_slice_eq_cstr(k->text, "a & b"), "entity decoded, trimmed");
    TAP_OK(k && gz_slice_eq_cstr(s3__xml_raw_text(k), " a & b "), "raw text keeps spaces");
    struct s3_xml_node *o2 = o ? o->next : NULL;
    TAP_OK(o2 && gz_slice_eq_cstr(o2->name, "Object"), "namespace prefix stripped, order kept");
    k = s3_xml_child(o2, "Key");
    TAP_OK(k && gz_slice_eq_cstr(k->text, "c\xe2\x98\xba<d>"), "char ref and CDATA");
    TAP_OK(s3_xml_child(o2, "VersionId") && s3_xml_child(o2, "VersionId")->text.len == 0,
           "empty element");
    TAP_OK(s3_xml_child(root, "Missing") == NULL && s3_xml_child(NULL, "x") == NULL,
           "missing child is NULL");
    arena_free();
}

static void t_xml_rejects(void)
{
    struct s3_xml_node *root;
    const char *bad[] = {
        "",
        "   ",
        "<a>",
        "<a></b>",
        "<a/><b/>",
        "not xml",
        "<a>&unknown;</a>",
        "<a>&#0;</a>",
        /* billion laughs */
        "<?xml version=\"1.0\"?><!DOCTYPE lolz [<!ENTITY lol \"lol\">"
        "<!ENTITY lol2 \"&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;\">"
        "<!ENTITY lol3 \"&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;\">]>"
        "<lolz>&lol3;</lolz>",
        /* XXE */
        "<!DOCTYPE a [<!ENTITY x SYSTEM \"file:///etc/passwd\">]><a>&x;</a>",
        "<!DOCTYPE a SYSTEM \"http://example.com/a.dtd\"><a/>",
        "<!DOCTYPE a><a/>",
        /* parameter entities */
        "<!DOCTYPE a [<!ENTITY % p SYSTEM \"http://example.com/x\"> %p;]><a/>",
    };
    for (size_t i = 0; i < GZ_ARRAY_LEN(bad); i++) {
        root = (struct s3_xml_node *)1;
        TAP_OK(xml(bad[i], &root) == S3_ERR_MALFORMED_XML && root == NULL, "rejects #%zu", i);
    }
    arena_free();
}

static void t_xml_depth(void)
{
    char doc[1024];
    struct s3_xml_node *root;
    for (int depth = S3_MAX_XML_DEPTH; depth <= S3_MAX_XML_DEPTH + 1; depth++) {
        size_t o = 0;
        for (int i = 0; i < depth; i++)
            o += (size_t)snprintf(doc + o, sizeof(doc) - o, "<e%d>", i);
        for (int i = depth - 1; i >= 0; i--)
            o += (size_t)snprintf(doc + o, sizeof(doc) - o, "</e%d>", i);
        enum s3_err e = xml(doc, &root);
        if (depth <= S3_MAX_XML_DEPTH)
            TAP_OK(e == S3_OK, "depth %d accepted", depth);
        else
            TAP_OK(e == S3_ERR_MALFORMED_XML, "depth %d rejected", depth);
    }
    arena_free();
}

static void t_xml_many_nodes(void)
{
    struct gz_buf b;
    struct s3_xml_node *root;
    gz_buf_init(&b, 4 * 1024 * 1024);
    gz_buf_append_cstr(&b, "<r>");
    for (int i = 0; i < 200000; i++)
        gz_buf_append_cstr(&b, "<a/>");
    gz_buf_append_cstr(&b, "</r>");
    TAP_OK(s3__xml_parse_with(gz_buf_slice(&b), test_alloc, NULL, &root) == S3_ERR_MALFORMED_XML,
           "element count is capped");
    gz_buf_free(&b);
    arena_free();
}

/* ---- decoding and addressing ---- */

static void t_pct_decode(void)
{
    char out[64];
    size_t n = 0;
    TAP_OK(s3__uri_decode(gz_slice_cstr("a%20b%2Fc%e2%98%BA+d"), false, out, &n) == 0 && n == 10 &&
               memcmp(out, "a b/c\xe2\x98\xba+d", n) == 0,
           "path: escapes decoded, '+' literal");
    TAP_OK(s3__uri_decode(gz_slice_cstr("a+b"), true, out, &n) == 0 && n == 3 &&
               memcmp(out, "a b", 3) == 0,
           "query: '+' is a space");
    const char *bad[] = {"%", "%2", "a%zz", "%g0", "abc%"};
    for (size_t i = 0; i < GZ_ARRAY_LEN(bad); i++)
        TAP_OK(s3__uri_decode(gz_slice_cstr(bad[i]), false, out, &n) == -EINVAL,
               "'%s' is malformed", bad[i]);
}

static void t_query_parse(void)
{
    struct s3_param *p = NULL;
    size_t n = 0;
    int rc = s3__query_parse(gz_slice_cstr("uploads&prefix=a%2Fb+c&&max-keys=&x=1=2"), test_alloc,
                             NULL, &p, &n);
    TAP_OK(rc == 0 && n == 4, "four parameters (rc %d, n %zu)", rc, n);
    if (rc == 0 && n == 4) {
        TAP_OK(gz_slice_eq_cstr(p[0].name, "uploads") && !p[0].has_value, "flag has no value");
        TAP_OK(gz_slice_eq_cstr(p[1].name, "prefix") && gz_slice_eq_cstr(p[1].value, "a/b c"),
               "value decoded");
        TAP_OK(gz_slice_eq_cstr(p[2].name, "max-keys") && p[2].has_value && p[2].value.len == 0,
               "empty value");
        TAP_OK(gz_slice_eq_cstr(p[3].value, "1=2"), "value keeps later '='");
    }
    TAP_OK(s3__query_parse(GZ_SLICE_NULL, test_alloc, NULL, &p, &n) == 0 && n == 0, "empty query");
    TAP_OK(s3__query_parse(gz_slice_cstr("a=%zz"), test_alloc, NULL, &p, &n) == -EINVAL,
           "bad escape rejected");
    arena_free();
}

static void t_vhost(void)
{
    struct gz_slice b = GZ_SLICE_NULL;
    TAP_OK(s3__vhost_bucket(gz_slice_cstr("my.bucket.s3.example.com"), "s3.example.com", &b) &&
               gz_slice_eq_cstr(b, "my.bucket"),
           "bucket with dots");
    TAP_OK(s3__vhost_bucket(gz_slice_cstr("bkt.S3.Example.com:9000"), "s3.example.com", &b) &&
               gz_slice_eq_cstr(b, "bkt"),
           "port stripped, domain case-insensitive");
    TAP_OK(!s3__vhost_bucket(gz_slice_cstr("s3.example.com"), "s3.example.com", &b),
           "bare domain is path-style");
    TAP_OK(!s3__vhost_bucket(gz_slice_cstr("bkts3.example.com"), "s3.example.com", &b),
           "needs a dot before the domain");
    TAP_OK(!s3__vhost_bucket(gz_slice_cstr("127.0.0.1:9000"), "s3.example.com", &b), "IP");
    TAP_OK(!s3__vhost_bucket(gz_slice_cstr("b.s3.example.com"), "", &b), "no domain");
    TAP_OK(!s3__vhost_bucket(gz_slice_cstr("[::1]:9000"), "s3.example.com", &b), "IPv6");
}

static void t_bucket_names(void)
{
    const char *good[] = {"abc",
                          "my-bucket",
                          "my.bucket.name",
                          "a1b",
                          "123",
                          "a-b.c-d",
                          "abcdefghijklmnopqrstuvwxyz0123456789abcdefghijklmnopqrstuvwxyz0"};
    const char *bad[] = {"ab",
                         "ABC",
                         "my_bucket",
                         "-abc",
                         "abc-",
                         ".abc",
                         "abc.",
                         "a..b",
                         "a.-b",
                         "a-.b",
                         "192.168.1.1",
                         "xn--abc",
                         "abc-s3alias",
                         "a b",
                         "abcdefghijklmnopqrstuvwxyz0123456789abcdefghijklmnopqrstuvwxyz01",
                         ""};
    for (size_t i = 0; i < GZ_ARRAY_LEN(good); i++)
        TAP_OK(s3__bucket_name_valid(gz_slice_cstr(good[i])), "'%s' valid", good[i]);
    for (size_t i = 0; i < GZ_ARRAY_LEN(bad); i++)
        TAP_OK(!s3__bucket_name_valid(gz_slice_cstr(bad[i])), "'%s' invalid", bad[i]);
}

static void t_key_check(void)
{
    char msg[128], big[S3_MAX_KEY_BYTES + 2];
    memset(big, 'k', sizeof(big));
    TAP_OK(s3__key_check(gz_slice(big, S3_MAX_KEY_BYTES), msg, sizeof(msg)) == S3_OK,
           "1024 bytes ok");
    TAP_OK(s3__key_check(gz_slice(big, S3_MAX_KEY_BYTES + 1), msg, sizeof(msg)) ==
               S3_ERR_KEY_TOO_LONG,
           "1025 bytes too long");
    TAP_OK(s3__key_check(gz_slice("a\0b", 3), msg, sizeof(msg)) == S3_ERR_INVALID_ARGUMENT,
           "NUL rejected");
    TAP_OK(s3__key_check(gz_slice_cstr("a\xff"), msg, sizeof(msg)) == S3_ERR_INVALID_ARGUMENT,
           "invalid UTF-8 rejected");
    TAP_OK(s3__key_check(gz_slice_cstr("dir/\xe6\x96\x87\xe4\xbb\xb6 name.txt"), msg,
                         sizeof(msg)) == S3_OK,
           "UTF-8 with slashes and spaces ok");
}

/* ---- conditional requests ---- */

static void t_etag_match(void)
{
    const char *e = "0123456789abcdef0123456789abcdef";
    TAP_OK(s3__etag_list_match(gz_slice_cstr("\"0123456789abcdef0123456789abcdef\""), e, false),
           "quoted");
    TAP_OK(s3__etag_list_match(gz_slice_cstr("0123456789abcdef0123456789abcdef"), e, false),
           "unquoted");
    TAP_OK(
        s3__etag_list_match(gz_slice_cstr("\"x\", \"0123456789abcdef0123456789abcdef\""), e, false),
        "list");
    TAP_OK(s3__etag_list_match(gz_slice_cstr("*"), e, false), "star");
    TAP_OK(!s3__etag_list_match(gz_slice_cstr("W/\"0123456789abcdef0123456789abcdef\""), e, false),
           "weak tag fails strong comparison");
    TAP_OK(s3__etag_list_match(gz_slice_cstr("W/\"0123456789abcdef0123456789abcdef\""), e, true),
           "weak tag passes weak comparison");
    TAP_OK(!s3__etag_list_match(gz_slice_cstr("\"other\""), e, false), "mismatch");
    TAP_OK(!s3__etag_list_match(gz_slice_cstr(""), e, false), "empty list");
}

static void t_cond_eval(void)
{
    const char *e = "abc";
    int64_t mt = 1700000000; /* Tue, 14 Nov 2023 22:13:20 GMT */
    const char *before = "Tue, 14 Nov 2023 22:00:00 GMT", *after = "Wed, 15 Nov 2023 00:00:00 GMT";
    struct s3__cond c;
#define COND(im, inm, ims, ius)                                                                    \
    (c = (struct s3__cond){gz_slice_cstr(im), gz_slice_cstr(inm), gz_slice_cstr(ims),              \
                           gz_slice_cstr(ius)},                                                    \
     s3__cond_eval(&c, e, mt))
    TAP_OK(COND(NULL, NULL, NULL, NULL) == S3_OK, "no conditions");
    TAP_OK(COND("\"abc\"", NULL, NULL, NULL) == S3_OK, "If-Match hit");
    TAP_OK(COND("\"x\"", NULL, NULL, NULL) == S3_ERR_PRECONDITION_FAILED, "If-Match miss");
    TAP_OK(COND(NULL, "\"abc\"", NULL, NULL) == S3_ERR_NOT_MODIFIED, "If-None-Match hit");
    TAP_OK(COND(NULL, "*", NULL, NULL) == S3_ERR_NOT_MODIFIED, "If-None-Match star");
    TAP_OK(COND(NULL, "\"x\"", NULL, NULL) == S3_OK, "If-None-Match miss");
    TAP_OK(COND(NULL, NULL, after, NULL) == S3_ERR_NOT_MODIFIED, "not modified since");
    TAP_OK(COND(NULL, NULL, before, NULL) == S3_OK, "modified since");
    TAP_OK(COND(NULL, NULL, NULL, before) == S3_ERR_PRECONDITION_FAILED, "modified, IUS");
    TAP_OK(COND(NULL, NULL, NULL, after) == S3_OK, "unmodified, IUS");
    TAP_OK(COND("\"abc\"", NULL, NULL, before) == S3_OK,
           "If-Match true wins over If-Unmodified-Since false (200)");
    TAP_OK(COND(NULL, "\"abc\"", before, NULL) == S3_ERR_NOT_MODIFIED,
           "If-None-Match false with If-Modified-Since true: 304");
    TAP_OK(COND(NULL, "\"x\"", after, NULL) == S3_OK,
           "If-None-Match true ignores If-Modified-Since");
    TAP_OK(COND("\"x\"", "\"abc\"", NULL, NULL) == S3_ERR_PRECONDITION_FAILED, "412 before 304");
    TAP_OK(COND(NULL, NULL, "garbage", "garbage") == S3_OK, "bad dates ignored");
#undef COND
}

/* ---- the error document ---- */

static void t_error_xml(void)
{
    struct gz_buf b;
    gz_buf_init(&b, 4096);
    int rc = s3__error_xml(&b, "NoSuchKey", "The specified key does not exist.",
                           gz_slice_cstr("bkt"), gz_slice_cstr("a<b>&\"c\""),
                           gz_slice_cstr("/bkt/a<b>&\"c\""), "0123456789abcdef");
    const char *want =
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>NoSuchKey</Code>"
        "<Message>The specified key does not exist.</Message><BucketName>bkt</BucketName>"
        "<Key>a&lt;b&gt;&amp;&quot;c&quot;</Key>"
        "<Resource>/bkt/a&lt;b&gt;&amp;&quot;c&quot;</Resource>"
        "<RequestId>0123456789abcdef</RequestId></Error>";
    TAP_OK(rc == 0 && gz_slice_eq_cstr(gz_buf_slice(&b), want), "error document exact");
    struct s3_xml_node *root;
    TAP_OK(s3__xml_parse_with(gz_buf_slice(&b), test_alloc, NULL, &root) == S3_OK &&
               gz_slice_eq_cstr(s3_xml_child(root, "Key")->text, "a<b>&\"c\""),
           "round-trips through the parser");
    gz_buf_reset(&b);
    rc = s3__error_xml(&b, "AccessDenied", "Access Denied", GZ_SLICE_NULL, GZ_SLICE_NULL,
                       gz_slice_cstr("/"), "1");
    TAP_OK(rc == 0 && strstr(b.ptr, "<BucketName>") == NULL && strstr(b.ptr, "<Key>") == NULL,
           "no bucket/key elements when empty");
    struct gz_buf small;
    gz_buf_init(&small, 16);
    TAP_OK(s3__error_xml(&small, "X", "Y", GZ_SLICE_NULL, GZ_SLICE_NULL, GZ_SLICE_NULL, "1") ==
               -E2BIG,
           "bounded");
    gz_buf_free(&small);
    gz_buf_free(&b);
    arena_free();
}

static void t_xml_writers(void)
{
    struct gz_buf x;
    gz_buf_init(&x, 4096);
    s3_xml_begin(&x, "R");
    s3_xml_elem(&x, "K", gz_slice_cstr("a&b"));
    s3_xml_elemf(&x, "N", "%d<%s", 5, "x");
    s3_xml_end(&x, "R");
    TAP_OK(x.max != 0 &&
               gz_slice_eq_cstr(gz_buf_slice(&x), "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
                                                  "<R xmlns=\"" S3_XMLNS "\"><K>a&amp;b</K>"
                                                  "<N>5&lt;x</N></R>"),
           "writers produce the exact document");
    gz_buf_free(&x);
    gz_buf_init(&x, 64);
    s3_xml_begin(&x, "R");
    s3_xml_elem(&x, "K", gz_slice_cstr("a long text that does not fit in the buffer at all"));
    s3_xml_end(&x, "R");
    TAP_OK(x.max == 0 && x.ptr == NULL, "overflow poisons the buffer");
    char q[51];
    s3_etag_quote("d41d8cd98f00b204e9800998ecf8427e-12", q);
    TAP_OK(strcmp(q, "\"d41d8cd98f00b204e9800998ecf8427e-12\"") == 0, "etag quoted");
}

/* ---- tenancy: IAM action names, ACL documents and headers ---- */

/* Classifies "METHOD /bucket/key?param" the way the router does. */
static const char *action_of(const char *method, const char *bucket, const char *key,
                             const char *param, bool *write)
{
    struct http_req_info info;
    struct s3_param p = {.name = gz_slice_cstr(param ? param : ""), .has_value = false};
    struct s3__authz z;
    struct s3_request r;
    memset(&info, 0, sizeof(info));
    memset(&z, 0, sizeof(z));
    memset(&r, 0, sizeof(r));
    info.method = gz_slice_cstr(method);
    r.info = &info;
    r.authz = &z;
    r.bucket = gz_slice_cstr(bucket);
    r.key = gz_slice_cstr(key);
    r.params = &p;
    r.nparams = param ? 1 : 0;
    s3__authz_classify(&r);
    if (write)
        *write = z.write;
    return z.action;
}

static void t_action_names(void)
{
    static const struct {
        const char *method, *bucket, *key, *param, *action;
    } cases[] = {
        {"GET", "", "", NULL, "s3:ListAllMyBuckets"},
        {"GET", "b", "", NULL, "s3:ListBucket"},
        {"HEAD", "b", "", NULL, "s3:HeadBucket"},
        {"GET", "b", "", "location", "s3:GetBucketLocation"},
        {"GET", "b", "", "uploads", "s3:ListBucketMultipartUploads"},
        {"GET", "b", "", "policy", "s3:GetBucketPolicy"},
        {"PUT", "b", "", "policy", "s3:PutBucketPolicy"},
        {"DELETE", "b", "", "policy", "s3:DeleteBucketPolicy"},
        {"GET", "b", "", "acl", "s3:GetBucketAcl"},
        {"PUT", "b", "", "acl", "s3:PutBucketAcl"},
        {"PUT", "b", "", NULL, "s3:CreateBucket"},
        {"DELETE", "b", "", NULL, "s3:DeleteBucket"},
        {"POST", "b", "", "delete", "s3:DeleteObject"},
        {"GET", "b", "k", NULL, "s3:GetObject"},
        {"HEAD", "b", "k", NULL, "s3:GetObject"},
        {"GET", "b", "k", "acl", "s3:GetObjectAcl"},
        {"PUT", "b", "k", "acl", "s3:PutObjectAcl"},
        {"GET", "b", "k", "uploadId", "s3:ListMultipartUploadParts"},
        {"PUT", "b", "k", NULL, "s3:PutObject"},
        {"PUT", "b", "k", "uploadId", "s3:PutObject"},
        {"POST", "b", "k", "uploads", "s3:PutObject"},
        {"POST", "b", "k", "uploadId", "s3:PutObject"},
        {"DELETE", "b", "k", "uploadId", "s3:AbortMultipartUpload"},
        {"DELETE", "b", "k", NULL, "s3:DeleteObject"},
        {"PATCH", "b", "k", NULL, "s3:Unknown"},
    };
    for (size_t i = 0; i < GZ_ARRAY_LEN(cases); i++) {
        const char *a = action_of(cases[i].method, cases[i].bucket, cases[i].key, cases[i].param,
                                  NULL);
        TAP_OK(strcmp(a, cases[i].action) == 0, "%s /%s/%s?%s -> %s (got %s)", cases[i].method,
               cases[i].bucket, cases[i].key, cases[i].param ? cases[i].param : "",
               cases[i].action, a);
    }
    bool w = true;
    action_of("HEAD", "b", "k", NULL, &w);
    TAP_OK(!w, "HEAD is a read");
    action_of("POST", "b", "", "delete", &w);
    TAP_OK(w, "DeleteObjects is a write");
}

#define OWNER "0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f"
#define GRANT_OWNER                                                                         \
    "<Grant><Grantee xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\" "              \
    "xsi:type=\"CanonicalUser\"><ID>" OWNER "</ID></Grantee>"                              \
    "<Permission>FULL_CONTROL</Permission></Grant>"
#define GRANT_GROUP(g, perm)                                                                \
    "<Grant><Grantee xsi:type=\"Group\" xmlns:xsi=\"http://www.w3.org/2001/"                \
    "XMLSchema-instance\"><URI>http://acs.amazonaws.com/groups/global/" g "</URI>"          \
    "</Grantee><Permission>" perm "</Permission></Grant>"
#define ACP(grants)                                                                         \
    "<AccessControlPolicy xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><Owner><ID>"    \
    OWNER "</ID></Owner><AccessControlList>" grants "</AccessControlList>"                  \
    "</AccessControlPolicy>"

static enum s3_err acl_doc(const char *doc, enum iam_acl *out)
{
    struct s3_xml_node *root = NULL;
    char msg[256] = "";
    enum s3_err e = xml(doc, &root);
    *out = (enum iam_acl)-1;
    if (e == S3_OK)
        e = s3__acl_from_xml(root, OWNER, "user-id", out, msg, sizeof(msg));
    arena_free();
    return e;
}

static void t_acl_documents(void)
{
    enum iam_acl acl;
    TAP_OK(acl_doc(ACP(GRANT_OWNER), &acl) == S3_OK && acl == IAM_ACL_PRIVATE, "private");
    TAP_OK(acl_doc(ACP(GRANT_OWNER GRANT_GROUP("AllUsers", "READ")), &acl) == S3_OK &&
               acl == IAM_ACL_PUBLIC_READ,
           "public-read");
    TAP_OK(acl_doc(ACP(GRANT_GROUP("AuthenticatedUsers", "READ") GRANT_OWNER), &acl) == S3_OK &&
               acl == IAM_ACL_AUTHENTICATED_READ,
           "authenticated-read, any order");
    TAP_OK(acl_doc(ACP(GRANT_OWNER GRANT_GROUP("AllUsers", "WRITE")), &acl) ==
               S3_ERR_NOT_IMPLEMENTED,
           "public write is not representable");
    TAP_OK(acl_doc(ACP(GRANT_OWNER GRANT_GROUP("AllUsers", "READ")
                           GRANT_GROUP("AuthenticatedUsers", "READ")),
                   &acl) == S3_ERR_NOT_IMPLEMENTED,
           "two groups are not one canned ACL");
    TAP_OK(acl_doc(ACP(GRANT_GROUP("AllUsers", "READ")), &acl) == S3_ERR_NOT_IMPLEMENTED,
           "without the owner's FULL_CONTROL");
    TAP_OK(acl_doc(ACP("<Grant><Grantee><ID>someone-else</ID></Grantee><Permission>READ"
                       "</Permission></Grant>" GRANT_OWNER),
                   &acl) == S3_ERR_NOT_IMPLEMENTED,
           "a grant to another account");
    TAP_OK(acl_doc(ACP("<Grant><Grantee><ID>user-id</ID></Grantee><Permission>FULL_CONTROL"
                       "</Permission></Grant>"),
                   &acl) == S3_OK && acl == IAM_ACL_PRIVATE,
           "the caller's own canonical id stands for the owner");
    TAP_OK(acl_doc(ACP(GRANT_OWNER GRANT_GROUP("AllUsers", "SOMETIMES")), &acl) ==
               S3_ERR_MALFORMED_ACL,
           "unknown permission");
    TAP_OK(acl_doc(ACP("<Grant><Permission>READ</Permission></Grant>"), &acl) ==
               S3_ERR_MALFORMED_ACL,
           "grant without grantee");
    TAP_OK(acl_doc(ACP("<Grant><Grantee><Nobody/></Grantee><Permission>READ</Permission>"
                       "</Grant>"),
                   &acl) == S3_ERR_MALFORMED_ACL,
           "grantee without ID or URI");
    TAP_OK(acl_doc("<AccessControlPolicy><AccessControlList>" GRANT_OWNER
                   "</AccessControlList></AccessControlPolicy>",
                   &acl) == S3_ERR_MALFORMED_ACL,
           "no Owner");
    TAP_OK(acl_doc("<Policy><Owner/><AccessControlList/></Policy>", &acl) == S3_ERR_MALFORMED_ACL,
           "wrong root");
}

static void t_acl_headers(void)
{
    struct gz_buf enc;
    gz_buf_init(&enc, 4096);
    store_headers_add(&enc, GZ_SLICE_LIT("Content-Type"), GZ_SLICE_LIT("text/plain"));
    TAP_OK(s3__acl_header_add(&enc, IAM_ACL_PRIVATE) == 0 &&
               s3__acl_from_headers(gz_buf_slice(&enc)) == IAM_ACL_PRIVATE,
           "private adds nothing and reads back as private");
    size_t before = enc.len;
    TAP_OK(enc.len == before && s3__acl_header_add(&enc, IAM_ACL_PUBLIC_READ) == 0 &&
               s3__acl_from_headers(gz_buf_slice(&enc)) == IAM_ACL_PUBLIC_READ,
           "public-read round trip");
    gz_buf_reset(&enc);
    store_headers_add(&enc, GZ_SLICE_LIT(S3_ACL_HEADER), GZ_SLICE_LIT("bogus"));
    TAP_OK(s3__acl_from_headers(gz_buf_slice(&enc)) == IAM_ACL_PRIVATE,
           "an unreadable ACL is private");
    gz_buf_free(&enc);
}

int main(void)
{
    TAP_RUN(t_range_forms);
    TAP_RUN(t_range_unsatisfiable);
    TAP_RUN(t_range_ignored);
    TAP_RUN(t_xml_tree);
    TAP_RUN(t_xml_rejects);
    TAP_RUN(t_xml_depth);
    TAP_RUN(t_xml_many_nodes);
    TAP_RUN(t_pct_decode);
    TAP_RUN(t_query_parse);
    TAP_RUN(t_vhost);
    TAP_RUN(t_bucket_names);
    TAP_RUN(t_key_check);
    TAP_RUN(t_etag_match);
    TAP_RUN(t_cond_eval);
    TAP_RUN(t_error_xml);
    TAP_RUN(t_xml_writers);
    TAP_RUN(t_action_names);
    TAP_RUN(t_acl_documents);
    TAP_RUN(t_acl_headers);
    return tap_done();
}

/*
 * test_s3_list.c - the pure helpers behind listing and multipart (src/s3/list_util.c):
 * continuation tokens, encoding-type=url, integer parameters, the page accumulator, the
 * CompleteMultipartUpload body, part matching, the multipart ETag and the copy-source headers.
 */
#include <errno.h>
#include <stdio.h>

#include "../../src/s3/list_util.h"
#include "tap.h"

static struct gz_slice S(const char *s) {
    return gz_slice_cstr(s);
}

static void
t_token(void)
{
    char tok[S3_LIST_TOKEN_MAX], key[STORE_MAX_KEY], big[STORE_MAX_KEY];
    int n;

    s3__list_token_encode(S("photos/2006/\xc3\xa9 x"), tok);
    TAP_OK(strcmp(tok, "cGhvdG9zLzIwMDYvw6kgeA==") == 0, "token is base64 of the key: %s", tok);
    n = s3__list_token_decode(S(tok), key);
    TAP_OK(n == 16 && memcmp(key, "photos/2006/\xc3\xa9 x", 16) == 0, "round trip (%d)", n);
    TAP_OK(s3__list_token_decode(S(""), key) == -EINVAL, "empty token refused");
    TAP_OK(s3__list_token_decode(S("abc"), key) == -EINVAL, "bad length refused");
    TAP_OK(s3__list_token_decode(S("a!cd"), key) == -EINVAL, "bad alphabet refused");
    TAP_OK(s3__list_token_decode(S("YR=="), key) == -EINVAL, "non-canonical padding refused");
    memset(big, 'k', sizeof(big));
    s3__list_token_encode(gz_slice(big, sizeof(big)), tok);
    n = s3__list_token_decode(S(tok), key);
    TAP_OK(n == STORE_MAX_KEY && memcmp(key, big, sizeof(big)) == 0, "max key round trip");
    {
        char longtok[S3_LIST_TOKEN_MAX + 8];

        memset(longtok, 'A', sizeof(longtok) - 1);
        longtok[sizeof(longtok) - 1] = '\0';
        TAP_OK(s3__list_token_decode(S(longtok), key) == -EINVAL, "too long refused");
    }
}

static void t_url_encode(void)
{
    struct gz_buf b;

    gz_buf_init(&b, 1024);
    TAP_OK(s3__url_encode(&b, S("quux ab/thud+1~x_y.z-w")) == 0, "encode ok");
    TAP_OK(gz_slice_eq_cstr(gz_buf_slice(&b), "quux%20ab/thud%2B1~x_y.z-w"), "encoded: %.*s",
           (int)b.len, b.ptr);
    gz_buf_reset(&b);
    s3__url_encode(&b, S("\xc3\xa9%&="));
    TAP_OK(gz_slice_eq_cstr(gz_buf_slice(&b), "%C3%A9%25%26%3D"), "utf-8 and specials: %.*s",
           (int)b.len, b.ptr);
    gz_buf_free(&b);
    gz_buf_init(&b, 4);
    TAP_OK(s3__url_encode(&b, S("   ")) == -E2BIG, "bounded buffer");
    gz_buf_free(&b);
}

static void t_param_int(void)
{
    struct s3_param p = {S("max-keys"), S("5"), true};
    int v = -1;

    TAP_OK(s3__param_int(NULL, 1000, 1000, &v) == 0 && v == 1000, "absent -> default");
    TAP_OK(s3__param_int(&p, 1000, 1000, &v) == 0 && v == 5, "5");
    p.value = S("5000");
    TAP_OK(s3__param_int(&p, 1000, 1000, &v) == 0 && v == 1000, "capped");
    p.value = S("0");
    TAP_OK(s3__param_int(&p, 1000, 1000, &v) == 0 && v == 0, "zero");
    p.value = S("");
    TAP_OK(s3__param_int(&p, 1000, 1000, &v) == 0 && v == 1000, "empty -> default");
    p.value = S("-1");
    TAP_OK(s3__param_int(&p, 1000, 1000, &v) == -EINVAL, "negative refused");
    p.value = S("ten");
    TAP_OK(s3__param_int(&p, 1000, 1000, &v) == -EINVAL, "non-numeric refused");
    p.value = S("2147483648");
    TAP_OK(s3__param_int(&p, 1000, 1000, &v) == -EINVAL, "beyond int32 refused");
    p.value = S("99999999999999999999999");
    TAP_OK(s3__param_int(&p, 1000, 1000, &v) == -EINVAL, "overflow refused");
}

static void t_slice_cmp(void)
{
    TAP_OK(s3__slice_cmp(S("a"), S("b")) < 0, "a < b");
    TAP_OK(s3__slice_cmp(S("a/"), S("a/b")) < 0, "prefix first");
    TAP_OK(s3__slice_cmp(S("a/b"), S("a/b")) == 0, "equal");
    TAP_OK(s3__slice_cmp(S("\xc3\xa9"), S("z")) > 0, "UTF-8 binary order");
    TAP_OK(s3__slice_cmp(GZ_SLICE_NULL, S("a")) < 0, "empty first");
}

static void t_acc(void)
{
    struct s3__list_acc a;
    struct s3__list_item *it;

    /* Page of max 2 after the marker "b/" (a common prefix returned last page). */
    s3__list_acc_init(&a, 2, S("b/"));
    TAP_OK(s3__list_acc_add(&a, S("b/"), true) == NULL, "prefix == marker dropped");
    TAP_OK(s3__list_acc_add(&a, S("a/"), true) == NULL, "prefix before marker dropped");
    it = s3__list_acc_add(&a, S("b/x"), false);
    TAP_OK(it != NULL && !it->is_prefix, "key after marker kept");
    it = s3__list_acc_add(&a, S("c/"), true);
    TAP_OK(it != NULL && it->is_prefix, "later prefix kept");
    TAP_OK(s3__list_acc_add(&a, S("d"), false) != NULL, "the extra (max + 1) entry kept");
    TAP_OK(s3__list_acc_add(&a, S("e"), false) == NULL, "beyond max + 1 ignored");
    TAP_OK(s3__list_acc_finish(&a, 2, false) == true && a.n == 2, "trimmed to max: truncated");
    TAP_OK(gz_slice_eq_cstr(s3__list_acc_key(&a, 1), "c/"), "last kept entry is c/");
    s3__list_acc_free(&a);

    s3__list_acc_init(&a, 2, GZ_SLICE_NULL);
    s3__list_acc_add(&a, S("x"), false);
    TAP_OK(s3__list_acc_finish(&a, 2, false) == false && a.n == 1, "short page not truncated");
    s3__list_acc_free(&a);

    s3__list_acc_init(&a, 2, S("m"));
    s3__list_acc_add(&a, S("n"), false);
    s3__list_acc_add(&a, S("o"), false);
    TAP_OK(s3__list_acc_finish(&a, 2, true) == true && a.n == 2, "store says more: truncated");
    s3__list_acc_free(&a);

    s3__list_acc_init(&a, 0, GZ_SLICE_NULL);
    TAP_OK(s3__list_acc_finish(&a, 0, false) == false && a.n == 0, "max 0: empty page");
    s3__list_acc_free(&a);
}

/* ---- hand-built XML trees ---- */

struct tree {
    struct s3_xml_node nodes[64];
    int n;
};

static struct s3_xml_node *node(struct tree *t, struct s3_xml_node *parent, const char *name,
                                const char *text)
{
    struct s3_xml_node *x = &t->nodes[t->n++], **link;

    memset(x, 0, sizeof(*x));
    x->name = S(name);
    x->text = text ? S(text) : GZ_SLICE_NULL;
    if (parent) {
        for (link = &parent->child; *link; link = &(*link)->next)
            ;
        *link = x;
    }
    return x;
}

static struct s3_xml_node *part(struct tree *t, struct s3_xml_node *root, const char *num,
                                const char *etag)
{
    struct s3_xml_node *p = node(t, root, "Part", NULL);

    if (num)
        node(t, p, "PartNumber", num);
    if (etag)
        node(t, p, "ETag", etag);
    return p;
}

static void t_complete_parse(void)
{
    struct tree t = {.n = 0};
    struct store_part *parts = NULL;
    struct s3_xml_node *root;
    char msg[256];
    int n = 0;
    enum s3_err e;

    root = node(&t, NULL, "CompleteMultipartUpload", NULL);
    part(&t, root, "1", "\"0CC175B9C0F1B6A831C399E269772661\"");
    node(&t, root, "Other", "ignored");
    part(&t, root, " 3 ", "92eb5ffee6ae2fec3ad71c777531578f");
    e = s3__mpu_complete_parse(root, &parts, &n, msg, sizeof(msg));
    TAP_OK(e == S3_OK && n == 2, "two parts (e=%d n=%d)", e, n);
    TAP_OK(parts && parts[0].number == 1 && parts[1].number == 3, "numbers");
    TAP_OK(parts && strcmp(parts[0].etag, "0cc175b9c0f1b6a831c399e269772661") == 0,
           "quotes stripped, lower-cased: %s", parts ? parts[0].etag : "");
    gz_free(parts);

    /* A document node above the root element is accepted too. */
    t.n = 0;
    {
        struct s3_xml_node *doc = node(&t, NULL, "", NULL);

        root = node(&t, doc, "CompleteMultipartUpload", NULL);
        part(&t, root, "2", "x");
        e = s3__mpu_complete_parse(doc, &parts, &n, msg, sizeof(msg));
        TAP_OK(e == S3_OK && n == 1, "root under a document node");
        gz_free(parts);
    }

    t.n = 0;
    root = node(&t, NULL, "CompleteMultipartUpload", NULL);
    e = s3__mpu_complete_parse(root, &parts, &n, msg, sizeof(msg));
    TAP_OK(e == S3_ERR_MALFORMED_XML && parts == NULL, "no parts -> MalformedXML");

    t.n = 0;
    root = node(&t, NULL, "Delete", NULL);
    part(&t, root, "1", "a");
    TAP_OK(s3__mpu_complete_parse(root, &parts, &n, msg, sizeof(msg)) == S3_ERR_MALFORMED_XML,
           "wrong root -> MalformedXML");

    t.n = 0;
    root = node(&t, NULL, "CompleteMultipartUpload", NULL);
    part(&t, root, "1", NULL);
    TAP_OK(s3__mpu_complete_parse(root, &parts, &n, msg, sizeof(msg)) == S3_ERR_MALFORMED_XML,
           "missing ETag -> MalformedXML");

    t.n = 0;
    root = node(&t, NULL, "CompleteMultipartUpload", NULL);
    part(&t, root, "one", "a");
    TAP_OK(s3__mpu_complete_parse(root, &parts, &n, msg, sizeof(msg)) == S3_ERR_MALFORMED_XML,
           "non-numeric PartNumber -> MalformedXML");

    t.n = 0;
    root = node(&t, NULL, "CompleteMultipartUpload", NULL);
    part(&t, root, "10001", "a");
    TAP_OK(s3__mpu_complete_parse(root, &parts, &n, msg, sizeof(msg)) == S3_ERR_INVALID_ARGUMENT,
           "PartNumber 10001 -> InvalidArgument");

    t.n = 0;
    root = node(&t, NULL, "CompleteMultipartUpload", NULL);
    part(&t, root, "2", "a");
    part(&t, root, "1", "b");
    TAP_OK(s3__mpu_complete_parse(root, &parts, &n, msg, sizeof(msg)) == S3_ERR_INVALID_PART_ORDER,
           "descending -> InvalidPartOrder");

    t.n = 0;
    root = node(&t, NULL, "CompleteMultipartUpload", NULL);
    part(&t, root, "2", "a");
    part(&t, root, "2", "a");
    TAP_OK(s3__mpu_complete_parse(root, &parts, &n, msg, sizeof(msg)) == S3_ERR_INVALID_PART_ORDER,
           "duplicate -> InvalidPartOrder");
}

static void t_complete_too_many(void)
{
    struct s3_xml_node *nodes = gz_calloc(STORE_MAX_PARTS + 2, sizeof(*nodes));
    struct s3_xml_node root;
    struct store_part *parts = NULL;
    char msg[256];
    int i, n = 0;

    memset(&root, 0, sizeof(root));
    root.name = S("CompleteMultipartUpload");
    for (i = 0; i < STORE_MAX_PARTS + 1; i++) {
        nodes[i].name = S("Part");
        nodes[i].next = i < STORE_MAX_PARTS ? &nodes[i + 1] : NULL;
    }
    root.child = &nodes[0];
    TAP_OK(s3__mpu_complete_parse(&root, &parts, &n, msg, sizeof(msg)) == S3_ERR_MALFORMED_XML,
           "10001 parts -> MalformedXML");
    gz_free(nodes);
}

static struct store_part sp(int number, int64_t size, const char *etag)
{
    struct store_part p;

    memset(&p, 0, sizeof(p));
    p.number = number;
    p.size = size;
    snprintf(p.etag, sizeof(p.etag), "%s", etag);
    return p;
}

static void t_match(void)
{
    const int64_t big = S3_MIN_PART_SIZE;
    struct store_part want[3], have;
    struct s3__mpu_match m;

    want[0] = sp(1, 0, "aa");
    want[1] = sp(3, 0, "cc");
    want[2] = sp(4, 0, "dd");
    s3__mpu_match_init(&m, want, 3);
    have = sp(1, big, "aa");
    s3__mpu_match_feed(&m, &have);
    have = sp(2, 1, "bb"); /* uploaded, not listed: ignored even though small */
    s3__mpu_match_feed(&m, &have);
    have = sp(3, big + 1, "cc");
    s3__mpu_match_feed(&m, &have);
    have = sp(4, 10, "dd"); /* the last part may be small */
    s3__mpu_match_feed(&m, &have);
    TAP_OK(s3__mpu_match_finish(&m) == S3_OK, "all matched");
    TAP_OK(want[1].size == big + 1 && want[2].size == 10, "sizes filled in");
    TAP_OK(m.last_seen == 4, "last seen");

    s3__mpu_match_init(&m, want, 3);
    have = sp(1, big, "aa");
    s3__mpu_match_feed(&m, &have);
    have = sp(4, 10, "dd");
    s3__mpu_match_feed(&m, &have);
    TAP_OK(s3__mpu_match_finish(&m) == S3_ERR_INVALID_PART && m.bad_part == 3,
           "missing part -> InvalidPart 3");

    s3__mpu_match_init(&m, want, 3);
    have = sp(1, big, "zz");
    s3__mpu_match_feed(&m, &have);
    TAP_OK(s3__mpu_match_finish(&m) == S3_ERR_INVALID_PART && m.bad_part == 1,
           "ETag mismatch -> InvalidPart");

    s3__mpu_match_init(&m, want, 3);
    have = sp(1, big - 1, "aa");
    s3__mpu_match_feed(&m, &have);
    have = sp(3, big - 1, "cc");
    s3__mpu_match_feed(&m, &have);
    have = sp(4, 1, "dd");
    s3__mpu_match_feed(&m, &have);
    TAP_OK(s3__mpu_match_finish(&m) == S3_ERR_ENTITY_TOO_SMALL && m.bad_part == 1,
           "small non-last part -> EntityTooSmall (first one)");

    s3__mpu_match_init(&m, want, 3);
    have = sp(1, big - 1, "aa");
    s3__mpu_match_feed(&m, &have);
    have = sp(3, big, "cc");
    s3__mpu_match_feed(&m, &have);
    TAP_OK(s3__mpu_match_finish(&m) == S3_ERR_INVALID_PART && m.bad_part == 4,
           "a missing part wins over a small one");

    s3__mpu_match_init(&m, want, 3);
    have = sp(1, big - 1, "aa");
    s3__mpu_match_feed(&m, &have);
    have = sp(3, big, "xx");
    s3__mpu_match_feed(&m, &have);
    TAP_OK(s3__mpu_match_finish(&m) == S3_ERR_INVALID_PART && m.bad_part == 3,
           "an ETag mismatch wins over a small part");

    s3__mpu_match_init(&m, want, 3);
    have = sp(1, big, "aa");
    s3__mpu_match_feed(&m, &have);
    TAP_OK(s3__mpu_match_finish(&m) == S3_ERR_INVALID_PART && m.bad_part == 3,
           "store ran out -> InvalidPart");
}

static void t_etag(void)
{
    struct store_part parts[2];
    char out[48];

    parts[0] = sp(1, 1, "0cc175b9c0f1b6a831c399e269772661");
    parts[1] = sp(2, 1, "92eb5ffee6ae2fec3ad71c777531578f");
    TAP_OK(s3__mpu_etag(parts, 2, out) == 0, "etag computed");
    TAP_OK(strcmp(out, "96e024ba2074fe77e8e965ba43a704be-2") == 0, "ETag of ETags: %s", out);
    parts[1] = sp(2, 1, "xyz");
    TAP_OK(s3__mpu_etag(parts, 2, out) == -EINVAL, "bad part etag refused");
    TAP_OK(s3__mpu_etag(parts, 0, out) == -EINVAL, "no parts refused");
}

static void t_copy_source(void)
{
    char buf[256];
    struct gz_slice b, k;

    TAP_OK(s3__copy_source_parse(S("/src/a%20b/c%2Bd+e"), buf, sizeof(buf), &b, &k) == 0,
           "leading slash, escapes");
    TAP_OK(gz_slice_eq_cstr(b, "src") && gz_slice_eq_cstr(k, "a b/c+d+e"), "bucket=%.*s key=%.*s",
           (int)b.len, b.ptr, (int)k.len, k.ptr);
    TAP_OK(s3__copy_source_parse(S("src/k?versionId=null"), buf, sizeof(buf), &b, &k) == 0 &&
               gz_slice_eq_cstr(k, "k"),
           "versionId=null accepted");
    TAP_OK(s3__copy_source_parse(S("src/k?versionId=3"), buf, sizeof(buf), &b, &k) == -ENOTSUP,
           "other version refused");
    TAP_OK(s3__copy_source_parse(S("src/k?foo"), buf, sizeof(buf), &b, &k) == -EINVAL,
           "other query refused");
    TAP_OK(s3__copy_source_parse(S("src"), buf, sizeof(buf), &b, &k) == -EINVAL, "no key");
    TAP_OK(s3__copy_source_parse(S("src/"), buf, sizeof(buf), &b, &k) == -EINVAL, "empty key");
    TAP_OK(s3__copy_source_parse(S("/k"), buf, sizeof(buf), &b, &k) == -EINVAL, "no bucket");
    TAP_OK(s3__copy_source_parse(S("src/%zz"), buf, sizeof(buf), &b, &k) == -EINVAL, "bad escape");
    TAP_OK(s3__copy_source_parse(S("src/%"), buf, sizeof(buf), &b, &k) == -EINVAL,
           "truncated escape");
    TAP_OK(s3__copy_source_parse(S("src/%FF"), buf, sizeof(buf), &b, &k) == -EINVAL,
           "invalid UTF-8 key");
    TAP_OK(s3__copy_source_parse(S(""), buf, sizeof(buf), &b, &k) == -EINVAL, "empty");
    TAP_OK(s3__copy_source_parse(S("src/abcdef"), buf, 5, &b, &k) == -EINVAL, "bounded output");
}

static void t_copy_range(void)
{
    int64_t a = -1, b = -1;

    TAP_OK(s3__copy_range_parse(S("bytes=0-9"), &a, &b) == 0 && a == 0 && b == 9, "0-9");
    TAP_OK(s3__copy_range_parse(S("bytes=5-5"), &a, &b) == 0 && a == 5 && b == 5, "5-5");
    TAP_OK(s3__copy_range_parse(S("bytes=9-0"), &a, &b) == -EINVAL, "reversed");
    TAP_OK(s3__copy_range_parse(S("bytes=-9"), &a, &b) == -EINVAL, "suffix form refused");
    TAP_OK(s3__copy_range_parse(S("bytes=3-"), &a, &b) == -EINVAL, "open end refused");
    TAP_OK(s3__copy_range_parse(S("bits=0-1"), &a, &b) == -EINVAL, "other unit");
    TAP_OK(s3__copy_range_parse(S("bytes=0-1,3-4"), &a, &b) == -EINVAL, "multiple ranges");
    TAP_OK(s3__copy_range_parse(S("bytes=a-b"), &a, &b) == -EINVAL, "non-numeric");
}

static void t_upload_id(void)
{
    char id[STORE_UPLOAD_ID_LEN + 1];

    TAP_OK(s3__upload_id_parse(S("0123456789abcdef0123456789abcdef"), id) &&
               strcmp(id, "0123456789abcdef0123456789abcdef") == 0,
           "32 characters accepted");
    TAP_OK(!s3__upload_id_parse(S("short"), id), "short refused");
    TAP_OK(!s3__upload_id_parse(GZ_SLICE_NULL, id), "absent refused");
    TAP_OK(!s3__upload_id_parse(gz_slice("0123456789abcdef\0123456789abcde", 32), id),
           "embedded NUL refused");
}

int main(void)
{
    TAP_RUN(t_token);
    TAP_RUN(t_url_encode);
    TAP_RUN(t_param_int);
    TAP_RUN(t_slice_cmp);
    TAP_RUN(t_acc);
    TAP_RUN(t_complete_parse);
    TAP_RUN(t_complete_too_many);
    TAP_RUN(t_match);
    TAP_RUN(t_etag);
    TAP_RUN(t_copy_source);
    TAP_RUN(t_copy_range);
    TAP_RUN(t_upload_id);
    return tap_done();
}

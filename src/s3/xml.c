/*
 * xml.c - request XML bodies: reading a small body through payload verification, and
 * parsing it with expat into an element tree in the request arena.
 *
 * Safety: any DOCTYPE is refused (so no internal or external entities can be declared: this
 * is what stops billion-laughs and XXE, whatever expat's own defences), references to
 * undeclared entities are expat errors, nesting is capped at S3_MAX_XML_DEPTH and the element
 * count at XML_MAX_NODES, and character data can never exceed the body it came from.
 */
#include <errno.h>
#include <expat.h>

#include "s3_obj_int.h"

#define XML_MAX_NODES (128 * 1024)

/* The node handed out, with the untrimmed text kept next to it. */
struct xml_node_ex {
    struct s3_xml_node n; /* first: the public view */
    struct gz_slice raw;
};

struct xml_parse {
    XML_Parser p;
    s3__alloc_fn alloc;
    void *ud;
    size_t max_text;
    int depth;
    size_t nodes;
    bool failed;
    struct xml_node_ex *root;
    struct xml_node_ex *stack[S3_MAX_XML_DEPTH];
    struct xml_node_ex *last_child[S3_MAX_XML_DEPTH];
    struct gz_buf text[S3_MAX_XML_DEPTH];
};

static void xml_fail(struct xml_parse *x)
{
    x->failed = true;
    XML_StopParser(x->p, XML_FALSE);
}

static void XMLCALL on_start(void *ud, const XML_Char *name, const XML_Char **attrs)
{
    struct xml_parse *x = ud;
    (void)attrs;
    if (x->failed)
        return;
    if (x->depth >= S3_MAX_XML_DEPTH || ++x->nodes > XML_MAX_NODES) {
        xml_fail(x);
        return;
    }
    struct xml_node_ex *e = x->alloc(x->ud, sizeof(*e));
    memset(e, 0, sizeof(*e));
    const char *local = strrchr(name, ':');
    local = local ? local + 1 : name;
    size_t len = strlen(local);
    char *copy = x->alloc(x->ud, len + 1);
    memcpy(copy, local, len + 1);
    e->n.name = gz_slice(copy, len);
    if (x->depth == 0) {
        x->root = e;
    } else {
        int parent = x->depth - 1;
        if (x->last_child[parent])
            x->last_child[parent]->n.next = &e->n;
        else
            x->stack[parent]->n.child = &e->n;
        x->last_child[parent] = e;
    }
    x->stack[x->depth] = e;
    x->last_child[x->depth] = NULL;
    gz_buf_init(&x->text[x->depth], x->max_text);
    x->depth++;
}

static bool is_xml_space(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

static void XMLCALL on_end(void *ud, const XML_Char *name)
{
    struct xml_parse *x = ud;
    (void)name;
    if (x->failed || x->depth == 0)
        return;
    x->depth--;
    struct xml_node_ex *e = x->stack[x->depth];
    struct gz_buf *t = &x->text[x->depth];
    char *copy = x->alloc(x->ud, t->len + 1);
    if (t->len)
        memcpy(copy, t->ptr, t->len);
    copy[t->len] = '\0';
    e->raw = gz_slice(copy, t->len);
    e->n.text = e->raw;
    /* Trim XML whitespace for the public view. */
    while (e->n.text.len && is_xml_space(e->n.text.ptr[0])) {
        e->n.text.ptr++;
        e->n.text.len--;
    }
    while (e->n.text.len && is_xml_space(e->n.text.ptr[e->n.text.len - 1]))
        e->n.text.len--;
    gz_buf_free(t);
}

static void XMLCALL on_chars(void *ud, const XML_Char *s, int len)
{
    struct xml_parse *x = ud;
    if (x->failed || x->depth == 0 || len <= 0)
        return;
    if (gz_buf_append(&x->text[x->depth - 1], s, (size_t)len) < 0)
        xml_fail(x);
}

static void XMLCALL on_doctype(void *ud, const XML_Char *name, const XML_Char *sysid,
                               const XML_Char *pubid, int has_internal_subset)
{
    (void)name, (void)sysid, (void)pubid, (void)has_internal_subset;
    xml_fail(ud);
}

static void XMLCALL on_entity_decl(void *ud, const XML_Char *name, int is_param,
                                   const XML_Char *value, int value_len, const XML_Char *base,
                                   const XML_Char *sysid, const XML_Char *pubid,
                                   const XML_Char *notation)
{
    (void)name, (void)is_param, (void)value, (void)value_len, (void)base, (void)sysid;
    (void)pubid, (void)notation;
    xml_fail(ud);
}

static int XMLCALL on_external_entity(XML_Parser p, const XML_Char *context, const XML_Char *base,
                                      const XML_Char *sysid, const XML_Char *pubid)
{
    (void)p, (void)context, (void)base, (void)sysid, (void)pubid;
    return XML_STATUS_ERROR;
}

enum s3_err s3__xml_parse_with(struct gz_slice body, s3__alloc_fn alloc, void *ud,
                               struct s3_xml_node **root)
{
    struct xml_parse x;
    memset(&x, 0, sizeof(x));
    x.alloc = alloc;
    x.ud = ud;
    x.max_text = body.len + 1;
    *root = NULL;
    if (body.len == 0 || body.len > INT32_MAX)
        return S3_ERR_MALFORMED_XML;
    x.p = XML_ParserCreate(NULL);
    if (x.p == NULL)
        return S3_ERR_INTERNAL_ERROR;
    XML_SetUserData(x.p, &x);
    XML_SetElementHandler(x.p, on_start, on_end);
    XML_SetCharacterDataHandler(x.p, on_chars);
    XML_SetStartDoctypeDeclHandler(x.p, on_doctype);
    XML_SetEntityDeclHandler(x.p, on_entity_decl);
    XML_SetExternalEntityRefHandler(x.p, on_external_entity);
    XML_SetParamEntityParsing(x.p, XML_PARAM_ENTITY_PARSING_NEVER);
    enum XML_Status st = XML_Parse(x.p, body.ptr, (int)body.len, XML_TRUE);
    bool ok = st == XML_STATUS_OK && !x.failed && x.root != NULL && x.depth == 0;
    for (int i = 0; i < S3_MAX_XML_DEPTH; i++)
        gz_buf_free(&x.text[i]);
    XML_ParserFree(x.p);
    if (!ok)
        return S3_ERR_MALFORMED_XML;
    *root = &x.root->n;
    return S3_OK;
}

struct gz_slice s3__xml_raw_text(const struct s3_xml_node *n)
{
    return ((const struct xml_node_ex *)(const void *)n)->raw;
}

static void *arena_alloc(void *ud, size_t n)
{
    return http_req_alloc(ud, n);
}

enum s3_err s3_xml_parse(struct s3_request *r, struct gz_slice body, struct s3_xml_node **root)
{
    return s3__xml_parse_with(body, arena_alloc, r->req, root);
}

struct s3_xml_node *s3_xml_child(struct s3_xml_node *n, const char *name)
{
    for (struct s3_xml_node *c = n ? n->child : NULL; c; c = c->next)
        if (gz_slice_eq_cstr(c->name, name))
            return c;
    return NULL;
}

/* ---- reading a small body ---- */

struct small_body {
    struct s3_request *r;
    struct s3_payload *pl;
    struct gz_buf buf;
    s3_body_done_cb done;
    enum s3_err err;
    bool called; /* done has run: ignore whatever the body still brings */
};

static void small_body_free(void *arg)
{
    struct small_body *sb = arg;
    s3_payload_free(sb->pl);
    gz_buf_free(&sb->buf);
}

static int small_body_emit(void *ud, struct gz_slice data)
{
    struct small_body *sb = ud;
    int rc = gz_buf_append(&sb->buf, data.ptr, data.len);
    if (rc < 0 && sb->err == S3_OK)
        sb->err = rc == -E2BIG ? S3_ERR_MAX_MESSAGE_LENGTH_EXCEEDED : S3_ERR_INTERNAL_ERROR;
    return rc;
}

static void small_body_data(struct http_req *req, struct gz_slice data, void *ud)
{
    struct small_body *sb = ud;
    (void)req;
    if (sb->called)
        return;
    enum s3_err e = s3_payload_feed(sb->pl, data, small_body_emit, sb);
    if (e != S3_OK && sb->err == S3_OK)
        sb->err = e;
    if (sb->err != S3_OK) {
        /* Answer now rather than drain a body we already refuse (an oversized or forged
         * one could be endless); the HTTP core discards or closes what is left. */
        sb->called = true;
        sb->done(sb->r, sb->err, GZ_SLICE_NULL);
    }
}

static void small_body_end(struct http_req *req, int status, void *ud)
{
    struct small_body *sb = ud;
    (void)req;
    if (sb->called)
        return;
    sb->called = true;
    enum s3_err e = sb->err;
    if (e == S3_OK && status < 0)
        e = s3_err_from_body(status);
    if (e == S3_OK) {
        char msg[256] = "";
        e = s3_payload_finish(sb->pl, msg, sizeof(msg));
        if (e != S3_OK)
            log_debug("request %s: body rejected: %s", sb->r->info->request_id, msg);
    }
    sb->done(sb->r, e, e == S3_OK ? gz_buf_slice(&sb->buf) : GZ_SLICE_NULL);
}

/* The declared (decoded) body length, or -1 if unknown. */
static int64_t declared_length(const struct s3_request *r)
{
    uint64_t v;
    struct gz_slice dec = s3_header(r, "x-amz-decoded-content-length");
    if (dec.ptr)
        return gz_slice_to_u64(dec, &v) == 0 && v <= INT64_MAX ? (int64_t)v : -1;
    struct gz_slice ce = s3_header(r, "content-encoding");
    if (ce.ptr && memmem(ce.ptr, ce.len, "aws-chunked", 11))
        return -1;
    return r->info->content_length;
}

void s3_read_small_body(struct s3_request *r, size_t max, s3_body_done_cb done)
{
    int64_t declared = declared_length(r);
    if (declared > 0 && (uint64_t)declared > max) {
        done(r, S3_ERR_MAX_MESSAGE_LENGTH_EXCEEDED, GZ_SLICE_NULL);
        return;
    }
    struct small_body *sb = http_req_alloc(r->req, sizeof(*sb));
    memset(sb, 0, sizeof(*sb));
    sb->r = r;
    sb->done = done;
    gz_buf_init(&sb->buf, max);
    http_req_on_free(r->req, small_body_free, sb);
    char msg[256] = "";
    enum s3_err e = s3_payload_new(&r->auth, r->info, &sb->pl, msg, sizeof(msg));
    if (e != S3_OK) {
        log_debug("request %s: payload: %s", r->info->request_id, msg);
        done(r, e, GZ_SLICE_NULL);
        return;
    }
    http_req_read_body(r->req, small_body_data, small_body_end, sb);
}

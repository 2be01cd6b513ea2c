/*
 * fuzz_xml.c - request XML bodies: s3__xml_parse_with (expat, no DTDs or entities, bounded
 * depth), then the consumers: CompleteMultipartUpload (s3__mpu_complete_parse, then
 * s3__mpu_etag and s3__mpu_match_* over the parsed list) and the DeleteObjects walk as
 * object_delete.c does it (s3_xml_child, s3__xml_raw_text, s3__key_check), whose parser is
 * static there.
 */
#include <stdlib.h>

#include "fuzz_common.h"
#include "s3/list_util.h"
#include "s3/s3_obj_int.h"

static void fuzz_tree_check(const struct s3_xml_node *n, int depth)
{
    if (depth > S3_MAX_XML_DEPTH + 1)
        abort();
    for (; n != NULL; n = n->next) {
        struct gz_slice raw = s3__xml_raw_text(n);
        if (n->text.len > raw.len)
            abort();
        fuzz_tree_check(n->child, depth + 1);
    }
}

static void fuzz_complete(const struct s3_xml_node *root)
{
    struct store_part *parts = NULL;
    int n = 0;
    char msg[256], etag[48];
    if (s3__mpu_complete_parse(root, &parts, &n, msg, sizeof(msg)) != S3_OK)
        return;
    if (n < 1 || n > STORE_MAX_PARTS)
        abort();
    for (int i = 1; i < n; i++)
        if (parts[i].number <= parts[i - 1].number)
            abort();
    (void)s3__mpu_etag(parts, n, etag);
    /* the store holding exactly those parts, 5 MiB each: must match */
    struct store_part *want = gz_malloc((size_t)n * sizeof(*want));
    memcpy(want, parts, (size_t)n * sizeof(*want));
    struct s3__mpu_match m;
    s3__mpu_match_init(&m, want, n);
    for (int i = 0; i < n; i++) {
        struct store_part p = parts[i];
        p.size = 5 * 1024 * 1024;
        s3__mpu_match_feed(&m, &p);
    }
    if (s3__mpu_match_finish(&m) != S3_OK)
        abort();
    gz_free(want);
    gz_free(parts);
}

static void fuzz_delete(struct s3_xml_node *root)
{
    if (!gz_slice_eq_cstr(root->name, "Delete"))
        return;
    struct s3_xml_node *quiet = s3_xml_child(root, "Quiet");
    (void)(quiet && gz_slice_case_eq_cstr(quiet->text, "true"));
    for (struct s3_xml_node *c = root->child; c; c = c->next) {
        if (!gz_slice_eq_cstr(c->name, "Object"))
            continue;
        struct s3_xml_node *k = s3_xml_child(c, "Key");
        if (k == NULL)
            return;
        char msg[128];
        (void)s3__key_check(s3__xml_raw_text(k), msg, sizeof(msg));
        (void)s3_xml_child(c, "VersionId");
    }
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    gz_log_set_level(GZ_LOG_ERROR);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct fuzz_arena a = {0};
    struct s3_xml_node *root = NULL;
    if (s3__xml_parse_with(gz_slice(data, size), fuzz_arena_alloc, &a, &root) == S3_OK &&
        root != NULL) {
        fuzz_tree_check(root, 0);
        fuzz_complete(root);
        fuzz_delete(root);
    }
    fuzz_arena_free(&a);
    return 0;
}

/*
 * sse.c - `gzy sse rotate --data DIR [--sse-key-file PATH]`: master key rotation for
 * encryption at rest (the work is s3__sse_rotate, src/s3/sse_rotate.c), and the key-file
 * plumbing of the other subcommands (--sse-key-file, GZY_SSE_KEY_FILE).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../migrate/seal.h"
#include "../s3/sse_int.h"
#include "sse_cli.h"

static void sse_usage(FILE *f)
{
    fprintf(f, "usage: gzy sse rotate --data DIR [--sse-key-file PATH]\n"
               "\n"
               "Adds a new master key to the key file (PATH, else $GZY_SSE_KEY_FILE, else\n"
               "DIR/sse.keys) and re-wraps the data key of every SSE-S3 / SM4 object under it;\n"
               "object bodies are not re-encrypted. Old keys stay in the file; once this\n"
               "succeeds, objects no longer need them (DIR/sse.keycheck then lists only the\n"
               "keys still in use). SSE-C objects are untouched (their keys are the customer's).\n"
               "The server must be stopped. Exit: 0 done, 1 failed part-way, 2 could not run.\n");
}

int gz_cli_sse_key_file(const char *opt)
{
    const char *env = getenv("GZY_SSE_KEY_FILE");
    const char *path = opt && *opt ? opt : env;
    int rc = s3_sse_key_file_set(path);
    if (rc < 0)
        fprintf(stderr, "gzy: --sse-key-file %s: %s\n", path, gz_strerror(rc));
    return rc;
}

int gz_cli_sse_keys(struct s3_service *svc, const char *key_file)
{
    char msg[1024];
    int rc = s3_sse_key_file_set(key_file);
    if (rc == 0)
        rc = s3_service_sse_check(svc, msg, sizeof(msg));
    else
        snprintf(msg, sizeof(msg), "--sse-key-file: %s", gz_strerror(rc));
    if (rc < 0)
        fprintf(stderr, "gzy: %s\n", msg);
    return rc;
}

/* After a complete rotation no object needs the older keys: the check file says so. */
static int sse_retire(const char *data)
{
    struct store_config cfg = {.data_dir = data, .sync = 1};
    struct store *s = NULL;
    int rc = store_open(&cfg, &s);
    if (rc == 0)
        rc = s3__sse_keys_retire(s);
    if (s)
        store_close(s);
    if (rc < 0)
        fprintf(stderr, "gzy sse rotate: objects are re-wrapped, but %s/sse.keycheck was not "
                "updated (%s): the older keys must stay in the key file\n", data,
                gz_strerror(rc));
    return rc;
}

static int sse_args(int argc, char **argv, const char **data, const char **key_file)
{
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--data") == 0 && i + 1 < argc) {
            *data = argv[++i];
        } else if (strncmp(argv[i], "--data=", 7) == 0) {
            *data = argv[i] + 7;
        } else if (strcmp(argv[i], "--sse-key-file") == 0 && i + 1 < argc) {
            *key_file = argv[++i];
        } else if (strncmp(argv[i], "--sse-key-file=", 15) == 0) {
            *key_file = argv[i] + 15;
        } else if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            sse_usage(stdout);
            return 0;
        } else {
            fprintf(stderr, "gzy sse rotate: unknown option %s\n", argv[i]);
            sse_usage(stderr);
            return 2;
        }
    }
    if (*data == NULL) {
        sse_usage(stderr);
        return 2;
    }
    return gz_cli_sse_key_file(*key_file) < 0 ? 2 : -1;
}

int gz_cmd_sse(int argc, char **argv)
{
    const char *data = NULL, *key_file = NULL;
    if (argc < 1 || strcmp(argv[0], "rotate") != 0) {
        sse_usage(argc >= 1 && (strcmp(argv[0], "--help") == 0 || strcmp(argv[0], "-h") == 0)
                      ? stdout
                      : stderr);
        return argc >= 1 && strcmp(argv[0], "--help") == 0 ? 0 : 2;
    }
    int ex = sse_args(argc, argv, &data, &key_file);
    if (ex >= 0)
        return ex;
    char msg[512] = "", path[4096];
    int64_t n = 0;
    int rc = s3__sse_rotate(data, &n, msg, sizeof(msg));
    if (rc < 0) {
        fprintf(stderr, "gzy sse rotate: %s\n", msg[0] ? msg : gz_strerror(rc));
        return n > 0 || rc == GZ_ECORRUPT ? 1 : 2;
    }
    if (sse_retire(data) < 0)
        return 1;
    if (s3__sse_keys_path(data, path, sizeof(path)) < 0)
        snprintf(path, sizeof(path), "the key file");
    printf("rotated: new master key in %s; %lld object(s) re-wrapped\n", path, (long long)n);
    return 0;
}

void gz_cli_mig_sealer(struct s3_service *svc, struct gz_mig_sealer *out)
{
    *out = (struct gz_mig_sealer){
        .ctx = svc, .begin = s3_sse_seal_begin, .part_begin = s3_sse_seal_part_begin,
        .write = s3_sse_seal_write, .finish = s3_sse_seal_finish,
        .release = s3_sse_seal_free, .complete = s3_sse_seal_complete,
        .bucket_sealed = s3_sse_seal_bucket_used, .plain_size = s3_sse_seal_plain_size,
        .read = s3_sse_seal_read};
}

/*
 * sse.c - `gzy sse rotate --data DIR`: master key rotation for encryption at rest. The work
 * is s3__sse_rotate (src/s3/sse_rotate.c); this file parses options and prints the result.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "../migrate/seal.h"
#include "../s3/sse_int.h"
#include "sse_cli.h"

static void sse_usage(FILE *f)
{
    fprintf(f, "usage: gzy sse rotate --data DIR\n"
               "\n"
               "Adds a new master key to DIR/sse.keys and re-wraps the data key of every\n"
               "SSE-S3 / SM4 object under it; object bodies are not re-encrypted. Old keys\n"
               "stay in the file. SSE-C objects are untouched (their keys are the customer's).\n"
               "The server must be stopped. Exit: 0 done, 1 failed part-way, 2 could not run.\n");
}

int gz_cmd_sse(int argc, char **argv)
{
    const char *data = NULL;
    if (argc < 1 || strcmp(argv[0], "rotate") != 0) {
        sse_usage(argc >= 1 && (strcmp(argv[0], "--help") == 0 || strcmp(argv[0], "-h") == 0)
                      ? stdout
                      : stderr);
        return argc >= 1 && strcmp(argv[0], "--help") == 0 ? 0 : 2;
    }
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--data") == 0 && i + 1 < argc) {
            data = argv[++i];
        } else if (strncmp(argv[i], "--data=", 7) == 0) {
            data = argv[i] + 7;
        } else if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            sse_usage(stdout);
            return 0;
        } else {
            fprintf(stderr, "gzy sse rotate: unknown option %s\n", argv[i]);
            sse_usage(stderr);
            return 2;
        }
    }
    if (data == NULL) {
        sse_usage(stderr);
        return 2;
    }
    char msg[512] = "";
    int64_t n = 0;
    int rc = s3__sse_rotate(data, &n, msg, sizeof(msg));
    if (rc < 0) {
        fprintf(stderr, "gzy sse rotate: %s\n", msg[0] ? msg : gz_strerror(rc));
        return n > 0 || rc == GZ_ECORRUPT ? 1 : 2;
    }
    printf("rotated: new master key in %s/%s; %lld object(s) re-wrapped\n", data, SSE_KEYS_FILE,
           (long long)n);
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

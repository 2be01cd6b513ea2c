/*
 * admin_cli.h - private to `gzy admin` (src/cli/admin.c, src/cli/admin_out.c): the signed
 * HTTP client for the admin API and the plain-text output (aligned tables, field lists).
 */
#ifndef GZ_CLI_ADMIN_CLI_H
#define GZ_CLI_ADMIN_CLI_H

#include <cjson/cJSON.h>
#include <stdio.h>

#include "../util/util.h"

#define GZ_ADMIN_DEFAULT_ENDPOINT "http://127.0.0.1:9001"
#define GZ_ADMIN_MAX_RESPONSE (256 * 1024 * 1024)

/* Exit statuses (docs/admin-api.md). */
#define GZ_ADMIN_EXIT_OK 0
#define GZ_ADMIN_EXIT_API 1
#define GZ_ADMIN_EXIT_USAGE 2

struct gz_admin_client {
    void *curl;                 /* CURL * */
    char endpoint[512];         /* without a trailing '/' */
    char access[129];
    char secret[129];
    char sigv4[96];             /* "aws:amz:REGION:s3" */
    bool json;                  /* --json: print the API's JSON as received */
};

/* One answer: the HTTP status and the parsed document (NULL when empty). */
struct gz_admin_resp {
    long status;
    cJSON *doc;
    struct gz_buf raw;
};

int gz_admin_client_init(struct gz_admin_client *cl, const char *endpoint, const char *region);
void gz_admin_client_free(struct gz_admin_client *cl);
/* Signs (SigV4 via libcurl) and sends one call; path is under /admin/v1/ and already
 * encoded, query is "" or an encoded, sorted query string; body may be NULL (not consumed).
 * Returns GZ_ADMIN_EXIT_OK for a 2xx answer, else GZ_ADMIN_EXIT_API after printing the error
 * (code and message) to stderr. resp is filled in both cases; free it with
 * gz_admin_resp_free. */
int gz_admin_client_call(struct gz_admin_client *cl, const char *method, const char *path,
                         const char *query, const cJSON *body, struct gz_admin_resp *resp);
void gz_admin_resp_free(struct gz_admin_resp *resp);

/* Appends s percent-encoded (everything but A-Z a-z 0-9 - _ . ~) to b. */
int gz_admin_url_encode(struct gz_buf *b, const char *s);

/* ---- output ---- */

/* A cell's text: strings as they are, integers in decimal, -1 quota limits as "unlimited"
 * when limit is set, booleans as yes/no, missing as "-". Returns buf or the string itself. */
const char *gz_admin_cell(const cJSON *obj, const char *path, bool limit, char *buf, size_t n);

struct gz_admin_table {
    size_t ncols, nrows;
    char **cells;               /* (nrows + 1) * ncols, row 0 the header; owned */
};
void gz_admin_table_init(struct gz_admin_table *t, size_t ncols, const char *const *headers);
/* Adds a row of ncols strings (copied). */
void gz_admin_table_add(struct gz_admin_table *t, const char *const *cells);
void gz_admin_table_print(const struct gz_admin_table *t, FILE *out);
void gz_admin_table_free(struct gz_admin_table *t);

/* Prints an object's scalar fields as aligned "name: value" lines (nested objects as
 * "quota.max_bytes"), skipping arrays. */
void gz_admin_print_fields(const cJSON *obj, FILE *out);

/* Parses a byte size ("1048576", "10G", "512M", "1.5T": binary multiples) or a count;
 * "-1", "unlimited" and "none" give -1. -EINVAL if malformed. */
int gz_admin_size_parse(const char *s, bool allow_suffix, int64_t *out);

#endif

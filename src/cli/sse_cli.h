/*
 * sse_cli.h - `gzy sse rotate --data DIR [--sse-key-file PATH]` (src/cli/sse.c): adds a new
 * SSE master key and re-wraps every object's data key under it, offline (docs/encryption.md);
 * and the --sse-key-file plumbing `gzy serve` and `gzy migrate copy` share.
 * Exit status: 0 done, 1 failed part-way (every object stays readable; run it again),
 * 2 could not run (usage, the folder is in use by a server).
 */
#ifndef GZ_CLI_SSE_CLI_H
#define GZ_CLI_SSE_CLI_H

int gz_cmd_sse(int argc, char **argv);

struct s3_service;
/* The SSE master key file of this process (s3_sse_key_file_set): opt (a --sse-key-file
 * value) if given, else $GZY_SSE_KEY_FILE, else DATA/sse.keys. Call before starting any
 * thread that may use the keys. Prints the error. */
int gz_cli_sse_key_file(const char *opt);
/* `gzy serve`: key_file (the config's, which already folds in GZY_SSE_KEY_FILE) as the key
 * file, then s3_service_sse_check: refuses to start (message on stderr) when the folder's
 * encrypted objects cannot be opened with it. */
int gz_cli_sse_keys(struct s3_service *svc, const char *key_file);

struct gz_mig_sealer;
/* The migration engine's sealer (src/migrate/seal.h) over s3's implementation (sse.h,
 * s3_sse_seal_*) with svc as its context: `gzy serve` for jobs, `gzy migrate copy
 * --dest-data` with an offline service. svc must outlive every use of out. */
void gz_cli_mig_sealer(struct s3_service *svc, struct gz_mig_sealer *out);

#endif

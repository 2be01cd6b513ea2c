/*
 * sse_cli.h - `gzy sse rotate --data DIR` (src/cli/sse.c): adds a new SSE master key and
 * re-wraps every object's data key under it, offline (docs/encryption.md).
 * Exit status: 0 done, 1 failed part-way (every object stays readable; run it again),
 * 2 could not run (usage, the folder is in use by a server).
 */
#ifndef GZ_CLI_SSE_CLI_H
#define GZ_CLI_SSE_CLI_H

int gz_cmd_sse(int argc, char **argv);

struct gz_mig_sealer;
struct s3_service;
/* The migration engine's sealer (src/migrate/seal.h) over s3's implementation (sse.h,
 * s3_sse_seal_*) with svc as its context: `gzy serve` for jobs, `gzy migrate copy
 * --dest-data` with an offline service. svc must outlive every use of out. */
void gz_cli_mig_sealer(struct s3_service *svc, struct gz_mig_sealer *out);

#endif

/*
 * sse_cli.h - `gzy sse rotate --data DIR` (src/cli/sse.c): adds a new SSE master key and
 * re-wraps every object's data key under it, offline (docs/encryption.md).
 * Exit status: 0 done, 1 failed part-way (every object stays readable; run it again),
 * 2 could not run (usage, the folder is in use by a server).
 */
#ifndef GZ_CLI_SSE_CLI_H
#define GZ_CLI_SSE_CLI_H

int gz_cmd_sse(int argc, char **argv);

#endif

/* main.c - `gzy`: dispatches subcommands. */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/report_cli.h"
#include "cli/fsck_cli.h"
#include "cli/sse_cli.h"

#define GZY_VERSION "0.1.0"

static void usage(void)
{
    printf("gzy %s - guoziyun (国资云), the state asset cloud: an S3-compatible object store\n"
           "\n"
           "usage: gzy <command> [options]\n"
           "\n"
           "commands:\n"
           "  serve          run the S3 endpoint on a local data folder (gzy serve --help)\n"
           "  config dump    print the effective configuration of `serve` with these options\n"
           "  admin          tenants, users, keys, quotas, usage, audit (gzy admin --help)\n"
           "  report         supervision report: deadlines, progress, at-risk, violations\n"
           "  migrate copy   copy a bucket between S3 endpoints, verified and resumable\n"
           "  audit          verify, export or prune the audit log (gzy audit --help)\n"
           "  bench          S3 load generator: ops/s, MB/s, latency percentiles (gzy bench --help)\n"
           "  fsck           check (and --repair) a stopped server's data folder (gzy fsck --help)\n"
           "  scrub          verify every stored body against its checksum at a bounded rate\n"
           "  sse rotate     new SSE master key; re-wrap every object's data key (offline)\n"
           "  version        print the version\n"
           "  help           this text\n",
           GZY_VERSION);
}

int main(int argc, char **argv)
{
    if (argc < 2 || strcmp(argv[1], "help") == 0 || strcmp(argv[1], "--help") == 0 ||
        strcmp(argv[1], "-h") == 0) {
        usage();
        return argc < 2 ? 2 : 0;
    }
    if (strcmp(argv[1], "serve") == 0)
        return gz_cmd_serve(argc - 2, argv + 2);
    if (strcmp(argv[1], "admin") == 0)
        return gz_cmd_admin(argc - 2, argv + 2);
    if (strcmp(argv[1], "config") == 0)
        return gz_cmd_config(argc - 2, argv + 2);
    if (strcmp(argv[1], "migrate") == 0)
        return gz_cmd_migrate(argc - 2, argv + 2);
    if (strcmp(argv[1], "audit") == 0)
        return gz_cmd_audit(argc - 2, argv + 2);
    if (strcmp(argv[1], "report") == 0)
        return gz_cmd_report(argc - 2, argv + 2);
    if (strcmp(argv[1], "bench") == 0)
        return gz_cmd_bench(argc - 2, argv + 2);
    if (strcmp(argv[1], "fsck") == 0)
        return gz_cmd_fsck(argc - 2, argv + 2);
    if (strcmp(argv[1], "scrub") == 0)
        return gz_cmd_scrub(argc - 2, argv + 2);
    if (strcmp(argv[1], "sse") == 0)
        return gz_cmd_sse(argc - 2, argv + 2);
    if (strcmp(argv[1], "version") == 0 || strcmp(argv[1], "--version") == 0) {
        printf("gzy %s\n", GZY_VERSION);
        return 0;
    }
    fprintf(stderr, "gzy: unknown command '%s' (try gzy help)\n", argv[1]);
    return 2;
}

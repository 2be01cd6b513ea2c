/*
 * cli.h - subcommands and the one declarative configuration table (redis static_configs,
 * nginx ngx_command_t): option name, type, default, bounds, environment variable and help.
 * The parser, validation, `gzy serve --help` and `gzy config dump` all read the table.
 */
#ifndef GZ_CLI_H
#define GZ_CLI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Configuration of `gzy serve`, read-only once parsed. */
struct gz_config {
    char *data_dir;
    char *listen;
    char *admin_listen;         /* admin API HOST:PORT, or "off" */
    int64_t threads;
    char *domain;
    char *region;
    char *log_level;
    int64_t max_connections;
    int64_t max_connections_per_ip;
    int64_t header_timeout_ms;
    int64_t idle_timeout_ms;
    int64_t min_transfer_rate;  /* bytes/s a body or response must sustain (0 = no minimum) */
    int64_t rate_window_ms;     /* ... measured over windows this long */
    int64_t drain_ms;
    int64_t inline_max;
    int64_t audit_retention_days;
    int64_t console_session_ttl_s; /* web console session lifetime */
    char *tls_cert;             /* PEM chain; with tls_key: both listeners speak TLS */
    char *tls_key;
    char *sse_c_over_http;      /* "on" | "off": SSE-C keys accepted on plain HTTP */
    char *sse_key_file;         /* SSE master key file; NULL = DATA/sse.keys (s3.h) */
    char *verify_reads;         /* "on" | "off": GETs verify block CRCs (store.h, integrity) */
    char *scrub_rate;           /* background scrub bytes/s: "20M" (K, M, G; 0 = off) */
    char *scrub_interval;       /* between full scrub passes: "24h" (s, m, h, d; 0 = off) */
};

enum gz_config_type { GZ_CONF_STRING, GZ_CONF_INT };

struct gz_config_option {
    const char *name;           /* long option, without "--" */
    enum gz_config_type type;
    const char *default_value;  /* as text; NULL = unset */
    int64_t min, max;           /* for GZ_CONF_INT */
    const char *env;            /* environment variable, or NULL */
    size_t offset;              /* into struct gz_config */
    const char *help;
};

extern const struct gz_config_option gz_config_options[];
extern const size_t gz_config_noptions;

/* Fills cfg from defaults, then the environment, then argv (highest precedence). On error
 * prints a message naming the option to stderr and returns -EINVAL. */
int gz_config_parse(struct gz_config *cfg, int argc, char **argv);
void gz_config_free(struct gz_config *cfg);
void gz_config_usage(const char *cmd);
void gz_config_dump(const struct gz_config *cfg);
struct store_config;
/* Fills the integrity fields of a store_config (no_verify_reads, scrub_rate,
 * scrub_interval_ms) from cfg; -EINVAL (message on stderr) if a value does not parse. */
int gz_config_store_integrity(const struct gz_config *cfg, struct store_config *out);
/* An on/off option's value (NULL = def) into *out; -EINVAL with a message naming --name. */
int gz_config_on_off(const char *name, const char *v, bool def, bool *out);

int gz_cmd_serve(int argc, char **argv);
int gz_cmd_config(int argc, char **argv);
int gz_cmd_admin(int argc, char **argv);
int gz_cmd_audit(int argc, char **argv);
/* `gzy migrate copy ...` (src/cli/migrate.c); exit status 0 done, 1 failures, 2 usage. */
int gz_cmd_migrate(int argc, char **argv);
int gz_cmd_bench(int argc, char **argv);

#endif

/* config.c - the configuration table and its parser (see cli.h). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "../http/http.h"
#include "../store/store.h"
#include "../util/util.h"
#include "cli.h"

#define OFF(f) offsetof(struct gz_config, f)

const struct gz_config_option gz_config_options[] = {
    {"data", GZ_CONF_STRING, "./gzy-data", 0, 0, "GZY_DATA", OFF(data_dir),
     "data folder (index, object files, credential); created if missing"},
    {"listen", GZ_CONF_STRING, "127.0.0.1:9000", 0, 0, "GZY_LISTEN", OFF(listen),
     "S3 listener HOST:PORT ([::1]:PORT for IPv6, port 0 picks a free one)"},
    {"admin-listen", GZ_CONF_STRING, "127.0.0.1:9001", 0, 0, "GZY_ADMIN_LISTEN", OFF(admin_listen),
     "admin API listener HOST:PORT (JSON, SigV4; see docs/admin-api.md), or \"off\""},
    {"threads", GZ_CONF_INT, "2", 1, 256, "GZY_THREADS", OFF(threads),
     "event-loop threads serving connections"},
    {"domain", GZ_CONF_STRING, NULL, 0, 0, "GZY_DOMAIN", OFF(domain),
     "base domain for virtual-hosted-style requests (bucket.DOMAIN)"},
    {"region", GZ_CONF_STRING, "us-east-1", 0, 0, "GZY_REGION", OFF(region),
     "region name reported and accepted in signatures"},
    {"log-level", GZ_CONF_STRING, "info", 0, 0, "GZY_LOG_LEVEL", OFF(log_level),
     "error, warn, info or debug"},
    {"max-connections", GZ_CONF_INT, "10000", 1, 1000000, "GZY_MAX_CONNECTIONS",
     OFF(max_connections), "concurrent client connections"},
    {"max-connections-per-ip", GZ_CONF_INT, "1000", 0, 1000000, "GZY_MAX_CONNECTIONS_PER_IP",
     OFF(max_connections_per_ip),
     "concurrent connections from one client address (0 = no limit; 127.0.0.1, ::1 exempt)"},
    {"header-timeout-ms", GZ_CONF_INT, "30000", 100, 3600000, NULL, OFF(header_timeout_ms),
     "time allowed to send a request's headers"},
    {"idle-timeout-ms", GZ_CONF_INT, "60000", 100, 3600000, NULL, OFF(idle_timeout_ms),
     "idle keep-alive connections and stalled transfers are closed after this"},
    {"min-transfer-rate", GZ_CONF_INT, "512", 0, 1000000000, "GZY_MIN_TRANSFER_RATE",
     OFF(min_transfer_rate),
     "bytes/s a request body or response must sustain per window (0 = no minimum)"},
    {"rate-window-ms", GZ_CONF_INT, "10000", 100, 3600000, NULL, OFF(rate_window_ms),
     "window over which --min-transfer-rate is measured"},
    {"drain-ms", GZ_CONF_INT, "30000", 0, 3600000, NULL, OFF(drain_ms),
     "on SIGTERM/SIGINT, time in-flight requests get to finish"},
    {"audit-retention-days", GZ_CONF_INT, "180", 1, 36500, "GZY_AUDIT_RETENTION_DAYS",
     OFF(audit_retention_days), "audit log entries older than this are pruned (checkpointed)"},
    {"tls-cert", GZ_CONF_STRING, NULL, 0, 0, "GZY_TLS_CERT", OFF(tls_cert),
     "PEM certificate chain: the S3 and admin listeners speak TLS 1.2/1.3 (SIGHUP reloads)"},
    {"tls-key", GZ_CONF_STRING, NULL, 0, 0, "GZY_TLS_KEY", OFF(tls_key),
     "PEM private key of --tls-cert"},
    {"console-session-ttl", GZ_CONF_INT, "28800", 1, 30 * 86400, "GZY_CONSOLE_SESSION_TTL",
     OFF(console_session_ttl_s), "web console sessions end this many seconds after sign-in"},
    {"inline-max", GZ_CONF_INT, "65536", 0, 1048576, NULL, OFF(inline_max),
     "objects up to this many bytes are kept inline in the index"},
    {"sse-c-over-http", GZ_CONF_STRING, "off", 0, 0, "GZY_SSE_C_OVER_HTTP",
     OFF(sse_c_over_http),
     "on: accept SSE-C customer keys on plain HTTP (off, like AWS: only over TLS)"},
    {"sse-key-file", GZ_CONF_STRING, NULL, 0, 0, "GZY_SSE_KEY_FILE", OFF(sse_key_file),
     "SSE master key file, best outside the data folder (default DATA/sse.keys)"},
    {"verify-reads", GZ_CONF_STRING, "on", 0, 0, "GZY_VERIFY_READS", OFF(verify_reads),
     "on: GETs check every block's CRC32C (no sendfile); off: file bodies go out unchecked"},
    {"scrub-rate", GZ_CONF_STRING, "20M", 0, 0, "GZY_SCRUB_RATE", OFF(scrub_rate),
     "background scrub reads at most this many bytes/s (K, M, G suffixes; 0 = no scrub)"},
    {"scrub-interval", GZ_CONF_STRING, "24h", 0, 0, "GZY_SCRUB_INTERVAL", OFF(scrub_interval),
     "pause between full scrub passes (s, m, h, d suffixes; 0 = no scrub)"},
};
const size_t gz_config_noptions = GZ_ARRAY_LEN(gz_config_options);

static int option_set(struct gz_config *cfg, const struct gz_config_option *o, const char *v,
                      const char *from)
{
    char *base = (char *)cfg + o->offset;
    if (o->type == GZ_CONF_STRING) {
        char **dst = (char **)(void *)base;
        gz_free(*dst);
        *dst = gz_strdup(v);
        return 0;
    }
    char *end = NULL;
    errno = 0;
    long long n = strtoll(v, &end, 10);
    if (errno || end == v || *end != '\0' || n < o->min || n > o->max) {
        fprintf(stderr, "gzy: %s %s: '%s' is not an integer in [%lld, %lld]\n", from, o->name,
                v, (long long)o->min, (long long)o->max);
        return -EINVAL;
    }
    *(int64_t *)(void *)base = n;
    return 0;
}

static const struct gz_config_option *option_find(const char *name, size_t len)
{
    for (size_t i = 0; i < gz_config_noptions; i++)
        if (strlen(gz_config_options[i].name) == len &&
            strncmp(gz_config_options[i].name, name, len) == 0)
            return &gz_config_options[i];
    return NULL;
}

int gz_config_parse(struct gz_config *cfg, int argc, char **argv)
{
    memset(cfg, 0, sizeof(*cfg));
    for (size_t i = 0; i < gz_config_noptions; i++) {
        const struct gz_config_option *o = &gz_config_options[i];
        if (o->default_value && option_set(cfg, o, o->default_value, "default") < 0)
            return -EINVAL;
        const char *env = o->env ? getenv(o->env) : NULL;
        if (env && *env && option_set(cfg, o, env, o->env) < 0)
            return -EINVAL;
    }
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        if (strncmp(a, "--", 2) != 0) {
            fprintf(stderr, "gzy: unexpected argument '%s' (see --help)\n", a);
            return -EINVAL;
        }
        const char *eq = strchr(a + 2, '=');
        size_t nlen = eq ? (size_t)(eq - a - 2) : strlen(a + 2);
        const struct gz_config_option *o = option_find(a + 2, nlen);
        if (o == NULL) {
            fprintf(stderr, "gzy: unknown option '%s' (see --help)\n", a);
            return -EINVAL;
        }
        const char *v = eq ? eq + 1 : (i + 1 < argc ? argv[++i] : NULL);
        if (v == NULL) {
            fprintf(stderr, "gzy: option --%s needs a value\n", o->name);
            return -EINVAL;
        }
        if (option_set(cfg, o, v, "option --") < 0)
            return -EINVAL;
    }
    return 0;
}

void gz_config_free(struct gz_config *cfg)
{
    for (size_t i = 0; i < gz_config_noptions; i++) {
        const struct gz_config_option *o = &gz_config_options[i];
        if (o->type == GZ_CONF_STRING) {
            char **p = (char **)(void *)((char *)cfg + o->offset);
            gz_free(*p);
            *p = NULL;
        }
    }
}

void gz_config_usage(const char *cmd)
{
    printf("usage: gzy %s [options]\n\noptions (environment variable in brackets):\n", cmd);
    for (size_t i = 0; i < gz_config_noptions; i++) {
        const struct gz_config_option *o = &gz_config_options[i];
        char left[64];
        snprintf(left, sizeof(left), "--%s %s", o->name, o->type == GZ_CONF_INT ? "N" : "S");
        printf("  %-26s %s", left, o->help);
        if (o->default_value)
            printf(" (default %s)", o->default_value);
        if (o->env)
            printf(" [%s]", o->env);
        printf("\n");
    }
    printf("\nadmin credential: GZY_ROOT_ACCESS_KEY and GZY_ROOT_SECRET_KEY set it; otherwise\n"
           "one is generated on first start, printed once and kept in DATA/root-credential "
           "(mode 0600).\n");
}

void gz_config_dump(const struct gz_config *cfg)
{
    for (size_t i = 0; i < gz_config_noptions; i++) {
        const struct gz_config_option *o = &gz_config_options[i];
        const char *base = (const char *)cfg + o->offset;
        if (o->type == GZ_CONF_STRING) {
            const char *v = *(char *const *)(const void *)base;
            printf("%s = %s\n", o->name, v ? v : "");
        } else {
            printf("%s = %lld\n", o->name, (long long)*(const int64_t *)(const void *)base);
        }
    }
}

int gz_cmd_config(int argc, char **argv)
{
    struct gz_config cfg;
    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            printf("gzy config dump [serve options]: prints the configuration `gzy serve` would\n"
                   "run with these options and the environment, one `name = value` a line.\n\n");
            gz_config_usage("config dump");
            return 0;
        }
    }
    if (argc < 1 || strcmp(argv[0], "dump") != 0) {
        fprintf(stderr, "usage: gzy config dump [serve options]\n");
        return 2;
    }
    if (gz_config_parse(&cfg, argc - 1, argv + 1) < 0) {
        gz_config_free(&cfg);
        return 2;
    }
    gz_config_dump(&cfg);
    gz_config_free(&cfg);
    return 0;
}

/* "20M" -> 20971520 with mult[] for the suffixes in sfx (no suffix: unit). */
static int config_scaled(const char *v, const char *sfx, const int64_t *mult, int64_t unit,
                         int64_t *out)
{
    char *end = NULL;
    errno = 0;
    long long n = strtoll(v ? v : "", &end, 10);
    if (errno || end == v || n < 0)
        return -EINVAL;
    int64_t m = unit;
    if (*end != '\0') {
        const char *p = strchr(sfx, *end >= 'a' && *end <= 'z' ? *end - 32 : *end);
        if (p == NULL || end[1] != '\0')
            return -EINVAL;
        m = mult[p - sfx];
    }
    if (n > INT64_MAX / m)
        return -EINVAL;
    *out = (int64_t)n * m;
    return 0;
}

int gz_config_on_off(const char *name, const char *v, bool def, bool *out)
{
    if (v == NULL) {
        *out = def;
        return 0;
    }
    if (strcmp(v, "on") != 0 && strcmp(v, "off") != 0) {
        fprintf(stderr, "gzy: --%s: '%s' is neither on nor off\n", name, v);
        return -EINVAL;
    }
    *out = strcmp(v, "on") == 0;
    return 0;
}

int gz_config_store_integrity(const struct gz_config *cfg, struct store_config *out)
{
    static const int64_t bytes[] = {1024, 1024 * 1024, 1024 * 1024 * 1024};
    static const int64_t ms[] = {1000, 60 * 1000, 3600 * 1000, 86400 * 1000};
    bool verify;
    if (gz_config_on_off("verify-reads", cfg->verify_reads, true, &verify) < 0)
        return -EINVAL;
    out->no_verify_reads = !verify;
    if (config_scaled(cfg->scrub_rate ? cfg->scrub_rate : "0", "KMG", bytes, 1,
                      &out->scrub_rate) < 0) {
        fprintf(stderr, "gzy: --scrub-rate: '%s' is not a rate like 20M\n", cfg->scrub_rate);
        return -EINVAL;
    }
    if (config_scaled(cfg->scrub_interval ? cfg->scrub_interval : "0", "SMHD", ms, 1000,
                      &out->scrub_interval_ms) < 0) {
        fprintf(stderr, "gzy: --scrub-interval: '%s' is not a duration like 24h\n",
                cfg->scrub_interval);
        return -EINVAL;
    }
    return 0;
}

/*
 * report.c - reports rendered from a status document (status.c), so that the API's JSON, its
 * CSV and HTML, and `gzy report` all show the same numbers: CSV (RFC 4180) and a printable,
 * self-contained HTML page whose charts are inline SVG drawn here (no script, no external
 * resource: the supervisor files it as it is).
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "registry.h"

/* ---- reading the document ---- */

static const char *str_of(const cJSON *o, const char *name)
{
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(o, name);
    return cJSON_IsString(it) ? it->valuestring : "";
}

/* Integers are exact raw numbers in a document built by status.c, doubles once parsed. */
static int64_t int_of(const cJSON *o, const char *name)
{
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(o, name);
    if (cJSON_IsRaw(it))
        return strtoll(it->valuestring, NULL, 10);
    return cJSON_IsNumber(it) ? (int64_t)it->valuedouble : 0;
}

static bool is_null(const cJSON *o, const char *name)
{
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(o, name);
    return it == NULL || cJSON_IsNull(it);
}

static int32_t date_of(const cJSON *o, const char *name)
{
    int32_t d;
    return registry_date_parse(str_of(o, name), &d) == 0 ? d : REGISTRY_NO_DATE;
}

void registry_format_bytes(int64_t n, char out[32])
{
    static const char *const units[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
    double v = (double)n;
    int u = 0;
    while (v >= 1024 && u < 6) {
        v /= 1024;
        u++;
    }
    if (u == 0)
        snprintf(out, 32, "%lld B", (long long)n);
    else
        snprintf(out, 32, "%.1f %s", v, units[u]);
}

/* ---- CSV ---- */

static int csv_field(struct gz_buf *b, const char *s, bool last)
{
    int rc = 0;
    if (strpbrk(s, ",\"\r\n") != NULL) {
        rc |= gz_buf_append(b, "\"", 1);
        for (const char *p = s; *p; p++)
            rc |= *p == '"' ? gz_buf_append(b, "\"\"", 2) : gz_buf_append(b, p, 1);
        rc |= gz_buf_append(b, "\"", 1);
    } else {
        rc |= gz_buf_append_cstr(b, s);
    }
    rc |= gz_buf_append(b, last ? "\r\n" : ",", last ? 2 : 1);
    return rc ? -ENOSPC : 0;
}

static const char *const csv_cols[] = {
    "tenant",
    "tenant_id",
    "status",
    "deadline",
    "days_left",
    "bytes_total",
    "bytes_moved",
    "objects_total",
    "objects_moved",
    "bytes_verified",
    "objects_verified",
    "rate_bps",
    "projected_finish",
    "contracts",
    "violations",
    "as_of",
    NULL,
};

int registry_report_csv(const cJSON *status, struct gz_buf *out)
{
    const cJSON *t;
    char num[32];
    int rc = 0;
    for (int i = 0; csv_cols[i] && rc == 0; i++)
        rc = csv_field(out, csv_cols[i], csv_cols[i + 1] == NULL);
    cJSON_ArrayForEach(t, cJSON_GetObjectItemCaseSensitive(status, "tenants"))
    {
        for (int i = 0; csv_cols[i] && rc == 0; i++) {
            const char *col = csv_cols[i], *v;
            const cJSON *it = cJSON_GetObjectItemCaseSensitive(t, col);
            if (strcmp(col, "as_of") == 0) {
                v = str_of(status, "as_of");
            } else if (strcmp(col, "violations") == 0) {
                snprintf(num, sizeof(num), "%d", cJSON_GetArraySize(it));
                v = num;
            } else if (cJSON_IsNumber(it) || cJSON_IsRaw(it)) {
                snprintf(num, sizeof(num), "%lld", (long long)int_of(t, col));
                v = num;
            } else {
                v = cJSON_IsString(it) ? it->valuestring : "";
            }
            rc = csv_field(out, v, csv_cols[i + 1] == NULL);
        }
    }
    return rc;
}

/* ---- HTML ---- */

static void html_esc(struct gz_buf *b, const char *s)
{
    gz_buf_append_xml(b, gz_slice_cstr(s));
}

#define HTML_UNKNOWN "未知 unknown"

/* The page is bilingual (Chinese, then English) throughout: a status reads as its card. */
static const char *status_label(const char *s)
{
    static const struct {
        const char *name, *label;
    } labels[] = {
        {"not-started", "未开始 Not started"}, {"migrating", "迁移中 Migrating"},
        {"at-risk", "有风险 At risk"},         {"verified", "已校验 Verified"},
        {"overdue", "逾期 Overdue"},           {"cut-over", "已切换 Cut over"},
        {"violation", "违规 Violation"},
    };
    for (size_t i = 0; i < GZ_ARRAY_LEN(labels); i++)
        if (strcmp(s, labels[i].name) == 0)
            return labels[i].label;
    return s;
}

/* "512 B", or the unknown mark for a null size. */
static void size_text(const cJSON *o, const char *name, char out[32])
{
    if (is_null(o, name))
        snprintf(out, 32, "%s", HTML_UNKNOWN);
    else
        registry_format_bytes(int_of(o, name), out);
}

static const char *status_color(const char *s)
{
    static const struct {
        const char *name, *color;
    } colors[] = {
        {"not-started", "#9e9e9e"}, {"migrating", "#1e88e5"}, {"at-risk", "#fb8c00"},
        {"verified", "#43a047"},    {"overdue", "#e53935"},   {"cut-over", "#1b5e20"},
        {"violation", "#8e24aa"},
    };
    for (size_t i = 0; i < GZ_ARRAY_LEN(colors); i++)
        if (strcmp(s, colors[i].name) == 0)
            return colors[i].color;
    return "#607d8b";
}

static const char html_css[] =
    "body{font-family:'Noto Sans CJK SC','Microsoft YaHei',Helvetica,Arial,sans-serif;"
    "margin:24px;color:#212121;font-size:13px}"
    "h1{font-size:20px;margin:0 0 4px}h2{font-size:15px;margin:22px 0 6px;"
    "border-bottom:1px solid #bdbdbd;padding-bottom:3px}"
    ".meta{color:#616161;margin:0 0 12px}"
    ".cards{display:flex;flex-wrap:wrap;gap:8px}.card{border:1px solid #e0e0e0;"
    "border-radius:4px;padding:6px 10px;min-width:110px}.card b{display:block;font-size:18px}"
    "table{border-collapse:collapse;width:100%}th,td{border:1px solid #e0e0e0;padding:3px 6px;"
    "text-align:left}th{background:#f5f5f5}td.n{text-align:right}"
    ".st{color:#fff;border-radius:3px;padding:1px 5px;white-space:nowrap}"
    "svg{max-width:100%;height:auto}svg text{font-size:11px;fill:#424242}"
    "@media print{body{margin:10mm}h2{page-break-after:avoid}tr,svg{page-break-inside:avoid}}";

static void html_card(struct gz_buf *b, const char *label, const char *value)
{
    gz_buf_appendf(b, "<div class=\"card\"><b>");
    html_esc(b, value);
    gz_buf_appendf(b, "</b>%s</div>", label);
}

static void html_head(struct gz_buf *b, const cJSON *status)
{
    const cJSON *p = cJSON_GetObjectItemCaseSensitive(status, "policy");
    const cJSON *tot = cJSON_GetObjectItemCaseSensitive(status, "totals");
    char v[96], m[32], t[32];
    gz_buf_appendf(b, "<!DOCTYPE html>\n<html lang=\"zh-CN\"><head><meta charset=\"utf-8\">"
                      "<title>迁移监管报告 Migration supervision report ");
    html_esc(b, str_of(status, "as_of"));
    gz_buf_appendf(b, "</title><style>%s</style></head><body>\n", html_css);
    gz_buf_appendf(b, "<h1>国资云数据迁移监管报告 · Migration supervision report</h1>"
                      "<p class=\"meta\">截至 As of <b>");
    html_esc(b, str_of(status, "as_of"));
    gz_buf_appendf(b, "</b> · 政策 Policy <b>");
    html_esc(b, str_of(p, "name"));
    gz_buf_appendf(b, "</b> (v%lld): 通知日 notice date ", (long long)int_of(p, "version"));
    html_esc(b, str_of(p, "notice_date"));
    gz_buf_appendf(b, ", 宽限 grace %lld 个月 months, 最终截止 final deadline ",
                   (long long)int_of(p, "grace_months"));
    html_esc(b, is_null(p, "final_deadline") ? "无 none" : str_of(p, "final_deadline"));
    gz_buf_appendf(b,
                   ", 剩余不足 %lld 天即有风险 at risk with fewer than %lld days left, "
                   "时区 dates in ",
                   (long long)int_of(p, "at_risk_days"), (long long)int_of(p, "at_risk_days"));
    html_esc(b, str_of(p, "time_zone"));
    gz_buf_appendf(b, "</p>\n<div class=\"cards\">");
    snprintf(v, sizeof(v), "%lld", (long long)int_of(tot, "tenants"));
    html_card(b, "企业 Tenants", v);
    registry_format_bytes(int_of(tot, "bytes_moved"), m);
    size_text(tot, "bytes_total", t);
    snprintf(v, sizeof(v), "%s / %s", m, t);
    html_card(b, "已迁移 Data moved", v);
    registry_format_bytes(int_of(tot, "bytes_verified"), m);
    snprintf(v, sizeof(v), "%s / %s", m, t);
    html_card(b, "已校验数据 Data verified", v);
    if (int_of(tot, "unsized_tenants") > 0) { /* the total above leaves them out */
        snprintf(v, sizeof(v), "%lld", (long long)int_of(tot, "unsized_tenants"));
        html_card(b, "规模未知 Size unknown", v);
    }
    static const char *const keys[][2] = {
        {"at_risk", "有风险 At risk"},         {"overdue", "逾期 Overdue"},
        {"violations", "违规 Violations"},     {"verified", "已校验 Verified"},
        {"cut_over", "已切换 Cut over"},       {"migrating", "迁移中 Migrating"},
        {"not_started", "未开始 Not started"}, {"past_deadline", "逾期未完成 Past deadline"},
    };
    for (size_t i = 0; i < GZ_ARRAY_LEN(keys); i++) {
        snprintf(v, sizeof(v), "%lld", (long long)int_of(tot, keys[i][0]));
        html_card(b, keys[i][1], v);
    }
    gz_buf_appendf(b, "</div>\n");
}

#define CHART_W 860
#define LABEL_W 170
#define ROW_H 22

/* Horizontal bars: each tenant's total (grey) and moved (green), scaled to the largest. */
static void html_bars(struct gz_buf *b, const cJSON *tenants)
{
    const cJSON *t;
    int64_t max = 1;
    int n = cJSON_GetArraySize(tenants), y = 0;
    cJSON_ArrayForEach(t, tenants)
    {
        if (int_of(t, "bytes_total") > max)
            max = int_of(t, "bytes_total");
    }
    int bar_w = CHART_W - LABEL_W - 170;
    gz_buf_appendf(b,
                   "<h2>迁移进度 Data moved vs total</h2>\n<svg xmlns=\"http://www.w3.org/2000"
                   "/svg\" role=\"img\" width=\"%d\" height=\"%d\" viewBox=\"0 0 %d %d\">",
                   CHART_W, n * ROW_H + 10, CHART_W, n * ROW_H + 10);
    cJSON_ArrayForEach(t, tenants)
    {
        int64_t tot = int_of(t, "bytes_total"), mv = int_of(t, "bytes_moved");
        double wt = (double)tot / (double)max * bar_w, wm = tot > 0 ? wt * mv / tot : 0;
        char a[32], c[32], pct[16] = "";
        registry_format_bytes(mv, a);
        size_text(t, "bytes_total", c);
        if (!is_null(t, "bytes_total"))
            snprintf(pct, sizeof(pct), " (%.0f%%)", tot > 0 ? 100.0 * mv / tot : 0.0);
        gz_buf_appendf(b, "<text x=\"%d\" y=\"%d\" text-anchor=\"end\">", LABEL_W - 6, y + 15);
        html_esc(b, str_of(t, "tenant"));
        gz_buf_appendf(b,
                       "</text><rect x=\"%d\" y=\"%d\" width=\"%.1f\" height=\"14\" "
                       "fill=\"#e0e0e0\"/><rect x=\"%d\" y=\"%d\" width=\"%.1f\" height=\"14\" "
                       "fill=\"#43a047\"/><text x=\"%d\" y=\"%d\">%s / %s%s</text>",
                       LABEL_W, y + 4, wt > 1 || tot == 0 ? wt : 1.0, LABEL_W, y + 4, wm,
                       LABEL_W + bar_w + 8, y + 15, a, c, pct);
        y += ROW_H;
    }
    gz_buf_appendf(b, "</svg>\n");
}

/* The date range [lo, hi] the timeline shows: today, every deadline, the final deadline. */
static void timeline_range(const cJSON *status, int32_t *lo, int32_t *hi)
{
    const cJSON *t;
    int32_t today = date_of(status, "as_of");
    int32_t fin = date_of(cJSON_GetObjectItemCaseSensitive(status, "policy"), "final_deadline");
    *lo = *hi = today;
    if (fin != REGISTRY_NO_DATE) {
        *lo = fin < *lo ? fin : *lo;
        *hi = fin > *hi ? fin : *hi;
    }
    cJSON_ArrayForEach(t, cJSON_GetObjectItemCaseSensitive(status, "tenants"))
    {
        int32_t d = date_of(t, "deadline");
        if (d == REGISTRY_NO_DATE)
            continue;
        *lo = d < *lo ? d : *lo;
        *hi = d > *hi ? d : *hi;
    }
    *lo = registry_date_add_months(*lo, -1);
    *hi = registry_date_add_months(*hi, 1);
}

static double timeline_x(int32_t d, int32_t lo, int32_t hi)
{
    return LABEL_W + (double)(d - lo) / (double)(hi - lo) * (CHART_W - LABEL_W - 20);
}

static void timeline_axis(struct gz_buf *b, int32_t lo, int32_t hi, int h)
{
    int y, m, d;
    registry_date_to_ymd(lo, &y, &m, &d);
    int step = hi - lo > 3 * 366 ? 12 : hi - lo > 400 ? 3 : 1;
    for (int32_t day = registry_date_from_ymd(y, m, 1); day <= hi;
         day = registry_date_add_months(day, step)) {
        if (day < lo)
            continue;
        double x = timeline_x(day, lo, hi);
        registry_date_to_ymd(day, &y, &m, &d);
        gz_buf_appendf(b,
                       "<line x1=\"%.1f\" y1=\"14\" x2=\"%.1f\" y2=\"%d\" stroke=\"#eeeeee\"/>"
                       "<text x=\"%.1f\" y=\"10\" text-anchor=\"middle\">%04d-%02d</text>",
                       x, x, h, x, y, m);
    }
}

/* A dashed line from the axis to the label band under the tenants' rows; its label on a line
 * of the band of its own (row), anchored so that it stays inside the chart: nothing else is
 * drawn there, so it cannot collide with a tenant's label however close the dates are. */
static void timeline_marker(struct gz_buf *b, int32_t d, int32_t lo, int32_t hi, int band_y,
                            int row, const char *color, const char *label)
{
    double x = timeline_x(d, lo, hi);
    const char *anchor = x > CHART_W - 90 ? "end" : x < LABEL_W + 60 ? "start" : "middle";
    gz_buf_appendf(b,
                   "<line x1=\"%.1f\" y1=\"14\" x2=\"%.1f\" y2=\"%d\" stroke=\"%s\" "
                   "stroke-dasharray=\"4 3\"/><text x=\"%.1f\" y=\"%d\" fill=\"%s\" "
                   "text-anchor=\"%s\">%s</text>",
                   x, x, band_y + row * 14 + 4, color, x, band_y + 14 + row * 14, color, anchor,
                   label);
}

static void timeline_row(struct gz_buf *b, const cJSON *t, int32_t lo, int32_t hi, int y)
{
    int32_t d = date_of(t, "deadline");
    const char *st = str_of(t, "status");
    gz_buf_appendf(b, "<text x=\"%d\" y=\"%d\" text-anchor=\"end\">", LABEL_W - 6, y + 14);
    html_esc(b, str_of(t, "tenant"));
    gz_buf_appendf(b, "</text>");
    if (d == REGISTRY_NO_DATE) {
        gz_buf_appendf(b, "<text x=\"%d\" y=\"%d\" fill=\"#9e9e9e\">无截止日期 no deadline</text>",
                       LABEL_W + 4, y + 14);
        return;
    }
    double x = timeline_x(d, lo, hi);
    char ds[11];
    registry_date_format(d, ds);
    bool left = x > CHART_W - 180; /* keep the label inside the chart */
    gz_buf_appendf(b,
                   "<circle cx=\"%.1f\" cy=\"%d\" r=\"6\" fill=\"%s\"/>"
                   "<text x=\"%.1f\" y=\"%d\"%s>%s %s</text>",
                   x, y + 10, status_color(st), left ? x - 9 : x + 9, y + 14,
                   left ? " text-anchor=\"end\"" : "", ds, status_label(st));
}

/* One row per tenant: its deadline as a dot in its status colour; today and the final
 * deadline as dashed lines labelled in a band under the rows. */
static void html_timeline(struct gz_buf *b, const cJSON *status)
{
    const cJSON *tenants = cJSON_GetObjectItemCaseSensitive(status, "tenants"), *t;
    int32_t lo, hi;
    int n = cJSON_GetArraySize(tenants), y = 20, band = 20 + n * ROW_H + 4, h = band + 36;
    timeline_range(status, &lo, &hi);
    gz_buf_appendf(b,
                   "<h2>截止日期时间线 Deadline timeline</h2>\n<svg xmlns=\"http://www.w3.org/"
                   "2000/svg\" role=\"img\" width=\"%d\" height=\"%d\" viewBox=\"0 0 %d %d\">",
                   CHART_W, h, CHART_W, h);
    timeline_axis(b, lo, hi, band);
    cJSON_ArrayForEach(t, tenants)
    {
        timeline_row(b, t, lo, hi, y);
        y += ROW_H;
    }
    timeline_marker(b, date_of(status, "as_of"), lo, hi, band, 0, "#e53935", "今天 today");
    int32_t fin = date_of(cJSON_GetObjectItemCaseSensitive(status, "policy"), "final_deadline");
    if (fin != REGISTRY_NO_DATE)
        timeline_marker(b, fin, lo, hi, band, 1, "#6a1b9a", "最终截止 final deadline");
    gz_buf_appendf(b, "</svg>\n");
}

static void html_cell(struct gz_buf *b, const char *s, bool num)
{
    gz_buf_appendf(b, "<td%s>", num ? " class=\"n\"" : "");
    html_esc(b, s[0] ? s : "-");
    gz_buf_appendf(b, "</td>");
}

static void html_row(struct gz_buf *b, const cJSON *t)
{
    char v[96], m[32], tot[32];
    const char *st = str_of(t, "status");
    gz_buf_appendf(b, "<tr>");
    html_cell(b, str_of(t, "tenant"), false);
    gz_buf_appendf(b, "<td><span class=\"st\" style=\"background:%s\">", status_color(st));
    html_esc(b, status_label(st));
    gz_buf_appendf(b, "</span></td>");
    html_cell(b, str_of(t, "deadline"), false);
    snprintf(v, sizeof(v), "%lld", (long long)int_of(t, "days_left"));
    html_cell(b, is_null(t, "days_left") ? "" : v, true);
    registry_format_bytes(int_of(t, "bytes_moved"), m);
    size_text(t, "bytes_total", tot);
    snprintf(v, sizeof(v), "%s / %s", m, tot);
    html_cell(b, v, true);
    snprintf(tot, sizeof(tot), "%lld", (long long)int_of(t, "objects_total"));
    snprintf(v, sizeof(v), "%lld / %s", (long long)int_of(t, "objects_moved"),
             is_null(t, "objects_total") ? HTML_UNKNOWN : tot);
    html_cell(b, v, true);
    registry_format_bytes(int_of(t, "bytes_verified"), m);
    snprintf(v, sizeof(v), "%s / %lld", m, (long long)int_of(t, "objects_verified"));
    html_cell(b, v, true);
    registry_format_bytes(int_of(t, "rate_bps"), m);
    snprintf(v, sizeof(v), "%s/s", m);
    html_cell(b, int_of(t, "rate_bps") > 0 ? v : "", true);
    html_cell(b, is_null(t, "projected_finish") ? HTML_UNKNOWN : str_of(t, "projected_finish"),
              false);
    snprintf(v, sizeof(v), "%lld", (long long)int_of(t, "contracts"));
    html_cell(b, v, true);
    gz_buf_appendf(b, "</tr>\n");
}

static void html_tables(struct gz_buf *b, const cJSON *tenants)
{
    const cJSON *t, *v;
    bool any = false;
    gz_buf_appendf(b, "<h2>企业明细 Tenants</h2>\n<table><tr><th>企业 Tenant</th>"
                      "<th>状态 Status</th><th>截止日期 Deadline</th><th>剩余天数 Days left</th>"
                      "<th>已迁移 / 总量 Moved / total</th><th>对象 Objects</th>"
                      "<th>已校验 Verified (bytes / objects)</th>"
                      "<th>速率 Rate</th><th>预计完成 Projected</th><th>合同 Contracts</th>"
                      "</tr>\n");
    cJSON_ArrayForEach(t, tenants)
    {
        html_row(b, t);
    }
    gz_buf_appendf(b, "</table>\n<h2>违规合同 Violations</h2>\n<ul>");
    cJSON_ArrayForEach(t, tenants)
    {
        cJSON_ArrayForEach(v, cJSON_GetObjectItemCaseSensitive(t, "violations"))
        {
            gz_buf_appendf(b, "<li><b>");
            html_esc(b, str_of(t, "tenant"));
            gz_buf_appendf(b, "</b>: 合同 contract ");
            html_esc(b, str_of(v, "contract_id"));
            gz_buf_appendf(b, " (");
            html_esc(b, str_of(v, "provider"));
            gz_buf_appendf(b, ") ");
            html_esc(b, str_of(v, "reason"));
            gz_buf_appendf(b, "</li>");
            any = true;
        }
    }
    gz_buf_appendf(b, "%s</ul>\n", any ? "" : "<li>无 None</li>");
}

int registry_report_html(const cJSON *status, struct gz_buf *out)
{
    const cJSON *tenants = cJSON_GetObjectItemCaseSensitive(status, "tenants");
    html_head(out, status);
    html_bars(out, tenants);
    html_timeline(out, status);
    html_tables(out, tenants);
    gz_buf_appendf(out, "</body></html>\n");
    /* gz_buf refuses appends past its max; no page comes near it but a truncated one is
     * refused rather than served */
    return out->len + 4096 >= out->max ? -ENOSPC : 0;
}

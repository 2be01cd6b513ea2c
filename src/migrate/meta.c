/*
 * meta.c - the metadata carried from source to destination, and what cannot be:
 * Content-Type, Cache-Control, Content-Disposition, Content-Encoding, Content-Language,
 * Expires and user metadata (x-amz-meta-*, and the provider's own prefix mapped to it).
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "migrate_int.h"

static const char *const standard[] = {
    "content-type", "cache-control", "content-disposition", "content-encoding",
    "content-language", "expires",
};

static bool put_lower(char *out, size_t outsz, const char *a, const char *b, size_t blen)
{
    size_t al = strlen(a);
    if (al + blen + 1 > outsz)
        return false;
    memcpy(out, a, al);
    for (size_t i = 0; i < blen; i++)
        out[al + i] = (char)tolower((unsigned char)b[i]);
    out[al + blen] = '\0';
    return true;
}

bool gz_migrate_meta_map(const struct gz_mig_preset *preset, const char *name, size_t namelen,
                         char *out, size_t outsz)
{
    for (size_t i = 0; i < sizeof(standard) / sizeof(standard[0]); i++)
        if (strlen(standard[i]) == namelen && strncasecmp(name, standard[i], namelen) == 0)
            return put_lower(out, outsz, "", name, namelen);
    static const char amz[] = "x-amz-meta-";
    size_t al = sizeof(amz) - 1;
    if (namelen > al && strncasecmp(name, amz, al) == 0)
        return put_lower(out, outsz, amz, name + al, namelen - al);
    const char *pp = preset ? preset->meta_prefix : NULL;
    size_t pl = pp ? strlen(pp) : 0;
    if (pp && namelen > pl && strncasecmp(name, pp, pl) == 0)
        return put_lower(out, outsz, amz, name + pl, namelen - pl);
    return false;
}

struct curl_slist *mig_meta_headers(const struct gz_mig_preset *preset,
                                    const struct mig_resp *src)
{
    struct curl_slist *h = NULL;
    bool has_type = false;
    const char *p = src->headers.ptr, *end = p ? p + src->headers.len : NULL;
    char name[256];
    while (p && p < end) {
        const char *eol = memchr(p, '\n', (size_t)(end - p));
        const char *le = eol ? eol : end;
        const char *colon = memchr(p, ':', (size_t)(le - p));
        if (colon && gz_migrate_meta_map(preset, p, (size_t)(colon - p), name, sizeof(name))) {
            const char *v = colon + 1, *ve = le;
            while (v < ve && (*v == ' ' || *v == '\t'))
                v++;
            while (ve > v && (ve[-1] == '\r' || ve[-1] == ' '))
                ve--;
            struct gz_buf line;
            gz_buf_init(&line, 16384);
            if (gz_buf_appendf(&line, "%s: %.*s", name, (int)(ve - v), v) == 0 &&
                gz_buf_terminate(&line) == 0) {
                h = curl_slist_append(h, line.ptr);
                has_type |= strcmp(name, "content-type") == 0;
            }
            gz_buf_free(&line);
        }
        p = le + 1;
    }
    if (!has_type)
        h = curl_slist_append(h, "content-type: binary/octet-stream");
    return h;
}

/* What cannot be carried over, one bit each, listed in this order. */
enum {
    NC_TAGS = 1 << 0, NC_CLASS = 1 << 1, NC_KMS = 1 << 2, NC_SSEC = 1 << 3,
    NC_REDIRECT = 1 << 4, NC_LOCK = 1 << 5, NC_ACL = 1 << 6, NC_META = 1 << 7,
    NC_FOREIGN = 1 << 8,
};
static const char *const nc_words[] = {
    "tags", "storage-class", "sse-kms", "sse-c", "website-redirect", "object-lock", "acl",
    "metadata", "foreign-metadata",
};

static bool ieq(const char *a, size_t alen, const char *b)
{
    return alen == strlen(b) && strncasecmp(a, b, alen) == 0;
}

static bool istarts(const char *a, size_t alen, const char *b)
{
    size_t bl = strlen(b);
    return alen >= bl && strncasecmp(a, b, bl) == 0;
}

/* One header: rest is the name after its x-amz-/x-oss-/x-obs-/x-cos- prefix, v its value. */
static unsigned nc_header(const struct gz_mig_preset *preset, const char *pfx, const char *rest,
                          size_t rlen, const char *v)
{
    if (ieq(rest, rlen, "tagging-count"))
        return atoi(v) > 0 ? NC_TAGS : 0;
    if (ieq(rest, rlen, "storage-class"))
        return *v && strcasecmp(v, "STANDARD") != 0 ? NC_CLASS : 0;
    if (ieq(rest, rlen, "server-side-encryption"))
        return strcasestr(v, "kms") ? NC_KMS : 0;
    if (istarts(rest, rlen, "server-side-encryption-customer-"))
        return NC_SSEC;
    if (istarts(rest, rlen, "server-side-encryption-") && memmem(rest, rlen, "key-id", 6))
        return NC_KMS;
    if (ieq(rest, rlen, "website-redirect-location"))
        return NC_REDIRECT;
    if (ieq(rest, rlen, "object-lock-mode") || ieq(rest, rlen, "object-lock-retain-until-date"))
        return NC_LOCK;
    if (ieq(rest, rlen, "object-lock-legal-hold"))
        return strcasecmp(v, "ON") == 0 ? NC_LOCK : 0;
    if (istarts(rest, rlen, "grant-"))
        return NC_ACL;
    if (ieq(rest, rlen, "object-acl") || ieq(rest, rlen, "acl"))
        return strcasecmp(v, "private") != 0 && strcasecmp(v, "default") != 0 ? NC_ACL : 0;
    if (ieq(rest, rlen, "missing-meta"))
        return atoi(v) > 0 ? NC_META : 0;
    if (!istarts(rest, rlen, "meta-") || rlen == 5)
        return 0;
    bool ours = strcasecmp(pfx, "x-amz-") == 0 ||
                (preset && preset->header_prefix && strcasecmp(pfx, preset->header_prefix) == 0);
    if (!ours)
        return NC_FOREIGN;
    /* mig_meta_headers maps names into 256 bytes: a longer one would be dropped */
    return strlen("x-amz-") + rlen + 1 > 256 ? NC_META : 0;
}

void gz_migrate_not_carried(const struct gz_mig_preset *preset, const char *headers,
                            size_t len, char *out, size_t outsz)
{
    static const char *const prefixes[] = {"x-amz-", "x-oss-", "x-obs-", "x-cos-"};
    unsigned bits = 0;
    const char *p = headers, *end = headers ? headers + len : NULL;
    while (p && p < end) {
        const char *eol = memchr(p, '\n', (size_t)(end - p));
        const char *le = eol ? eol : end;
        const char *colon = memchr(p, ':', (size_t)(le - p));
        for (size_t i = 0; colon && i < sizeof(prefixes) / sizeof(prefixes[0]); i++) {
            if ((size_t)(colon - p) <= 6 || strncasecmp(p, prefixes[i], 6) != 0)
                continue;
            const char *v = colon + 1, *ve = le;
            while (v < ve && (*v == ' ' || *v == '\t'))
                v++;
            while (ve > v && (ve[-1] == '\r' || ve[-1] == ' '))
                ve--;
            char val[256];
            snprintf(val, sizeof(val), "%.*s", (int)(ve - v), v);
            bits |= nc_header(preset, prefixes[i], p + 6, (size_t)(colon - p) - 6, val);
        }
        p = le + 1;
    }
    size_t n = 0;
    out[0] = '\0';
    for (size_t i = 0; i < sizeof(nc_words) / sizeof(nc_words[0]); i++) {
        if (!(bits & (1u << i)))
            continue;
        int w = snprintf(out + n, outsz - n, "%s%s", n ? "," : "", nc_words[i]);
        if (w < 0 || (size_t)w >= outsz - n) {
            out[n] = '\0'; /* whole words only */
            break;
        }
        n += (size_t)w;
    }
}

/* The text of the next <tag>...</tag> at or after p (bounded by end), or NULL. */
static const char *xml_next(const char *p, const char *end, const char *tag, size_t *len)
{
    char open[32], close[32];
    snprintf(open, sizeof(open), "<%s>", tag);
    snprintf(close, sizeof(close), "</%s>", tag);
    const char *a = memmem(p, (size_t)(end - p), open, strlen(open));
    if (a == NULL)
        return NULL;
    a += strlen(open);
    const char *b = memmem(a, (size_t)(end - a), close, strlen(close));
    if (b == NULL)
        return NULL;
    *len = (size_t)(b - a);
    return a;
}

bool mig_acl_has_extra_grants(const char *xml, size_t len)
{
    const char *end = xml + len, *p = xml, *owner, *grant;
    size_t olen, glen, ilen, plen, permlen;
    const char *own = xml_next(xml, end, "Owner", &olen);
    owner = own ? xml_next(own, own + olen, "ID", &ilen) : NULL;
    while ((grant = xml_next(p, end, "Grant", &glen)) != NULL) {
        const char *gend = grant + glen;
        const char *id = xml_next(grant, gend, "ID", &plen);
        const char *perm = xml_next(grant, gend, "Permission", &permlen);
        bool owner_full = id != NULL && owner != NULL && plen == ilen &&
                          memcmp(id, owner, plen) == 0 && perm != NULL && permlen == 12 &&
                          memcmp(perm, "FULL_CONTROL", 12) == 0;
        if (!owner_full)
            return true;
        p = gend;
    }
    return false;
}

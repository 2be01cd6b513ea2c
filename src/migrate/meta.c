/*
 * meta.c - provider presets and the metadata carried from source to destination:
 * Content-Type, Cache-Control, Content-Disposition, Content-Encoding, Content-Language,
 * Expires and user metadata (x-amz-meta-*, and the provider's own prefix mapped to it).
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "migrate_int.h"

static const struct gz_mig_preset presets[] = {
    {GZ_MIG_GENERIC, "generic", false, NULL},
    {GZ_MIG_AWS, "aws", true, NULL},
    {GZ_MIG_ALIYUN_OSS, "aliyun-oss", true, "x-oss-meta-"},
    {GZ_MIG_HUAWEI_OBS, "huawei-obs", true, "x-obs-meta-"},
    {GZ_MIG_TENCENT_COS, "tencent-cos", true, "x-cos-meta-"},
};

const struct gz_mig_preset *gz_migrate_preset_find(const char *name)
{
    for (size_t i = 0; name && i < sizeof(presets) / sizeof(presets[0]); i++)
        if (strcmp(presets[i].name, name) == 0)
            return &presets[i];
    return NULL;
}

const struct gz_mig_preset *gz_migrate_preset_get(enum gz_mig_provider p)
{
    for (size_t i = 0; i < sizeof(presets) / sizeof(presets[0]); i++)
        if (presets[i].provider == p)
            return &presets[i];
    return &presets[0];
}

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

static void word_add(char *out, size_t outsz, const char *w)
{
    size_t n = strlen(out);
    snprintf(out + n, outsz - n, "%s%s", n ? "," : "", w);
}

void mig_meta_not_carried(const struct mig_resp *src, char *out, size_t outsz)
{
    char v[256];
    out[0] = '\0';
    if (mig_resp_header(src, "x-amz-tagging-count", v, sizeof(v)) && atoi(v) > 0)
        word_add(out, outsz, "tags");
    if ((mig_resp_header(src, "x-amz-storage-class", v, sizeof(v)) ||
         mig_resp_header(src, "x-oss-storage-class", v, sizeof(v)) ||
         mig_resp_header(src, "x-obs-storage-class", v, sizeof(v)) ||
         mig_resp_header(src, "x-cos-storage-class", v, sizeof(v))) &&
        strcasecmp(v, "STANDARD") != 0)
        word_add(out, outsz, "storage-class");
    if ((mig_resp_header(src, "x-amz-server-side-encryption", v, sizeof(v)) &&
         strncasecmp(v, "aws:kms", 7) == 0) ||
        mig_resp_header(src, "x-amz-server-side-encryption-aws-kms-key-id", v, sizeof(v)))
        word_add(out, outsz, "sse-kms");
    if (mig_resp_header(src, "x-amz-server-side-encryption-customer-algorithm", v, sizeof(v)))
        word_add(out, outsz, "sse-c");
    if (mig_resp_header(src, "x-amz-website-redirect-location", v, sizeof(v)))
        word_add(out, outsz, "website-redirect");
    if (mig_resp_header(src, "x-amz-object-lock-mode", v, sizeof(v)) ||
        (mig_resp_header(src, "x-amz-object-lock-legal-hold", v, sizeof(v)) &&
         strcasecmp(v, "ON") == 0))
        word_add(out, outsz, "object-lock");
}

bool mig_storage_class_archive(const char *sc)
{
    static const char *const archive[] = {
        "GLACIER", "DEEP_ARCHIVE", "Archive", "ColdArchive", "DeepColdArchive", "COLD",
        "ARCHIVE", "DEEP_ARCHIVE",
    };
    for (size_t i = 0; sc && i < sizeof(archive) / sizeof(archive[0]); i++)
        if (strcasecmp(sc, archive[i]) == 0)
            return true;
    return false;
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

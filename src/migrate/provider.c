/*
 * provider.c - what differs between the S3-compatible clouds a migration reads from: the
 * presets (addressing, header namespace, user-metadata prefix, endpoint pattern), the default
 * endpoint derived from a region, the archive storage classes, and the restore request and
 * restore-status header each provider documents:
 *   AWS S3       s3.REGION.amazonaws.com; GLACIER, DEEP_ARCHIVE; GlacierJobParameters/Tier
 *   Aliyun OSS   oss-REGION.aliyuncs.com; Archive, ColdArchive, DeepColdArchive; Days alone for
 *                Archive, JobParameters/Tier for the cold classes; x-oss-restore
 *   Huawei OBS   obs.REGION.myhuaweicloud.com; COLD, DEEP_ARCHIVE; RestoreJob/Tier;
 *                x-obs-restore
 *   Tencent COS  cos.REGION.myqcloud.com; ARCHIVE, DEEP_ARCHIVE; CASJobParameters/Tier;
 *                x-cos-restore
 * Everything here is pure (no I/O), so the unit tests cover it without contacting anyone.
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "evidence.h"
#include "migrate_int.h"

static const struct gz_mig_preset presets[] = {
    {GZ_MIG_GENERIC, "generic", false, NULL, NULL, NULL, NULL},
    {GZ_MIG_AWS, "aws", true, NULL, NULL, "s3.", ".amazonaws.com"},
    {GZ_MIG_ALIYUN_OSS, "aliyun-oss", true, "x-oss-meta-", "x-oss-", "oss-",
     ".aliyuncs.com"},
    {GZ_MIG_HUAWEI_OBS, "huawei-obs", true, "x-obs-meta-", "x-obs-", "obs.",
     ".myhuaweicloud.com"},
    {GZ_MIG_TENCENT_COS, "tencent-cos", true, "x-cos-meta-", "x-cos-", "cos.",
     ".myqcloud.com"},
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

/* "xx-name[-name...]": a two-letter area, then lower-case letter/digit words; aws regions
 * end in a number (us-east-1, cn-northwest-1, us-gov-west-1). At most 40 characters. */
bool gz_migrate_region_valid(enum gz_mig_provider p, const char *region)
{
    size_t n = region ? strlen(region) : 0;
    if (n < 4 || n > 40 || !islower((unsigned char)region[0]) ||
        !islower((unsigned char)region[1]) || region[2] != '-')
        return false;
    const char *last = region;
    for (const char *s = region; *s; s++) {
        if (*s == '-') {
            if (s[1] == '\0' || s[1] == '-')
                return false;
            last = s + 1;
        } else if (!islower((unsigned char)*s) && !isdigit((unsigned char)*s)) {
            return false;
        }
    }
    if (p != GZ_MIG_AWS)
        return true;
    for (const char *s = last; *s; s++)
        if (!isdigit((unsigned char)*s))
            return false;
    return true;
}

int gz_migrate_preset_endpoint(const struct gz_mig_preset *p, const char *region, char *out,
                               size_t outsz, char *err, size_t errsz)
{
    if (p == NULL || p->host_pre == NULL || p->host_post == NULL) {
        snprintf(err, errsz, "an endpoint is required: provider '%s' has no endpoint pattern",
                 p ? p->name : "?");
        return -EINVAL;
    }
    if (region == NULL || *region == '\0') {
        snprintf(err, errsz, "provider %s needs a region (e.g. %s) or an endpoint", p->name,
                 p->provider == GZ_MIG_ALIYUN_OSS   ? "cn-hangzhou"
                 : p->provider == GZ_MIG_HUAWEI_OBS ? "cn-north-4"
                 : p->provider == GZ_MIG_TENCENT_COS ? "ap-guangzhou"
                                                    : "us-east-1");
        return -EINVAL;
    }
    if (!gz_migrate_region_valid(p->provider, region)) {
        snprintf(err, errsz, "'%.64s' is not a %s region (the form is like %s)", region, p->name,
                 p->provider == GZ_MIG_AWS ? "us-east-1" : "cn-north-4 or ap-guangzhou");
        return -EINVAL;
    }
    bool china = p->provider == GZ_MIG_AWS && strncmp(region, "cn-", 3) == 0;
    int n = snprintf(out, outsz, "https://%s%s%s%s", p->host_pre, region, p->host_post,
                     china ? ".cn" : "");
    if (n < 0 || (size_t)n >= outsz) {
        snprintf(err, errsz, "endpoint for region '%.64s' is too long", region);
        return -EINVAL;
    }
    return 0;
}

bool mig_storage_class_archive(const char *sc)
{
    return gz_migrate_archive_class(sc) >= 0; /* the one table of classes (estimate.c) */
}

int gz_migrate_restore_body(enum gz_mig_provider p, const char *storage_class, char *out,
                            size_t outsz)
{
    const char *job = NULL; /* the element holding the tier; NULL: Days alone */
    switch (p) {
    case GZ_MIG_HUAWEI_OBS:
        job = "RestoreJob";
        break;
    case GZ_MIG_TENCENT_COS:
        job = "CASJobParameters";
        break;
    case GZ_MIG_ALIYUN_OSS: /* the tier only for the cold classes; Archive takes Days alone */
        if (storage_class && (strcasecmp(storage_class, "ColdArchive") == 0 ||
                              strcasecmp(storage_class, "DeepColdArchive") == 0))
            job = "JobParameters";
        break;
    default:
        job = "GlacierJobParameters";
        break;
    }
    int n = job ? snprintf(out, outsz, "<RestoreRequest><Days>2</Days><%s><Tier>Standard</Tier>"
                           "</%s></RestoreRequest>", job, job)
                : snprintf(out, outsz, "<RestoreRequest><Days>2</Days></RestoreRequest>");
    return n < 0 || (size_t)n >= outsz ? -ENOSPC : n;
}

bool gz_migrate_restore_ready(const char *v)
{
    if (v == NULL || strcasestr(v, "ongoing-request=\"true\"") != NULL)
        return false;
    return strcasestr(v, "ongoing-request=\"false\"") != NULL ||
           strcasestr(v, "expiry-date") != NULL;
}

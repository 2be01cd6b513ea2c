/*
 * diff.c - what to copy: a source key absent at the destination is new; a key whose size
 * differs, or whose source ETag differs from the one last copied, has changed. Without a
 * journal record, an ETag equal to the destination's is unchanged (a store destination keeps
 * the source's ETag; the same part layout gives the same multipart ETag); otherwise a
 * single-part source ETag (an MD5) has changed, and a multipart one is taken as unchanged
 * when sizes match and the copy is not older.
 */
#include <string.h>
#include <strings.h>

#include "migrate_int.h"

bool gz_migrate_etag_is_multipart(const char *etag)
{
    return etag && strchr(etag, '-') != NULL;
}

enum gz_mig_action gz_migrate_diff_decide(const struct gz_mig_diff_row *r)
{
    if (!r->dst_present)
        return GZ_MIG_COPY_NEW;
    if (r->dst_size != r->src_size)
        return GZ_MIG_COPY_CHANGED;
    const char *se = r->src_etag ? r->src_etag : "";
    if (r->done_etag && *r->done_etag)
        return strcasecmp(r->done_etag, se) == 0 ? GZ_MIG_SKIP : GZ_MIG_COPY_CHANGED;
    /* hex digests: Aliyun OSS sends them upper-case, the destination keeps lower case */
    if (r->dst_etag && strcasecmp(r->dst_etag, se) == 0)
        return GZ_MIG_SKIP; /* same ETag: same bytes (or the store kept the source's) */
    if (!gz_migrate_etag_is_multipart(se))
        return GZ_MIG_COPY_CHANGED;
    return r->dst_mtime >= r->src_mtime ? GZ_MIG_SKIP : GZ_MIG_COPY_CHANGED;
}

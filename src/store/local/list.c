/*
 * list.c - listing objects and multipart uploads as index range scans.
 *
 * A listing walks the primary key (bucket, key) from a lower bound, below the prefix's
 * successor. With a delimiter, the first key under a common prefix reports that prefix; the
 * scan then seeks straight to the prefix's successor (the smallest key not starting with
 * it), so keys under a rolled-up prefix are never read: 200 prefixes over 20,000 keys cost
 * 200 seeks, not 20,000 rows.
 *
 * Continuing after a marker that lies under a common prefix (e.g. the marker is the prefix
 * "photos/" returned by the previous page, or a key inside it) skips that whole prefix: it
 * was already reported, and reporting it again would loop a client that pages with it.
 */
#include <errno.h>
#include <stdio.h>

#include "local_int.h"

#define LIST_KEY_BUF (STORE_MAX_KEY + 2)

bool store__key_successor(struct gz_slice p, char *out, size_t *outlen)
{
    size_t n = p.len;
    while (n > 0 && (uint8_t)p.ptr[n - 1] == 0xff)
        n--;
    if (n == 0)
        return false;
    memmove(out, p.ptr, n);
    out[n - 1] = (char)((uint8_t)out[n - 1] + 1);
    *outlen = n;
    return true;
}

bool store__key_rollup(struct gz_slice key, struct gz_slice prefix, struct gz_slice delim,
                       size_t *cplen)
{
    if (delim.len == 0 || key.len < prefix.len)
        return false;
    const char *rest = key.ptr + prefix.len;
    const char *hit = memmem(rest, key.len - prefix.len, delim.ptr, delim.len);
    if (hit == NULL)
        return false;
    *cplen = (size_t)(hit - key.ptr) + delim.len;
    return true;
}

static int slice_cmp(struct gz_slice a, struct gz_slice b)
{
    size_t n = GZ_MIN(a.len, b.len);
    int c = n ? memcmp(a.ptr, b.ptr, n) : 0;
    if (c != 0)
        return c;
    return a.len < b.len ? -1 : a.len > b.len ? 1 : 0;
}

/* The scan's bounds: keys k with lower <= k (< upper when has_upper). */
struct list_bounds {
    char lower[LIST_KEY_BUF];
    size_t lower_len;
    char upper[LIST_KEY_BUF];
    size_t upper_len;
    bool has_upper;
    bool empty;             /* nothing can match */
};

static struct gz_slice bounds_lower(const struct list_bounds *b)
{
    return gz_slice(b->lower, b->lower_len);
}

/* Moves the lower bound up to the successor of a common prefix; false if there is none
 * (or it passes the upper bound): nothing is left to scan. */
static bool bounds_skip(struct list_bounds *b, struct gz_slice cp)
{
    char tmp[LIST_KEY_BUF];
    size_t n;
    if (!store__key_successor(cp, tmp, &n)) {
        b->empty = true;
        return false;
    }
    if (slice_cmp(gz_slice(tmp, n), bounds_lower(b)) > 0) {
        memcpy(b->lower, tmp, n);
        b->lower_len = n;
    }
    if (b->has_upper && slice_cmp(bounds_lower(b), gz_slice(b->upper, b->upper_len)) >= 0)
        b->empty = true;
    return !b->empty;
}

/* Sets the bounds from prefix and a marker (keys strictly after it); see the top comment
 * for a marker under a common prefix. marker_inclusive: the marker itself may match. */
static void bounds_init(struct list_bounds *b, struct gz_slice prefix, struct gz_slice marker,
                        bool marker_inclusive, struct gz_slice delim)
{
    memset(b, 0, sizeof(*b));
    if (prefix.len > STORE_MAX_KEY) {
        b->empty = true;
        return;
    }
    b->has_upper = store__key_successor(prefix, b->upper, &b->upper_len);
    memcpy(b->lower, prefix.ptr ? prefix.ptr : "", prefix.len);
    b->lower_len = prefix.len;
    if (marker.len == 0)
        return;
    /* Keys are at most STORE_MAX_KEY long, so a longer marker acts as its own prefix. */
    marker.len = GZ_MIN(marker.len, (size_t)STORE_MAX_KEY);
    if (slice_cmp(marker, prefix) >= 0) {
        memcpy(b->lower, marker.ptr, marker.len);
        b->lower_len = marker.len;
        if (!marker_inclusive)
            b->lower[b->lower_len++] = '\0'; /* the smallest string after the marker */
    }
    size_t cplen;
    bool under_prefix = marker.len >= prefix.len &&
                        (prefix.len == 0 || memcmp(marker.ptr, prefix.ptr, prefix.len) == 0);
    if (under_prefix &&
        store__key_rollup(marker, prefix, delim, &cplen))
        bounds_skip(b, gz_slice(marker.ptr, cplen));
    if (b->has_upper && slice_cmp(bounds_lower(b), gz_slice(b->upper, b->upper_len)) >= 0)
        b->empty = true;
}

/* Begins a listing: a connection (one snapshot: store__conn_get) and the bucket id. */
static int list_begin(struct store *s, struct gz_slice bucket, struct store__conn **cp,
                      int64_t *bid)
{
    int rc = store__conn_get(s, cp);
    if (rc < 0)
        return rc;
    return store__bucket_id(*cp, bucket, bid);
}

static void list_end(struct store *s, struct store__conn *c, sqlite3_stmt *st)
{
    store__stmt_done(st);
    store__conn_put(s, c);
}

int store_object_list(struct store *s, struct gz_slice bucket, struct gz_slice prefix,
                      struct gz_slice after, struct gz_slice delimiter, int max,
                      void (*fn)(const struct store_list_entry *e, void *ud), void *ud,
                      bool *truncated)
{
    struct store__conn *c = NULL;
    sqlite3_stmt *st = NULL;
    struct list_bounds b;
    int64_t bid;
    int n = 0, rc;

    *truncated = false;
    rc = list_begin(s, bucket, &c, &bid);
    bounds_init(&b, prefix, after, false, delimiter);
    if (rc < 0 || b.empty || max <= 0)
        goto out;
    st = store__stmt(c, b.has_upper ? ST_LIST_RANGE : ST_LIST_FROM);
    if (st == NULL) {
        rc = -EIO;
        goto out;
    }
    sqlite3_bind_int64(st, 1, bid);
    store__bind_slice(st, 2, bounds_lower(&b));
    if (b.has_upper)
        store__bind_slice(st, 3, gz_slice(b.upper, b.upper_len));
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        struct gz_slice key = store__col_slice(st, 0);
        struct store_list_entry e = {.key = key, .etag = ""};
        size_t cplen;
        if (n == max) {
            *truncated = true;
            break;
        }
        n++;
        if (store__key_rollup(key, prefix, delimiter, &cplen)) {
            char cp[LIST_KEY_BUF];
            memcpy(cp, key.ptr, cplen);
            e.key = gz_slice(cp, cplen);
            e.is_prefix = true;
            fn(&e, ud);
            sqlite3_reset(st); /* then seek past everything under cp */
            if (!bounds_skip(&b, e.key))
                break;
            store__bind_slice(st, 2, bounds_lower(&b));
            continue;
        }
        e.size = sqlite3_column_int64(st, 1);
        e.mtime_ms = sqlite3_column_int64(st, 2);
        e.etag = (const char *)sqlite3_column_text(st, 3);
        if (e.etag == NULL)
            e.etag = "";
        fn(&e, ud);
    }
    rc = rc == SQLITE_ROW || rc == SQLITE_DONE || rc == 0 || b.empty ? 0 : store__sql_err(rc);
out:
    list_end(s, c, st);
    return rc;
}

/* The upload listing's exclusive start tuple (key, initiated, id). */
struct upload_cursor {
    struct list_bounds b;   /* b.lower is the key; inclusive unless init/id are set */
    int64_t init;
    char id[STORE_UPLOAD_ID_LEN + 1];
};

/* With an upload-id marker, starts after that upload within key_marker (if it is there). */
static void upload_cursor_init(struct store__conn *c, int64_t bid, struct upload_cursor *u,
                               struct gz_slice prefix, struct gz_slice delim,
                               struct gz_slice key_marker, const char *id_marker)
{
    sqlite3_stmt *st;
    bool at_upload = false;
    u->init = INT64_MIN;
    u->id[0] = '\0';
    if (key_marker.len > 0 && id_marker != NULL && id_marker[0] != '\0' &&
        strlen(id_marker) == STORE_UPLOAD_ID_LEN && (st = store__stmt(c, ST_UPL_GET)) != NULL) {
        sqlite3_bind_text(st, 1, id_marker, -1, SQLITE_STATIC);
        if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_int64(st, 0) == bid &&
            gz_slice_eq(store__col_slice(st, 1), key_marker)) {
            at_upload = true;
            u->init = sqlite3_column_int64(st, 2);
            memcpy(u->id, id_marker, STORE_UPLOAD_ID_LEN + 1);
        }
        store__stmt_done(st);
    }
    bounds_init(&u->b, prefix, key_marker, at_upload, delim);
    if (at_upload && slice_cmp(bounds_lower(&u->b), key_marker) != 0) {
        u->init = INT64_MIN; /* the marker was moved (prefix, roll-up): start at a key */
        u->id[0] = '\0';
    }
}

static void upload_bind(sqlite3_stmt *st, int64_t bid, const struct upload_cursor *u)
{
    sqlite3_bind_int64(st, 1, bid);
    store__bind_slice(st, 2, bounds_lower(&u->b));
    sqlite3_bind_int64(st, 3, u->init);
    sqlite3_bind_text(st, 4, u->id, -1, SQLITE_STATIC);
    if (u->b.has_upper)
        store__bind_slice(st, 5, gz_slice(u->b.upper, u->b.upper_len));
}

int store_upload_list(struct store *s, struct gz_slice bucket, struct gz_slice prefix,
                      struct gz_slice delimiter, struct gz_slice key_marker,
                      const char *upload_id_marker, int max,
                      void (*fn)(const struct store_upload *up, bool is_prefix, void *ud),
                      void *ud, bool *truncated)
{
    struct store__conn *c = NULL;
    sqlite3_stmt *st = NULL;
    struct upload_cursor u;
    int64_t bid;
    int n = 0, rc;

    *truncated = false;
    rc = list_begin(s, bucket, &c, &bid);
    if (rc < 0 || max <= 0)
        goto out;
    upload_cursor_init(c, bid, &u, prefix, delimiter, key_marker, upload_id_marker);
    if (u.b.empty)
        goto out;
    st = store__stmt(c, u.b.has_upper ? ST_UPL_LIST_RANGE : ST_UPL_LIST);
    if (st == NULL) {
        rc = -EIO;
        goto out;
    }
    upload_bind(st, bid, &u);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        struct store_upload up = {.key = store__col_slice(st, 0)};
        size_t cplen;
        if (n == max) {
            *truncated = true;
            break;
        }
        n++;
        if (store__key_rollup(up.key, prefix, delimiter, &cplen)) {
            char cp[LIST_KEY_BUF];
            memcpy(cp, up.key.ptr, cplen);
            up.key = gz_slice(cp, cplen);
            fn(&up, true, ud);
            sqlite3_reset(st);
            if (!bounds_skip(&u.b, up.key))
                break;
            u.init = INT64_MIN;
            u.id[0] = '\0';
            upload_bind(st, bid, &u);
            continue;
        }
        snprintf(up.upload_id, sizeof(up.upload_id), "%s",
                 (const char *)sqlite3_column_text(st, 1));
        up.initiated_ms = sqlite3_column_int64(st, 2);
        up.headers = store__col_slice(st, 3);
        fn(&up, false, ud);
    }
    rc = rc == SQLITE_ROW || rc == SQLITE_DONE || rc == 0 || u.b.empty ? 0 : store__sql_err(rc);
out:
    list_end(s, c, st);
    return rc;
}

/*
 * test_sse.c - encryption at rest: the AEADs (AES-256-GCM, SM4-GCM against RFC 8998's test
 * vector, the generic GCM against OpenSSL's AES-GCM), the segmented body format (sizes,
 * round trips at segment boundaries, tampering, truncation, reordering, splicing), the
 * envelope and the master key file.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <pthread.h>

#include "s3/sse.h"
#include "s3/sse_int.h"
#include "tap.h"

static size_t unhex(const char *h, uint8_t *out, size_t outsz)
{
    int n = gz_hex_decode(out, outsz, gz_slice_cstr(h));
    return n < 0 ? 0 : (size_t)n;
}

/* RFC 8998 appendix A.1: SM4-GCM, with GHASH by PCLMULQDQ (where the CPU has it) and by the
 * portable constant-time multiply. */
static void sm4_gcm_rfc8998(bool portable)
{
    uint8_t key[16], iv[12], aad[20], pt[64], ct[64], tag[16], out[64], back[64], t2[16];
    unhex("0123456789ABCDEFFEDCBA9876543210", key, sizeof(key));
    unhex("00001234567800000000ABCD", iv, sizeof(iv));
    unhex("FEEDFACEDEADBEEFFEEDFACEDEADBEEFABADDAD2", aad, sizeof(aad));
    unhex("AAAAAAAAAAAAAAAABBBBBBBBBBBBBBBBCCCCCCCCCCCCCCCCDDDDDDDDDDDDDDDD"
          "EEEEEEEEEEEEEEEEFFFFFFFFFFFFFFFFEEEEEEEEEEEEEEEEAAAAAAAAAAAAAAAA",
          pt, sizeof(pt));
    unhex("17F399F08C67D5EE19D0DC9969C4BB7D5FD46FD3756489069157B282BB200735"
          "D82710CA5C22F0CCFA7CBF93D496AC15A56834CBCF98C397B4024A2691233B8D",
          ct, sizeof(ct));
    unhex("83DE3541E4C2B58177E065A9BF7B62EC", tag, sizeof(tag));
    struct s3__aead a;
    TAP_OK(s3__aead_init(&a, SSE_ALG_SM4, key, 16) == 0, "sm4 init (%s GHASH)",
           portable ? "portable" : a.clmul ? "PCLMULQDQ" : "portable, no PCLMULQDQ here");
    if (portable)
        a.clmul = false;
    TAP_OK(s3__aead_seal(&a, iv, aad, sizeof(aad), pt, sizeof(pt), out, t2) == 0, "seal");
    TAP_OK(memcmp(out, ct, sizeof(ct)) == 0, "SM4-GCM ciphertext matches RFC 8998");
    TAP_OK(memcmp(t2, tag, sizeof(tag)) == 0, "SM4-GCM tag matches RFC 8998");
    TAP_OK(s3__aead_open(&a, iv, aad, sizeof(aad), ct, sizeof(ct), back, tag) == 0, "open");
    TAP_OK(memcmp(back, pt, sizeof(pt)) == 0, "SM4-GCM decrypts");
    ct[5] ^= 1;
    TAP_OK(s3__aead_open(&a, iv, aad, sizeof(aad), ct, sizeof(ct), back, tag) == GZ_ECORRUPT,
           "SM4-GCM rejects a flipped bit");
    ct[5] ^= 1;
    aad[0] ^= 1;
    TAP_OK(s3__aead_open(&a, iv, aad, sizeof(aad), ct, sizeof(ct), back, tag) == GZ_ECORRUPT,
           "SM4-GCM rejects changed AAD");
    s3__aead_free(&a);
}

static void t_sm4_gcm_rfc8998(void)
{
    sm4_gcm_rfc8998(false);
    sm4_gcm_rfc8998(true);
}

/* The generic GCM construction over AES equals OpenSSL's AES-GCM, for odd lengths too, with
 * either GHASH. */
static void generic_gcm_vs_openssl(bool portable)
{
    enum { MAXN = 70000 };
    uint8_t key[32], iv[12], aad[37], t1[16], t2[16];
    uint8_t *pt = gz_malloc(MAXN), *c1 = gz_malloc(MAXN), *c2 = gz_malloc(MAXN);
    uint8_t *back = gz_malloc(MAXN);
    gz_random_bytes(key, sizeof(key));
    gz_random_bytes(iv, sizeof(iv));
    gz_random_bytes(aad, sizeof(aad));
    gz_random_bytes(pt, MAXN);
    size_t lens[] = {0, 1, 15, 16, 17, 999, 1000, SSE_SEG, MAXN};
    for (size_t i = 0; i < GZ_ARRAY_LEN(lens); i++) {
        struct s3__aead a, g;
        TAP_OK(s3__aead_init(&a, SSE_ALG_AES256, key, 32) == 0, "aes init");
        TAP_OK(s3__aead_init_generic(&g, key, 32, false) == 0, "generic init");
        if (portable)
            g.clmul = false;
        size_t al = i % 2 ? sizeof(aad) : 0;
        s3__aead_seal(&a, iv, aad, al, pt, lens[i], c1, t1);
        s3__aead_seal(&g, iv, aad, al, pt, lens[i], c2, t2);
        TAP_OK(memcmp(c1, c2, lens[i]) == 0 && memcmp(t1, t2, 16) == 0,
               "generic GCM (%s GHASH) == OpenSSL AES-256-GCM for %zu bytes",
               g.clmul ? "PCLMULQDQ" : "portable", lens[i]);
        TAP_OK(s3__aead_open(&a, iv, aad, al, c2, lens[i], back, t2) == 0 &&
                   memcmp(back, pt, lens[i]) == 0,
               "OpenSSL opens what the generic GCM sealed");
        TAP_OK(s3__aead_open(&g, iv, aad, al, c1, lens[i], back, t1) == 0 &&
                   memcmp(back, pt, lens[i]) == 0,
               "the generic GCM opens what OpenSSL sealed");
        t1[0] ^= 1;
        TAP_OK(s3__aead_open(&a, iv, aad, al, c1, lens[i], back, t1) == GZ_ECORRUPT &&
                   s3__aead_open(&g, iv, aad, al, c1, lens[i], back, t1) == GZ_ECORRUPT,
               "both reject a bad tag");
        s3__aead_free(&a);
        s3__aead_free(&g);
    }
    gz_free(pt);
    gz_free(c1);
    gz_free(c2);
    gz_free(back);
}

static void t_generic_gcm_vs_openssl(void)
{
    generic_gcm_vs_openssl(false);
    generic_gcm_vs_openssl(true);
}

/* Both GHASH paths agree on random keys and lengths, and what each costs (SM4-GCM seal of
 * 64 KiB segments; printed, not asserted: the machine is shared). */
static void t_ghash_paths(void)
{
    enum { SEGN = 65536, ROUNDS = 64 };
    uint8_t key[16], iv[12], aad[17], t1[16], t2[16];
    uint8_t *pt = gz_malloc(SEGN), *c1 = gz_malloc(SEGN), *c2 = gz_malloc(SEGN);
    bool same = true;
    for (int r = 0; r < 200; r++) {
        struct s3__aead a, b;
        gz_random_bytes(key, sizeof(key));
        gz_random_bytes(iv, sizeof(iv));
        gz_random_bytes(aad, sizeof(aad));
        size_t n = (size_t)r * 37 % 3000;
        gz_random_bytes(pt, n);
        s3__aead_init(&a, SSE_ALG_SM4, key, 16);
        s3__aead_init(&b, SSE_ALG_SM4, key, 16);
        b.clmul = false;
        s3__aead_seal(&a, iv, aad, (size_t)r % 18, pt, n, c1, t1);
        s3__aead_seal(&b, iv, aad, (size_t)r % 18, pt, n, c2, t2);
        same = same && memcmp(c1, c2, n) == 0 && memcmp(t1, t2, 16) == 0;
        s3__aead_free(&a);
        s3__aead_free(&b);
    }
    TAP_OK(same, "PCLMULQDQ and portable GHASH agree on 200 random messages");
    for (int portable = 0; portable < 2; portable++) {
        struct s3__aead a;
        s3__aead_init(&a, SSE_ALG_SM4, key, 16);
        if (portable)
            a.clmul = false;
        int64_t t0 = gz_monotonic_ns();
        for (int i = 0; i < ROUNDS; i++)
            s3__aead_seal(&a, iv, aad, sizeof(aad), pt, SEGN, c1, t1);
        double secs = (double)(gz_monotonic_ns() - t0) / 1e9;
        printf("# SM4-GCM seal, %s GHASH: %.1f MB/s\n", a.clmul ? "PCLMULQDQ" : "portable",
               ROUNDS * SEGN / 1e6 / secs);
        s3__aead_free(&a);
    }
    gz_free(pt);
    gz_free(c1);
    gz_free(c2);
}

static void t_sizes(void)
{
    int64_t plains[] = {0, 1, SSE_SEG - 1, SSE_SEG, SSE_SEG + 1, 3 * SSE_SEG, 5LL << 30};
    for (size_t i = 0; i < GZ_ARRAY_LEN(plains); i++) {
        int64_t st = s3__sse_stored_size(plains[i]);
        TAP_OK(s3__sse_plain_size(st) == plains[i], "plain(stored(%lld)) round trips",
               (long long)plains[i]);
    }
    TAP_OK(s3__sse_stored_size(0) == SSE_HDR + SSE_TAG, "empty body is header + one tag");
    TAP_OK(s3__sse_plain_size(SSE_HDR + SSE_TAG - 1) == -1, "too short is invalid");
    TAP_OK(s3__sse_plain_size(SSE_HDR + SSE_SEG + SSE_TAG + 5) == -1,
           "a final segment without room for its tag is invalid");
}

/* A body in memory. */
struct mem {
    uint8_t *p;
    size_t n, cap;
};

static int mem_sink(void *ud, const uint8_t *p, size_t n)
{
    struct mem *m = ud;
    if (m->n + n > m->cap) {
        m->cap = (m->n + n) * 2;
        m->p = gz_realloc(m->p, m->cap);
    }
    memcpy(m->p + m->n, p, n);
    m->n += n;
    return 0;
}

static int mem_fetch(void *ud, int64_t off, uint8_t *buf, size_t n)
{
    struct mem *m = ud;
    if (off < 0 || (size_t)off + n > m->n)
        return GZ_ECORRUPT;
    memcpy(buf, m->p + off, n);
    return 0;
}

static void seal_body(enum s3__sse_alg alg, const uint8_t *key, const uint8_t *pt, size_t n,
                      size_t chunk, struct mem *m)
{
    struct s3__sse_enc *e = NULL;
    memset(m, 0, sizeof(*m));
    TAP_OK(s3__sse_enc_new(alg, key, 0, mem_sink, m, &e) == 0, "enc new");
    for (size_t off = 0; off < n; off += chunk)
        s3__sse_enc_write(e, pt + off, GZ_MIN(chunk, n - off));
    TAP_OK(s3__sse_enc_finish(e) == 0, "finish");
    TAP_OK(s3__sse_enc_plain(e) == (int64_t)n, "plain count");
    s3__sse_enc_free(e);
}

/* Opens every segment; returns 0 and the plaintext in out, or the first error. */
static int open_body(enum s3__sse_alg alg, const uint8_t *key, struct mem *m, uint8_t *out)
{
    struct s3__sse_dec *d = NULL;
    int rc = s3__sse_dec_new(alg, key, (int64_t)m->n, mem_fetch, m, &d);
    if (rc < 0)
        return rc;
    int64_t nseg = s3__sse_dec_plain(d) == 0 ? 1 : (s3__sse_dec_plain(d) + SSE_SEG - 1) / SSE_SEG;
    for (int64_t i = 0; i < nseg && rc == 0; i++) {
        struct gz_slice s;
        rc = s3__sse_dec_segment(d, i, &s);
        if (rc == 0)
            memcpy(out + i * SSE_SEG, s.ptr, s.len);
    }
    s3__sse_dec_free(d);
    return rc;
}

static void t_body_roundtrip(void)
{
    uint8_t key[SSE_KEY];
    gz_random_bytes(key, sizeof(key));
    size_t total = 3 * SSE_SEG + 7;
    uint8_t *pt = gz_malloc(total), *out = gz_malloc(total);
    for (size_t i = 0; i < total; i++)
        pt[i] = (uint8_t)(i * 31 + 7);
    size_t sizes[] = {0, 1, SSE_SEG - 1, SSE_SEG, SSE_SEG + 1, 2 * SSE_SEG, total};
    for (int alg = SSE_ALG_AES256; alg <= SSE_ALG_SM4; alg++) {
        for (size_t i = 0; i < GZ_ARRAY_LEN(sizes); i++) {
            struct mem m;
            seal_body((enum s3__sse_alg)alg, key, pt, sizes[i], 1000 + i * 4093, &m);
            TAP_OK(m.n == (size_t)s3__sse_stored_size((int64_t)sizes[i]), "stored size");
            TAP_OK(sizes[i] < 64 || memmem(m.p, m.n, pt, 64) == NULL,
                   "the plaintext does not appear in the body");
            TAP_OK(open_body((enum s3__sse_alg)alg, key, &m, out) == 0 &&
                       memcmp(out, pt, sizes[i]) == 0,
                   "%s: %zu bytes round trip", s3__sse_alg_name((enum s3__sse_alg)alg), sizes[i]);
            gz_free(m.p);
        }
    }
    gz_free(pt);
    gz_free(out);
}

static void t_body_tamper(void)
{
    uint8_t key[SSE_KEY], other[SSE_KEY];
    gz_random_bytes(key, sizeof(key));
    gz_random_bytes(other, sizeof(other));
    size_t total = 3 * SSE_SEG;
    uint8_t *pt = gz_calloc(1, total), *out = gz_malloc(total);
    struct mem m, m2;
    seal_body(SSE_ALG_AES256, key, pt, total, 65536, &m);
    seal_body(SSE_ALG_AES256, key, pt, total, 65536, &m2);
    m.p[SSE_HDR + SSE_SEG + 100] ^= 0x20;
    TAP_OK(open_body(SSE_ALG_AES256, key, &m, out) == GZ_ECORRUPT, "a flipped byte fails");
    m.p[SSE_HDR + SSE_SEG + 100] ^= 0x20;
    TAP_OK(open_body(SSE_ALG_AES256, key, &m, out) == 0, "restored opens");
    TAP_OK(open_body(SSE_ALG_AES256, other, &m, out) == GZ_ECORRUPT, "wrong key fails");
    TAP_OK(open_body(SSE_ALG_SM4, key, &m, out) == GZ_ECORRUPT, "wrong algorithm fails");
    /* Truncation at a segment boundary: the new last segment was not sealed as final. */
    struct mem t = m;
    t.n = SSE_HDR + 2 * (SSE_SEG + SSE_TAG);
    TAP_OK(open_body(SSE_ALG_AES256, key, &t, out) == GZ_ECORRUPT, "truncation fails");
    /* Reordering: swap segments 0 and 1. */
    uint8_t *tmp = gz_malloc(SSE_SEG + SSE_TAG);
    uint8_t *s0 = m.p + SSE_HDR, *s1 = s0 + SSE_SEG + SSE_TAG;
    memcpy(tmp, s0, SSE_SEG + SSE_TAG);
    memcpy(s0, s1, SSE_SEG + SSE_TAG);
    memcpy(s1, tmp, SSE_SEG + SSE_TAG);
    TAP_OK(open_body(SSE_ALG_AES256, key, &m, out) == GZ_ECORRUPT, "reordering fails");
    memcpy(s1, s0, SSE_SEG + SSE_TAG);
    memcpy(s0, tmp, SSE_SEG + SSE_TAG);
    /* Splicing a segment from another body sealed with the same key. */
    memcpy(s1, m2.p + SSE_HDR + SSE_SEG + SSE_TAG, SSE_SEG + SSE_TAG);
    TAP_OK(open_body(SSE_ALG_AES256, key, &m, out) == GZ_ECORRUPT, "splicing fails");
    gz_free(tmp);
    gz_free(m.p);
    gz_free(m2.p);
    gz_free(pt);
    gz_free(out);
}

static void t_envelope(void)
{
    uint8_t mk[SSE_KEY], dk[SSE_KEY], back[SSE_KEY], ck[SSE_KEY];
    gz_random_bytes(mk, sizeof(mk));
    gz_random_bytes(dk, sizeof(dk));
    gz_random_bytes(ck, sizeof(ck));
    struct s3__sse_env e = {.alg = SSE_ALG_SM4, .kid = 7}, p;
    char text[256];
    TAP_OK(s3__sse_env_wrap(&e, mk, dk) == 0, "wrap");
    TAP_OK(s3__sse_env_format(&e, text, sizeof(text)) == 0, "format: %s", text);
    TAP_OK(s3__sse_env_parse(gz_slice_cstr(text), &p) == 0 && p.alg == SSE_ALG_SM4 && p.kid == 7 &&
               !p.customer,
           "parse");
    TAP_OK(s3__sse_env_unwrap(&p, mk, back) == 0 && memcmp(back, dk, SSE_KEY) == 0, "unwrap");
    mk[0] ^= 1;
    TAP_OK(s3__sse_env_unwrap(&p, mk, back) == GZ_ECORRUPT, "wrong master key fails");
    struct s3__sse_env c = {.alg = SSE_ALG_AES256, .customer = true};
    s3__sse_env_wrap(&c, ck, dk);
    s3__sse_env_mark(&c, ck);
    TAP_OK(s3__sse_env_format(&c, text, sizeof(text)) == 0 &&
               s3__sse_env_parse(gz_slice_cstr(text), &p) == 0 && p.customer,
           "SSE-C envelope: %s", text);
    TAP_OK(s3__sse_env_matches(&p, ck), "the customer key is recognised");
    ck[3] ^= 1;
    TAP_OK(!s3__sse_env_matches(&p, ck), "another key is not");
    TAP_OK(s3__sse_env_parse(GZ_SLICE_LIT("v=1;a=AES256;k=c;w=AAAA"), &p) < 0, "bad envelope");
    TAP_OK(s3__sse_env_parse(GZ_SLICE_LIT("v=1;a=RC4;k=1;w=x"), &p) < 0, "bad algorithm");
}

static void t_keys(void)
{
    char dir[] = "/tmp/gzy-test-sse-XXXXXX";
    TAP_OK(mkdtemp(dir) != NULL, "tmp dir");
    struct s3__sse_keyring kr, k2;
    TAP_OK(s3__sse_keys_load(dir, false, &kr) == -ENOENT, "no file, no create: ENOENT");
    TAP_OK(s3__sse_keys_load(dir, true, &kr) == 0 && kr.n == 1 && kr.id[0] == 1, "created");
    char path[256];
    snprintf(path, sizeof(path), "%s/sse.keys", dir);
    struct stat st;
    TAP_OK(stat(path, &st) == 0 && (st.st_mode & 0777) == 0600, "mode 0600");
    TAP_OK(s3__sse_keys_load(dir, true, &k2) == 0 && k2.n == 1 &&
               memcmp(k2.key[0], kr.key[0], SSE_KEY) == 0,
           "loaded again: same key");
    TAP_OK(s3__sse_keys_add(dir, &kr) == 0 && kr.n == 2 && kr.id[1] == 2, "added key 2");
    TAP_OK(s3__sse_keys_load(dir, false, &k2) == 0 && k2.n == 2 &&
               s3__sse_keys_find(&k2, 1) != NULL &&
               memcmp(s3__sse_keys_find(&k2, 2), kr.key[1], SSE_KEY) == 0,
           "both keys persist");
    TAP_OK(stat(path, &st) == 0 && (st.st_mode & 0777) == 0600, "still 0600");
    FILE *f = fopen(path, "w");
    fputs("1 nothex\n", f);
    fclose(f);
    TAP_OK(s3__sse_keys_load(dir, true, &k2) == GZ_ECORRUPT, "a corrupt file is refused");
    unlink(path);
    snprintf(path, sizeof(path), "%s/sse.keycheck", dir); /* written beside a created key */
    unlink(path);
    TAP_OK(rmdir(dir) == 0, "nothing else left in the folder");
}

struct done_wait {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool done;
    int status;
};

static void done_cb(void *ud, int status)
{
    struct done_wait *w = ud;
    pthread_mutex_lock(&w->mu);
    w->done = true;
    w->status = status;
    pthread_cond_signal(&w->cv);
    pthread_mutex_unlock(&w->mu);
}

static int writer_sink(void *ud, const uint8_t *p, size_t n)
{
    return store_writer_write(ud, p, n);
}

/* Stores an encrypted object the way PutObject does; returns the commit status. */
static int put_encrypted(struct store *s, const char *dir, const char *key, const uint8_t *pt,
                         size_t n, bool customer)
{
    struct s3__sse_keyring kr;
    struct s3__sse_env env = {.alg = SSE_ALG_SM4, .customer = customer};
    uint8_t dk[SSE_KEY];
    char text[256];
    TAP_OK(s3__sse_keys_load(dir, true, &kr) == 0, "keys");
    gz_random_bytes(dk, sizeof(dk));
    env.kid = kr.id[kr.n - 1];
    s3__sse_env_wrap(&env, kr.key[kr.n - 1], dk);
    if (customer)
        s3__sse_env_mark(&env, kr.key[0]);
    s3__sse_env_format(&env, text, sizeof(text));
    struct gz_buf hdr;
    gz_buf_init(&hdr, 4096);
    store_headers_add(&hdr, GZ_SLICE_LIT(SSE_HEADER), gz_slice_cstr(text));
    struct store_writer *w = NULL;
    struct s3__sse_enc *e = NULL;
    store_writer_open(s, &w);
    s3__sse_enc_new(SSE_ALG_SM4, dk, 0, writer_sink, w, &e);
    s3__sse_enc_write(e, pt, n);
    s3__sse_enc_finish(e);
    s3__sse_enc_free(e);
    struct store_meta m = {.mtime_ms = gz_now_ms(), .headers = gz_buf_slice(&hdr)};
    snprintf(m.etag, sizeof(m.etag), "00000000000000000000000000000000");
    struct done_wait dw = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, false, 0};
    store_object_commit(s, w, GZ_SLICE_LIT("b"), gz_slice_cstr(key), &m, done_cb, &dw);
    pthread_mutex_lock(&dw.mu);
    while (!dw.done)
        pthread_cond_wait(&dw.cv, &dw.mu);
    pthread_mutex_unlock(&dw.mu);
    gz_buf_free(&hdr);
    s3__sse_keys_wipe(&kr);
    return dw.status;
}

/* The public reader (sse.h) over a real store. */
static void t_public_reader(void)
{
    char dir[] = "/tmp/gzy-test-sse-store-XXXXXX";
    TAP_OK(mkdtemp(dir) != NULL, "tmp dir");
    struct store_config cfg = {.data_dir = dir, .sync = 0};
    struct store *s = NULL;
    TAP_OK(store_open(&cfg, &s) == 0, "store open");
    struct store_bucket b = {.name = "b", .region = "us-east-1", .owner = "t"};
    TAP_OK(store_bucket_create(s, &b) == 0, "bucket");
    size_t n = 3 * SSE_SEG + 1234;
    uint8_t *pt = gz_malloc(n), *back = gz_malloc(n);
    gz_random_bytes(pt, n);
    TAP_OK(put_encrypted(s, dir, "k", pt, n, false) == 0, "stored");
    TAP_OK(put_encrypted(s, dir, "c", pt, 10, true) == 0, "stored SSE-C");
    struct store_reader *rd = NULL;
    struct store_meta m;
    TAP_OK(store_object_open(s, GZ_SLICE_LIT("b"), GZ_SLICE_LIT("k"), &rd, &m) == 0, "open");
    TAP_OK(s3_sse_encrypted(m.headers) && !s3_sse_customer(m.headers), "encrypted, not SSE-C");
    TAP_OK(m.size == s3__sse_stored_size((int64_t)n), "stored size");
    struct s3_sse_reader *sr = NULL;
    TAP_OK(s3_sse_reader_open(s, m.headers, m.size, rd, &sr) == 0, "reader open");
    TAP_OK(s3_sse_reader_size(sr) == (int64_t)n, "plaintext size");
    int64_t pos = 0;
    int rc = 0;
    while (rc == 0 && pos < (int64_t)n) {
        struct gz_slice piece;
        rc = s3_sse_reader_read(sr, pos, 100000, &piece);
        if (rc == 0 && piece.len == 0)
            rc = -EIO;
        if (rc == 0)
            memcpy(back + pos, piece.ptr, piece.len);
        pos += (int64_t)piece.len;
    }
    TAP_OK(rc == 0 && memcmp(back, pt, n) == 0, "reads back the plaintext");
    s3_sse_reader_close(sr);
    store_reader_close(rd);
    TAP_OK(store_object_open(s, GZ_SLICE_LIT("b"), GZ_SLICE_LIT("c"), &rd, &m) == 0, "open c");
    TAP_OK(s3_sse_customer(m.headers), "SSE-C is recognised");
    TAP_OK(s3_sse_reader_open(s, m.headers, m.size, rd, &sr) == -EACCES && sr == NULL,
           "SSE-C cannot be opened without the customer's key");
    store_reader_close(rd);
    store_close(s);
    gz_free(pt);
    gz_free(back);
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    TAP_OK(system(cmd) == 0, "cleanup");
}

int main(void)
{
    TAP_RUN(t_sm4_gcm_rfc8998);
    TAP_RUN(t_generic_gcm_vs_openssl);
    TAP_RUN(t_ghash_paths);
    TAP_RUN(t_sizes);
    TAP_RUN(t_body_roundtrip);
    TAP_RUN(t_body_tamper);
    TAP_RUN(t_envelope);
    TAP_RUN(t_keys);
    TAP_RUN(t_public_reader);
    return tap_done();
}

/* SPDX-License-Identifier: LGPL-2.1-only */
/*
 * What a sim guest writes into a page: a pure function of the content
 * model and a 64-bit key (the domain's seed, the page and its
 * generation), so that the guest regenerates a page to check it.
 * random: 4 KiB of pseudo-random words, which no compressor shrinks.
 * mixed: pages of five kinds, in the shares of SIM_MIX, modelled on
 * what 4 KiB pages of Linux memory are (docs/sim.md): zero pages, text
 * (log lines of words and numbers), records (a heap's structs: counters,
 * small integers, pointers, short names), code (x86-64 instruction
 * patterns with varying displacements and call targets) and random
 * pages (compressed or encrypted data).
 */
#include <pthread.h>

#include "backend/sim/sim.h"

#define PAGE LIBXLMIG__PAGE_SIZE

/* Per mille of each kind in mixed content (docs/sim.md). */
enum { KIND_ZERO, KIND_TEXT, KIND_RECORDS, KIND_CODE, KIND_RANDOM,
       NR_KINDS };
static const unsigned sim_mix[NR_KINDS] = {
    [KIND_ZERO] = 200, [KIND_TEXT] = 160, [KIND_RECORDS] = 240,
    [KIND_CODE] = 320, [KIND_RANDOM] = 80,
};

static inline uint64_t rnd(uint64_t *s)
{
    *s += 0x9e3779b97f4a7c15ULL;
    return libxlmig__sim_mix64(*s);
}

static void gen_random(uint64_t key, uint8_t *page)
{
    uint64_t *p = (uint64_t *)page, i;

    for (i = 0; i < PAGE / sizeof(uint64_t); i++)
        p[i] = libxlmig__sim_mix64(key + i * 0x9e3779b97f4a7c15ULL);
}

static const char *const words[] = {
    "the", "of", "and", "to", "in", "is", "for", "on", "with", "from",
    "kernel:", "systemd[1]:", "sshd", "cron", "nginx", "postgres",
    "started", "stopped", "session", "user", "root", "connection",
    "closed", "accepted", "request", "GET", "POST", "/api/v1/items",
    "HTTP/1.1", "200", "404", "500", "error", "warning", "info",
    "debug", "timeout", "retrying", "failed", "success", "eth0", "link",
    "is", "up", "down", "disk", "sda1", "mounted", "filesystem", "ext4",
    "memory", "cgroup", "process", "exited", "status", "code", "signal",
    "audit:", "type=1400", "apparmor=\"ALLOWED\"", "operation=\"open\"",
    "name=\"/var/lib/app/data\"", "pid", "uid", "gid", "client",
    "server", "listening", "port", "address", "update", "cache", "hit",
    "miss", "query", "took", "ms", "bytes", "sent", "received", "queue",
    "worker", "thread", "job", "completed", "scheduled", "backup",
};

/* Append s (or as much as fits) at *off. */
static void put(uint8_t *page, size_t *off, const char *s, size_t n)
{
    if (n > PAGE - *off) n = PAGE - *off;
    memcpy(page + *off, s, n);
    *off += n;
}

static void put_uint(uint8_t *page, size_t *off, uint64_t v, int width)
{
    char b[24];
    int n = 0, i;

    do {
        b[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v || n < width);
    for (i = 0; i < n && *off < PAGE; i++)
        page[(*off)++] = (uint8_t)b[n - 1 - i];
}

/* Two decimal digits of v (0..99) at p. */
static inline void put2(uint8_t *p, unsigned v)
{
    p[0] = (uint8_t)('0' + v / 10);
    p[1] = (uint8_t)('0' + v % 10);
}

/*
 * The 64 messages of the text kind: "prog[pid]: words... ", each a fixed
 * word sequence, made once.
 */
#define NR_MSGS 64
#define MSG_MAX 160
static char msgs[NR_MSGS][MSG_MAX];
static uint8_t msg_len[NR_MSGS];
static pthread_once_t msgs_once = PTHREAD_ONCE_INIT;

static void msgs_init(void)
{
    unsigned i;

    for (i = 0; i < NR_MSGS; i++) {
        uint64_t m = libxlmig__sim_mix64(i + 1);
        size_t off = 0;
        int k, n = 4 + (int)(m % 8);
        uint8_t *p = (uint8_t *)msgs[i];

        for (k = 0; k < n; k++) {
            const char *w = words[(m >> (6 + 5 * k)) % ARRAY_SIZE(words)];
            size_t l = strlen(w);

            if (off + l + 10 >= MSG_MAX) break;
            memcpy(p + off, w, l);
            off += l;
            if (k == 0) {
                off += (size_t)snprintf(msgs[i] + off, MSG_MAX - off,
                                        "[%u]:", (unsigned)(100 + m % 30000));
            }
            p[off++] = ' ';
        }
        msg_len[i] = (uint8_t)off;
    }
}

/*
 * Syslog lines: "Dec  3 10:41:07 node3 prog[pid]: message number", where
 * a page's lines come from 10 of the 64 messages, as a log repeats
 * itself.
 */
static void gen_text(uint64_t key, uint8_t *page)
{
    uint8_t buf[PAGE + 32 + MSG_MAX];
    uint64_t s = key, t = rnd(&s) % 86400, base = rnd(&s), r;
    size_t off = 0;
    unsigned m, num;

    pthread_once(&msgs_once, msgs_init);
    while (off < PAGE) {
        uint8_t *p = buf + off;

        r = rnd(&s);
        t += r % 3;
        memcpy(p, "Dec  3 00:00:00 node0 ", 22);
        put2(p + 7, (unsigned)(t / 3600 % 24));
        put2(p + 10, (unsigned)(t / 60 % 60));
        put2(p + 13, (unsigned)(t % 60));
        p[20] = (uint8_t)('0' + base % 8);
        off += 22;
        m = (unsigned)((base + (r >> 8) % 10) % NR_MSGS);
        memcpy(buf + off, msgs[m], msg_len[m]);
        off += msg_len[m];
        num = (unsigned)((r >> 40) % 10000);
        put2(buf + off, num / 100);
        put2(buf + off + 2, num % 100);
        buf[off + 4] = '\n';
        off += 5;
    }
    memcpy(page, buf, PAGE);
}

/* 64-byte structs as a heap holds them: a linked list of objects. */
static void gen_records(uint64_t key, uint8_t *page)
{
    uint64_t s = key, id = rnd(&s) % 1000000, ptr, ts;
    size_t i;

    ptr = 0x00007f0000000000ULL | ((rnd(&s) & 0xffffffULL) << 12);
    ts = 1764700000000ULL + rnd(&s) % 100000000;
    for (i = 0; i < PAGE / 64; i++) {
        uint8_t *r = page + i * 64;
        uint64_t v = rnd(&s), u;
        uint32_t w;
        size_t off = 40;

        u = id + i;
        memcpy(r, &u, 8);                         /* id */
        w = (uint32_t)(v % 4);
        memcpy(r + 8, &w, 4);                     /* type */
        w = (uint32_t)(64 << ((v >> 8) % 4));
        memcpy(r + 12, &w, 4);                    /* length */
        u = ptr + (i + 1) * 64;
        memcpy(r + 16, &u, 8);                    /* next */
        u = ts + i * 1000 + (v >> 40) % 16;
        memcpy(r + 24, &u, 8);                    /* time (ms) */
        w = 1 + (uint32_t)((v >> 50) % 2);
        memcpy(r + 32, &w, 4);                    /* references */
        memset(r + 36, 0, 28);
        put(r, &off, "obj-", 4);                  /* name */
        put_uint(r, &off, id + i, 7);
    }
}

/* x86-64 instruction patterns; imm: where random bytes go, how many. */
static const struct {
    uint8_t len, imm_at, imm_len, b[7];
} ops[] = {
    { 1, 0, 0, { 0x55 } },                           /* push %rbp */
    { 3, 0, 0, { 0x48, 0x89, 0xe5 } },               /* mov %rsp,%rbp */
    { 4, 3, 1, { 0x48, 0x83, 0xec } },               /* sub $n,%rsp */
    { 4, 3, 1, { 0x48, 0x8b, 0x45 } },               /* mov n(%rbp),%rax */
    { 4, 3, 1, { 0x48, 0x89, 0x45 } },               /* mov %rax,n(%rbp) */
    { 3, 2, 1, { 0x8b, 0x45 } },                     /* mov n(%rbp),%eax */
    { 5, 1, 2, { 0xe8, 0, 0, 0x00, 0x00 } },         /* call rel32 */
    { 2, 0, 0, { 0x89, 0xc7 } },                     /* mov %eax,%edi */
    { 3, 0, 0, { 0x48, 0x89, 0xc7 } },               /* mov %rax,%rdi */
    { 2, 0, 0, { 0x31, 0xc0 } },                     /* xor %eax,%eax */
    { 3, 0, 0, { 0x48, 0x85, 0xc0 } },               /* test %rax,%rax */
    { 2, 1, 1, { 0x74 } },                           /* je rel8 */
    { 2, 1, 1, { 0x75 } },                           /* jne rel8 */
    { 6, 2, 2, { 0x0f, 0x84, 0, 0, 0x00, 0x00 } },   /* je rel32 */
    { 5, 1, 2, { 0xb8, 0, 0, 0x00, 0x00 } },         /* mov $n,%eax */
    { 4, 3, 1, { 0x48, 0x8d, 0x7d } },               /* lea n(%rbp),%rdi */
    { 7, 3, 4, { 0x48, 0x8b, 0x05 } },               /* mov rip+n,%rax */
    { 1, 0, 0, { 0x5d } },                           /* pop %rbp */
    { 1, 0, 0, { 0xc3 } },                           /* ret */
    { 5, 0, 0, { 0x0f, 0x1f, 0x44, 0x00, 0x00 } },   /* nopl */
};

/*
 * The instructions of the code kind: each pattern of ops with 16
 * variants of its immediates, made once; a body picks one of the
 * 16 * NR_OPS with 9 bits.
 */
#define NR_BODY_OPS (ARRAY_SIZE(ops) - 3)     /* not pop, ret, nopl */
#define NR_INSNS 512
static uint8_t insns[NR_INSNS][8];
static uint8_t insn_len[NR_INSNS];
static pthread_once_t insns_once = PTHREAD_ONCE_INIT;

static void insns_init(void)
{
    unsigned i, k;

    for (i = 0; i < NR_INSNS; i++) {
        unsigned o = i % NR_BODY_OPS;
        uint64_t r = libxlmig__sim_mix64(i + 0x1000);

        for (k = 0; k < ops[o].len; k++) {
            if (k < ops[o].imm_at || k >= ops[o].imm_at + ops[o].imm_len)
                insns[i][k] = ops[o].b[k];
            else if (ops[o].imm_len == 1 && ops[o].imm_at == 3)
                insns[i][k] = (uint8_t)(0xf8 - 8 * ((r >>= 3) % 8));
            else
                insns[i][k] = (uint8_t)(r >>= 8);
        }
        insn_len[i] = ops[o].len;
    }
}

/* Functions: a prologue, a body of instructions (a call's target is the
 * page's own), an epilogue and padding to 16 bytes, as a compiler lays
 * them out. */
static void gen_code(uint64_t key, uint8_t *page)
{
    static const uint8_t prologue[] = { 0x55, 0x48, 0x89, 0xe5, 0x48,
                                        0x83, 0xec, 0x20 };
    static const uint8_t epilogue[] = { 0x48, 0x83, 0xc4, 0x20, 0x5d,
                                        0xc3 };
    uint8_t buf[PAGE + 64];
    uint64_t s = key, r;
    size_t off = 0;
    int n, k;

    pthread_once(&insns_once, insns_init);
    while (off < PAGE) {
        memcpy(buf + off, prologue, sizeof(prologue));
        off += sizeof(prologue);
        r = rnd(&s);
        n = 4 + (int)(r % 24);
        r >>= 5;
        for (k = 0; n > 0 && off < PAGE; n--, k++) {
            unsigned i;

            if (k % 6 == 5) r = rnd(&s);
            i = (unsigned)(r % NR_INSNS);
            r >>= 9;
            memcpy(buf + off, insns[i], 8);
            if (insns[i][0] == 0xe8) {        /* call: a varying target */
                buf[off + 1] = (uint8_t)(s >> 13);
                buf[off + 2] = (uint8_t)(s >> 21);
            }
            off += insn_len[i];
        }
        memcpy(buf + off, epilogue, sizeof(epilogue));
        off += sizeof(epilogue);
        while (off % 16)
            buf[off++] = 0x90;
    }
    memcpy(page, buf, PAGE);
}

void libxlmig__sim_content_init(void)
{
    pthread_once(&msgs_once, msgs_init);
    pthread_once(&insns_once, insns_init);
}

void libxlmig__sim_page_gen(uint32_t content, uint64_t key, uint8_t *page)
{
    unsigned pick, k, acc = 0;

    if (content != LIBXLMIG_SIM_CONTENT_MIXED) {
        gen_random(key, page);
        return;
    }
    pick = (unsigned)(libxlmig__sim_mix64(key ^ 0x6d69786564ULL) % 1000);
    for (k = 0; k < NR_KINDS; k++) {
        acc += sim_mix[k];
        if (pick < acc) break;
    }
    switch (k) {
    case KIND_ZERO: memset(page, 0, PAGE); break;
    case KIND_TEXT: gen_text(key, page); break;
    case KIND_RECORDS: gen_records(key, page); break;
    case KIND_CODE: gen_code(key, page); break;
    default: gen_random(key, page); break;
    }
}

static const char *const content_names[] = {
    [LIBXLMIG_SIM_CONTENT_DEFAULT] = "default",
    [LIBXLMIG_SIM_CONTENT_RANDOM] = "random",
    [LIBXLMIG_SIM_CONTENT_MIXED] = "mixed",
};

const char *libxlmig_sim_content_to_string(libxlmig_sim_content c)
{
    return (unsigned)c < ARRAY_SIZE(content_names) ? content_names[c]
                                                   : "invalid";
}

int libxlmig_sim_content_from_string(const char *s,
                                     libxlmig_sim_content *c_r)
{
    if (s && !strcmp(s, "random")) {
        *c_r = LIBXLMIG_SIM_CONTENT_RANDOM;
        return 0;
    }
    if (s && !strcmp(s, "mixed")) {
        *c_r = LIBXLMIG_SIM_CONTENT_MIXED;
        return 0;
    }
    return LIBXLMIG_ERROR_INVAL;
}

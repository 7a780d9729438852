/*
 * libfixbuf_read FILE: decode an RFC 5655 IPFIX file with libfixbuf's
 * collector API into a C struct, the way libfixbuf users do, and print
 *
 *     {"records": N, "seconds": S, "checksum": C}
 *
 * The benchmark peer of benches/run.py (built and run by benches/peers.py).
 * Written for libfixbuf 2.4, where tcpControlBits is a 2-byte unsigned16
 * (RFC 7125), as the benchmark file sends it.
 *
 * The internal template lists the 10 IEs of benches/make_file.py by size,
 * largest first, so that the struct has no padding inside; a paddingOctets
 * element covers the one byte of tail padding, so the template's length is
 * sizeof(struct flow) (libfixbuf copies into the struct at offsets that are
 * the sums of the template's lengths: the two must agree, which the static
 * asserts check). libfixbuf matches IEs by number, not by position, so this
 * order need not follow the file's template.
 *
 * seconds covers the fBufNext loop only (clock_gettime(CLOCK_MONOTONIC)),
 * which includes reading the file. checksum folds every field of every
 * record, in the order of the file's template, with
 *
 *     h = (h ^ value) * 0x100000001b3  (mod 2^64), starting at 0xcbf29ce484222325
 *
 * (IPv4 addresses as host-order integers), so the decode cannot be optimised
 * away and a misplaced field changes the result; benches/peers.py computes
 * the same fold with struct to check it.
 *
 *     gcc -O2 -o libfixbuf_read benches/libfixbuf_read.c \
 *         $(pkg-config --cflags --libs libfixbuf)
 */

#include <fixbuf/public.h>

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <time.h>

#define INTERNAL_TID 0x9999

struct flow {
    uint64_t flowStartMilliseconds;    /*  0 */
    uint64_t flowEndMilliseconds;      /*  8 */
    uint64_t packetDeltaCount;         /* 16 */
    uint64_t octetDeltaCount;          /* 24 */
    uint32_t sourceIPv4Address;        /* 32 */
    uint32_t destinationIPv4Address;   /* 36 */
    uint16_t sourceTransportPort;      /* 40 */
    uint16_t destinationTransportPort; /* 42 */
    uint16_t tcpControlBits;           /* 44 */
    uint8_t protocolIdentifier;        /* 46 */
    uint8_t padding[1];                /* 47: paddingOctets */
};

static fbInfoElementSpec_t flow_spec[] = {
    {"flowStartMilliseconds", 8, 0},
    {"flowEndMilliseconds", 8, 0},
    {"packetDeltaCount", 8, 0},
    {"octetDeltaCount", 8, 0},
    {"sourceIPv4Address", 4, 0},
    {"destinationIPv4Address", 4, 0},
    {"sourceTransportPort", 2, 0},
    {"destinationTransportPort", 2, 0},
    {"tcpControlBits", 2, 0},
    {"protocolIdentifier", 1, 0},
    {"paddingOctets", 1, 0},
    FB_IESPEC_NULL};

_Static_assert(offsetof(struct flow, packetDeltaCount) == 16, "struct layout");
_Static_assert(offsetof(struct flow, sourceIPv4Address) == 32, "struct layout");
_Static_assert(offsetof(struct flow, sourceTransportPort) == 40, "struct layout");
_Static_assert(offsetof(struct flow, tcpControlBits) == 44, "struct layout");
_Static_assert(offsetof(struct flow, protocolIdentifier) == 46, "struct layout");
_Static_assert(offsetof(struct flow, padding) == 47, "struct layout");
_Static_assert(sizeof(struct flow) == 48, "struct layout");

#define FOLD(h, v) ((h) = ((h) ^ (uint64_t)(v)) * UINT64_C(0x100000001b3))

static int fail(const char *what, GError *err)
{
    fprintf(stderr, "libfixbuf_read: %s: %s\n", what,
            err ? err->message : "unknown error");
    g_clear_error(&err);
    return 1;
}

int main(int argc, char **argv)
{
    GError *err = NULL;
    struct flow rec;
    size_t len;
    uint64_t records = 0;
    uint64_t h = UINT64_C(0xcbf29ce484222325);
    struct timespec t0, t1;
    double seconds;
    int rc = 0;

    if (argc != 2) {
        fprintf(stderr, "usage: %s FILE\n", argv[0]);
        return 2;
    }

    fbInfoModel_t *model = fbInfoModelAlloc();
    fbSession_t *session = fbSessionAlloc(model);
    fbTemplate_t *tmpl = fbTemplateAlloc(model);
    if (!fbTemplateAppendSpecArray(tmpl, flow_spec, 0, &err)) {
        fbTemplateFreeUnused(tmpl);
        fbSessionFree(session);
        fbInfoModelFree(model);
        return fail("internal template", err);
    }
    /* The session owns the template from here on. */
    if (!fbSessionAddTemplate(session, TRUE, INTERNAL_TID, tmpl, &err)) {
        fbSessionFree(session);
        fbInfoModelFree(model);
        return fail("add internal template", err);
    }
    fbCollector_t *collector = fbCollectorAllocFile(NULL, argv[1], &err);
    if (!collector) {
        fbSessionFree(session);
        fbInfoModelFree(model);
        return fail(argv[1], err);
    }
    /* The buffer owns the session and the collector from here on. */
    fBuf_t *fbuf = fBufAllocForCollection(session, collector);
    if (!fBufSetInternalTemplate(fbuf, INTERNAL_TID, &err)) {
        fBufFree(fbuf);
        fbInfoModelFree(model);
        return fail("set internal template", err);
    }

    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (;;) {
        len = sizeof(rec);
        if (!fBufNext(fbuf, (uint8_t *)&rec, &len, &err)) {
            if (g_error_matches(err, FB_ERROR_DOMAIN, FB_ERROR_EOF)) {
                g_clear_error(&err);
            } else {
                rc = fail(argv[1], err);
                err = NULL;
            }
            break;
        }
        records++;
        /* The order of the file's template. */
        FOLD(h, rec.flowStartMilliseconds);
        FOLD(h, rec.flowEndMilliseconds);
        FOLD(h, rec.sourceIPv4Address);
        FOLD(h, rec.destinationIPv4Address);
        FOLD(h, rec.sourceTransportPort);
        FOLD(h, rec.destinationTransportPort);
        FOLD(h, rec.protocolIdentifier);
        FOLD(h, rec.tcpControlBits);
        FOLD(h, rec.packetDeltaCount);
        FOLD(h, rec.octetDeltaCount);
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);

    fBufFree(fbuf);
    fbInfoModelFree(model);
    if (rc) {
        return rc;
    }
    seconds = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    printf("{\"records\": %llu, \"seconds\": %.6f, \"checksum\": %llu}\n",
           (unsigned long long)records, seconds, (unsigned long long)h);
    return 0;
}

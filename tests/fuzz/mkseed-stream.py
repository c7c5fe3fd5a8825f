#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-only
# Writes the seed corpus of fuzz_stream.c: small well-formed migration
# streams (docs/stream.md) of a 4-page domain, with correct checksums,
# each prefixed by the harness's mode byte.  Run from tests/fuzz/.
import json, os, struct

def crc32c(data, crc=0):
    crc ^= 0xffffffff
    for b in data:
        crc ^= b
        for _ in range(8):
            crc = (crc >> 1) ^ (0x82f63b78 if crc & 1 else 0)
    return crc ^ 0xffffffff

def header(nr_pages):
    h = b"XLMIGSTR" + struct.pack("<IIQI", 1, 4096, nr_pages, 0)
    return h + struct.pack("<I", crc32c(h))

def record(rtype, body):
    h = struct.pack("<II", rtype, len(body))
    covered = body
    if rtype == 5:   # page data: the page check record covers the data
        covered = body[:8 + 8 * struct.unpack("<I", body[:4])[0]]
    return h + struct.pack("<II", crc32c(covered, crc32c(h)), 0) + body

def batch(pfns, zero=()):
    body = struct.pack("<II", len(pfns), 0)
    data = b""
    for p in pfns:
        body += struct.pack("<Q", p | (1 << 63 if p in zero else 0))
        if p not in zero:
            data += bytes([p + 1]) * 4096
    return body + data, data

cfg = json.dumps({"name": "fz", "memory_mib": 1}).encode()
regs = struct.pack("<QQQII", 1, 2, 3, 4, 0)
b1, _ = batch([0, 1, 2], zero=(1,))
b2, d2 = batch([3])
check = struct.pack("<II", 1, 0) + struct.pack("<I", crc32c(d2[:4096]))
unstable = struct.pack("<III", 1, 1, crc32c(d2[:4096])) + struct.pack("<I", 0)
b3, _ = batch([3])
seeds = {
    "full": header(4) + record(1, cfg) + record(4, b"") + record(2, b1) +
            record(5, b2) + record(6, check) + record(3, regs) +
            record(0, b""),
    "unstable-resent": header(4) + record(1, cfg) + record(5, b2) +
            record(6, unstable) + record(2, b3) + record(3, regs) +
            record(0, b""),
    "header-only": header(4),
    "no-vcpu": header(4) + record(1, cfg) + record(0, b""),
}
os.makedirs("corpus/stream", exist_ok=True)
for name, s in seeds.items():
    for mode in (0, 1):
        with open("corpus/stream/%s-%d" % (name, mode), "wb") as f:
            f.write(bytes([mode]) + s)

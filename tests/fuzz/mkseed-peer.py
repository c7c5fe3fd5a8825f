#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-only
# Writes the seed corpora of fuzz_handshake.c, fuzz_ctl.c and the nesting
# seeds of fuzz_proto.c: well-formed control frames (docs/protocol.md:
# magic, version, type, flags, length, CRC32C) and control-socket request
# lines, among them the deeply nested JSON that once crashed xlmigd.  Run
# from tests/fuzz/.
import os, struct

def crc32c(data, crc=0):
    crc ^= 0xffffffff
    for b in data:
        crc ^= b
        for _ in range(8):
            crc = (crc >> 1) ^ (0x82f63b78 if crc & 1 else 0)
    return crc ^ 0xffffffff

def frame(mtype, payload):
    hdr = b"XLMP" + struct.pack(">HHHHII", 1, mtype, 0, 0, len(payload), 0)
    crc = crc32c(payload, crc32c(hdr))
    return hdr[:16] + struct.pack(">I", crc) + payload

HELLO, REFUSED, REQUEST = 1, 5, 6
nonce = "00" * 32
hello = ('{"version":1,"node":"node1","nonce":"%s"}' % nonce).encode()

def write(d, name, data):
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)

write("corpus/handshake", "hello", frame(HELLO, hello))
write("corpus/handshake", "hello-bad-name",
      frame(HELLO, ('{"version":1,"node":"../x","nonce":"%s"}' % nonce).encode()))
write("corpus/handshake", "refused", frame(REFUSED, b"bye\nforged line"))
write("corpus/handshake", "nested-hello-1m",
      frame(HELLO, b"[" * 524000 + b"]" * 524000))
write("corpus/handshake", "nested-hello-small",
      frame(HELLO, b"[" * 2000 + b"]" * 2000))
write("corpus/ctl", "list", b'{"version":1,"op":"list"}\n')
write("corpus/ctl", "save", b'{"version":1,"op":"save","domain":"vm","live":true,"checkpoint":false,"params":{}}\n')
write("corpus/ctl", "nested", b'{"version":1,"op":' + b"[" * 60000 + b"]" * 60000 + b"}\n")
write("corpus/ctl", "no-newline", b'{"version":1,"op":"list"}')
# fuzz_proto: mode byte 2 (unkeyed, the dispatcher), then a deep request.
write("corpus/proto", "request-nested",
      b"\x02" + frame(REQUEST, b'{"version":1,"op":"echo","args":{"x":' +
                      b"[" * 100000 + b"]" * 100000 + b"}}"))

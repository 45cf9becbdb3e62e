#!/usr/bin/env python3
"""Writes the committed seed corpora under fuzz/corpus/ (deterministic; rerun after editing).

GGUF seeds are small synthetic files (a tiny llama with the stories260K vocabulary, one tensor of
every storage type, every metadata value type, nested arrays) plus a few malformed variants, so
the fuzzer starts from inputs that reach deep into the parser and the loader without the
megabyte-sized shipped models. Usage: fuzz/make_seeds.py [REPO_ROOT]
"""
import gzip
import json
import os
import struct
import sys

ROOT = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
CORPUS = os.path.join(ROOT, "fuzz", "corpus")

# --- a minimal GGUF reader/writer ---------------------------------------------------------------
U8, I8, U16, I16, U32, I32, F32, BOOL, STRING, ARRAY, U64, I64, F64 = range(13)
SCALAR = {U8: "<B", I8: "<b", U16: "<H", I16: "<h", U32: "<I", I32: "<i", F32: "<f", BOOL: "<B",
          U64: "<Q", I64: "<q", F64: "<d"}
# type id -> (block size, bytes per block)
TTYPES = {0: (1, 4), 1: (1, 2), 30: (1, 2), 8: (32, 34), 2: (32, 18), 3: (32, 20), 6: (32, 22), 7: (32, 24),
          10: (256, 84), 11: (256, 110), 12: (256, 144), 13: (256, 176), 14: (256, 210)}


def gstr(s):
    b = s.encode() if isinstance(s, str) else s
    return struct.pack("<Q", len(b)) + b


def gval(t, v):
    if t in SCALAR:
        return struct.pack(SCALAR[t], v)
    if t == STRING:
        return gstr(v)
    et, items = v
    return struct.pack("<IQ", et, len(items)) + b"".join(gval(et, x) for x in items)


def read_gguf(path):
    d = open(path, "rb").read()
    p = [0]

    def rd(fmt):
        v = struct.unpack_from(fmt, d, p[0])[0]
        p[0] += struct.calcsize(fmt)
        return v

    def rs():
        n = rd("<Q")
        s = d[p[0]:p[0] + n]
        p[0] += n
        return s

    def rv(t):
        if t in SCALAR:
            return rd(SCALAR[t])
        if t == STRING:
            return rs()
        et, n = rd("<I"), rd("<Q")
        return (et, [rv(et) for _ in range(n)])

    assert rd("<I") == 0x46554747
    rd("<I")
    nt, nkv = rd("<Q"), rd("<Q")
    kv = []
    for _ in range(nkv):
        k = rs().decode()
        t = rd("<I")
        kv.append((k, t, rv(t)))
    return kv


def write_gguf(kv, tensors, version=3, alignment=32):
    """kv: [(key, type, value)]; tensors: [(name, [ne...], type, bytes)]."""
    out = struct.pack("<IIQQ", 0x46554747, version, len(tensors), len(kv))
    for k, t, v in kv:
        out += gstr(k) + struct.pack("<I", t) + gval(t, v)
    offsets, off = [], 0
    for name, ne, tt, data in tensors:
        offsets.append(off)
        off += len(data)
        off = (off + alignment - 1) // alignment * alignment
    for (name, ne, tt, data), o in zip(tensors, offsets):
        out += gstr(name) + struct.pack("<I", len(ne)) + b"".join(struct.pack("<Q", n) for n in ne)
        out += struct.pack("<IQ", tt, o)
    out += b"\0" * ((alignment - len(out) % alignment) % alignment)
    data = b""
    for (name, ne, tt, t_data), o in zip(tensors, offsets):
        data += b"\0" * (o - len(data)) + t_data
    return out + data


class Rng:
    """Deterministic bytes (xorshift), so seeds do not change between runs."""

    def __init__(self, seed):
        self.s = seed or 1

    def byte(self):
        s = self.s
        s ^= (s << 13) & 0xFFFFFFFFFFFFFFFF
        s ^= s >> 7
        s ^= (s << 17) & 0xFFFFFFFFFFFFFFFF
        self.s = s
        return s & 0xFF

    def bytes(self, n):
        return bytes(self.byte() for _ in range(n))


def f32_bytes(n, rng, scale=0.05):
    return b"".join(struct.pack("<f", ((rng.byte() - 128) / 128.0) * scale) for _ in range(n))


def tensor_bytes(tt, ne, rng):
    n = 1
    for x in ne:
        n *= x
    if tt == 0:
        return f32_bytes(n, rng)
    if tt in (1, 30):  # small f16/bf16 values: keep exponent bits sane
        return b"".join(struct.pack("<H", 0x2000 | rng.byte()) for _ in range(n))
    bs, ts = TTYPES[tt]
    blocks = n // bs
    # Block scales first (f16 0x2c00 ~ 0.0625), then pseudo-random quants.
    return b"".join(struct.pack("<H", 0x2C00) + rng.bytes(ts - 2) for _ in range(blocks))


def write(target, name, data):
    d = os.path.join(CORPUS, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


# --- GGUF seeds ----------------------------------------------------------------------------------
def tiny_llama(kv_src, n_embd, n_ff, n_head, n_head_kv, n_layer, wtype, with_output, rng):
    vocab = next(v for k, t, v in kv_src if k == "tokenizer.ggml.tokens")[1]
    n_vocab = len(vocab)
    kv = []
    for k, t, v in kv_src:
        if k.startswith("llama."):
            continue
        kv.append((k, t, v))
    kv += [("llama.context_length", U32, 128), ("llama.embedding_length", U32, n_embd),
           ("llama.feed_forward_length", U32, n_ff), ("llama.attention.head_count", U32, n_head),
           ("llama.attention.head_count_kv", U32, n_head_kv), ("llama.block_count", U32, n_layer),
           ("llama.rope.dimension_count", U32, n_embd // n_head),
           ("llama.attention.layer_norm_rms_epsilon", F32, 1e-5)]
    hd = n_embd // n_head
    t = [("token_embd.weight", [n_embd, n_vocab], wtype), ("output_norm.weight", [n_embd], 0)]
    if with_output:
        t.append(("output.weight", [n_embd, n_vocab], wtype))
    for i in range(n_layer):
        p = f"blk.{i}."
        t += [(p + "attn_norm.weight", [n_embd], 0), (p + "attn_q.weight", [n_embd, n_embd], wtype),
              (p + "attn_k.weight", [n_embd, hd * n_head_kv], wtype),
              (p + "attn_v.weight", [n_embd, hd * n_head_kv], wtype),
              (p + "attn_output.weight", [n_embd, n_embd], wtype), (p + "ffn_norm.weight", [n_embd], 0),
              (p + "ffn_gate.weight", [n_embd, n_ff], wtype), (p + "ffn_down.weight", [n_ff, n_embd], wtype),
              (p + "ffn_up.weight", [n_embd, n_ff], wtype)]
    tensors = [(n, ne, tt, tensor_bytes(tt, ne, rng)) for n, ne, tt in t]
    return write_gguf(kv, tensors)


def gguf_seeds():
    rng = Rng(0x9E3779B97F4A7C15)
    kv_src = read_gguf(os.path.join(ROOT, "models", "stories260K.gguf"))
    llama_q8 = tiny_llama(kv_src, 32, 64, 2, 1, 1, 8, False, rng)
    write("fuzz_gguf", "tiny_llama_q8_0.gguf", llama_q8)
    write("fuzz_gguf", "tiny_llama_f32_out.gguf", tiny_llama(kv_src, 16, 32, 2, 2, 2, 0, True, rng))
    write("fuzz_gguf", "tiny_llama_f16_v2.gguf",
          tiny_llama(kv_src, 8, 16, 2, 1, 1, 1, True, rng).replace(struct.pack("<I", 3), struct.pack("<I", 2), 1))

    # Every metadata value type, nested arrays, a non-default alignment, one tensor per storage type.
    kv = [("general.architecture", STRING, "fuzz"), ("general.alignment", U32, 64),
          ("t.u8", U8, 200), ("t.i8", I8, -5), ("t.u16", U16, 60000), ("t.i16", I16, -300),
          ("t.u32", U32, 4000000000), ("t.i32", I32, -7), ("t.f32", F32, 0.5), ("t.bool", BOOL, 1),
          ("t.str", STRING, "h\u00e9llo"), ("t.u64", U64, 2**63 + 5), ("t.i64", I64, -2**40), ("t.f64", F64, 1e300),
          ("t.arr_i32", ARRAY, (I32, [1, -2, 3])), ("t.arr_f32", ARRAY, (F32, [0.25, -1.0])),
          ("t.arr_bool", ARRAY, (BOOL, [0, 1, 1])), ("t.arr_str", ARRAY, (STRING, ["a", "", "bc"])),
          ("t.arr_u64", ARRAY, (U64, [2**64 - 1])), ("t.arr_f64", ARRAY, (F64, [2.5])),
          ("t.nested", ARRAY, (ARRAY, [(U8, [1, 2]), (STRING, ["x"]), (ARRAY, [(I16, [-1])])])),
          ("t.empty", ARRAY, (U32, []))]
    tensors = []
    for tt in sorted(TTYPES):
        ne = [256, 2]
        tensors.append((f"t.type{tt}", ne, tt, tensor_bytes(tt, ne, rng)))
    tensors.append(("t.4d", [1, 2, 1, 3], 0, tensor_bytes(0, [6], rng)))
    write("fuzz_gguf", "all_types.gguf", write_gguf(kv, tensors, alignment=64))
    write("fuzz_gguf", "metadata_only.gguf", write_gguf(kv[:1] + kv[2:], []))
    write("fuzz_gguf", "empty_v3.gguf", write_gguf([], []))

    # Malformed variants (the parser must reject each with an error, not a crash).
    write("fuzz_gguf", "bad_truncated_kv.gguf", llama_q8[:9000])
    write("fuzz_gguf", "bad_truncated_data.gguf", llama_q8[:-100])
    write("fuzz_gguf", "bad_huge_array.gguf",
          struct.pack("<IIQQ", 0x46554747, 3, 0, 1) + gstr("a") + struct.pack("<IIQ", ARRAY, U8, 2**62))
    write("fuzz_gguf", "bad_huge_string.gguf",
          struct.pack("<IIQQ", 0x46554747, 3, 0, 1) + gstr("a") + struct.pack("<IQ", STRING, 2**40))
    write("fuzz_gguf", "bad_v1.gguf", struct.pack("<IIII", 0x46554747, 1, 0, 0))


# --- tokenizer seeds: one byte of flags, then text --------------------------------------------------
def tokenizer_seeds():
    texts = ["Once upon a time, there was a little girl named Lily.", " Hello world", "hello  world\n\n",
             "<s>text</s> <unk>", "<|endoftext|>abc<|endoftext|>", "\u00e9\u00e8 \u4e2d\u6587 \U0001F600 emoji",
             "   leading spaces", "tabs\tand\r\nnewlines", "123456789 3.14159", "a" * 200, "\xff\xfe",
             "<0x0A> byte token text", "don't you'll we've", ""]
    for i, t in enumerate(texts):
        for flags in (0, 3, 4, 7):
            write("fuzz_tokenizer", f"text{i:02d}_f{flags}", bytes([flags]) + t.encode("utf-8", "surrogatepass"))
    write("fuzz_tokenizer", "invalid_utf8", bytes([1]) + b"ab\xc3\x28\xe2\x82\xf0\x9f\x98")


# --- dump seeds: one mode byte, metadata.json, a NUL, then the JSONL (or raw gz bytes) ----------------
def dump_seeds():
    meta = {"dtype": "f32", "prompt_len": 3, "gen_len": 2, "seed": 42, "kv_aligned": 1, "mode": "decode",
            "token_span": {"start": 0, "count": 5}, "timestamp": "2026-11-25T12:00:00Z",
            "repo_branch": "main", "model": "stories260K.gguf", "vocab_size": 4}
    lines = [json.dumps({"token_idx": k, "token_id": k + 1, "logits": [0.5, -1.25, 3.0e-5, None if k == 4 else 2.0]})
             for k in range(5)]
    jsonl = ("\n".join(lines) + "\n").encode()
    m = json.dumps(meta).encode()
    write("fuzz_dump", "valid", b"\0" + m + b"\0" + jsonl)
    pre = dict(meta, mode="prefill", kv_aligned=0, dtype="bf16", gen_len=0, token_span={"start": 0, "count": 3})
    write("fuzz_dump", "valid_prefill", b"\0" + json.dumps(pre).encode() + b"\0" + b"\n".join(jsonl.split(b"\n")[:3]) + b"\n")
    write("fuzz_dump", "raw_gz", b"\1" + m + b"\0" + gzip.compress(jsonl, mtime=0))
    write("fuzz_dump", "bad_count", b"\0" + json.dumps(dict(meta, token_span={"start": 0, "count": 9})).encode() + b"\0" + jsonl)
    write("fuzz_dump", "bad_json", b"\0" + m[:-3] + b"\0" + jsonl[:40])


# --- CLI seeds: argv words separated by NUL ----------------------------------------------------------
def cli_seeds():
    argvs = [["-m", "models/stories260K.gguf", "-p", "Once upon a time", "-n", "16"],
             ["--model", "m.gguf", "--prompt-file", "p.txt", "-n", "0", "-c", "64", "--threads", "4"],
             ["-m", "m.gguf", "-p", "x", "--temp", "0.8", "--seed", "123", "--top-k", "40", "--top-p", "0.9"],
             ["-m", "m.gguf", "-p", "x", "--kv-aligned", "1", "--dump-logits", "out", "--dump-dtype", "bf16"],
             ["-m", "m.gguf", "-p", "x", "--threads", "10000", "-c", "-1", "-n", "99999999999999999999"],
             ["--help"], ["--version"], ["-m"], ["-p", "", "-m", ""], ["--unknown-flag=3", "-n=4"]]
    for i, a in enumerate(argvs):
        write("fuzz_cli", f"argv{i:02d}", b"\0".join(w.encode() for w in a))


if __name__ == "__main__":
    gguf_seeds()
    tokenizer_seeds()
    dump_seeds()
    cli_seeds()

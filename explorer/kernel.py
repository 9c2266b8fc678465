"""The page's one hot loop, y += x·W, as a WebAssembly module with 128-bit SIMD, assembled here byte by byte.

A 2 × 448 LSTM reads 2.4 million weights per character; plain JavaScript
multiplies about one pair per nanosecond, WebAssembly's f32x4 four. The module
has a single function,

    axpy_rows(W, x, y, n, m)      # y[0:m] += Σ_k x[k] · W[k, 0:m]

on float32 arrays in the memory it imports (byte offsets; W row-major n × m;
m a multiple of 4). It takes four rows of W per pass over y (a0·W_k + a1·W_k+1
+ a2·W_k+2 + a3·W_k+3), so y is loaded and stored once per four rows, then the
rows left over one by one. The opcodes are those of the WebAssembly core and
SIMD specifications; `module_bytes()` is what the page instantiates.
"""

import struct


def uleb(value):
    out = bytearray()
    while True:
        byte, value = value & 0x7F, value >> 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


def sleb(value):
    out = bytearray()
    while True:
        byte, value = value & 0x7F, value >> 7
        done = (value == 0 and not byte & 0x40) or (value == -1 and byte & 0x40)
        out.append(byte | (0 if done else 0x80))
        if done:
            return bytes(out)


def vector(items):
    return uleb(len(items)) + b"".join(items)


def section(code, body):
    return bytes([code]) + uleb(len(body)) + body


def name(text):
    return uleb(len(text)) + text.encode()


I32, V128, EMPTY = 0x7F, 0x7B, 0x40
BLOCK, LOOP, END, BR, BR_IF = 0x02, 0x03, 0x0B, 0x0C, 0x0D
GET, SET, TEE = 0x20, 0x21, 0x22
I32_ADD, I32_MUL, I32_GT_U, I32_GE_U, I32_LT_U = 0x6A, 0x6C, 0x4B, 0x4F, 0x49
F32_LOAD = 0x2A
SIMD = 0xFD
V128_LOAD, V128_STORE, F32X4_SPLAT, F32X4_ADD, F32X4_MUL = 0x00, 0x0B, 0x13, 0xE4, 0xE6
F32X4_RELAXED_MADD = 0x105  # a·b + c


def op(code, *immediates):
    return bytes([code]) + b"".join(immediates)


def simd(code, *immediates):
    return bytes([SIMD]) + uleb(code) + b"".join(immediates)


def i32(value):
    return op(0x41, sleb(value))


def get(index):
    return op(GET, uleb(index))


def put(index):
    return op(SET, uleb(index))


def load_f32(offset=0):
    return op(F32_LOAD, uleb(2), uleb(offset))


def load_v128(offset=0):
    return simd(V128_LOAD, uleb(4), uleb(offset))


def store_v128():
    return simd(V128_STORE, uleb(4), uleb(0))


# locals: the parameters, then the function's own
W, X, Y, N, M = range(5)
K, J, ROW, R0, R1, R2, R3 = range(5, 12)  # i32
A0, A1, A2, A3, ACC = range(12, 17)       # v128


def multiply_add(relaxed):
    """[w, a, acc] on the stack → a·w + acc."""
    if relaxed:
        return simd(F32X4_RELAXED_MADD)
    return op(SET, uleb(ACC)) + simd(F32X4_MUL) + get(ACC) + simd(F32X4_ADD)


def axpy_rows_body(rows, relaxed):
    """One pass over y for `rows` (4 or 1) rows of W from row K; R0.. point at them, A0.. hold the splatted x."""
    code = b""
    for r in range(rows):  # a_r = splat(x[k + r]); R_r = W + (k + r)·ROW
        code += get(X) + get(K) + i32(4) + op(I32_MUL) + op(I32_ADD) + load_f32(offset=4 * r)
        code += simd(F32X4_SPLAT) + put(A0 + r)
        code += get(W) + get(K) + i32(r) + op(I32_ADD) + get(ROW) + op(I32_MUL) + op(I32_ADD) + put(R0 + r)
    code += i32(0) + put(J)
    inner = get(Y) + get(J) + op(I32_ADD)  # address of the store
    inner += get(Y) + get(J) + op(I32_ADD) + load_v128() + put(ACC)
    for r in range(rows):
        inner += get(R0 + r) + get(J) + op(I32_ADD) + load_v128() + get(A0 + r) + get(ACC) + multiply_add(relaxed)
        inner += put(ACC)
    inner += get(ACC) + store_v128()
    inner += get(J) + i32(16) + op(I32_ADD) + op(TEE, uleb(J)) + get(ROW) + op(I32_LT_U) + op(BR_IF, uleb(0))
    return code + op(LOOP, bytes([EMPTY])) + inner + op(END)


def axpy_rows_code(relaxed):
    code = get(M) + i32(4) + op(I32_MUL) + put(ROW) + i32(0) + put(K)
    # four rows at a time while k + 4 <= n
    code += op(BLOCK, bytes([EMPTY])) + op(LOOP, bytes([EMPTY]))
    code += get(K) + i32(4) + op(I32_ADD) + get(N) + op(I32_GT_U) + op(BR_IF, uleb(1))
    code += axpy_rows_body(4, relaxed)
    code += get(K) + i32(4) + op(I32_ADD) + put(K) + op(BR, uleb(0)) + op(END) + op(END)
    # then one at a time while k < n
    code += op(BLOCK, bytes([EMPTY])) + op(LOOP, bytes([EMPTY]))
    code += get(K) + get(N) + op(I32_GE_U) + op(BR_IF, uleb(1))
    code += axpy_rows_body(1, relaxed)
    code += get(K) + i32(1) + op(I32_ADD) + put(K) + op(BR, uleb(0)) + op(END) + op(END)
    locals_ = vector([uleb(7) + bytes([I32]), uleb(5) + bytes([V128])])
    body = locals_ + code + op(END)
    return uleb(len(body)) + body


def module_bytes(relaxed=False):
    """The module: imports env.memory, exports axpy_rows(W, x, y, n, m) (i32 byte offsets and counts).

    With `relaxed`, each a·w + y is one f32x4.relaxed_madd (fused where the CPU can: the relaxed-SIMD
    proposal, in Chromium since version 114), else f32x4.mul then f32x4.add.
    """
    types = section(1, vector([bytes([0x60]) + vector([bytes([I32])] * 5) + vector([])]))
    imports = section(2, vector([name("env") + name("memory") + bytes([0x02, 0x00]) + uleb(1)]))
    functions = section(3, vector([uleb(0)]))
    exports = section(7, vector([name("axpy_rows") + bytes([0x00]) + uleb(0)]))
    code = section(10, vector([axpy_rows_code(relaxed)]))
    return b"\x00asm" + struct.pack("<I", 1) + types + imports + functions + exports + code

"""The page's one hot loop, y += x·W, as a WebAssembly module with 128-bit SIMD, assembled here byte by byte.

A 2 × 448 LSTM reads 2.4 million weights per character; plain JavaScript
multiplies about one pair per nanosecond, WebAssembly's f32x4 four. The module
has two functions,

    axpy_rows(W, x, y, n, m)      # y[0:m] += Σ_k x[k] · W[k, 0:m]
    gates(z, c, h, u)             # i, f, C̃, o from z = [z_i, z_f, z_C, z_o]; C ← f·C + i·C̃; h ← o·tanh(C)

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
V128_CONST, F32X4_DIV, F32X4_MIN, F32X4_MAX = 0x0C, 0xE7, 0xE8, 0xE9

# tanh(x) ≈ x·P(x²)/Q(x²) on [−c, c], ±1 beyond: Eigen's float tanh (generic_fast_tanh_float), within 4e-7.
TANH_CLAMP = 7.99881172180175781
TANH_P = (-2.76076847742355e-16, 2.00018790482477e-13, -8.60467152213735e-11, 5.12229709037114e-08,
          1.48572235717979e-05, 6.37261928875436e-04, 4.89352455891786e-03)  # x¹³ … x¹
TANH_Q = (1.19825839466702e-06, 1.18534705686654e-04, 2.26843463243900e-03, 4.89352518554385e-03)  # x⁶ … x⁰


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


def multiply_add(relaxed, scratch=None):
    """[w, a, acc] on the stack → a·w + acc (without relaxed SIMD, acc passes through the v128 local `scratch`)."""
    if relaxed:
        return simd(F32X4_RELAXED_MADD)
    scratch = ACC if scratch is None else scratch
    return op(SET, uleb(scratch)) + simd(F32X4_MUL) + get(scratch) + simd(F32X4_ADD)


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


# gemm4's locals: W, X, Y, N, M (parameters), then
M_K, M_J, M_ROW, M_XS, M_WK, M_XK = range(5, 11)    # i32
M_Y = (Y, 11, 12, 13)                               # i32: the rows of Y, then of W, then of X
M_R = (None, 14, 15, 16)
M_X = (None, 17, 18, 19)
M_S = 20                                            # v128: 16 splats x[q, k + r] at M_S + 4q + r
M_W, M_ACC = 36, 40                                 # v128: four rows of W, the accumulator


def gemm4_pass(rows, relaxed):
    """Four positions × `rows` (4 or 1) rows of W from row K: Y[q] += Σ_r x[q, k + r] · W[k + r]."""
    code = b""
    for q in range(4):
        for r in range(rows):
            code += get(M_XK if q == 0 else M_X[q]) + load_f32(offset=4 * r) + simd(F32X4_SPLAT) + put(M_S + 4 * q + r)
    code += i32(0) + put(M_J)
    inner = b""
    for r in range(rows):
        inner += get(M_WK if r == 0 else M_R[r]) + get(M_J) + op(I32_ADD) + load_v128() + put(M_W + r)
    for q in range(4):
        inner += get(M_Y[q]) + get(M_J) + op(I32_ADD)  # address of the store
        inner += get(M_Y[q]) + get(M_J) + op(I32_ADD) + load_v128() + put(M_ACC)
        for r in range(rows):
            inner += get(M_W + r) + get(M_S + 4 * q + r) + get(M_ACC) + multiply_add(relaxed, M_ACC) + put(M_ACC)
        inner += get(M_ACC) + store_v128()
    inner += get(M_J) + i32(16) + op(I32_ADD) + op(TEE, uleb(M_J)) + get(M_ROW) + op(I32_LT_U) + op(BR_IF, uleb(0))
    code += op(LOOP, bytes([EMPTY])) + inner + op(END)
    # on to the next rows: k += rows, the pointers with it
    code += get(M_K) + i32(rows) + op(I32_ADD) + put(M_K)
    code += get(M_WK) + get(M_ROW) + i32(rows) + op(I32_MUL) + op(I32_ADD) + put(M_WK)
    code += get(M_XK) + i32(4 * rows) + op(I32_ADD) + put(M_XK)
    return code


def gemm4_pointers():
    """R_r = WK + r·ROW and X_q = XK + q·XS for the pass that follows."""
    code = b""
    for r in (1, 2, 3):
        code += get(M_WK) + get(M_ROW) + i32(r) + op(I32_MUL) + op(I32_ADD) + put(M_R[r])
    for q in (1, 2, 3):
        code += get(M_XK) + get(M_XS) + i32(q) + op(I32_MUL) + op(I32_ADD) + put(M_X[q])
    return code


def gemm4_code(relaxed):
    """Y[4 × m] += X[4 × n] · W[n × m]: four positions at once, so each row of W is read once for four."""
    code = get(M) + i32(4) + op(I32_MUL) + put(M_ROW) + get(N) + i32(4) + op(I32_MUL) + put(M_XS)
    for q in (1, 2, 3):
        code += get(Y) + get(M_ROW) + i32(q) + op(I32_MUL) + op(I32_ADD) + put(M_Y[q])
    code += i32(0) + put(M_K) + get(W) + put(M_WK) + get(X) + put(M_XK)
    for rows, more in ((4, op(I32_GT_U)), (1, op(I32_GE_U))):  # blocks of four rows, then one at a time
        code += op(BLOCK, bytes([EMPTY])) + op(LOOP, bytes([EMPTY]))
        code += (get(M_K) + i32(4) + op(I32_ADD) + get(N) if rows == 4 else get(M_K) + get(N)) + more + op(BR_IF, uleb(1))
        code += gemm4_pointers() + gemm4_pass(rows, relaxed) + op(BR, uleb(0)) + op(END) + op(END)
    locals_ = vector([uleb(15) + bytes([I32]), uleb(21) + bytes([V128])])
    body = locals_ + code + op(END)
    return uleb(len(body)) + body


def f32x4(value):
    return simd(V128_CONST, struct.pack("<4f", *[value] * 4))


# gates' locals: Z, C, H, U (parameters), then
G_J, G_U4 = 4, 5                                    # i32
G_X, G_XC, G_X2, G_I, G_F, G_G, G_O, G_C = range(6, 14)  # v128


def tanh_of(local):
    """tanh of the v128 in `local`, left on the stack."""
    code = get(local) + f32x4(TANH_CLAMP) + simd(F32X4_MIN) + f32x4(-TANH_CLAMP) + simd(F32X4_MAX) + put(G_XC)
    code += get(G_XC) + get(G_XC) + simd(F32X4_MUL) + put(G_X2)
    for coefficients in (TANH_P, TANH_Q):  # Horner in x²
        code += f32x4(coefficients[0])
        for k in coefficients[1:]:
            code += get(G_X2) + simd(F32X4_MUL) + f32x4(k) + simd(F32X4_ADD)
        if coefficients is TANH_P:
            code += get(G_XC) + simd(F32X4_MUL)
    return code + simd(F32X4_DIV)


def sigmoid_of(local):
    """σ(x) = ½ + ½·tanh(x/2) of the v128 in `local`, left on the stack."""
    code = get(local) + f32x4(0.5) + simd(F32X4_MUL) + put(G_X) + tanh_of(G_X)
    return code + f32x4(0.5) + simd(F32X4_MUL) + f32x4(0.5) + simd(F32X4_ADD)


def gates_code():
    """One LSTM step after z: gates from z (blocks i, f, C̃, o of u each, overwritten by i, f, C̃, o), then
    C ← f·C + i·C̃ and h ← o·tanh(C) in place; u a multiple of 4."""
    block = lambda q: get(Z) + get(G_J) + op(I32_ADD) + (get(G_U4) + i32(q) + op(I32_MUL) + op(I32_ADD) if q else b"")
    code = get(U) + i32(4) + op(I32_MUL) + put(G_U4) + i32(0) + put(G_J)
    inner = b""
    for q, local in enumerate((G_I, G_F, G_G, G_O)):
        inner += block(q) + load_v128() + put(G_X if q == 2 else local)
        inner += (tanh_of(G_X) if q == 2 else sigmoid_of(local)) + put(local)
        inner += block(q) + get(local) + store_v128()
    inner += get(G_F) + get(C) + get(G_J) + op(I32_ADD) + load_v128() + simd(F32X4_MUL)
    inner += get(G_I) + get(G_G) + simd(F32X4_MUL) + simd(F32X4_ADD) + put(G_C)
    inner += get(C) + get(G_J) + op(I32_ADD) + get(G_C) + store_v128()
    inner += get(H) + get(G_J) + op(I32_ADD) + get(G_O) + tanh_of(G_C) + simd(F32X4_MUL) + store_v128()
    inner += get(G_J) + i32(16) + op(I32_ADD) + op(TEE, uleb(G_J)) + get(G_U4) + op(I32_LT_U) + op(BR_IF, uleb(0))
    code += op(LOOP, bytes([EMPTY])) + inner + op(END)
    locals_ = vector([uleb(2) + bytes([I32]), uleb(8) + bytes([V128])])
    body = locals_ + code + op(END)
    return uleb(len(body)) + body


Z, C, H, U = range(4)


def module_bytes(relaxed=False):
    """The module: imports env.memory, exports axpy_rows(W, x, y, n, m) and gates(z, c, h, u) (i32 byte
    offsets and counts).

    With `relaxed`, each a·w + y is one f32x4.relaxed_madd (fused where the CPU can: the relaxed-SIMD
    proposal, in Chromium since version 114), else f32x4.mul then f32x4.add.
    """
    types = section(1, vector([bytes([0x60]) + vector([bytes([I32])] * 5) + vector([]),
                               bytes([0x60]) + vector([bytes([I32])] * 4) + vector([])]))
    imports = section(2, vector([name("env") + name("memory") + bytes([0x02, 0x00]) + uleb(1)]))
    functions = section(3, vector([uleb(0), uleb(1), uleb(0)]))
    exports = section(7, vector([name("axpy_rows") + bytes([0x00]) + uleb(0), name("gates") + bytes([0x00]) + uleb(1),
                                 name("gemm4") + bytes([0x00]) + uleb(2)]))
    code = section(10, vector([axpy_rows_code(relaxed), gates_code(), gemm4_code(relaxed)]))
    return b"\x00asm" + struct.pack("<I", 1) + types + imports + functions + exports + code

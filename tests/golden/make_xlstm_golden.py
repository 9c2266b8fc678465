"""Golden arrays for the sLSTM and mLSTM cells from the official xLSTM code.

Run with a separate venv that has torch (CPU) and xlstm==1.0.8 (NOT the
project venv; CI never runs this script):

    python3 -m venv /work/venv-xlstm
    /work/venv-xlstm/bin/pip install torch xlstm==1.0.8 numpy   # xlstm --no-deps is enough
    /work/venv-xlstm/bin/python tests/golden/make_xlstm_golden.py

It writes tests/golden/xlstm_official.npz (float64 throughout). The layouts
and the equations are in tests/golden/README.md.

Official functions called (xlstm 1.0.8, pure PyTorch, CPU):
  xlstm/blocks/slstm/src/vanilla/__init__.py : slstm_forward
  xlstm/blocks/slstm/src/vanilla/slstm.py    : slstm_forward_pointwise
  xlstm/blocks/slstm/cell.py                 : sLSTMCell (backend="vanilla")
  xlstm/blocks/mlstm/backends.py             : parallel_stabilized_simple,
                                               recurrent_step_stabilized_simple
"""

import importlib.metadata
import os

import numpy as np
import torch
import xlstm
from xlstm.blocks.mlstm.backends import (
    parallel_stabilized_simple,
    recurrent_step_stabilized_simple,
)
from xlstm.blocks.slstm.cell import sLSTMCell, sLSTMCellConfig
from xlstm.blocks.slstm.src.vanilla import slstm_forward
from xlstm.blocks.slstm.src.vanilla.slstm import slstm_forward_pointwise

torch.set_default_dtype(torch.float64)
DT = torch.float64
OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "xlstm_official.npz")

arrays = {}


def put(name, value):
    if isinstance(value, torch.Tensor):
        value = value.detach().cpu().numpy()
    arrays[name] = np.array(value)


# ---------------------------------------------------------------- sLSTM ----
NH, HD = 2, 4  # heads, head size
H = NH * HD  # 8 units
G = 4  # gates i, f, z, o


def r_ext2int(r_ext):
    """External recurrent kernel [NH, HD_in, 4, HD_out] -> the vanilla
    backend's internal [NH, 4*HD_out, HD_in] (as sLSTMCell_vanilla does)."""
    return r_ext.permute(0, 2, 3, 1).reshape(NH, G * HD, HD)


def b_ext2int(b_ext):
    """External bias [NH, 4, HD] -> internal gate-major [4*NH*HD]."""
    return b_ext.permute(1, 0, 2).reshape(-1)


def slstm_case(prefix, gen, T, B, wx_scale, r_scale, b_scale, init_state):
    # pre-activations W x_t (WITHOUT bias), layout [B, T, 4*H] with the last
    # axis ordered (gate, head, unit) = the official "BSGNH" input layout
    wx = torch.randn(B, T, G * H, generator=gen, dtype=DT) * wx_scale
    r_ext = torch.randn(NH, HD, G, HD, generator=gen, dtype=DT) * r_scale
    b_ext = torch.randn(NH, G, HD, generator=gen, dtype=DT) * b_scale
    if init_state:
        h0 = torch.randn(B, H, generator=gen, dtype=DT) * 0.5
        c0 = torch.randn(B, H, generator=gen, dtype=DT)
        n0 = torch.rand(B, H, generator=gen, dtype=DT) + 0.5
        m0 = torch.randn(B, H, generator=gen, dtype=DT)
        state0 = torch.stack([h0, c0, n0, m0])  # [4, B, H]
    else:
        state0 = torch.zeros(4, B, H, dtype=DT)
    x_sbg = wx.transpose(0, 1).contiguous()  # [T, B, 4H]
    states_all, last, gates = slstm_forward(
        x_sbg, state0.clone(), r_ext2int(r_ext), b_ext2int(b_ext),
        slstm_forward_pointwise,
    )
    # states_all: [4 (h, c, n, m), T+1, B, H]; index 0 on time = initial state
    # gates: [T+1, 4, B, H]; last time slot is unused zeros
    put(prefix + "_wx", wx)
    put(prefix + "_r", r_ext)
    put(prefix + "_b", b_ext)
    put(prefix + "_state0", state0)
    put(prefix + "_states", states_all[:, 1:].permute(0, 2, 1, 3))  # [4, B, T, H]
    put(prefix + "_final", last)  # [4, B, H]
    put(prefix + "_gates", gates[:T].permute(1, 2, 0, 3))  # [4, B, T, H]

    # Cross-check: the official module sLSTMCell with the vanilla backend,
    # given the same external-layout weights, gives the same h sequence.
    cfg = sLSTMCellConfig(hidden_size=H, num_heads=NH, backend="vanilla",
                          dtype="float32", enable_automatic_mixed_precision=False)
    cell = sLSTMCell(cfg).double()
    with torch.no_grad():
        cell._recurrent_kernel_.copy_(r_ext2int(r_ext))
        cell._bias_.copy_(b_ext2int(b_ext))
        assert torch.equal(cell._recurrent_kernel_int2ext(cell._recurrent_kernel), r_ext)
        assert torch.equal(cell._bias_int2ext(cell._bias), b_ext)
        out, fin = cell(wx, state=state0.clone())  # out: [B, NH, T, HD]
    h_cell = out.permute(0, 2, 1, 3).reshape(B, T, H)
    d = (h_cell - states_all[0, 1:].transpose(0, 1)).abs().max().item()
    assert d == 0.0, d
    assert torch.equal(fin, last)
    return states_all, gates


gen = torch.Generator().manual_seed(20240507)
slstm_case("slstm", gen, T=7, B=2, wx_scale=1.0, r_scale=0.5, b_scale=0.5,
           init_state=False)
slstm_case("slstm_init", gen, T=7, B=2, wx_scale=1.0, r_scale=0.5, b_scale=0.5,
           init_state=True)
# large pre-activations (std 30, extremes beyond +-100): exp(i) without the
# stabilizer m overflows float32 (exp(x) = inf for x > 88.7)
sa, _ = slstm_case("slstm_large", gen, T=60, B=2, wx_scale=30.0, r_scale=1.0,
                   b_scale=5.0, init_state=False)
del arrays["slstm_large_gates"]  # keep the file small

# ---------------------------------------------------------------- mLSTM ----


def mlstm_case(prefix, gen, B, NHm, T, DH, qkv_scale, i_scale, i_shift,
               f_scale, f_shift):
    q = torch.randn(B, NHm, T, DH, generator=gen, dtype=DT) * qkv_scale
    k = torch.randn(B, NHm, T, DH, generator=gen, dtype=DT) * qkv_scale
    v = torch.randn(B, NHm, T, DH, generator=gen, dtype=DT) * qkv_scale
    ig = torch.randn(B, NHm, T, 1, generator=gen, dtype=DT) * i_scale + i_shift
    fg = torch.randn(B, NHm, T, 1, generator=gen, dtype=DT) * f_scale + f_shift
    h_par = parallel_stabilized_simple(q.clone(), k.clone(), v.clone(),
                                       ig.clone(), fg.clone())
    put(prefix + "_q", q)
    put(prefix + "_k", k)
    put(prefix + "_v", v)
    put(prefix + "_i", ig[..., 0])  # [B, NH, T]
    put(prefix + "_f", fg[..., 0])
    put(prefix + "_h_parallel", h_par)  # [B, NH, T, DH]

    # recurrent form, zero initial state as mLSTMCell.step uses
    # (C = 0, n = 0, m = 0); also m0 = -inf, which equals the parallel form
    for tag, m_init in (("", 0.0), ("_minf", -float("inf"))):
        C = torch.zeros(B, NHm, DH, DH, dtype=DT)
        n = torch.zeros(B, NHm, DH, 1, dtype=DT)
        m = torch.full((B, NHm, 1, 1), m_init, dtype=DT)
        hs, Cs, ns, ms = [], [], [], []
        for t in range(T):
            # the official step squeezes q, k, v in place: give it copies
            h, (C, n, m) = recurrent_step_stabilized_simple(
                C, n, m, q[:, :, t:t + 1].clone(), k[:, :, t:t + 1].clone(),
                v[:, :, t:t + 1].clone(), ig[:, :, t:t + 1].clone(),
                fg[:, :, t:t + 1].clone())
            hs.append(h[:, :, 0])
            Cs.append(C)
            ns.append(n[..., 0])
            ms.append(m[..., 0, 0])
        put(prefix + "_h_recurrent" + tag, torch.stack(hs, 2))  # [B, NH, T, DH]
        if tag == "":
            put(prefix + "_C", torch.stack(Cs, 2))  # [B, NH, T, DH, DH]
            put(prefix + "_n", torch.stack(ns, 2))  # [B, NH, T, DH]
            put(prefix + "_m", torch.stack(ms, 2))  # [B, NH, T]
    return h_par


gen = torch.Generator().manual_seed(20240508)
mlstm_case("mlstm", gen, B=2, NHm=2, T=9, DH=4, qkv_scale=1.0,
           i_scale=1.0, i_shift=0.0, f_scale=1.0, f_shift=2.0)
mlstm_case("mlstm_large", gen, B=2, NHm=2, T=64, DH=4, qkv_scale=1.0,
           i_scale=30.0, i_shift=0.0, f_scale=30.0, f_shift=0.0)
# the large m0=-inf run equals h_parallel to 1e-12; not stored (file size)
h_minf_large = arrays.pop("mlstm_large_h_recurrent_minf")

xv = getattr(xlstm, "__version__", None) or importlib.metadata.version("xlstm")
put("xlstm_version", np.array(xv))
put("torch_version", np.array(torch.__version__))
np.savez_compressed(OUT, **arrays)

print(f"xlstm {xv}, torch {torch.__version__}, wrote {OUT} "
      f"({os.path.getsize(OUT) / 1024:.1f} KiB)")
for name, a in arrays.items():
    extra = ""
    if a.dtype.kind == "f":
        extra = f"  max|.|={np.nanmax(np.abs(a)):.3g}"
    print(f"  {name:28s} {str(a.shape):22s} {a.dtype}{extra}")
for p in ("mlstm", "mlstm_large"):
    d0 = np.abs(arrays[p + "_h_parallel"] - arrays[p + "_h_recurrent"]).max()
    d1 = np.abs(arrays[p + "_h_parallel"] - (
        h_minf_large if p == "mlstm_large" else arrays[p + "_h_recurrent_minf"])).max()
    print(f"  {p}: max|h_parallel - h_recurrent| = {d0:.3g} (m0=0), "
          f"{d1:.3g} (m0=-inf)")
print(f"  slstm_large: max m = {sa[3].max().item():.1f}, "
      f"max |wx + b| ~ {np.abs(arrays['slstm_large_wx']).max():.1f}")

#!/usr/bin/env python3
"""dev/hf_fixtures.py: the Hugging Face fixtures of tests/cpu/test_hf.c, generated once and committed
(CI needs no Python). For each tiny config of an architecture packbench runs, this writes
tests/cpu/data/hf/NAME.json (the config.json, read by packbench's own reader) and NAME.fix:
random weights in packbench's parameter table order (model/model.h), B prompts with K completions,
and what transformers' own implementation gives for them: the summed completion-token NLL (each
completion token predicted from its own sequence [P, c_k]), every parameter's gradient, and the
RoPE inverse frequencies it uses. transformers runs in float64 on the float32 weights.

NAME.fix: text header lines, then the line "data", then params and grads as little-endian float32:
    packbench-hf-fixture 1
    groups B K
    prompt_lens p_0 .. p_{B-1}
    completion_lens c_0 .. c_{BK-1}          (group-major)
    ids N i_0 ..                             (prompt 0, its completions, prompt 1, ...)
    inv_freq D/2 f_0 ..
    loss L                                   (%.17g)
    floats N                                 (params, then as many grads)
    data
Run: /work/venv-models/bin/python dev/hf_fixtures.py tests/cpu/data/hf   (CPU torch + transformers)
"""
import json
import math
import os
import sys

import numpy as np
import torch
import transformers

BASE = dict(vocab_size=48, hidden_size=24, intermediate_size=40, num_hidden_layers=2, num_attention_heads=4,
            num_key_value_heads=2, rms_norm_eps=1e-6, rope_theta=10000.0, hidden_act="silu",
            max_position_embeddings=128)

FIXTURES = {
    # Qwen2: q/k/v biases, tied LM head (as Qwen2.5-0.5B .. 3B), head_dim = hidden / heads
    "qwen2_bias_tied": dict(BASE, model_type="qwen2", tie_word_embeddings=True, use_sliding_window=False),
    # Llama 3: RoPE scaling with all three frequency bands in use, untied, head_dim 8 != 24 / 4
    "llama3_scaling": dict(BASE, model_type="llama", tie_word_embeddings=False, head_dim=8, attention_bias=False,
                           mlp_bias=False, rope_scaling=dict(rope_type="llama3", factor=8.0, low_freq_factor=1.0,
                                                             high_freq_factor=4.0,
                                                             original_max_position_embeddings=64)),
    # Qwen3: q/k norm, head_dim 8 != 24 / 4, untied
    "qwen3_qknorm": dict(BASE, model_type="qwen3", tie_word_embeddings=False, head_dim=8, attention_bias=False,
                         use_sliding_window=False),
    # Mistral: no biases, tied here, no sliding window
    "mistral_tied": dict(BASE, model_type="mistral", tie_word_embeddings=True, sliding_window=None),
}

PROMPTS = [5, 3]
COMPLETIONS = [4, 2, 3, 6]  # group-major, K = 2


def table(cfg):
    """(packbench name, HF parameter name format, shape, kind) in model.h ParamId order."""
    V, C, L, F = cfg["vocab_size"], cfg["hidden_size"], cfg["num_hidden_layers"], cfg["intermediate_size"]
    H, KV = cfg["num_attention_heads"], cfg["num_key_value_heads"]
    D = cfg.get("head_dim", C // H)
    bias = cfg["model_type"] == "qwen2"
    qk = cfg["model_type"] == "qwen3"
    a = "model.layers.{}.self_attn."
    m = "model.layers.{}.mlp."
    t = [("embed", "model.embed_tokens.weight", (V, C), "w", False),
         ("ln1", "model.layers.{}.input_layernorm.weight", (C,), "norm", True),
         ("wq", a + "q_proj.weight", (H * D, C), "w", True)]
    if bias: t.append(("bq", a + "q_proj.bias", (H * D,), "b", True))
    t.append(("wk", a + "k_proj.weight", (KV * D, C), "w", True))
    if bias: t.append(("bk", a + "k_proj.bias", (KV * D,), "b", True))
    t.append(("wv", a + "v_proj.weight", (KV * D, C), "w", True))
    if bias: t.append(("bv", a + "v_proj.bias", (KV * D,), "b", True))
    t += [("wo", a + "o_proj.weight", (C, H * D), "w", True),
          ("ln2", "model.layers.{}.post_attention_layernorm.weight", (C,), "norm", True),
          ("wgate", m + "gate_proj.weight", (F, C), "w", True), ("wup", m + "up_proj.weight", (F, C), "w", True),
          ("wdown", m + "down_proj.weight", (C, F), "w", True), ("lnf", "model.norm.weight", (C,), "norm", False)]
    if not cfg["tie_word_embeddings"]: t.append(("lm_head", "lm_head.weight", (V, C), "w", False))
    if qk:
        t += [("q_norm", a + "q_norm.weight", (D,), "norm", True), ("k_norm", a + "k_norm.weight", (D,), "norm", True)]
    return t, L, D


def build(name, cfg, out_dir, rng):
    kwargs = dict(cfg)
    if "rope_scaling" in kwargs:  # transformers 5 spelling; given as rope_scaling it drops original_max_pos
        kwargs["rope_parameters"] = dict(kwargs.pop("rope_scaling"), rope_theta=kwargs["rope_theta"])
    hf_cfg = transformers.AutoConfig.for_model(**kwargs)
    hf_cfg._attn_implementation = "eager"
    model = transformers.AutoModelForCausalLM.from_config(hf_cfg).double()
    params = dict(model.named_parameters())
    entries, L, D = table(cfg)
    flat = []
    with torch.no_grad():
        for _, fmt, shape, kind, per_layer in entries:
            for layer in range(L if per_layer else 1):
                std = {"w": 0.2, "b": 0.1, "norm": 0.1}[kind]
                x = (rng.standard_normal(shape) * std + (1.0 if kind == "norm" else 0.0)).astype(np.float32)
                if fmt == "model.embed_tokens.weight": x = (rng.standard_normal(shape) * 0.5).astype(np.float32)
                params[fmt.format(layer)].copy_(torch.from_numpy(x.astype(np.float64)))
                flat.append(x.ravel())
    n_table = sum(p.numel() for p in params.values())
    assert n_table == sum(len(x) for x in flat), "every HF parameter is in the table"

    V, K = cfg["vocab_size"], len(COMPLETIONS) // len(PROMPTS)
    ids, seqs = [], []
    for b, p in enumerate(PROMPTS):
        prompt = rng.integers(0, V, p).tolist()
        ids += prompt
        for k in range(K):
            comp = rng.integers(0, V, COMPLETIONS[b * K + k]).tolist()
            ids += comp
            seqs.append((prompt, comp))
    model.zero_grad()
    loss = torch.zeros((), dtype=torch.float64)
    for prompt, comp in seqs:
        x = torch.tensor([prompt + comp])
        logits = model(input_ids=x).logits[0]
        p, n = len(prompt), len(comp)
        loss = loss + torch.nn.functional.cross_entropy(logits[p - 1:p + n - 1], x[0, p:p + n], reduction="sum")
    loss.backward()
    grads = []
    for _, fmt, _, _, per_layer in entries:
        for layer in range(L if per_layer else 1):
            grads.append(params[fmt.format(layer)].grad.detach().numpy().astype(np.float32).ravel())
    inv_freq = model.model.rotary_emb.inv_freq.double().numpy()
    assert len(inv_freq) == D // 2
    sc = cfg.get("rope_scaling")
    if sc:  # the scaling really in use: Llama 3's bands from their definition
        f = cfg["rope_theta"] ** (-np.arange(0, D, 2) / D)
        wl, old = 2 * math.pi / f, sc["original_max_position_embeddings"]
        lo, hi = old / sc["low_freq_factor"], old / sc["high_freq_factor"]
        smooth = (old / wl - sc["low_freq_factor"]) / (sc["high_freq_factor"] - sc["low_freq_factor"])
        want = np.where(wl > lo, f / sc["factor"], np.where(wl < hi, f, (1 - smooth) * f / sc["factor"] + smooth * f))
        assert np.allclose(inv_freq, want, rtol=1e-6), (inv_freq, want)
        assert (wl > lo).any() and (wl < hi).any() and ((wl >= hi) & (wl <= lo)).any(), "all three bands"

    with open(os.path.join(out_dir, name + ".json"), "w") as f:
        json.dump(cfg, f, indent=2)
        f.write("\n")
    pf, gf = np.concatenate(flat).astype("<f4"), np.concatenate(grads).astype("<f4")
    with open(os.path.join(out_dir, name + ".fix"), "wb") as f:
        hdr = ["packbench-hf-fixture 1", f"groups {len(PROMPTS)} {K}",
               "prompt_lens " + " ".join(map(str, PROMPTS)), "completion_lens " + " ".join(map(str, COMPLETIONS)),
               f"ids {len(ids)} " + " ".join(map(str, ids)),
               f"inv_freq {len(inv_freq)} " + " ".join("%.17g" % v for v in inv_freq),
               "loss %.17g" % loss.item(), f"floats {len(pf)}", "data"]
        f.write(("\n".join(hdr) + "\n").encode())
        f.write(pf.tobytes())
        f.write(gf.tobytes())
    print(f"{name}: {len(pf)} parameters, loss {loss.item():.9f}, transformers {transformers.__version__}, "
          f"torch {torch.__version__}")


def main():
    out_dir = sys.argv[1] if len(sys.argv) > 1 else "tests/cpu/data/hf"
    os.makedirs(out_dir, exist_ok=True)
    torch.manual_seed(0)
    for i, (name, cfg) in enumerate(FIXTURES.items()):
        build(name, cfg, out_dir, np.random.default_rng(1000 + i))


if __name__ == "__main__":
    main()

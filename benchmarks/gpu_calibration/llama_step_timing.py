#!/usr/bin/env python3
"""Time the GPU work of a Llama-3-8B-shaped model on one GPU, to check kvroute-sim's timing presets.

The simulator models one engine step as (SIMULATOR-FACTS.md section 7.2)

    t_step = t_ovh + max(t_w, n * c_tok) + sum_ctx * c_kv + c_attn * sum n_c (p_c + n_c / 2)

This script measures, with random BF16 weights (no download), the GPU-side terms of that formula:

  linear    the per-layer GEMMs of all 32 layers (QKV, O, gate/up, down) for n tokens in one step,
            replayed from a CUDA graph: t_w is the n = 1 time, c_tok the slope at large n.
  prefill   one prompt of N tokens alone, in chunks of 8192 tokens (vLLM's max_num_batched_tokens)
            on the KV of the chunks before it, with causal attention (SDPA, lower-right causal
            mask), RoPE, RMSNorm and the LM head on the last token: the GPU part of TTFT.
  decode    one decode step of B sequences at C tokens of context each, every layer attending over
            its KV (GQA, 8 KV heads), LM head for the B tokens, replayed from a CUDA graph as vLLM
            replays its decode graphs: the inter-token latency without the scheduler's CPU time.
  hf        the same 4k prefill through transformers' LlamaModel (sdpa), a cross-check that the
            hand-written layers do the work of the reference implementation.

No term of t_ovh (vLLM's CPU time per step) is in any figure: the simulator's values are compared
with t_ovh subtracted. Prints one JSON object (also written to --out).
"""

import argparse
import json
import math
import statistics
import sys
import time

import torch
import torch.nn.functional as F

LAYERS, HIDDEN, FFN, Q_HEADS, KV_HEADS, HEAD_DIM, VOCAB = 32, 4096, 14336, 32, 8, 128, 128256
CHUNK = 8192
DT = torch.bfloat16
DEV = "cuda"


def make_weights():
    g = torch.Generator(device=DEV).manual_seed(0)

    def w(*shape):
        return (torch.randn(*shape, generator=g, device=DEV, dtype=torch.float32) * 0.02).to(DT)

    layers = []
    for _ in range(LAYERS):
        layers.append({
            "qkv": w((Q_HEADS + 2 * KV_HEADS) * HEAD_DIM, HIDDEN),
            "o": w(HIDDEN, Q_HEADS * HEAD_DIM),
            "gate_up": w(2 * FFN, HIDDEN),
            "down": w(HIDDEN, FFN),
            "ln1": torch.ones(HIDDEN, device=DEV, dtype=DT),
            "ln2": torch.ones(HIDDEN, device=DEV, dtype=DT),
        })
    return {"layers": layers, "embed": w(VOCAB, HIDDEN), "lm_head": w(VOCAB, HIDDEN),
            "norm": torch.ones(HIDDEN, device=DEV, dtype=DT)}


def rms_norm(x, weight):
    return F.rms_norm(x, (HIDDEN,), weight, 1e-5)


def rope_tables(max_pos):
    inv = 1.0 / (500000.0 ** (torch.arange(0, HEAD_DIM, 2, device=DEV, dtype=torch.float32) / HEAD_DIM))
    ang = torch.outer(torch.arange(max_pos, device=DEV, dtype=torch.float32), inv)
    return torch.cat([ang, ang], -1).cos().to(DT), torch.cat([ang, ang], -1).sin().to(DT)


def apply_rope(x, cos, sin):  # x: (..., T, HEAD_DIM), cos/sin: (T, HEAD_DIM)
    half = HEAD_DIM // 2
    rotated = torch.cat([-x[..., half:], x[..., :half]], -1)
    return x * cos + rotated * sin


def mlp(x, layer):
    gu = x @ layer["gate_up"].t()
    return (F.silu(gu[..., :FFN]) * gu[..., FFN:]) @ layer["down"].t()


def linear_only(x, weights):
    """Every GEMM of every layer, nothing else: the 'linear' rows of vidur's profiles."""
    for layer in weights["layers"]:
        qkv = x @ layer["qkv"].t()
        x = x + qkv[:, : Q_HEADS * HEAD_DIM] @ layer["o"].t()
        x = x + mlp(x, layer)
    return x


def prefill_chunk(x, weights, kv, start, cos, sin):
    """x: (n, HIDDEN) tokens at positions start..start+n-1; kv[l] = (k, v) caches (KV_HEADS, T, D)."""
    from torch.nn.attention.bias import causal_lower_right

    n = x.shape[0]
    c, s = cos[start:start + n], sin[start:start + n]
    for i, layer in enumerate(weights["layers"]):
        h = rms_norm(x, layer["ln1"])
        qkv = h @ layer["qkv"].t()
        q = qkv[:, : Q_HEADS * HEAD_DIM].view(n, Q_HEADS, HEAD_DIM).transpose(0, 1)
        k = qkv[:, Q_HEADS * HEAD_DIM: (Q_HEADS + KV_HEADS) * HEAD_DIM].view(n, KV_HEADS, HEAD_DIM).transpose(0, 1)
        v = qkv[:, (Q_HEADS + KV_HEADS) * HEAD_DIM:].view(n, KV_HEADS, HEAD_DIM).transpose(0, 1)
        q, k = apply_rope(q, c, s), apply_rope(k, c, s)
        kc, vc = kv[i]
        kc[:, start:start + n] = k
        vc[:, start:start + n] = v
        # Prefill is compute bound: expanding the KV heads to the query heads costs little here.
        keys = kc[:, : start + n].repeat_interleave(Q_HEADS // KV_HEADS, 0).unsqueeze(0)
        values = vc[:, : start + n].repeat_interleave(Q_HEADS // KV_HEADS, 0).unsqueeze(0)
        if start == 0:
            attn = F.scaled_dot_product_attention(q.unsqueeze(0), keys, values, is_causal=True)
        else:  # a later chunk sees every earlier token: causal aligned to the bottom right
            attn = F.scaled_dot_product_attention(q.unsqueeze(0), keys, values,
                                                  attn_mask=causal_lower_right(n, start + n))
        x = x + attn[0].transpose(0, 1).reshape(n, Q_HEADS * HEAD_DIM) @ layer["o"].t()
        x = x + mlp(rms_norm(x, layer["ln2"]), layer)
    return rms_norm(x[-1:], weights["norm"]) @ weights["lm_head"].t()


def decode_step(ids, weights, caches, ctx, cos, sin):
    """One token for each of B sequences at position ctx; caches[l] = (k, v) of (B, KV_HEADS, ctx+1, D)."""
    b = ids.shape[0]
    x = weights["embed"][ids]
    c, s = cos[ctx:ctx + 1], sin[ctx:ctx + 1]
    group = Q_HEADS // KV_HEADS
    for i, layer in enumerate(weights["layers"]):
        h = rms_norm(x, layer["ln1"])
        qkv = h @ layer["qkv"].t()
        q = qkv[:, : Q_HEADS * HEAD_DIM].view(b, Q_HEADS, 1, HEAD_DIM)
        k = qkv[:, Q_HEADS * HEAD_DIM: (Q_HEADS + KV_HEADS) * HEAD_DIM].view(b, KV_HEADS, 1, HEAD_DIM)
        v = qkv[:, (Q_HEADS + KV_HEADS) * HEAD_DIM:].view(b, KV_HEADS, 1, HEAD_DIM)
        q, k = apply_rope(q, c, s), apply_rope(k, c, s)
        kc, vc = caches[i]
        kc[:, :, ctx:ctx + 1] = k
        vc[:, :, ctx:ctx + 1] = v
        # GQA without copying the KV: the 4 query heads of a group are 4 queries on their KV head,
        # all at the same position (no mask), so one fused attention kernel reads each KV head once.
        qg = q.view(b, KV_HEADS, group, HEAD_DIM)
        attn = F.scaled_dot_product_attention(qg, kc, vc).reshape(b, Q_HEADS * HEAD_DIM)
        x = x + attn @ layer["o"].t()
        x = x + mlp(rms_norm(x, layer["ln2"]), layer)
    return rms_norm(x, weights["norm"]) @ weights["lm_head"].t()


def time_graph(fn, reps):
    """Capture fn in a CUDA graph, replay it reps times; median ms per replay over 5 batches."""
    stream = torch.cuda.Stream()
    stream.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(stream):
        for _ in range(3):
            fn()
    torch.cuda.current_stream().wait_stream(stream)
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        fn()
    for _ in range(3):
        graph.replay()
    torch.cuda.synchronize()
    samples = []
    for _ in range(5):
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        for _ in range(reps):
            graph.replay()
        end.record()
        end.synchronize()
        samples.append(start.elapsed_time(end) / reps)
    del graph
    return statistics.median(samples)


def time_eager(fn, reps):
    for _ in range(2):
        fn()
    torch.cuda.synchronize()
    samples = []
    for _ in range(reps):
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        fn()
        end.record()
        end.synchronize()
        samples.append(start.elapsed_time(end))
    return statistics.median(samples)


def measure_linear(weights, out):
    rows = []
    with torch.inference_mode():
        for n in [1, 16, 64, 128, 256, 512, 1024, 2048, 4096, 8192]:
            x = torch.randn(n, HIDDEN, device=DEV, dtype=DT)
            ms = time_graph(lambda: linear_only(x, weights), 20 if n <= 1024 else 5)
            rows.append({"tokens": n, "ms": round(ms, 3)})
            print(f"linear n={n}: {ms:.3f} ms", flush=True)
    out["linear"] = rows
    big = [r for r in rows if r["tokens"] >= 4096]
    out.setdefault("fit", {}).update({
        "t_w_ms": rows[0]["ms"],
        "c_tok_us": round((big[-1]["ms"] - big[0]["ms"]) / (big[-1]["tokens"] - big[0]["tokens"]) * 1000, 3),
    })


def measure_prefill(weights, out, cos, sin):
    rows = []
    with torch.inference_mode():
        for n in [1024, 4096, 8192, 32768]:
            kv = [(torch.empty(KV_HEADS, n, HEAD_DIM, device=DEV, dtype=DT),
                   torch.empty(KV_HEADS, n, HEAD_DIM, device=DEV, dtype=DT)) for _ in range(LAYERS)]
            tokens = torch.randn(n, HIDDEN, device=DEV, dtype=DT)

            def run():
                for start in range(0, n, CHUNK):
                    prefill_chunk(tokens[start:start + CHUNK], weights, kv, start, cos, sin)

            ms = time_eager(run, 5 if n <= 8192 else 3)
            rows.append({"prompt_tokens": n, "ms": round(ms, 2)})
            print(f"prefill {n}: {ms:.2f} ms", flush=True)
            del kv
            torch.cuda.empty_cache()
    out["prefill"] = rows


def measure_decode(weights, out, cos, sin):
    rows = []
    with torch.inference_mode():
        for batch, ctx in [(1, 1024), (32, 1024), (128, 1024), (64, 2048), (64, 1024), (64, 4096), (64, 8192)]:
            caches = [(torch.randn(batch, KV_HEADS, ctx + 1, HEAD_DIM, device=DEV, dtype=DT),
                       torch.randn(batch, KV_HEADS, ctx + 1, HEAD_DIM, device=DEV, dtype=DT)) for _ in range(LAYERS)]
            ids = torch.randint(0, VOCAB, (batch,), device=DEV)
            ms = time_graph(lambda: decode_step(ids, weights, caches, ctx, cos, sin), 20)
            rows.append({"batch": batch, "context": ctx, "ms": round(ms, 3)})
            print(f"decode batch={batch} ctx={ctx}: {ms:.3f} ms", flush=True)
            del caches
            torch.cuda.empty_cache()
    out["decode"] = rows
    by = {(r["batch"], r["context"]): r["ms"] for r in rows}
    # KV read per context token: the slope of the batch-64 steps over sum_ctx.
    per_token_ms = (by[(64, 8192)] - by[(64, 1024)]) / (64 * (8192 - 1024))
    out.setdefault("fit", {})["c_kv_ms_per_1k_ctx"] = round(per_token_ms * 1000, 4)


def measure_attention(out):
    """Causal prefill attention alone (all layers), per chunk shape: the c_attn term."""
    from torch.nn.attention.bias import causal_lower_right

    rows = []
    with torch.inference_mode():
        for n, prefix in [(4096, 0), (8192, 0), (8192, 8192), (8192, 24576)]:
            q = torch.randn(1, Q_HEADS, n, HEAD_DIM, device=DEV, dtype=DT)
            k = torch.randn(1, Q_HEADS, prefix + n, HEAD_DIM, device=DEV, dtype=DT)
            v = torch.randn(1, Q_HEADS, prefix + n, HEAD_DIM, device=DEV, dtype=DT)
            mask = causal_lower_right(n, prefix + n) if prefix else None

            def run():
                for _ in range(LAYERS):
                    F.scaled_dot_product_attention(q, k, v, attn_mask=mask, is_causal=prefix == 0)

            ms = time_eager(run, 5)
            units = n * (prefix + n / 2)
            rows.append({"chunk": n, "prefix": prefix, "ms": round(ms, 3),
                         "c_attn_ns_per_unit": round(ms * 1e6 / units, 4)})
            print(f"attention chunk={n} prefix={prefix}: {ms:.3f} ms", flush=True)
    out["attention"] = rows


def measure_hf(out):
    try:
        from transformers import LlamaConfig, LlamaModel
    except Exception as e:  # noqa: BLE001 - report, do not fail the run
        out["hf"] = {"error": repr(e)}
        return
    cfg = LlamaConfig(hidden_size=HIDDEN, intermediate_size=FFN, num_hidden_layers=LAYERS,
                      num_attention_heads=Q_HEADS, num_key_value_heads=KV_HEADS, vocab_size=VOCAB,
                      max_position_embeddings=131072, rope_theta=500000.0)
    cfg._attn_implementation = "sdpa"
    torch.set_default_dtype(DT)
    with torch.device(DEV):
        model = LlamaModel(cfg).eval()
    torch.set_default_dtype(torch.float32)
    rows = []
    with torch.inference_mode():
        for n in [4096, 8192]:
            ids = torch.randint(0, VOCAB, (1, n), device=DEV)
            ms = time_eager(lambda: model(input_ids=ids, use_cache=False), 5)
            rows.append({"prompt_tokens": n, "ms": round(ms, 2), "note": "no LM head"})
            print(f"hf prefill {n}: {ms:.2f} ms", flush=True)
    out["hf"] = {"transformers": __import__("transformers").__version__, "rows": rows}
    del model
    torch.cuda.empty_cache()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default="llama_step_timing.json")
    ap.add_argument("--skip-hf", action="store_true")
    ap.add_argument("--sections", default="linear,prefill,attention,decode",
                    help="comma-separated subset of linear,prefill,attention,decode")
    ap.add_argument("--shape", default="8b", choices=["8b", "70b-tp4-shard"],
                    help="70b-tp4-shard: one GPU's quarter of Llama-3-70B under tensor parallelism 4 "
                         "(80 layers, hidden 8192, 16 query / 2 KV heads, FFN 7168); no all-reduce")
    args = ap.parse_args()
    if args.shape == "70b-tp4-shard":
        global LAYERS, HIDDEN, FFN, Q_HEADS, KV_HEADS
        LAYERS, HIDDEN, FFN, Q_HEADS, KV_HEADS = 80, 8192, 28672 // 4, 64 // 4, 8 // 4

    props = torch.cuda.get_device_properties(0)
    free, total = torch.cuda.mem_get_info()
    out = {"gpu": props.name, "sms": props.multi_processor_count, "torch": torch.__version__,
           "gpu_memory_bytes": total, "date": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime())}
    print(json.dumps(out), flush=True)
    t0 = time.time()
    weights = make_weights()
    torch.cuda.synchronize()
    out["weights_bytes"] = sum(t.numel() * t.element_size() for layer in weights["layers"]
                               for t in layer.values()) + 2 * VOCAB * HIDDEN * 2 + HIDDEN * 2
    cos, sin = rope_tables(32768 + 16)
    sections = [("linear", lambda: measure_linear(weights, out)),
                ("prefill", lambda: measure_prefill(weights, out, cos, sin)),
                ("attention", lambda: measure_attention(out)),
                ("decode", lambda: measure_decode(weights, out, cos, sin))]
    for name, section in [(n, f) for n, f in sections if n in args.sections.split(",")]:
        try:
            section()
        except Exception as e:  # noqa: BLE001 - one failed section must not lose the others
            out.setdefault("errors", {})[name] = repr(e)
            print(f"{name} failed: {e!r}", flush=True)
            torch.cuda.empty_cache()
    out["peak_allocated_bytes"] = torch.cuda.max_memory_allocated()
    del weights
    torch.cuda.empty_cache()
    if not args.skip_hf:
        try:
            measure_hf(out)
        except Exception as e:  # noqa: BLE001
            out.setdefault("errors", {})["hf"] = repr(e)
    out["seconds"] = round(time.time() - t0, 1)
    text = json.dumps(out, indent=1)
    print(text)
    with open(args.out, "w") as f:
        f.write(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

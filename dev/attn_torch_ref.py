"""attn_torch_ref.py: what cuDNN flash attention reaches through PyTorch (cudnn-frontend) on this
GPU at attn_bench's plain causal shapes (28/4 heads, d 128, bf16, BSHD), the yardstick for the
"cudnn" backend. FLOPs count only unmasked pairs: 4*D*Hq per pair forward, 2.5x backward.
Usage: python3 dev/attn_torch_ref.py"""
import torch
import torch.nn.functional as F
from torch.nn.attention import SDPBackend, sdpa_kernel


def median_ms(fn, reps=10, warm=3):
    for _ in range(warm):
        fn()
    times = []
    for _ in range(reps):
        a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        a.record()
        fn()
        b.record()
        b.synchronize()
        times.append(a.elapsed_time(b))
    return sorted(times)[len(times) // 2]


def main():
    print("torch", torch.__version__, "cudnn", torch.backends.cudnn.version(), torch.cuda.get_device_name())
    hq, hkv, d = 28, 4, 128
    for s, b in [(4096, 16), (16384, 4), (32768, 2)]:
        def mk(h):
            return torch.randn(b, s, h, d, device="cuda", dtype=torch.bfloat16, requires_grad=True)
        q0, k0, v0 = mk(hq), mk(hkv), mk(hkv)
        do = torch.randn(b, hq, s, d, device="cuda", dtype=torch.bfloat16)
        q, k, v = q0.transpose(1, 2), k0.transpose(1, 2), v0.transpose(1, 2)
        with sdpa_kernel(SDPBackend.CUDNN_ATTENTION):
            def fwd():
                return F.scaled_dot_product_attention(q, k, v, is_causal=True, enable_gqa=True)
            def both():
                fwd().backward(do)
            try:
                t_f = median_ms(fwd)
                t_b = median_ms(both)
            except RuntimeError as e:
                print(f"{s//1024}k x {b}: cuDNN SDPA failed: {str(e)[:200]}")
                continue
        pairs = b * s * (s + 1) / 2
        ff = pairs * 4 * d * hq
        print(f"causal {s//1024}k x {b}: fwd {t_f:.3f} ms {ff/t_f*1e-9:.1f} TF/s, "
              f"bwd {t_b - t_f:.3f} ms {2.5*ff/(t_b - t_f)*1e-9:.1f} TF/s, f+b {t_b:.3f} ms {3.5*ff/t_b*1e-9:.1f} TF/s")


if __name__ == "__main__":
    main()

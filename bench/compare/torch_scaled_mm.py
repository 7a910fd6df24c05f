"""Same-run comparison of torch._scaled_mm on CPU with fp8gemm's fp8_gemm (through its
torch ops) on the same fp8 tensors: per-token x per-channel scales, e4m3fn, bf16 out,
weights [N, K] used transposed, buffers rotated past 4x the last-level cache.

usage: torch_scaled_mm.py BUILD_DIR THREADS [MxNxK ...]
Exits 0 with a note when torch or the fp8gemm Python package does not import.
"""
import os
import statistics
import sys
import time


def llc_bytes():
    try:
        with open("/sys/devices/system/cpu/cpu0/cache/index3/size") as f:
            v = f.read().strip()
        return int(v[:-1]) * (1 << 20 if v.endswith("M") else 1 << 10)
    except (OSError, ValueError):
        return 32 << 20


def median_time(fn, nbuf, min_time=0.3):
    fn(0)
    times, start = [], time.perf_counter()
    while len(times) < 3 or (time.perf_counter() - start < min_time and len(times) < 100):
        t0 = time.perf_counter()
        fn((len(times) + 1) % nbuf)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main():
    build, threads = sys.argv[1], int(sys.argv[2])
    shapes = [tuple(int(x) for x in s.split("x")) for s in sys.argv[3:]] or [
        (1, 14336, 4096), (4, 14336, 4096), (16, 4096, 4096), (256, 4096, 4096)]
    try:
        import torch
    except ImportError as e:
        print(f"torch._scaled_mm: skipped (torch does not import: {e})")
        return 0
    sys.path.insert(0, os.path.join(build, "python"))
    try:
        import fp8gemm.torch  # noqa: F401  (registers torch.ops.fp8gemm)
    except ImportError as e:
        print(f"torch._scaled_mm: skipped (fp8gemm Python package not built in {build}: {e})")
        return 0
    torch.set_num_threads(threads)
    print(f"torch {torch.__version__} ({threads} threads) torch._scaled_mm CPU vs fp8gemm "
          f"fp8_gemm; ratio = torch time / fp8gemm time")
    g = torch.Generator().manual_seed(0)
    for m, n, k in shapes:
        nbuf = max(2, min(8, 4 * llc_bytes() // (n * k) + 1))
        ws = [(torch.rand(n, k, generator=g) * 2 - 1).to(torch.float8_e4m3fn) for _ in range(nbuf)]
        a = (torch.rand(m, k, generator=g) * 2 - 1).to(torch.float8_e4m3fn)
        sa, sb = torch.full((m, 1), 0.01), torch.full((1, n), 0.02)
        try:
            t_torch = median_time(lambda i: torch._scaled_mm(
                a, ws[i].t(), scale_a=sa, scale_b=sb, out_dtype=torch.bfloat16), nbuf)
        except RuntimeError as e:
            print(f"{m:5d} {n:6d} {k:6d}  torch._scaled_mm failed: {str(e).splitlines()[0]}")
            continue
        sb1 = sb.reshape(n)
        t_ours = median_time(lambda i: torch.ops.fp8gemm.fp8_gemm(
            a, ws[i].t(), torch.bfloat16, sa, sb1, None), nbuf)
        flops = 2.0 * m * n * k
        print(f"{m:5d} {n:6d} {k:6d}  torch._scaled_mm {t_torch * 1e3:9.3f} ms "
              f"{flops / t_torch / 1e9:7.1f} GFLOP/s | fp8gemm {t_ours * 1e3:9.3f} ms "
              f"{flops / t_ours / 1e9:7.1f} GFLOP/s | {t_torch / t_ours:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())

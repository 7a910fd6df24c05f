/*
 * fp8gemm — FP8 and microscaling (MX) quantized matrix multiplication for CPUs.
 *
 * This header is the whole public API. Everything else under src/ is private.
 * Conventions:
 *   - Every function that can fail returns an fp8gemm_status; on failure
 *     fp8gemm_last_error() holds a message naming the argument, what was
 *     expected and what was given, and no output buffer has been written.
 *   - Tensors are described by fp8gemm_tensor (dtype, rank, dims, strides in
 *     elements, data). Optional tensors are passed as NULL; an empty bias
 *     (numel 0) also means "absent".
 *   - Each op has an *_infer function (the "meta" / "fake"): it validates every
 *     rule and returns the output descriptors without reading data. The real op
 *     calls it first; nothing else in the library computes output shapes.
 */
#ifndef FP8GEMM_H
#define FP8GEMM_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(_WIN32)
#define FP8GEMM_API
#else
#define FP8GEMM_API __attribute__((visibility("default")))
#endif

/* ---------------------------------------------------------------- version */
#define FP8GEMM_VERSION_MAJOR 0
#define FP8GEMM_VERSION_MINOR 1
#define FP8GEMM_VERSION_PATCH 0
#define FP8GEMM_VERSION_NUMBER \
  (FP8GEMM_VERSION_MAJOR * 10000 + FP8GEMM_VERSION_MINOR * 100 + FP8GEMM_VERSION_PATCH)
#define FP8GEMM_VERSION_STRING "0.1.0"

FP8GEMM_API unsigned fp8gemm_version_number(void);
FP8GEMM_API const char *fp8gemm_version_string(void);

/* ----------------------------------------------------------------- status */
/* Values are pinned: they never change meaning and are never reused. */
typedef enum fp8gemm_status {
  FP8GEMM_OK = 0,
  FP8GEMM_INVALID_ARGUMENT = 1,     /* the request breaks the op's contract */
  FP8GEMM_UNIMPLEMENTED = 2,        /* a valid request this build does not serve */
  FP8GEMM_OUT_OF_MEMORY = 3,
  FP8GEMM_UNSUPPORTED_HARDWARE = 4, /* the CPU lacks what the request needs */
  FP8GEMM_INTERNAL_ERROR = 5
} fp8gemm_status;

FP8GEMM_API const char *fp8gemm_status_string(fp8gemm_status status);
/* Message of the last failure on the calling thread ("" if none). */
FP8GEMM_API const char *fp8gemm_last_error(void);
FP8GEMM_API void fp8gemm_clear_error(void);

/* ----------------------------------------------------------------- dtypes */
typedef enum fp8gemm_dtype {
  FP8GEMM_DTYPE_NONE = 0, /* "absent" for optional dtype arguments */
  FP8GEMM_E4M3FN = 1,
  FP8GEMM_E5M2 = 2,
  FP8GEMM_E4M3FNUZ = 3,
  FP8GEMM_E5M2FNUZ = 4,
  FP8GEMM_E2M1 = 5, /* MX FP4, two per byte: element 2i in the low nibble */
  FP8GEMM_E8M0 = 6, /* MX scale, 2^(code-127), 0xFF = NaN */
  FP8GEMM_BF16 = 7,
  FP8GEMM_F16 = 8,
  FP8GEMM_F32 = 9
} fp8gemm_dtype;
#define FP8GEMM_DTYPE_COUNT 10

/* "e4m3fn", "e5m2", "e4m3fnuz", "e5m2fnuz", "e2m1", "e8m0", "bf16", "f16", "f32"; NULL if invalid. */
FP8GEMM_API const char *fp8gemm_dtype_name(fp8gemm_dtype dtype);
/* Parses the names above (and the aliases fp16, fp32, bfloat16, float16, float32). */
FP8GEMM_API fp8gemm_status fp8gemm_dtype_from_name(const char *name, fp8gemm_dtype *dtype);
/* Storage bits per element (4 for e2m1); 0 for an invalid dtype. */
FP8GEMM_API int fp8gemm_dtype_bits(fp8gemm_dtype dtype);
/* 1 for e4m3fn, e5m2, e4m3fnuz, e5m2fnuz. */
FP8GEMM_API int fp8gemm_dtype_is_fp8(fp8gemm_dtype dtype);

/* ---------------------------------------------------------------- tensors */
#define FP8GEMM_MAX_DIMS 8

/*
 * Strides count elements. e2m1 tensors count logical elements too: their
 * innermost dimension must have stride 1 and even length, and every other
 * stride must be even, so that element i of a row sits in byte i/2.
 */
typedef struct fp8gemm_tensor {
  fp8gemm_dtype dtype;
  int32_t ndim; /* 0 .. FP8GEMM_MAX_DIMS */
  int64_t dims[FP8GEMM_MAX_DIMS];
  int64_t strides[FP8GEMM_MAX_DIMS];
  void *data; /* may be NULL when only shapes matter (infer) */
} fp8gemm_tensor;

/* Fills a row-major contiguous descriptor. Fails on bad rank, negative dims or overflow. */
FP8GEMM_API fp8gemm_status fp8gemm_tensor_init(fp8gemm_tensor *t, fp8gemm_dtype dtype, int ndim,
                                               const int64_t *dims, void *data);
/* Product of dims (1 for rank 0); -1 if it overflows int64 or the descriptor is malformed. */
FP8GEMM_API int64_t fp8gemm_tensor_numel(const fp8gemm_tensor *t);
/* Bytes a contiguous tensor of this shape needs; 0 on overflow or malformed descriptor. */
FP8GEMM_API size_t fp8gemm_tensor_nbytes(const fp8gemm_tensor *t);

/* ------------------------------------------------------- element formats */
/* One value f32 -> narrow code. saturate=0: "cast" (ml_dtypes astype); 1: "quantize"
 * (clamp to +-max first). For e8m0 the rounding is half-up in the linear domain. */
FP8GEMM_API fp8gemm_status fp8gemm_encode_value(float x, fp8gemm_dtype to, int saturate,
                                                uint8_t *code);
/* One narrow code -> f32 value (e2m1 uses the low nibble). */
FP8GEMM_API fp8gemm_status fp8gemm_decode_value(uint8_t code, fp8gemm_dtype from, float *value);

/* ----------------------------------------------------------- ISA and CPU */
typedef enum fp8gemm_isa {
  FP8GEMM_ISA_SCALAR = 0,      /* portable C reference */
  FP8GEMM_ISA_AVX2 = 1,        /* AVX2 + FMA + F16C */
  FP8GEMM_ISA_AVX512 = 2,      /* AVX-512 F/BW/VL/DQ/VBMI */
  FP8GEMM_ISA_AVX512_BF16 = 3  /* the above + AVX512_BF16 */
} fp8gemm_isa;
#define FP8GEMM_ISA_COUNT 4

FP8GEMM_API const char *fp8gemm_isa_name(fp8gemm_isa isa); /* "scalar", "avx2", "avx512", "avx512_bf16" */
FP8GEMM_API fp8gemm_status fp8gemm_isa_from_name(const char *name, fp8gemm_isa *isa);
/* Best level this CPU supports. */
FP8GEMM_API fp8gemm_isa fp8gemm_isa_detected(void);
/* Level kernels are chosen from: min(detected, cap). The cap starts from the
 * environment variable FP8GEMM_MAX_ISA (an ISA name) and can be changed here. */
FP8GEMM_API fp8gemm_isa fp8gemm_isa_active(void);
FP8GEMM_API fp8gemm_isa fp8gemm_get_max_isa(void);
FP8GEMM_API fp8gemm_status fp8gemm_set_max_isa(fp8gemm_isa cap);
/* Space-separated list of the CPU features the library looks at, e.g. "avx2 fma f16c". */
FP8GEMM_API const char *fp8gemm_cpu_features(void);

/* ---------------------------------------------------------------- threads */
/* Threads used by one op call. Starts from FP8GEMM_NUM_THREADS, else the number of
 * CPUs. Results are bitwise identical for every thread count. */
FP8GEMM_API int fp8gemm_get_num_threads(void);
FP8GEMM_API fp8gemm_status fp8gemm_set_num_threads(int n);

/* =========================================================== quantization */
typedef enum fp8gemm_granularity {
  FP8GEMM_PER_TENSOR = 1, /* scale shape [1] */
  FP8GEMM_PER_TOKEN = 2,  /* one scale per row of [*, K]: shape [*, 1] */
  FP8GEMM_PER_BLOCK = 3,  /* 1 x g blocks along K: shape [*, ceil(K/g)] */
  FP8GEMM_PER_BLOCK2D = 4 /* g x g blocks over the last two dims: [*, ceil(R/g), ceil(K/g)] */
} fp8gemm_granularity;

/* vLLM's per-token floor on dynamic scales: 1 / (448 * 512). */
#define FP8GEMM_DEFAULT_MIN_SCALE (1.0 / (448.0 * 512.0))

/*
 * fp8_quantize: q = quantize(x / s) (saturating RNE), s fp32 dequantization scale.
 *   input      f32 / bf16 / fp16, any rank >= 1 (>= 2 for block2d), any strides
 *   fp8_dtype  e4m3fn, e5m2, e4m3fnuz, e5m2fnuz
 *   group_size g for block / block2d (any g >= 1; 128 is the usual); ignored otherwise
 *   scale      NULL -> dynamic: s = max(min(amax, scale_ub) / fp8_max, min_scale);
 *              else static: f32 with exactly the inferred scale shape
 *   scale_ub   NULL or f32 numel 1: upper bound on amax (dynamic only)
 *   min_scale  > 0, finite (FP8GEMM_DEFAULT_MIN_SCALE is the usual)
 * Outputs: q (fp8_dtype, input's shape, contiguous), scale_out (f32, contiguous).
 */
FP8GEMM_API fp8gemm_status fp8gemm_fp8_quantize_infer(
    const fp8gemm_tensor *input, fp8gemm_dtype fp8_dtype, fp8gemm_granularity granularity,
    int64_t group_size, const fp8gemm_tensor *scale, const fp8gemm_tensor *scale_ub,
    double min_scale, fp8gemm_tensor *q_desc, fp8gemm_tensor *scale_desc);
FP8GEMM_API fp8gemm_status fp8gemm_fp8_quantize(
    const fp8gemm_tensor *input, fp8gemm_dtype fp8_dtype, fp8gemm_granularity granularity,
    int64_t group_size, const fp8gemm_tensor *scale, const fp8gemm_tensor *scale_ub,
    double min_scale, fp8gemm_tensor *q, fp8gemm_tensor *scale_out);

typedef enum fp8gemm_mx_scale_mode {
  FP8GEMM_MX_FLOOR = 1, /* OCP MX v1.0 / torchao: 2^(floor(log2 amax) - emax_elem) */
  FP8GEMM_MX_RCEIL = 2  /* NVIDIA / DeepSeek ue8m0: 2^ceil(log2(amax / elem_max)) */
} fp8gemm_mx_scale_mode;

/*
 * mx_quantize: blocks of block_size (must be 32) consecutive elements along the last
 * dim share one e8m0 scale. input f32/bf16/fp16 [*, K], K % 32 == 0.
 * Outputs: q elem_dtype [*, K] (e2m1 packed two per byte), scales e8m0 [*, K/32].
 */
FP8GEMM_API fp8gemm_status fp8gemm_mx_quantize_infer(
    const fp8gemm_tensor *input, fp8gemm_dtype elem_dtype, int64_t block_size,
    fp8gemm_mx_scale_mode mode, fp8gemm_tensor *q_desc, fp8gemm_tensor *scales_desc);
FP8GEMM_API fp8gemm_status fp8gemm_mx_quantize(
    const fp8gemm_tensor *input, fp8gemm_dtype elem_dtype, int64_t block_size,
    fp8gemm_mx_scale_mode mode, fp8gemm_tensor *q, fp8gemm_tensor *scales);

/*
 * fp8_dequantize: x = decode(q) * s computed in fp32, then rounded (RNE) to out_dtype.
 *   q       fp8 or e2m1, any rank >= 1, any strides
 *   scale   NULL (s = 1) or a scale whose shape says the granularity, as fp8_quantize
 *           produces it: numel 1, [*, 1] per row, [*, ceil(K/g)] per 1 x g block,
 *           [*, ceil(R/g), ceil(K/g)] per g x g block; f32, or e8m0 for MX.
 *   group_size g; 0 means 128 for f32 scales and 32 for e8m0 scales
 *   out_dtype f32, bf16, fp16
 */
FP8GEMM_API fp8gemm_status fp8gemm_fp8_dequantize_infer(const fp8gemm_tensor *q,
                                                        const fp8gemm_tensor *scale,
                                                        fp8gemm_dtype out_dtype, int64_t group_size,
                                                        fp8gemm_tensor *out_desc);
FP8GEMM_API fp8gemm_status fp8gemm_fp8_dequantize(const fp8gemm_tensor *q,
                                                  const fp8gemm_tensor *scale,
                                                  fp8gemm_dtype out_dtype, int64_t group_size,
                                                  fp8gemm_tensor *out);

/*
 * fp8_cast: elementwise f32/bf16/fp16 -> any narrow format (fp8, e2m1, e8m0),
 * bit-exact per the numerics spec. saturate = 0 is ml_dtypes' astype.
 */
FP8GEMM_API fp8gemm_status fp8gemm_fp8_cast_infer(const fp8gemm_tensor *x, fp8gemm_dtype to,
                                                  int saturate, fp8gemm_tensor *out_desc);
FP8GEMM_API fp8gemm_status fp8gemm_fp8_cast(const fp8gemm_tensor *x, fp8gemm_dtype to,
                                            int saturate, fp8gemm_tensor *out);

/* ================================================================== GEMMs */
/*
 * fp8_gemm (W8A8): out = q_input @ q_weight with scales and bias; see docs/ops.md.
 *   q_input       fp8 [*, K], rank >= 1, any strides
 *   q_weight      fp8 logical [K, N] (NN contiguous or NT view with stride(-2) == 1,
 *                 any strides accepted) or batched [B, K, N] with q_input [B, M, K]
 *   out_dtype     bf16, fp16, f32; FP8GEMM_DTYPE_NONE -> fp16
 *   input_scales  NULL / numel 1 / [*, 1] per token / [*, ceil(K/128)] block / e8m0 [*, K/32]
 *   weight_scale  NULL / numel 1 / N elements / [ceil(K/128), ceil(N/128)] / e8m0 [K/32, N]
 *   bias          NULL or empty / numel 1 / [N] / [*, 1] per row / [*, N]; f32, bf16, fp16
 * out: the descriptor fp8gemm_fp8_gemm_infer returned, with data set.
 * workspace_size: bytes of scratch the call allocates internally (informational; may be NULL).
 */
FP8GEMM_API fp8gemm_status fp8gemm_fp8_gemm_infer(
    const fp8gemm_tensor *q_input, const fp8gemm_tensor *q_weight, fp8gemm_dtype out_dtype,
    const fp8gemm_tensor *input_scales, const fp8gemm_tensor *weight_scale,
    const fp8gemm_tensor *bias, fp8gemm_tensor *out_desc, size_t *workspace_size);
FP8GEMM_API fp8gemm_status fp8gemm_fp8_gemm(
    const fp8gemm_tensor *q_input, const fp8gemm_tensor *q_weight, fp8gemm_dtype out_dtype,
    const fp8gemm_tensor *input_scales, const fp8gemm_tensor *weight_scale,
    const fp8gemm_tensor *bias, fp8gemm_tensor *out);

/*
 * fp8_gemm_w8a16 (weight-only FP8): input bf16/fp16/f32 [*, K]; q_weight as above;
 * weight_scale NULL / numel 1 / N elements / groups along K [ceil(K/g), N] /
 * blocks [ceil(K/g), ceil(N/g)], g in {32, 64, 128}, f32, bf16 or e8m0.
 * Output dtype = input dtype, shape input.shape[:-1] + [N].
 */
FP8GEMM_API fp8gemm_status fp8gemm_fp8_gemm_w8a16_infer(
    const fp8gemm_tensor *input, const fp8gemm_tensor *q_weight,
    const fp8gemm_tensor *weight_scale, const fp8gemm_tensor *bias, fp8gemm_tensor *out_desc,
    size_t *workspace_size);
FP8GEMM_API fp8gemm_status fp8gemm_fp8_gemm_w8a16(
    const fp8gemm_tensor *input, const fp8gemm_tensor *q_weight,
    const fp8gemm_tensor *weight_scale, const fp8gemm_tensor *bias, fp8gemm_tensor *out);

/* ========================================================= registry */
typedef enum fp8gemm_op {
  FP8GEMM_OP_FP8_GEMM = 0,
  FP8GEMM_OP_FP8_GEMM_W8A16 = 1,
  FP8GEMM_OP_FP8_QUANTIZE = 2,
  FP8GEMM_OP_MX_QUANTIZE = 3,
  FP8GEMM_OP_FP8_DEQUANTIZE = 4,
  FP8GEMM_OP_FP8_CAST = 5
} fp8gemm_op;
#define FP8GEMM_OP_COUNT 6

typedef enum fp8gemm_scheme {
  FP8GEMM_SCHEME_PER_TENSOR = 1,  /* gemm: scalar scales; quantize: per-tensor */
  FP8GEMM_SCHEME_PER_TOKEN = 2,   /* gemm: per-token and/or per-channel; quantize: per-token */
  FP8GEMM_SCHEME_BLOCK = 3,       /* gemm: 1x128 x 128x128 (w8a16: g x g); quantize: 1 x g */
  FP8GEMM_SCHEME_BLOCK2D = 4,     /* quantize: g x g */
  FP8GEMM_SCHEME_MX = 5,          /* e8m0 scales per 32 along K */
  FP8GEMM_SCHEME_GROUP = 6,       /* w8a16: weight groups along K */
  FP8GEMM_SCHEME_ELEMENTWISE = 7  /* cast / dequantize */
} fp8gemm_scheme;
#define FP8GEMM_SCHEME_COUNT 8

FP8GEMM_API const char *fp8gemm_op_name(fp8gemm_op op);     /* "fp8_gemm", ... ; NULL if invalid */
FP8GEMM_API const char *fp8gemm_op_schema(fp8gemm_op op);   /* torch.library schema string */
FP8GEMM_API fp8gemm_status fp8gemm_op_from_name(const char *name, fp8gemm_op *op);
FP8GEMM_API const char *fp8gemm_scheme_name(fp8gemm_scheme scheme);
FP8GEMM_API fp8gemm_status fp8gemm_scheme_from_name(const char *name, fp8gemm_scheme *scheme);

typedef struct fp8gemm_kernel_info {
  const char *name;  /* e.g. "gemm_ref", static storage */
  fp8gemm_isa isa;   /* ISA level the kernel needs */
} fp8gemm_kernel_info;

/*
 * The capability query ("hasattr" done by the library): is `op` with `scheme` on
 * `dtype` (the fp8 / element dtype of the op) served here, and by which kernel, under
 * the current ISA cap? Runs nothing. FP8GEMM_OK and *info filled, or
 * FP8GEMM_UNIMPLEMENTED with a message saying why. For fp8_gemm / fp8_gemm_w8a16 the
 * answer is for a typical problem: N = K = 4096, the weight the NT view of a [N, K]
 * tensor, M = 128 (fp8_gemm) or 1 (w8a16); fp8gemm_query_shape asks for another.
 */
FP8GEMM_API fp8gemm_status fp8gemm_query(fp8gemm_op op, fp8gemm_scheme scheme,
                                         fp8gemm_dtype dtype, fp8gemm_kernel_info *info);

/*
 * As fp8gemm_query for fp8_gemm / fp8_gemm_w8a16, for one problem shape: which kernel
 * would serve an m x n x k call (dense scales of `scheme`, weight contiguous [K, N] if
 * weight_nt == 0, else the NT view of a [N, K] tensor) under the current ISA cap and
 * thread count. Runs nothing. Benchmarks use it to say which kernel they timed.
 */
FP8GEMM_API fp8gemm_status fp8gemm_query_shape(fp8gemm_op op, fp8gemm_scheme scheme,
                                               fp8gemm_dtype dtype, int64_t m, int64_t n,
                                               int64_t k, int weight_nt,
                                               fp8gemm_kernel_info *info);

/* ==================================================== prepacked weights */
/*
 * Pack a weight (and its scale) once, run many times. The packed form holds the
 * weight's codes as contiguous [N, K] (or [B, N, K]): K fastest, the layout of a
 * checkpoint's [out, in] tensor, whatever the strides of q_weight (an NT view is
 * copied as is, anything else transposed once here), seen by the kernels as the NT view
 * of logical [K, N]; plus a contiguous copy of weight_scale. Every kernel streams it
 * contiguously and the decode kernels (M <= 16) run fastest on it (docs/kernels.md).
 * Results are bitwise identical to the plain call given that NT view; against a plain
 * contiguous [K, N] weight they agree within the ops.md bound (at M <= 16 the decode
 * kernels sum an NN weight in a different order).
 *   op          FP8GEMM_OP_FP8_GEMM or FP8GEMM_OP_FP8_GEMM_W8A16
 *   q_weight    as the op's q_weight (fp8, [K, N] or [B, K, N], any strides)
 *   weight_scale as the op's weight_scale, or NULL
 * pack_weight checks both descriptors; whether weight_scale fits q_weight and the
 * other arguments is checked by the *_packed_infer / *_packed calls, with the same
 * messages as the plain op (they run the op's one infer function).
 * Memory: on Linux, codes of >= 2 MiB get their own mapping, 2 MiB-aligned and rounded up
 * to a 2 MiB multiple (at most 2 MiB - 1 bytes more; none for N * K a multiple of 2 MiB,
 * as in LLM layers), advised MADV_HUGEPAGE before they are written: with transparent
 * huge pages in "madvise" or "always" mode the decode kernels then stream them over
 * 2 MiB pages (faster on one core, docs/kernels.md). With THP "never" (or the advice
 * refused) they sit on 4 KiB pages and the rounded-up tail is never touched. Smaller
 * codes and other systems: malloc, as before. Either way the results are the same bits.
 */
typedef struct fp8gemm_packed_weight fp8gemm_packed_weight;

FP8GEMM_API fp8gemm_status fp8gemm_pack_weight(fp8gemm_op op, const fp8gemm_tensor *q_weight,
                                               const fp8gemm_tensor *weight_scale,
                                               fp8gemm_packed_weight **packed);
/* Frees a packed weight; NULL is a no-op. */
FP8GEMM_API void fp8gemm_packed_weight_free(fp8gemm_packed_weight *packed);
/* The op it was packed for, the logical weight descriptor (dims [K, N] / [B, K, N] with
 * the strides of the NT storage: (1, K) / (N * K, 1, K); data = NULL) and the bytes it
 * holds: the codes' allocation (rounded up to 2 MiB when on huge pages, see above) plus
 * the scale copy. Any output pointer may be NULL. */
FP8GEMM_API fp8gemm_status fp8gemm_packed_weight_info(const fp8gemm_packed_weight *packed,
                                                      fp8gemm_op *op, fp8gemm_tensor *weight_desc,
                                                      size_t *bytes);

/* fp8_gemm with a packed weight: arguments and result as fp8gemm_fp8_gemm. */
FP8GEMM_API fp8gemm_status fp8gemm_fp8_gemm_packed_infer(
    const fp8gemm_tensor *q_input, const fp8gemm_packed_weight *packed, fp8gemm_dtype out_dtype,
    const fp8gemm_tensor *input_scales, const fp8gemm_tensor *bias, fp8gemm_tensor *out_desc,
    size_t *workspace_size);
FP8GEMM_API fp8gemm_status fp8gemm_fp8_gemm_packed(const fp8gemm_tensor *q_input,
                                                   const fp8gemm_packed_weight *packed,
                                                   fp8gemm_dtype out_dtype,
                                                   const fp8gemm_tensor *input_scales,
                                                   const fp8gemm_tensor *bias, fp8gemm_tensor *out);

/* fp8_gemm_w8a16 with a packed weight: arguments and result as fp8gemm_fp8_gemm_w8a16. */
FP8GEMM_API fp8gemm_status fp8gemm_fp8_gemm_w8a16_packed_infer(
    const fp8gemm_tensor *input, const fp8gemm_packed_weight *packed, const fp8gemm_tensor *bias,
    fp8gemm_tensor *out_desc, size_t *workspace_size);
FP8GEMM_API fp8gemm_status fp8gemm_fp8_gemm_w8a16_packed(const fp8gemm_tensor *input,
                                                         const fp8gemm_packed_weight *packed,
                                                         const fp8gemm_tensor *bias,
                                                         fp8gemm_tensor *out);

/* Capability of the packed form: is `op` with `scheme` on `dtype` served for packed
 * weights, and by which kernel (under the current ISA cap)? Runs nothing. */
FP8GEMM_API fp8gemm_status fp8gemm_query_packed(fp8gemm_op op, fp8gemm_scheme scheme,
                                                fp8gemm_dtype dtype, fp8gemm_kernel_info *info);

/* Types of schema arguments, named as torch.library spells them. */
typedef enum fp8gemm_arg_type {
  FP8GEMM_ARG_TENSOR = 1,          /* Tensor */
  FP8GEMM_ARG_OPT_TENSOR = 2,      /* Tensor? (NULL in C) */
  FP8GEMM_ARG_SCALAR_TYPE = 3,     /* ScalarType (fp8gemm_dtype in C) */
  FP8GEMM_ARG_OPT_SCALAR_TYPE = 4, /* ScalarType? (FP8GEMM_DTYPE_NONE in C) */
  FP8GEMM_ARG_INT = 5,             /* int */
  FP8GEMM_ARG_FLOAT = 6,           /* float */
  FP8GEMM_ARG_BOOL = 7,            /* bool */
  FP8GEMM_ARG_STR = 8              /* str (an enum in C: granularity, scale_mode) */
} fp8gemm_arg_type;

typedef struct fp8gemm_arg_info {
  const char *name;          /* as in the schema and the C prototype, e.g. "q_input" */
  fp8gemm_arg_type type;
  const char *default_value; /* the schema's default literal ("None", "128", "\"token\""), or NULL */
} fp8gemm_arg_info;

/* Everything the registry knows about one op; static storage, never freed. */
typedef struct fp8gemm_op_info {
  const char *name;
  const char *schema;                /* same string as fp8gemm_op_schema */
  int n_args;                        /* arguments in schema order = C argument order */
  const fp8gemm_arg_info *args;
  int n_outputs;                     /* 1 (Tensor) or 2 ((Tensor, Tensor)) */
  int n_schemes;                     /* schemes fp8gemm_query accepts for this op */
  const fp8gemm_scheme *schemes;
  int n_dtypes;                      /* dtypes fp8gemm_query accepts for this op */
  const fp8gemm_dtype *dtypes;
} fp8gemm_op_info;

/* The registry entry of `op`; NULL if op is not a valid fp8gemm_op. */
FP8GEMM_API const fp8gemm_op_info *fp8gemm_op_describe(fp8gemm_op op);

#ifdef __cplusplus
}
#endif
#endif /* FP8GEMM_H */

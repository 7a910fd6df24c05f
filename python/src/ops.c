/*
 * The ops for Python. Each op has one body taking a `run` flag: infer returns the output
 * descriptors; run also takes the outputs (writable tensors) and calls the op with the
 * GIL released. Arguments are parsed the same way in both, so both reject alike.
 */
#include <limits.h>
#include <string.h>

#include "module.h"

#define MAX_ARGS 8

/* Tensors borrowed by one call, released together. */
typedef struct call_args {
  tensor_arg t[MAX_ARGS];
  int n;
} call_args;

static void release_all(call_args *c) {
  for (int i = 0; i < c->n; i++) tensor_arg_release(&c->t[i]);
}

/* Parses the next tensor; returns its slot or NULL with an exception set. */
static tensor_arg *take(call_args *c, PyObject *obj, const char *op, const char *arg, int optional,
                        int writable) {
  char name[96];
  snprintf(name, sizeof name, "%s: %s", op, arg);
  tensor_arg *slot = &c->t[c->n++];
  if (tensor_arg_parse(obj, name, optional, writable, slot) < 0) return NULL;
  return slot;
}

static PyObject *outputs(fp8gemm_status s, const fp8gemm_tensor *a, const fp8gemm_tensor *b,
                         int run) {
  if (s != FP8GEMM_OK) return raise_status(s);
  if (run) Py_RETURN_NONE;
  if (!b) return tensor_spec_tuple(a);
  return Py_BuildValue("(NN)", tensor_spec_tuple(a), tensor_spec_tuple(b));
}

static int named_choice(PyObject *obj, const char *what, const char *const *names, int count,
                        int *out) {
  if (PyLong_Check(obj)) {
    int overflow = 0;
    long v = PyLong_AsLongAndOverflow(obj, &overflow);
    if (PyErr_Occurred()) return -1;
    /* The library checks the range of an int; wider values are rejected here, with the
     * value given (not the truncated one) in the message. */
    if (overflow || v < INT_MIN || v > INT_MAX) {
      PyErr_Format(PyExc_ValueError, "%s: expected %d..%d or a name, got %R", what, 1,
                   count - 1, obj);
      return -1;
    }
    *out = (int)v;
    return 0;
  }
  const char *s = PyUnicode_Check(obj) ? PyUnicode_AsUTF8(obj) : NULL;
  if (!s) {
    PyErr_Clear();
    PyErr_Format(PyExc_TypeError, "%s: expected a str, got %s", what, Py_TYPE(obj)->tp_name);
    return -1;
  }
  for (int i = 1; i < count; i++)
    if (names[i] && strcmp(s, names[i]) == 0) return *out = i, 0;
  PyObject *msg = PyUnicode_FromFormat("%s: expected one of", what);
  for (int i = 1; msg && i < count; i++) {
    PyObject *next = PyUnicode_FromFormat("%U '%s'", msg, names[i]);
    Py_SETREF(msg, next);
  }
  if (msg) {
    PyObject *full = PyUnicode_FromFormat("%U, got '%s'", msg, s);
    if (full) PyErr_SetObject(PyExc_ValueError, full);
    Py_XDECREF(full);
    Py_DECREF(msg);
  }
  return -1;
}

/* ------------------------------------------------------------------ fp8_gemm */
static PyObject *fp8_gemm_body(PyObject *args, PyObject *kw, int run) {
  static char *kws[] = {"q_input", "q_weight", "out_dtype", "input_scales", "weight_scale",
                        "bias", "out", NULL};
  PyObject *x, *w, *dt = Py_None, *sa = Py_None, *sw = Py_None, *b = Py_None, *o = Py_None;
  if (!PyArg_ParseTupleAndKeywords(args, kw, "OO|OOOOO:fp8_gemm", kws, &x, &w, &dt, &sa, &sw,
                                   &b, &o))
    return NULL;
  const char *op = "fp8_gemm";
  call_args c = {.n = 0};
  PyObject *ret = NULL;
  fp8gemm_dtype out_dtype;
  tensor_arg *tx, *tw, *tsa, *tsw, *tb, *to = NULL;
  if (!(tx = take(&c, x, op, "q_input", 0, 0)) || !(tw = take(&c, w, op, "q_weight", 0, 0)) ||
      !(tsa = take(&c, sa, op, "input_scales", 1, 0)) ||
      !(tsw = take(&c, sw, op, "weight_scale", 1, 0)) || !(tb = take(&c, b, op, "bias", 1, 0)) ||
      (run && !(to = take(&c, o, op, "out", 0, 1))) ||
      dtype_arg_parse(dt, "fp8_gemm: out_dtype", 1, &out_dtype) < 0)
    goto done;
  fp8gemm_status s;
  if (run) {
    Py_BEGIN_ALLOW_THREADS
    s = fp8gemm_fp8_gemm(&tx->t, &tw->t, out_dtype, tensor_arg_ptr(tsa), tensor_arg_ptr(tsw),
                         tensor_arg_ptr(tb), &to->t);
    Py_END_ALLOW_THREADS
    ret = outputs(s, NULL, NULL, 1);
  } else {
    fp8gemm_tensor od;
    size_t ws = 0;
    s = fp8gemm_fp8_gemm_infer(&tx->t, &tw->t, out_dtype, tensor_arg_ptr(tsa),
                               tensor_arg_ptr(tsw), tensor_arg_ptr(tb), &od, &ws);
    ret = s == FP8GEMM_OK ? Py_BuildValue("(Nn)", tensor_spec_tuple(&od), (Py_ssize_t)ws)
                          : raise_status(s);
  }
done:
  release_all(&c);
  return ret;
}

/* ------------------------------------------------------------ fp8_gemm_w8a16 */
static PyObject *fp8_gemm_w8a16_body(PyObject *args, PyObject *kw, int run) {
  static char *kws[] = {"input", "q_weight", "weight_scale", "bias", "out", NULL};
  PyObject *x, *w, *sw = Py_None, *b = Py_None, *o = Py_None;
  if (!PyArg_ParseTupleAndKeywords(args, kw, "OO|OOO:fp8_gemm_w8a16", kws, &x, &w, &sw, &b, &o))
    return NULL;
  const char *op = "fp8_gemm_w8a16";
  call_args c = {.n = 0};
  PyObject *ret = NULL;
  tensor_arg *tx, *tw, *tsw, *tb, *to = NULL;
  if (!(tx = take(&c, x, op, "input", 0, 0)) || !(tw = take(&c, w, op, "q_weight", 0, 0)) ||
      !(tsw = take(&c, sw, op, "weight_scale", 1, 0)) || !(tb = take(&c, b, op, "bias", 1, 0)) ||
      (run && !(to = take(&c, o, op, "out", 0, 1))))
    goto done;
  fp8gemm_status s;
  if (run) {
    Py_BEGIN_ALLOW_THREADS
    s = fp8gemm_fp8_gemm_w8a16(&tx->t, &tw->t, tensor_arg_ptr(tsw), tensor_arg_ptr(tb), &to->t);
    Py_END_ALLOW_THREADS
    ret = outputs(s, NULL, NULL, 1);
  } else {
    fp8gemm_tensor od;
    size_t ws = 0;
    s = fp8gemm_fp8_gemm_w8a16_infer(&tx->t, &tw->t, tensor_arg_ptr(tsw), tensor_arg_ptr(tb), &od,
                                     &ws);
    ret = s == FP8GEMM_OK ? Py_BuildValue("(Nn)", tensor_spec_tuple(&od), (Py_ssize_t)ws)
                          : raise_status(s);
  }
done:
  release_all(&c);
  return ret;
}

/* -------------------------------------------------------------- fp8_quantize */
static const char *const granularity_names[] = {NULL, "tensor", "token", "block", "block2d"};

static PyObject *fp8_quantize_body(PyObject *args, PyObject *kw, int run) {
  static char *kws[] = {"input", "fp8_dtype", "granularity", "group_size", "scale",
                        "scale_ub", "min_scale", "q", "scale_out", NULL};
  PyObject *x, *dt, *gran_obj = NULL, *sc = Py_None, *ub = Py_None, *oq = Py_None,
                    *os = Py_None;
  long long group_size = 128;
  double min_scale = FP8GEMM_DEFAULT_MIN_SCALE;
  if (!PyArg_ParseTupleAndKeywords(args, kw, "OO|OLOOdOO:fp8_quantize", kws, &x, &dt, &gran_obj,
                                   &group_size, &sc, &ub, &min_scale, &oq, &os))
    return NULL;
  const char *op = "fp8_quantize";
  call_args c = {.n = 0};
  PyObject *ret = NULL;
  fp8gemm_dtype fp8_dtype;
  int gran = FP8GEMM_PER_TOKEN;
  tensor_arg *tx, *tsc, *tub, *tq = NULL, *ts = NULL;
  if (!(tx = take(&c, x, op, "input", 0, 0)) || !(tsc = take(&c, sc, op, "scale", 1, 0)) ||
      !(tub = take(&c, ub, op, "scale_ub", 1, 0)) ||
      (run && (!(tq = take(&c, oq, op, "q", 0, 1)) || !(ts = take(&c, os, op, "scale_out", 0, 1)))) ||
      dtype_arg_parse(dt, "fp8_quantize: fp8_dtype", 0, &fp8_dtype) < 0 ||
      (gran_obj && named_choice(gran_obj, "fp8_quantize: granularity", granularity_names, 5,
                                &gran) < 0))
    goto done;
  fp8gemm_status s;
  if (run) {
    Py_BEGIN_ALLOW_THREADS
    s = fp8gemm_fp8_quantize(&tx->t, fp8_dtype, (fp8gemm_granularity)gran, group_size,
                             tensor_arg_ptr(tsc), tensor_arg_ptr(tub), min_scale, &tq->t, &ts->t);
    Py_END_ALLOW_THREADS
    ret = outputs(s, NULL, NULL, 1);
  } else {
    fp8gemm_tensor qd, sd;
    s = fp8gemm_fp8_quantize_infer(&tx->t, fp8_dtype, (fp8gemm_granularity)gran, group_size,
                                   tensor_arg_ptr(tsc), tensor_arg_ptr(tub), min_scale, &qd, &sd);
    ret = outputs(s, &qd, &sd, 0);
  }
done:
  release_all(&c);
  return ret;
}

/* --------------------------------------------------------------- mx_quantize */
static const char *const scale_mode_names[] = {NULL, "floor", "rceil"};

static PyObject *mx_quantize_body(PyObject *args, PyObject *kw, int run) {
  static char *kws[] = {"input", "elem_dtype", "block_size", "scale_mode", "q", "scales", NULL};
  PyObject *x, *dt, *mode_obj = NULL, *oq = Py_None, *os = Py_None;
  long long block_size = 32;
  if (!PyArg_ParseTupleAndKeywords(args, kw, "OO|LOOO:mx_quantize", kws, &x, &dt, &block_size,
                                   &mode_obj, &oq, &os))
    return NULL;
  const char *op = "mx_quantize";
  call_args c = {.n = 0};
  PyObject *ret = NULL;
  fp8gemm_dtype elem;
  int mode = FP8GEMM_MX_FLOOR;
  tensor_arg *tx, *tq = NULL, *ts = NULL;
  if (!(tx = take(&c, x, op, "input", 0, 0)) ||
      (run && (!(tq = take(&c, oq, op, "q", 0, 1)) || !(ts = take(&c, os, op, "scales", 0, 1)))) ||
      dtype_arg_parse(dt, "mx_quantize: elem_dtype", 0, &elem) < 0 ||
      (mode_obj && named_choice(mode_obj, "mx_quantize: scale_mode", scale_mode_names, 3, &mode) < 0))
    goto done;
  fp8gemm_status s;
  if (run) {
    Py_BEGIN_ALLOW_THREADS
    s = fp8gemm_mx_quantize(&tx->t, elem, block_size, (fp8gemm_mx_scale_mode)mode, &tq->t, &ts->t);
    Py_END_ALLOW_THREADS
    ret = outputs(s, NULL, NULL, 1);
  } else {
    fp8gemm_tensor qd, sd;
    s = fp8gemm_mx_quantize_infer(&tx->t, elem, block_size, (fp8gemm_mx_scale_mode)mode, &qd, &sd);
    ret = outputs(s, &qd, &sd, 0);
  }
done:
  release_all(&c);
  return ret;
}

/* ------------------------------------------------------------ fp8_dequantize */
static PyObject *fp8_dequantize_body(PyObject *args, PyObject *kw, int run) {
  static char *kws[] = {"q", "scale", "out_dtype", "group_size", "out", NULL};
  PyObject *q, *sc = Py_None, *dt = NULL, *o = Py_None;
  long long group_size = 0;
  if (!PyArg_ParseTupleAndKeywords(args, kw, "OOO|LO:fp8_dequantize", kws, &q, &sc, &dt,
                                   &group_size, &o))
    return NULL;
  const char *op = "fp8_dequantize";
  call_args c = {.n = 0};
  PyObject *ret = NULL;
  fp8gemm_dtype out_dtype;
  tensor_arg *tq, *tsc, *to = NULL;
  if (!(tq = take(&c, q, op, "q", 0, 0)) || !(tsc = take(&c, sc, op, "scale", 1, 0)) ||
      (run && !(to = take(&c, o, op, "out", 0, 1))) ||
      dtype_arg_parse(dt, "fp8_dequantize: out_dtype", 0, &out_dtype) < 0)
    goto done;
  fp8gemm_status s;
  if (run) {
    Py_BEGIN_ALLOW_THREADS
    s = fp8gemm_fp8_dequantize(&tq->t, tensor_arg_ptr(tsc), out_dtype, group_size, &to->t);
    Py_END_ALLOW_THREADS
    ret = outputs(s, NULL, NULL, 1);
  } else {
    fp8gemm_tensor od;
    s = fp8gemm_fp8_dequantize_infer(&tq->t, tensor_arg_ptr(tsc), out_dtype, group_size, &od);
    ret = outputs(s, &od, NULL, 0);
  }
done:
  release_all(&c);
  return ret;
}

/* ------------------------------------------------------------------ fp8_cast */
static PyObject *fp8_cast_body(PyObject *args, PyObject *kw, int run) {
  static char *kws[] = {"x", "dtype", "saturate", "out", NULL};
  PyObject *x, *dt, *o = Py_None;
  int saturate = 0;
  if (!PyArg_ParseTupleAndKeywords(args, kw, "OO|pO:fp8_cast", kws, &x, &dt, &saturate, &o))
    return NULL;
  const char *op = "fp8_cast";
  call_args c = {.n = 0};
  PyObject *ret = NULL;
  fp8gemm_dtype to_dtype;
  tensor_arg *tx, *to = NULL;
  if (!(tx = take(&c, x, op, "x", 0, 0)) || (run && !(to = take(&c, o, op, "out", 0, 1))) ||
      dtype_arg_parse(dt, "fp8_cast: dtype", 0, &to_dtype) < 0)
    goto done;
  fp8gemm_status s;
  if (run) {
    Py_BEGIN_ALLOW_THREADS
    s = fp8gemm_fp8_cast(&tx->t, to_dtype, saturate, &to->t);
    Py_END_ALLOW_THREADS
    ret = outputs(s, NULL, NULL, 1);
  } else {
    fp8gemm_tensor od;
    s = fp8gemm_fp8_cast_infer(&tx->t, to_dtype, saturate, &od);
    ret = outputs(s, &od, NULL, 0);
  }
done:
  release_all(&c);
  return ret;
}

#define OP_ENTRIES(name)                                                        \
  PyObject *py_##name##_infer(PyObject *self, PyObject *args, PyObject *kw) {   \
    (void)self;                                                                 \
    return name##_body(args, kw, 0);                                            \
  }                                                                             \
  PyObject *py_##name##_run(PyObject *self, PyObject *args, PyObject *kw) {     \
    (void)self;                                                                 \
    return name##_body(args, kw, 1);                                            \
  }
OP_ENTRIES(fp8_gemm)
OP_ENTRIES(fp8_gemm_w8a16)
OP_ENTRIES(fp8_quantize)
OP_ENTRIES(mx_quantize)
OP_ENTRIES(fp8_dequantize)
OP_ENTRIES(fp8_cast)

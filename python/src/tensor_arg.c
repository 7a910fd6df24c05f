/* Python objects -> fp8gemm_tensor (spec tuples, DLPack, buffer protocol). */
#include "tensor_arg.h"

#include <string.h>

/* ---------------------------------------------------------------- DLPack ABI */
/* The stable legacy DLPack structs (dlpack.h v0.x-1.x, unversioned capsule "dltensor"). */
typedef struct {
  int32_t device_type, device_id;
} dl_device;
typedef struct {
  uint8_t code, bits;
  uint16_t lanes;
} dl_dtype;
typedef struct {
  void *data;
  dl_device device;
  int32_t ndim;
  dl_dtype dtype;
  int64_t *shape, *strides;
  uint64_t byte_offset;
} dl_tensor;
typedef struct dl_managed {
  dl_tensor dl;
  void *manager_ctx;
  void (*deleter)(struct dl_managed *);
} dl_managed;

enum { DL_CPU = 1 };
enum { DL_UINT = 1, DL_FLOAT = 2, DL_BFLOAT = 4, DL_F8_E4M3FN = 10, DL_F8_E4M3FNUZ = 11,
       DL_F8_E5M2 = 12, DL_F8_E5M2FNUZ = 13, DL_F8_E8M0FNU = 14, DL_F4_E2M1FN = 17 };

static const struct {
  uint8_t code, bits;
  fp8gemm_dtype dtype;
} dl_dtypes[] = {
    {DL_FLOAT, 32, FP8GEMM_F32},          {DL_FLOAT, 16, FP8GEMM_F16},
    {DL_BFLOAT, 16, FP8GEMM_BF16},        {DL_F8_E4M3FN, 8, FP8GEMM_E4M3FN},
    {DL_F8_E4M3FNUZ, 8, FP8GEMM_E4M3FNUZ}, {DL_F8_E5M2, 8, FP8GEMM_E5M2},
    {DL_F8_E5M2FNUZ, 8, FP8GEMM_E5M2FNUZ}, {DL_F8_E8M0FNU, 8, FP8GEMM_E8M0},
};

/* ------------------------------------------------------------------- helpers */
int dtype_arg_parse(PyObject *obj, const char *name, int optional, fp8gemm_dtype *out) {
  if (obj == Py_None) {
    if (optional) {
      *out = FP8GEMM_DTYPE_NONE;
      return 0;
    }
    PyErr_Format(PyExc_TypeError, "%s: expected a dtype name, got None", name);
    return -1;
  }
  if (PyUnicode_Check(obj)) {
    const char *s = PyUnicode_AsUTF8(obj);
    if (!s) return -1;
    if (fp8gemm_dtype_from_name(s, out) != FP8GEMM_OK) {
      PyErr_Format(PyExc_ValueError,
                   "%s: expected a dtype name (e4m3fn e5m2 e4m3fnuz e5m2fnuz e2m1 e8m0 bf16 f16 "
                   "f32), got '%s'",
                   name, s);
      return -1;
    }
    return 0;
  }
  if (PyLong_Check(obj)) {
    long v = PyLong_AsLong(obj);
    if (v == -1 && PyErr_Occurred()) return -1;
    if (v < 1 || v >= FP8GEMM_DTYPE_COUNT) {
      PyErr_Format(PyExc_ValueError, "%s: expected a dtype code 1..%d, got %ld", name,
                   FP8GEMM_DTYPE_COUNT - 1, v);
      return -1;
    }
    *out = (fp8gemm_dtype)v;
    return 0;
  }
  PyErr_Format(PyExc_TypeError, "%s: expected a dtype name (str), got %s", name,
               Py_TYPE(obj)->tp_name);
  return -1;
}

/* Reads a sequence of ints of length n (n < 0: any length up to MAX_DIMS) into v. */
static int int_seq(PyObject *obj, const char *name, const char *what, int64_t *v, int *n) {
  PyObject *seq = PySequence_Fast(obj, "");
  if (!seq) {
    PyErr_Clear();
    PyErr_Format(PyExc_TypeError, "%s: %s: expected a sequence of ints, got %s", name, what,
                 Py_TYPE(obj)->tp_name);
    return -1;
  }
  Py_ssize_t len = PySequence_Fast_GET_SIZE(seq);
  if (len > FP8GEMM_MAX_DIMS || (*n >= 0 && len != *n)) {
    PyErr_Format(PyExc_ValueError, "%s: %s: expected %d ints, got %zd", name, what,
                 *n >= 0 ? *n : FP8GEMM_MAX_DIMS, len);
    Py_DECREF(seq);
    return -1;
  }
  for (Py_ssize_t i = 0; i < len; i++) {
    PyObject *item = PySequence_Fast_GET_ITEM(seq, i);
    long long x = PyLong_Check(item) ? PyLong_AsLongLong(item) : -1;
    if (!PyLong_Check(item) || (x == -1 && PyErr_Occurred())) {
      PyErr_Clear();
      PyErr_Format(PyExc_TypeError, "%s: %s[%zd]: expected an int64, got %s", name, what, i,
                   Py_TYPE(item)->tp_name);
      Py_DECREF(seq);
      return -1;
    }
    v[i] = (int64_t)x;
  }
  *n = (int)len;
  Py_DECREF(seq);
  return 0;
}

/* (dtype, shape, strides, data_ptr) */
static int parse_spec(PyObject *obj, const char *name, tensor_arg *arg) {
  fp8gemm_tensor *t = &arg->t;
  if (dtype_arg_parse(PyTuple_GET_ITEM(obj, 0), name, 0, &t->dtype) < 0) return -1;
  int ndim = -1, nstrides;
  if (int_seq(PyTuple_GET_ITEM(obj, 1), name, "shape", t->dims, &ndim) < 0) return -1;
  nstrides = ndim;
  if (int_seq(PyTuple_GET_ITEM(obj, 2), name, "strides", t->strides, &nstrides) < 0) return -1;
  t->ndim = ndim;
  PyObject *ptr = PyTuple_GET_ITEM(obj, 3);
  if (!PyLong_Check(ptr)) {
    PyErr_Format(PyExc_TypeError, "%s: data_ptr: expected an int, got %s", name,
                 Py_TYPE(ptr)->tp_name);
    return -1;
  }
  t->data = PyLong_AsVoidPtr(ptr);
  return PyErr_Occurred() ? -1 : 0;
}

/* A packed e2m1 container of bytes [*, K/2] seen as logical e2m1 [*, K]. */
static int to_logical_e2m1(fp8gemm_tensor *t, const char *name) {
  if (t->ndim < 1) {
    PyErr_Format(PyExc_ValueError, "%s: packed e2m1 needs rank >= 1, got a scalar", name);
    return -1;
  }
  for (int i = 0; i < t->ndim; i++) {
    if (t->strides[i] > INT64_MAX / 2 || t->dims[i] > INT64_MAX / 2) {
      PyErr_Format(PyExc_ValueError, "%s: packed e2m1 shape or strides too large", name);
      return -1;
    }
    t->strides[i] *= 2;
  }
  t->dims[t->ndim - 1] *= 2;
  t->strides[t->ndim - 1] = t->dims[t->ndim - 1] > 2 ? t->strides[t->ndim - 1] / 2 : 1;
  return 0;
}

static int parse_dlpack(PyObject *obj, const char *name, fp8gemm_dtype as, tensor_arg *arg) {
  PyObject *cap = PyObject_CallMethod(obj, "__dlpack__", NULL);
  if (!cap) return -1;
  dl_managed *m = PyCapsule_GetPointer(cap, "dltensor");
  if (!m) {
    Py_DECREF(cap);
    return -1;
  }
  arg->capsule = cap; /* its destructor calls the producer's deleter: we never rename it */
  const dl_tensor *d = &m->dl;
  if (d->device.device_type != DL_CPU) {
    PyErr_Format(PyExc_ValueError, "%s: expected a CPU tensor, got DLPack device type %d", name,
                 (int)d->device.device_type);
    return -1;
  }
  /* torch exports float4_e2m1fn_x2 as 2 lanes of 4 bits: one packed byte per element. */
  int fp4x2 = d->dtype.code == DL_F4_E2M1FN && d->dtype.bits == 4 && d->dtype.lanes == 2;
  if (d->ndim < 0 || d->ndim > FP8GEMM_MAX_DIMS || (d->dtype.lanes != 1 && !fp4x2)) {
    PyErr_Format(PyExc_ValueError, "%s: expected rank 0..%d with 1 lane, got rank %d", name,
                 FP8GEMM_MAX_DIMS, (int)d->ndim);
    return -1;
  }
  fp8gemm_tensor *t = &arg->t;
  t->dtype = FP8GEMM_DTYPE_NONE;
  int packed = 0;
  if (as != FP8GEMM_DTYPE_NONE) {
    if (d->dtype.bits * d->dtype.lanes != 8) {
      PyErr_Format(PyExc_ValueError, "%s: reinterpreting as %s needs 1-byte elements, got %d bits",
                   name, fp8gemm_dtype_name(as), (int)d->dtype.bits);
      return -1;
    }
    t->dtype = as;
    packed = as == FP8GEMM_E2M1;
  } else {
    for (size_t i = 0; i < sizeof dl_dtypes / sizeof dl_dtypes[0]; i++)
      if (dl_dtypes[i].code == d->dtype.code && dl_dtypes[i].bits == d->dtype.bits)
        t->dtype = dl_dtypes[i].dtype;
    if (fp4x2 || (d->dtype.code == DL_F4_E2M1FN && d->dtype.bits == 8)) {
      t->dtype = FP8GEMM_E2M1;
      packed = 1;
    }
  }
  if (t->dtype == FP8GEMM_DTYPE_NONE) {
    PyErr_Format(PyExc_ValueError,
                 "%s: unsupported DLPack dtype (code %d, %d bits); pass (tensor, 'e4m3fn') to "
                 "reinterpret 1-byte codes",
                 name, (int)d->dtype.code, (int)d->dtype.bits);
    return -1;
  }
  t->ndim = d->ndim;
  int64_t stride = 1;
  for (int i = d->ndim - 1; i >= 0; i--) {
    t->dims[i] = d->shape[i];
    t->strides[i] = d->strides ? d->strides[i] : stride;
    stride *= d->shape[i] > 0 ? d->shape[i] : 1;
  }
  t->data = (char *)d->data + d->byte_offset;
  return packed ? to_logical_e2m1(t, name) : 0;
}

static int parse_buffer(PyObject *obj, const char *name, fp8gemm_dtype as, int writable,
                        tensor_arg *arg) {
  int flags = PyBUF_STRIDES | PyBUF_FORMAT | (writable ? PyBUF_WRITABLE : 0);
  if (PyObject_GetBuffer(obj, &arg->view, flags) < 0) return -1;
  arg->has_view = 1;
  const Py_buffer *v = &arg->view;
  fp8gemm_tensor *t = &arg->t;
  const char *fmt = v->format ? v->format : "B";
  if (*fmt == '<' || *fmt == '=' || *fmt == '@') fmt++;
  if (as != FP8GEMM_DTYPE_NONE) {
    if (v->itemsize != 1) {
      PyErr_Format(PyExc_ValueError, "%s: reinterpreting as %s needs 1-byte elements, got %zd",
                   name, fp8gemm_dtype_name(as), v->itemsize);
      return -1;
    }
    t->dtype = as;
  } else if (strcmp(fmt, "f") == 0) {
    t->dtype = FP8GEMM_F32;
  } else if (strcmp(fmt, "e") == 0) {
    t->dtype = FP8GEMM_F16;
  } else {
    PyErr_Format(PyExc_ValueError,
                 "%s: buffer format '%s' is not f32 ('f') or f16 ('e'); pass (buffer, 'e4m3fn') "
                 "to read 1-byte codes",
                 name, fmt);
    return -1;
  }
  if (v->ndim > FP8GEMM_MAX_DIMS) {
    PyErr_Format(PyExc_ValueError, "%s: expected rank <= %d, got %d", name, FP8GEMM_MAX_DIMS,
                 v->ndim);
    return -1;
  }
  t->ndim = v->ndim;
  for (int i = 0; i < v->ndim; i++) {
    t->dims[i] = v->shape[i];
    if (v->strides[i] % v->itemsize != 0 || v->strides[i] < 0) {
      PyErr_Format(PyExc_ValueError, "%s: stride[%d] (%zd bytes) is not a non-negative multiple "
                   "of the item size", name, i, v->strides[i]);
      return -1;
    }
    t->strides[i] = v->strides[i] / v->itemsize;
  }
  t->data = v->buf;
  return as == FP8GEMM_E2M1 ? to_logical_e2m1(t, name) : 0;
}

int tensor_arg_parse(PyObject *obj, const char *name, int optional, int writable,
                     tensor_arg *arg) {
  memset(arg, 0, sizeof *arg);
  if (obj == Py_None) {
    if (optional) return 0;
    PyErr_Format(PyExc_TypeError, "%s: expected a tensor, got None", name);
    return -1;
  }
  arg->present = 1;
  if (PyTuple_Check(obj) && PyTuple_GET_SIZE(obj) == 4) return parse_spec(obj, name, arg);
  fp8gemm_dtype as = FP8GEMM_DTYPE_NONE;
  if (PyTuple_Check(obj) && PyTuple_GET_SIZE(obj) == 2) {
    if (dtype_arg_parse(PyTuple_GET_ITEM(obj, 1), name, 0, &as) < 0) return -1;
    if (fp8gemm_dtype_bits(as) > 8) {
      PyErr_Format(PyExc_ValueError, "%s: only 1-byte narrow dtypes can be reinterpreted, got %s",
                   name, fp8gemm_dtype_name(as));
      return -1;
    }
    obj = PyTuple_GET_ITEM(obj, 0);
  }
  if (PyObject_HasAttrString(obj, "__dlpack__")) {
    if (parse_dlpack(obj, name, as, arg) == 0) return 0;
    /* numpy refuses DLPack export of read-only arrays: the buffer protocol still works. */
    if (!PyObject_CheckBuffer(obj) || !PyErr_ExceptionMatches(PyExc_BufferError)) return -1;
    PyErr_Clear();
    Py_CLEAR(arg->capsule);
  }
  if (PyObject_CheckBuffer(obj)) return parse_buffer(obj, name, as, writable, arg);
  PyErr_Format(PyExc_TypeError,
               "%s: expected a tensor (DLPack, buffer protocol, or (dtype, shape, strides, "
               "data_ptr)), got %s",
               name, Py_TYPE(obj)->tp_name);
  return -1;
}

void tensor_arg_release(tensor_arg *arg) {
  if (arg->has_view) PyBuffer_Release(&arg->view);
  arg->has_view = 0;
  Py_CLEAR(arg->capsule);
}

PyObject *tensor_spec_tuple(const fp8gemm_tensor *t) {
  PyObject *shape = PyTuple_New(t->ndim), *strides = PyTuple_New(t->ndim);
  if (!shape || !strides) goto fail;
  for (int i = 0; i < t->ndim; i++) {
    PyObject *d = PyLong_FromLongLong(t->dims[i]), *s = PyLong_FromLongLong(t->strides[i]);
    if (!d || !s) {
      Py_XDECREF(d);
      Py_XDECREF(s);
      goto fail;
    }
    PyTuple_SET_ITEM(shape, i, d);
    PyTuple_SET_ITEM(strides, i, s);
  }
  return Py_BuildValue("(sNN)", fp8gemm_dtype_name(t->dtype), shape, strides);
fail:
  Py_XDECREF(shape);
  Py_XDECREF(strides);
  return NULL;
}

/*
 * fp8gemm._native.PackedWeight: a weight (and its scale) packed once by
 * fp8gemm_pack_weight, freed with the object; and the packed GEMM entries.
 */
#include <string.h>

#include "module.h"

typedef struct {
  PyObject_HEAD
  fp8gemm_packed_weight *packed;
} packed_object;

static void packed_dealloc(PyObject *self) {
  fp8gemm_packed_weight_free(((packed_object *)self)->packed);
  Py_TYPE(self)->tp_free(self);
}

/* info() -> (op name, weight descriptor, bytes) */
static PyObject *packed_info(PyObject *self, PyObject *args) {
  (void)args;
  fp8gemm_op op;
  fp8gemm_tensor desc;
  size_t bytes = 0;
  fp8gemm_status s = fp8gemm_packed_weight_info(((packed_object *)self)->packed, &op, &desc, &bytes);
  if (s != FP8GEMM_OK) return raise_status(s);
  return Py_BuildValue("(sNn)", fp8gemm_op_name(op), tensor_spec_tuple(&desc), (Py_ssize_t)bytes);
}

static PyMethodDef packed_methods[] = {
    {"info", packed_info, METH_NOARGS, "(op, weight descriptor, bytes held)"},
    {NULL, NULL, 0, NULL},
};

static PyTypeObject packed_type = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "fp8gemm._native.PackedWeight",
    .tp_basicsize = sizeof(packed_object),
    .tp_dealloc = packed_dealloc,
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "A weight packed once by pack_weight(op, q_weight, weight_scale).",
    .tp_methods = packed_methods,
};

int packed_type_ready(PyObject *module) {
  if (PyType_Ready(&packed_type) < 0) return -1;
  return PyModule_AddObjectRef(module, "PackedWeight", (PyObject *)&packed_type);
}

static const fp8gemm_packed_weight *packed_arg(PyObject *obj, const char *op) {
  if (!PyObject_TypeCheck(obj, &packed_type)) {
    PyErr_Format(PyExc_TypeError, "%s: packed: expected a PackedWeight, got %s", op,
                 Py_TYPE(obj)->tp_name);
    return NULL;
  }
  return ((packed_object *)obj)->packed;
}

/* pack_weight(op, q_weight, weight_scale=None) -> PackedWeight */
PyObject *py_pack_weight(PyObject *self, PyObject *args, PyObject *kw) {
  (void)self;
  static char *kws[] = {"op", "q_weight", "weight_scale", NULL};
  PyObject *op_obj, *w, *sw = Py_None;
  if (!PyArg_ParseTupleAndKeywords(args, kw, "OO|O:pack_weight", kws, &op_obj, &w, &sw))
    return NULL;
  fp8gemm_op op;
  if (op_arg_parse(op_obj, &op) < 0) return NULL;
  tensor_arg tw, tsw;
  if (tensor_arg_parse(w, "pack_weight: q_weight", 0, 0, &tw) < 0) {
    tensor_arg_release(&tw);
    return NULL;
  }
  if (tensor_arg_parse(sw, "pack_weight: weight_scale", 1, 0, &tsw) < 0) {
    tensor_arg_release(&tw);
    tensor_arg_release(&tsw);
    return NULL;
  }
  fp8gemm_packed_weight *packed = NULL;
  fp8gemm_status s;
  Py_BEGIN_ALLOW_THREADS
  s = fp8gemm_pack_weight(op, &tw.t, tensor_arg_ptr(&tsw), &packed);
  Py_END_ALLOW_THREADS
  tensor_arg_release(&tw);
  tensor_arg_release(&tsw);
  if (s != FP8GEMM_OK) return raise_status(s);
  packed_object *obj = PyObject_New(packed_object, &packed_type);
  if (!obj) {
    fp8gemm_packed_weight_free(packed);
    return NULL;
  }
  obj->packed = packed;
  return (PyObject *)obj;
}

/* fp8_gemm_packed[_infer](q_input, packed, out_dtype=None, input_scales=None, bias=None, out=None) */
static PyObject *gemm_packed_body(PyObject *args, PyObject *kw, int run) {
  static char *kws[] = {"q_input", "packed", "out_dtype", "input_scales", "bias", "out", NULL};
  PyObject *x, *p, *dt = Py_None, *sa = Py_None, *b = Py_None, *o = Py_None;
  if (!PyArg_ParseTupleAndKeywords(args, kw, "OO|OOOO:fp8_gemm_packed", kws, &x, &p, &dt, &sa, &b, &o))
    return NULL;
  const fp8gemm_packed_weight *packed = packed_arg(p, "fp8_gemm_packed");
  fp8gemm_dtype out_dtype;
  if (!packed || dtype_arg_parse(dt, "fp8_gemm_packed: out_dtype", 1, &out_dtype) < 0) return NULL;
  tensor_arg t[4];
  memset(t, 0, sizeof t);
  PyObject *ret = NULL;
  if (tensor_arg_parse(x, "fp8_gemm_packed: q_input", 0, 0, &t[0]) < 0 ||
      tensor_arg_parse(sa, "fp8_gemm_packed: input_scales", 1, 0, &t[1]) < 0 ||
      tensor_arg_parse(b, "fp8_gemm_packed: bias", 1, 0, &t[2]) < 0 ||
      (run && tensor_arg_parse(o, "fp8_gemm_packed: out", 0, 1, &t[3]) < 0))
    goto done;
  fp8gemm_status s;
  if (run) {
    Py_BEGIN_ALLOW_THREADS
    s = fp8gemm_fp8_gemm_packed(&t[0].t, packed, out_dtype, tensor_arg_ptr(&t[1]),
                                tensor_arg_ptr(&t[2]), &t[3].t);
    Py_END_ALLOW_THREADS
    if (s != FP8GEMM_OK) raise_status(s);
    else ret = Py_NewRef(Py_None);
  } else {
    fp8gemm_tensor od;
    size_t ws = 0;
    s = fp8gemm_fp8_gemm_packed_infer(&t[0].t, packed, out_dtype, tensor_arg_ptr(&t[1]),
                                      tensor_arg_ptr(&t[2]), &od, &ws);
    ret = s == FP8GEMM_OK ? Py_BuildValue("(Nn)", tensor_spec_tuple(&od), (Py_ssize_t)ws)
                          : raise_status(s);
  }
done:
  for (int i = 0; i < 4; i++) tensor_arg_release(&t[i]);
  return ret;
}

/* fp8_gemm_w8a16_packed[_infer](input, packed, bias=None, out=None) */
static PyObject *w8a16_packed_body(PyObject *args, PyObject *kw, int run) {
  static char *kws[] = {"input", "packed", "bias", "out", NULL};
  PyObject *x, *p, *b = Py_None, *o = Py_None;
  if (!PyArg_ParseTupleAndKeywords(args, kw, "OO|OO:fp8_gemm_w8a16_packed", kws, &x, &p, &b, &o))
    return NULL;
  const fp8gemm_packed_weight *packed = packed_arg(p, "fp8_gemm_w8a16_packed");
  if (!packed) return NULL;
  tensor_arg t[3];
  memset(t, 0, sizeof t);
  PyObject *ret = NULL;
  if (tensor_arg_parse(x, "fp8_gemm_w8a16_packed: input", 0, 0, &t[0]) < 0 ||
      tensor_arg_parse(b, "fp8_gemm_w8a16_packed: bias", 1, 0, &t[1]) < 0 ||
      (run && tensor_arg_parse(o, "fp8_gemm_w8a16_packed: out", 0, 1, &t[2]) < 0))
    goto done;
  fp8gemm_status s;
  if (run) {
    Py_BEGIN_ALLOW_THREADS
    s = fp8gemm_fp8_gemm_w8a16_packed(&t[0].t, packed, tensor_arg_ptr(&t[1]), &t[2].t);
    Py_END_ALLOW_THREADS
    if (s != FP8GEMM_OK) raise_status(s);
    else ret = Py_NewRef(Py_None);
  } else {
    fp8gemm_tensor od;
    size_t ws = 0;
    s = fp8gemm_fp8_gemm_w8a16_packed_infer(&t[0].t, packed, tensor_arg_ptr(&t[1]), &od, &ws);
    ret = s == FP8GEMM_OK ? Py_BuildValue("(Nn)", tensor_spec_tuple(&od), (Py_ssize_t)ws)
                          : raise_status(s);
  }
done:
  for (int i = 0; i < 3; i++) tensor_arg_release(&t[i]);
  return ret;
}

#define PACKED_ENTRIES(name, body)                                             \
  PyObject *py_##name##_infer(PyObject *self, PyObject *args, PyObject *kw) {  \
    (void)self;                                                                \
    return body(args, kw, 0);                                                  \
  }                                                                            \
  PyObject *py_##name##_run(PyObject *self, PyObject *args, PyObject *kw) {    \
    (void)self;                                                                \
    return body(args, kw, 1);                                                  \
  }
PACKED_ENTRIES(fp8_gemm_packed, gemm_packed_body)
PACKED_ENTRIES(fp8_gemm_w8a16_packed, w8a16_packed_body)

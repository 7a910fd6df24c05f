/*
 * fp8gemm._native: the C library's public API for Python. Infer functions return
 * descriptors (dtype name, shape, strides); ops write into caller-given outputs; a
 * failing status becomes an exception carrying the library's message.
 */
#include "module.h"

PyObject *fp8gemm_py_unsupported_hardware;

PyObject *raise_status(fp8gemm_status s) {
  PyObject *type = PyExc_RuntimeError;
  switch (s) {
    case FP8GEMM_INVALID_ARGUMENT: type = PyExc_ValueError; break;
    case FP8GEMM_UNIMPLEMENTED: type = PyExc_NotImplementedError; break;
    case FP8GEMM_OUT_OF_MEMORY: type = PyExc_MemoryError; break;
    case FP8GEMM_UNSUPPORTED_HARDWARE: type = fp8gemm_py_unsupported_hardware; break;
    default: break;
  }
  const char *msg = fp8gemm_last_error();
  PyErr_SetString(type, msg && *msg ? msg : fp8gemm_status_string(s));
  return NULL;
}

static PyObject *py_version(PyObject *self, PyObject *args) {
  (void)self, (void)args;
  return PyUnicode_FromString(fp8gemm_version_string());
}

/* op name or int -> fp8gemm_op */
int op_arg_parse(PyObject *obj, fp8gemm_op *op) {
  if (PyUnicode_Check(obj)) {
    const char *s = PyUnicode_AsUTF8(obj);
    if (!s) return -1;
    fp8gemm_status st = fp8gemm_op_from_name(s, op);
    if (st != FP8GEMM_OK) return raise_status(st), -1;
    return 0;
  }
  PyErr_Format(PyExc_TypeError, "op: expected an op name (str), got %s", Py_TYPE(obj)->tp_name);
  return -1;
}

static PyObject *py_op_names(PyObject *self, PyObject *args) {
  (void)self, (void)args;
  PyObject *list = PyList_New(FP8GEMM_OP_COUNT);
  for (int i = 0; list && i < FP8GEMM_OP_COUNT; i++) {
    PyObject *name = PyUnicode_FromString(fp8gemm_op_name((fp8gemm_op)i));
    if (!name) Py_CLEAR(list); /* no NULL item left in a returned list */
    else PyList_SET_ITEM(list, i, name);
  }
  return list;
}

static PyObject *py_op_schema(PyObject *self, PyObject *arg) {
  (void)self;
  fp8gemm_op op;
  if (op_arg_parse(arg, &op) < 0) return NULL;
  return PyUnicode_FromString(fp8gemm_op_schema(op));
}

/* op_capability(op) -> (schemes, dtypes): the names fp8gemm_query takes for op, from
 * the registry (fp8gemm_op_describe). */
static PyObject *py_op_capability(PyObject *self, PyObject *arg) {
  (void)self;
  fp8gemm_op op;
  if (op_arg_parse(arg, &op) < 0) return NULL;
  const fp8gemm_op_info *info = fp8gemm_op_describe(op);
  PyObject *schemes = PyTuple_New(info->n_schemes), *dtypes = PyTuple_New(info->n_dtypes);
  for (int i = 0; schemes && i < info->n_schemes; i++) {
    PyObject *name = PyUnicode_FromString(fp8gemm_scheme_name(info->schemes[i]));
    if (!name) Py_CLEAR(schemes);
    else PyTuple_SET_ITEM(schemes, i, name);
  }
  for (int i = 0; dtypes && i < info->n_dtypes; i++) {
    PyObject *name = PyUnicode_FromString(fp8gemm_dtype_name(info->dtypes[i]));
    if (!name) Py_CLEAR(dtypes);
    else PyTuple_SET_ITEM(dtypes, i, name);
  }
  if (!schemes || !dtypes) {
    Py_XDECREF(schemes);
    Py_XDECREF(dtypes);
    return NULL;
  }
  return Py_BuildValue("(NN)", schemes, dtypes);
}

/* query(op, scheme, dtype) -> (kernel name, isa name); NotImplementedError if not served. */
static PyObject *py_query(PyObject *self, PyObject *args) {
  (void)self;
  PyObject *op_obj, *dtype_obj;
  const char *scheme_name;
  if (!PyArg_ParseTuple(args, "OsO:query", &op_obj, &scheme_name, &dtype_obj)) return NULL;
  fp8gemm_op op;
  fp8gemm_scheme scheme;
  fp8gemm_dtype dtype;
  if (op_arg_parse(op_obj, &op) < 0) return NULL;
  fp8gemm_status s = fp8gemm_scheme_from_name(scheme_name, &scheme);
  if (s != FP8GEMM_OK) return raise_status(s);
  if (dtype_arg_parse(dtype_obj, "query: dtype", 0, &dtype) < 0) return NULL;
  fp8gemm_kernel_info info = {0};
  s = fp8gemm_query(op, scheme, dtype, &info);
  if (s != FP8GEMM_OK) return raise_status(s);
  return Py_BuildValue("(ss)", info.name, fp8gemm_isa_name(info.isa));
}

static PyObject *py_isa(PyObject *self, PyObject *args) {
  (void)self, (void)args;
  return Py_BuildValue("{s:s,s:s,s:s,s:s}", "detected", fp8gemm_isa_name(fp8gemm_isa_detected()),
                       "active", fp8gemm_isa_name(fp8gemm_isa_active()), "max",
                       fp8gemm_isa_name(fp8gemm_get_max_isa()), "cpu_features",
                       fp8gemm_cpu_features());
}

static PyObject *py_set_max_isa(PyObject *self, PyObject *args) {
  (void)self;
  const char *name;
  if (!PyArg_ParseTuple(args, "s:set_max_isa", &name)) return NULL;
  fp8gemm_isa isa;
  fp8gemm_status s = fp8gemm_isa_from_name(name, &isa);
  if (s == FP8GEMM_OK) s = fp8gemm_set_max_isa(isa);
  if (s != FP8GEMM_OK) return raise_status(s);
  Py_RETURN_NONE;
}

static PyObject *py_get_num_threads(PyObject *self, PyObject *args) {
  (void)self, (void)args;
  return PyLong_FromLong(fp8gemm_get_num_threads());
}

static PyObject *py_set_num_threads(PyObject *self, PyObject *args) {
  (void)self;
  int n;
  if (!PyArg_ParseTuple(args, "i:set_num_threads", &n)) return NULL;
  fp8gemm_status s = fp8gemm_set_num_threads(n);
  if (s != FP8GEMM_OK) return raise_status(s);
  Py_RETURN_NONE;
}

/* encode_value(x, dtype, saturate=False) -> code */
static PyObject *py_encode_value(PyObject *self, PyObject *args, PyObject *kw) {
  (void)self;
  static char *kws[] = {"x", "dtype", "saturate", NULL};
  double x;
  PyObject *dtype_obj;
  int saturate = 0;
  if (!PyArg_ParseTupleAndKeywords(args, kw, "dO|p:encode_value", kws, &x, &dtype_obj, &saturate))
    return NULL;
  fp8gemm_dtype dtype;
  if (dtype_arg_parse(dtype_obj, "encode_value: dtype", 0, &dtype) < 0) return NULL;
  uint8_t code = 0;
  fp8gemm_status s = fp8gemm_encode_value((float)x, dtype, saturate, &code);
  if (s != FP8GEMM_OK) return raise_status(s);
  return PyLong_FromLong(code);
}

/* decode_value(code, dtype) -> float */
static PyObject *py_decode_value(PyObject *self, PyObject *args) {
  (void)self;
  int code;
  PyObject *dtype_obj;
  if (!PyArg_ParseTuple(args, "iO:decode_value", &code, &dtype_obj)) return NULL;
  fp8gemm_dtype dtype;
  if (dtype_arg_parse(dtype_obj, "decode_value: dtype", 0, &dtype) < 0) return NULL;
  if (code < 0 || code > 255) {
    PyErr_Format(PyExc_ValueError, "decode_value: code: expected 0..255, got %d", code);
    return NULL;
  }
  float v = 0;
  fp8gemm_status s = fp8gemm_decode_value((uint8_t)code, dtype, &v);
  if (s != FP8GEMM_OK) return raise_status(s);
  return PyFloat_FromDouble(v);
}

static PyMethodDef methods[] = {
    {"version", py_version, METH_NOARGS, "Library version string."},
    {"op_names", py_op_names, METH_NOARGS, "Names of every op, in registry order."},
    {"op_schema", py_op_schema, METH_O, "torch.library schema string of an op."},
    {"op_capability", py_op_capability, METH_O,
     "op_capability(op) -> (schemes, dtypes) the capability query takes for op."},
    {"query", py_query, METH_VARARGS,
     "query(op, scheme, dtype) -> (kernel, isa); NotImplementedError if not served here."},
    {"isa", py_isa, METH_NOARGS, "Detected / active / max ISA levels and CPU features."},
    {"set_max_isa", py_set_max_isa, METH_VARARGS, "Caps the ISA level kernels are chosen from."},
    {"get_num_threads", py_get_num_threads, METH_NOARGS, "Threads per op call."},
    {"set_num_threads", py_set_num_threads, METH_VARARGS, "Sets threads per op call."},
    {"encode_value", (PyCFunction)(void (*)(void))py_encode_value, METH_VARARGS | METH_KEYWORDS,
     "encode_value(x, dtype, saturate=False) -> code"},
    {"decode_value", py_decode_value, METH_VARARGS, "decode_value(code, dtype) -> float"},
    OP_METHODS
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_native",
                                    "fp8gemm C library bindings (public C API only).", -1,
                                    methods, NULL, NULL, NULL, NULL};

PyMODINIT_FUNC PyInit__native(void) {
  PyObject *m = PyModule_Create(&module);
  if (!m) return NULL;
  fp8gemm_py_unsupported_hardware = PyErr_NewExceptionWithDoc(
      "fp8gemm.UnsupportedHardwareError", "The CPU lacks what the request needs.",
      PyExc_RuntimeError, NULL);
  if (!fp8gemm_py_unsupported_hardware ||
      PyModule_AddObjectRef(m, "UnsupportedHardwareError", fp8gemm_py_unsupported_hardware) < 0 ||
      PyModule_AddIntConstant(m, "MAX_DIMS", FP8GEMM_MAX_DIMS) < 0 || packed_type_ready(m) < 0 ||
      PyModule_AddStringConstant(m, "__version__", FP8GEMM_VERSION_STRING) < 0) {
    Py_DECREF(m);
    return NULL;
  }
  return m;
}

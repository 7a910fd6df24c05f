/* Shared declarations of the extension module's files. */
#ifndef FP8GEMM_PY_MODULE_H
#define FP8GEMM_PY_MODULE_H

#include "tensor_arg.h"

extern PyObject *fp8gemm_py_unsupported_hardware;

/* Sets the exception matching a failed status (message: fp8gemm_last_error()); NULL. */
PyObject *raise_status(fp8gemm_status s);
int op_arg_parse(PyObject *obj, fp8gemm_op *op);

/* ops.c: one infer and one run entry per op. */
#define OP_METHOD_PAIR(name)                                                              \
  {#name "_infer", (PyCFunction)(void (*)(void))py_##name##_infer,                        \
   METH_VARARGS | METH_KEYWORDS, #name " shape inference: output descriptors, no data."}, \
  {#name, (PyCFunction)(void (*)(void))py_##name##_run, METH_VARARGS | METH_KEYWORDS,     \
   #name " into caller-given outputs."},
#define DECLARE_OP(name)                                                  \
  PyObject *py_##name##_infer(PyObject *self, PyObject *args, PyObject *kw); \
  PyObject *py_##name##_run(PyObject *self, PyObject *args, PyObject *kw);
DECLARE_OP(fp8_gemm)
DECLARE_OP(fp8_gemm_w8a16)
DECLARE_OP(fp8_quantize)
DECLARE_OP(mx_quantize)
DECLARE_OP(fp8_dequantize)
DECLARE_OP(fp8_cast)
DECLARE_OP(fp8_gemm_packed)
DECLARE_OP(fp8_gemm_w8a16_packed)

/* packed.c: the PackedWeight type and pack_weight. */
int packed_type_ready(PyObject *module);
PyObject *py_pack_weight(PyObject *self, PyObject *args, PyObject *kw);
#define OP_METHODS                      \
  OP_METHOD_PAIR(fp8_gemm)              \
  OP_METHOD_PAIR(fp8_gemm_w8a16)        \
  OP_METHOD_PAIR(fp8_quantize)          \
  OP_METHOD_PAIR(mx_quantize)           \
  OP_METHOD_PAIR(fp8_dequantize)        \
  OP_METHOD_PAIR(fp8_cast)              \
  OP_METHOD_PAIR(fp8_gemm_packed)       \
  OP_METHOD_PAIR(fp8_gemm_w8a16_packed) \
  {"pack_weight", (PyCFunction)(void (*)(void))py_pack_weight, METH_VARARGS | METH_KEYWORDS, \
   "pack_weight(op, q_weight, weight_scale=None) -> PackedWeight (packed once)."},

#endif

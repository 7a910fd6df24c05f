/*
 * Python objects -> fp8gemm_tensor descriptors, for the extension module.
 * Accepted forms (see docs/python.md):
 *   None                              absent (optional arguments only)
 *   (dtype, shape, strides, data_ptr) a descriptor spelled out (torch passes these)
 *   (obj, dtype)                      obj's memory reinterpreted as dtype (1-byte codes)
 *   an object with __dlpack__         CPU DLPack tensor
 *   an object with the buffer protocol
 * Whatever is borrowed (buffer view, DLPack capsule) is released by tensor_arg_release.
 */
#ifndef FP8GEMM_PY_TENSOR_ARG_H
#define FP8GEMM_PY_TENSOR_ARG_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include "fp8gemm.h"

typedef struct tensor_arg {
  fp8gemm_tensor t;
  int present;      /* 0: None was given */
  int has_view;     /* view must be released */
  Py_buffer view;
  PyObject *capsule; /* DLPack capsule kept alive while t.data is used */
} tensor_arg;

/* Parses obj into arg. name is the argument's name for messages; optional allows None;
 * writable asks for writable memory (outputs). Returns 0, or -1 with an exception set. */
int tensor_arg_parse(PyObject *obj, const char *name, int optional, int writable,
                     tensor_arg *arg);
void tensor_arg_release(tensor_arg *arg);
/* Pointer to pass to the C API: NULL when absent. */
static inline const fp8gemm_tensor *tensor_arg_ptr(const tensor_arg *arg) {
  return arg->present ? &arg->t : NULL;
}

/* A dtype argument: None (-> FP8GEMM_DTYPE_NONE when optional), a name or an int. */
int dtype_arg_parse(PyObject *obj, const char *name, int optional, fp8gemm_dtype *out);

/* (dtype name, shape tuple, strides tuple) of a descriptor. */
PyObject *tensor_spec_tuple(const fp8gemm_tensor *t);

#endif

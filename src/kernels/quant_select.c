/* Picks the quant kernel table for an ISA level: the best one at or below it. */
#include "quant_kernels.h"

/* Every table built into the library; add one line per ISA table. */
static const fp8g_quant_kernels *const tables[] = {
    &fp8g_quant_ref,
    &fp8g_quant_avx2,
    &fp8g_quant_avx512,
};

const fp8g_quant_kernels *fp8g_quant_kernels_for(fp8gemm_isa isa) {
  const fp8g_quant_kernels *best = &fp8g_quant_ref;
  for (size_t i = 0; i < sizeof tables / sizeof tables[0]; i++)
    if (tables[i]->isa <= isa && tables[i]->isa > best->isa) best = tables[i];
  return best;
}

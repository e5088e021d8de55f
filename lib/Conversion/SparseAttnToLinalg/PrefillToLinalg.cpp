//===- PrefillToLinalg.cpp - reference lowering of the prefill ops --------===//

#include "LinalgBuilders.h"

using namespace mlir;
using namespace mlir::sparse_attn;

void sparse_attn::populatePrefillToLinalgPatterns(
    const TypeConverter &typeConverter, RewritePatternSet &patterns) {}

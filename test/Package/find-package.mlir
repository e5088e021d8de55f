// The installed CMake package lets an outside project link the dialect.
// RUN: rm -rf %t && mkdir -p %t
// RUN: cmake --install %obj_root --prefix %t/install > %t/install.log
// RUN: cmake -G Ninja -S %S/consumer -B %t/build -DCMAKE_BUILD_TYPE=Release -DSparseAttn_DIR=%t/install/lib/cmake/sparse-attn > %t/configure.log
// RUN: cmake --build %t/build > %t/build.log
// RUN: %t/build/consumer %s | FileCheck %s

// CHECK: attention with scale 0.25 and group size 4
// CHECK: verified 1 attention op(s)
func.func @gqa(%q: tensor<1x8x32x16xf32>, %k: tensor<1x2x32x16xf32>) -> tensor<1x8x32x16xf32> {
  %o = sparse_attn.attention softmax causal %q, %k, %k : tensor<1x8x32x16xf32>, tensor<1x2x32x16xf32>, tensor<1x2x32x16xf32> -> tensor<1x8x32x16xf32>
  return %o : tensor<1x8x32x16xf32>
}

// The integer dot products of the CUDA W4A8/W8A8 kernels: dp4a on the GPU, the same sum written out on the CPU (so
// the host self-test checks the bit tricks without a GPU).
//
// MatMulNBits stores a column's 4-bit codes two per byte (code 2i in the low nibble of byte i, 2i+1 in the high
// one); read as a little-endian uint32, one word holds codes 8w..8w+7. Masking the word gives two words of four
// int8 codes, the even codes (x & 0x0F0F0F0F) and the odd ones ((x >> 4) & 0x0F0F0F0F). The activation quantizer
// writes each group of 8 int8 activations in the matching order, even positions first (NibblePosition), so one
// group costs two dp4a and no shuffling. Integer sums do not depend on order: the result is exactly the CPU's.
#pragma once
#include <cstdint>

#include "../src/host_device.h"

namespace onnxquant {

// Σ_{i<4} int8(a byte i) · int8(b byte i) + c.
ONNXQUANT_HD int32_t Dp4a(int32_t a, int32_t b, int32_t c) {
#if defined(__CUDA_ARCH__)
  return __dp4a(a, b, c);
#else
  for (int i = 0; i < 4; i++)
    c += static_cast<int32_t>(static_cast<int8_t>(static_cast<uint32_t>(a) >> (8 * i))) *
         static_cast<int32_t>(static_cast<int8_t>(static_cast<uint32_t>(b) >> (8 * i)));
  return c;
#endif
}

// acc + Σ_{j<8} code_j · q_j for one word of 8 nibbles and the group's activations in NibblePosition order
// (a_even = q0 q2 q4 q6, a_odd = q1 q3 q5 q7, byte 0 first).
ONNXQUANT_HD int32_t NibbleDot8(uint32_t codes, int32_t a_even, int32_t a_odd, int32_t acc) {
  const int32_t even = static_cast<int32_t>(codes & 0x0F0F0F0Fu);
  const int32_t odd = static_cast<int32_t>((codes >> 4) & 0x0F0F0F0Fu);
  return Dp4a(even, a_even, Dp4a(odd, a_odd, acc));
}

// Where activation i of a group of 8 is stored for NibbleDot8.
ONNXQUANT_HD int NibblePosition(int i) { return (i & 1) != 0 ? 4 + (i >> 1) : i >> 1; }

}  // namespace onnxquant

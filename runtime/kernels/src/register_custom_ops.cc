// Entry point ONNX Runtime calls when a session registers this library (SessionOptions.RegisterCustomOpLibrary):
// adds the com.onnxquant domain with every operator. Ops are versioned by their start version (1 today); a changed
// contract gets a new version and the old kernel stays registered for files written before it.
#include "bcq_matmul.h"
#include "hadamard_transform.h"
#include "log2_attn_matmul.h"
#include "matmul_w4a8.h"
#include "matmul_w8a8.h"

namespace {

const char* const kDomain = "com.onnxquant";

onnxquant::MatMulW4A8Op& W4A8() {
  static onnxquant::MatMulW4A8Op op;
  return op;
}

onnxquant::HadamardTransformOp& Hadamard() {
  static onnxquant::HadamardTransformOp op;
  return op;
}

onnxquant::MatMulW8A8Op& W8A8() {
  static onnxquant::MatMulW8A8Op op;
  return op;
}

onnxquant::BcqMatMulOp& Bcq() {
  static onnxquant::BcqMatMulOp op;
  return op;
}

onnxquant::Log2AttnMatMulOp& Log2Attn() {
  static onnxquant::Log2AttnMatMulOp op;
  return op;
}

}  // namespace

extern "C" __attribute__((visibility("default"))) OrtStatus* ORT_API_CALL RegisterCustomOps(OrtSessionOptions* options,
                                                                                           const OrtApiBase* api_base) {
  const OrtApi* api = api_base->GetApi(ORT_API_VERSION);
  if (api == nullptr) return nullptr;  // an older ONNX Runtime: it reports the missing ops itself
  Ort::InitApi(api);
  OrtCustomOpDomain* domain = nullptr;
  if (OrtStatus* status = api->CreateCustomOpDomain(kDomain, &domain)) return status;
  if (OrtStatus* status = api->CustomOpDomain_Add(domain, &W4A8())) return status;
  if (OrtStatus* status = api->CustomOpDomain_Add(domain, &W8A8())) return status;
  if (OrtStatus* status = api->CustomOpDomain_Add(domain, &Hadamard())) return status;
  if (OrtStatus* status = api->CustomOpDomain_Add(domain, &Bcq())) return status;
  if (OrtStatus* status = api->CustomOpDomain_Add(domain, &Log2Attn())) return status;
  // The domain must outlive every session that uses it; one per registration, released with the process.
  return api->AddCustomOpDomain(options, domain);
}

// Which kernel path this CPU runs by default (for `onnxquant audit` and tests): "avx512vnni", "avx2" or "scalar".
extern "C" __attribute__((visibility("default"))) const char* OnnxQuantKernelsBestIsa() {
  return onnxquant::IsaName(onnxquant::BestIsa());
}

// Fuzz target: every response model (job/batches, token, error, describe
// list and object) on arbitrary bytes. None may crash; on error nothing
// half-filled is left behind, and a second parse of the same bytes agrees.
#include "decode/aqua_models.hpp"

#include <cstdint>
#include <cstdlib>
#include <string>

#ifndef AQUADUCT_FUZZ_ENTRY
#define AQUADUCT_FUZZ_ENTRY LLVMFuzzerTestOneInput
#endif

using namespace aquaduct::decode;

extern "C" int AQUADUCT_FUZZ_ENTRY(const std::uint8_t* data, std::size_t size) {
  const std::string_view in(reinterpret_cast<const char*>(data), size);
  static json_reader reader;
  std::error_code ec, ec2;
  std::string what;

  aqua_job job, job2;
  reader.parse_job(in, job, ec, what);
  reader.parse_job(in, job2, ec2, what);
  if (ec != ec2 || job.id != job2.id || job.batches.size() != job2.batches.size()) std::abort();
  if (ec && (!job.id.empty() || !job.batches.empty())) std::abort();
  if (!ec && job.status.empty()) std::abort();  // required

  oauth_token token;
  reader.parse_token(in, token, ec, what);
  if (ec ? !token.access_token.empty() : token.access_token.empty()) std::abort();

  const error_reply e = reader.parse_error(in);
  const error_reply e2 = reader.parse_error(in);
  if (e.code != e2.code || e.message != e2.message) std::abort();

  std::vector<describe_object_ref> refs;
  parse_describe_list(in, refs, ec, what);
  if (ec && !refs.empty()) std::abort();
  for (const auto& r : refs)
    if (r.name.empty()) std::abort();

  describe_object obj;
  parse_describe_object(in, obj, ec, what);
  if (ec ? !obj.name.empty() : obj.name.empty()) std::abort();
  return 0;
}

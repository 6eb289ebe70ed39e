#include "engine/run_context.hpp"

#include <aquaduct/error.hpp>

#include <fstream>
#include <sstream>

namespace aquaduct::engine_detail {

std::shared_ptr<const decode::pgp_secret_key> load_pgp_key(const pipeline_config& cfg) {
  const bool wanted = std::any_of(cfg.jobs.begin(), cfg.jobs.end(), [](const job_config& j) { return j.encrypted == "pgp"; });
  if (!wanted) return nullptr;
  const std::string& path = cfg.source.pgp.private_key_file;
  const auto refuse = [&](const std::string& why) {
    throw config_error(config_errc::bad_value,
                       {cfg.path + ": [source.pgp] private_key_file \"" + path + "\": " + why});
  };
  std::ifstream f(path, std::ios::binary);
  if (!f) refuse("cannot be read");
  std::ostringstream bytes;
  bytes << f.rdbuf();
  auto key = std::make_shared<decode::pgp_secret_key>(decode::pgp_secret_key{bytes.str(), cfg.source.pgp.passphrase});
  if (std::string why = decode::check_pgp_secret_key(*key); !why.empty()) refuse(why);
  return key;
}

}  // namespace aquaduct::engine_detail

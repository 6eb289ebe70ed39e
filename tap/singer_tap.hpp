#pragma once
// `aquaduct tap` (docs/singer.md): a drop-in for the Singer tap for Zuora
// (singer-io/tap-zuora). Its config, catalog and state files go in as they
// are; its catalog and its SCHEMA, RECORD and STATE messages come out, with
// its stream and property names, types, value conversions and bookmark
// layout. Underneath it is an ordinary pipeline: one AQuA job per selected
// stream, run concurrently by the engine, into the singer sink in its tap
// form (sinks/singer_sink.hpp, singer_tap_options), so quoted newlines,
// CRLF, BOMs, retries, deletes and the tenant's limits work as in `run`.
//
//   read_tap_config   the config's keys, checked (config_error: exit 2)
//   discover_catalog  --discover: describe and probes (engine/discovery.hpp) as tap-zuora's catalog
//   prepare_sync      --catalog [--state]: the pipeline, the engine's options and the sink of a sync
#include <aquaduct/config.hpp>
#include <aquaduct/engine.hpp>
#include <aquaduct/sink.hpp>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>

namespace aquaduct::tap {

// How a stream's rows are tracked between syncs.
enum class tap_mode {
  stateful,   // tap-zuora's: an AQuA stateful session per stream (partner, project "<stream>_<version>")
  stateless,  // aquaduct_mode = "stateless": windows [bookmark, now - lag) on the replication key
};

struct tap_config {
  std::string path;                  // the config file, for messages
  source_config source;              // base_url (or the URL sandbox/european pick), auth, zones
  std::chrono::sys_seconds start{};  // start_date: a stream's first bookmark
  std::string partner_id;
  tap_mode mode = tap_mode::stateful;
  std::uint32_t lag_s = 7200;        // aquaduct_lag_s (stateless)
};

// The config file: tap-zuora's keys (start_date, username, password,
// api_type, partner_id, auth_type, sandbox, european) and ours (base_url,
// aquaduct_mode, aquaduct_lag_s, tenant_time_zone); other keys are ignored,
// as tap-zuora ignores them. Throws config_error with every problem, each
// "FILE: message" naming the key (never its value when it is a secret).
tap_config read_tap_config(const std::string& path);

// --discover: the catalog as tap-zuora writes it (indented JSON). Throws
// std::system_error as engine_detail::discover() does (condition::auth for
// refused credentials).
std::string discover_catalog(const tap_config& cfg, const std::function<void(const log_record&)>& log);

// What a sync runs: hand `pipeline` and `options` to an engine, add `output`,
// run. The state directory is a temporary one, seeded with the bookmarks of
// the state file and removed when this object goes.
struct tap_sync {
  pipeline_config pipeline;
  engine_options options;
  std::unique_ptr<aquaduct::sink> output;  // the singer sink in its tap form
  std::size_t streams = 0;  // selected streams (0: nothing to do)

  tap_sync() = default;
  tap_sync(tap_sync&&) noexcept = default;
  tap_sync& operator=(tap_sync&&) noexcept = default;
  ~tap_sync();

 private:
  friend tap_sync prepare_sync(const tap_config&, const std::string&, const std::string&,
                               std::function<void(const log_record&)>);
  std::filesystem::path temp_dir_;
};

// Reads the catalog (and the state, when `state_path` is not empty). Throws
// config_error naming the file and what is wrong in it (exit 2).
tap_sync prepare_sync(const tap_config& cfg, const std::string& catalog_path, const std::string& state_path,
                      std::function<void(const log_record&)> log);

}  // namespace aquaduct::tap

// aqua_service: the /v4/batch JSON batches and the /_emulator control endpoints.
#include <algorithm>
#include <charconv>

#include <asio/post.hpp>
#include <fmt/format.h>

#include "emulator/aqua_service.hpp"
#include "emulator/batch_results.hpp"
#include "emulator/churn.hpp"
#include "emulator/http_util.hpp"
#include "emulator/json_writer.hpp"

namespace aquaduct::emulator {

// ---------------------------------------------------------------- /v4/batch

http_response aqua_service::json_batch_create(const std::string& body) {
  simdjson::dom::element doc;
  const simdjson::padded_string padded(body);
  if (auto ec = json_parser_.parse(padded).get(doc))
    return reasons_error(400, 400, fmt::format("the body is not JSON ({})", simdjson::error_message(ec)));
  std::string_view text;
  if (doc["query"].get(text))
    return reasons_error(400, 400, R"(the body must be {"query":"select ... from <Object>"})");
  // "outcomes": {"<record Id>": 400|403|404|409, ...}: records that fail (batch_results.hpp).
  batch_outcomes outcomes;
  if (simdjson::dom::object o; !doc["outcomes"].get(o)) {
    for (auto [id, code] : o) {
      std::int64_t c = 0;
      if (code.get(c) || !batch_outcome_code(static_cast<int>(c)))
        return reasons_error(400, 400, fmt::format("outcomes: record '{}' needs a code 400, 403, 404 or 409", id));
      outcomes.emplace(std::string(id), static_cast<int>(c));
    }
  } else if (doc["outcomes"].error() != simdjson::NO_SUCH_FIELD) {
    return reasons_error(400, 400, R"(outcomes must be an object {"<record Id>": code})");
  }
  const std::size_t queued = static_cast<std::size_t>(std::count_if(
      json_batches_.begin(), json_batches_.end(),
      [](const auto& kv) { return kv.second.status == "Created" || kv.second.status == "InProgress"; }));
  if (queued >= 10) {
    http_response r = reasons_error(429, 429, "at most 10 batches may be queued or running");
    r.headers.emplace_back("Retry-After", "1");
    return r;
  }
  zoql_query q;
  std::string error;
  if (!parse_zoql(text, zoql_dialect::export_zoql, q, error))
    return reasons_error(400, 400, fmt::format("{}: {}", syntax_error_message, error));

  json_batch b;
  b.id = next_json_batch_++;
  b.status = "InProgress";
  export_spec spec;
  spec.query = std::move(q);
  spec.name = std::string(spec.query.object->name);
  spec.tz = time_zone::utc;
  spec.zone = tenant_tz_;
  spec.now_unix_s = std::max(now_unix_s(), last_mutation_s_);
  spec.cancel = b.cancel.get();
  const std::string fid = new_id();
  const std::filesystem::path path = data_dir_ / "v4" / (fid + ".json");
  const std::int64_t bid = b.id;
  json_batches_[bid] = b;
  tenant_snapshot snapshot = snapshot_at(spec.now_unix_s);
  asio::post(*workers_, [this, bid, fid, path, spec = std::move(spec), snapshot = std::move(snapshot), cancel = b.cancel,
                         outcomes = std::move(outcomes), io = io_]() mutable {
    std::string failure;
    try {
      std::filesystem::create_directories(path.parent_path());
      write_batch_results_json(snapshot, spec, bid, "Complete", path, outcomes);
    } catch (const std::exception& e) {
      failure = e.what();
    }
    asio::post(io, [this, bid, fid, path, failure]() {
      auto it = json_batches_.find(bid);
      std::error_code ec;
      if (it == json_batches_.end() || it->second.status != "InProgress") {
        std::filesystem::remove(path, ec);
        return;
      }
      if (!failure.empty()) {
        it->second.status = "Errored";
        it->second.error = failure;
        std::filesystem::remove(path, ec);
        return;
      }
      stored_file sf;
      sf.path = path;
      sf.name = fmt::format("batch-{}.json", bid);
      sf.content_type = extension_type(sf.name, sf.gzip);
      sf.bytes = std::filesystem::file_size(path, ec);
      sf.created = std::chrono::system_clock::now();
      files_.emplace(fid, std::move(sf));
      it->second.file_id = fid;
      it->second.status = "Complete";
    });
  });
  return json(200, fmt::format(R"({{"batchId":{},"batchStatus":"Created"}})", bid));
}

http_response aqua_service::json_batch_get(const http_request& req, const std::string& id) {
  std::int64_t bid = 0;
  const auto [p, ec] = std::from_chars(id.data(), id.data() + id.size(), bid);
  auto it = ec == std::errc{} && p == id.data() + id.size() ? json_batches_.find(bid) : json_batches_.end();
  if (it == json_batches_.end()) return reasons_error(404, 404, fmt::format("Unknown batch {}", id));
  const json_batch& b = it->second;
  if (b.status == "Complete" && b.file_id) {
    http_response r = download(req, req.path, *b.file_id);
    if (r.status != 404) return r;
  }
  json_writer w;
  w.begin_object().member("batchId", b.id).member("batchStatus", b.status);
  if (!b.error.empty()) w.member("message", b.error);
  w.key("batchResults").begin_object().key("records").begin_object().end_object();
  w.key("relationships").begin_array().end_array().end_object().end_object();
  return json(200, w.take());
}

http_response aqua_service::json_batch_cancel(const std::string& id) {
  std::int64_t bid = 0;
  const auto [p, ec] = std::from_chars(id.data(), id.data() + id.size(), bid);
  auto it = ec == std::errc{} && p == id.data() + id.size() ? json_batches_.find(bid) : json_batches_.end();
  if (it == json_batches_.end()) return reasons_error(404, 404, fmt::format("Unknown batch {}", id));
  json_batch& b = it->second;
  if (b.status == "Created" || b.status == "InProgress") {
    b.status = "Cancelled";
    b.cancel->store(true);
  }
  return json(200, fmt::format(R"({{"batchId":{},"batchStatus":"{}"}})", b.id, b.status));
}

// ---------------------------------------------------------------- /_emulator

http_response aqua_service::mutate(const std::string& body) {
  simdjson::dom::element doc;
  const simdjson::padded_string padded(body);
  if (auto ec = json_parser_.parse(padded).get(doc))
    return reasons_error(400, 400, fmt::format("the body is not JSON ({})", simdjson::error_message(ec)));
  mutation_request m;
  std::string_view object;
  if (doc["object"].get(object)) return reasons_error(400, 400, R"(the body needs "object")");
  m.object = std::string(object);
  const auto count = [&doc](std::string_view key, std::uint64_t& out) {
    simdjson::dom::element v;
    if (doc[key].get(v)) return true;
    std::int64_t n = 0;
    if (v.get(n) || n < 0) return false;
    out = static_cast<std::uint64_t>(n);
    return true;
  };
  const auto ids = [&doc](std::string_view key, std::vector<std::string>& out) {
    simdjson::dom::element v;
    if (doc[key].get(v)) return true;
    simdjson::dom::array a;
    if (v.get(a)) return false;
    for (simdjson::dom::element e : a) {
      std::string_view s;
      if (e.get(s)) return false;
      out.emplace_back(s);
    }
    return true;
  };
  if (!count("create", m.create) || !count("update", m.update) || !count("delete", m.remove))
    return reasons_error(400, 400, "create, update and delete must be non-negative integers");
  if (!ids("update_ids", m.update_ids) || !ids("delete_ids", m.delete_ids))
    return reasons_error(400, 400, "update_ids and delete_ids must be arrays of ids");
  mutation_outcome out;
  std::string error;
  tenant_editor ed(tenant_, mutation_stamp());
  if (!apply_mutation(ed, m, out, error)) return reasons_error(400, 400, error);
  commit(ed);
  last_explicit_mutation_s_ = ed.at();
  json_writer w;
  w.begin_object().member("status", "ok").member("object", m.object);
  const auto list = [&w](std::string_view key, const std::vector<std::string>& v) {
    w.key(key).begin_array();
    for (const auto& s : v) w.value(s);
    w.end_array();
  };
  list("created", out.created_ids);
  list("updated", out.updated_ids);
  list("deleted", out.deleted_ids);
  w.end_object();
  return json(200, w.take());
}

namespace {

// "2026-01-31T23:59:59Z" -> unix seconds.
std::optional<std::int64_t> parse_utc_z(std::string_view s) {
  if (s.size() != 20 || s.back() != 'Z') return std::nullopt;
  return parse_wall_clock(s.substr(0, 19), 'T');
}

std::string format_utc_z(std::int64_t unix_s) {
  std::string s = format_plain_datetime(unix_s, 0);
  s[10] = 'T';
  return s + 'Z';
}

http_response admin_error(int status, std::string_view message) {
  json_writer w;
  w.begin_object().member("status", "error").member("message", message).end_object();
  http_response r;
  r.status = status;
  r.content_type = "application/json; charset=utf-8";
  r.set_body(w.take());
  return r;
}

}  // namespace

// The truth oracle: what a correct sink holds for `object` as of `at`.
http_response aqua_service::truth(const http_request& req) {
  const auto q = parse_form(req.query);
  const auto object = q.find("object");
  if (object == q.end()) return admin_error(400, "truth needs ?object=<Object>[&at=YYYY-MM-DDTHH:MM:SSZ]");
  const object_def* obj = find_object(object->second);
  if (obj == nullptr) return admin_error(400, fmt::format("unknown object '{}'", object->second));
  const std::int64_t now = now_unix_s();
  std::int64_t at = now;
  if (const auto a = q.find("at"); a != q.end()) {
    const auto t = parse_utc_z(a->second);
    if (!t) return admin_error(400, fmt::format("at '{}' is not a UTC time YYYY-MM-DDTHH:MM:SSZ", a->second));
    at = *t;
  }
  const tenant_generator& gen = tenant_->generator();
  const tenant_history::truth t = history_.at(gen, *obj, at);
  json_writer w;
  w.begin_object().member("object", obj->name).member("at", format_utc_z(at)).member("now", format_utc_z(now));
  w.member("live_count", static_cast<std::uint64_t>(t.live.size()));
  w.member("deleted_count", static_cast<std::uint64_t>(t.deleted.size()));
  std::string text;
  w.key("live").begin_object();
  for (const auto& [index, version] : t.live) {
    w.key(gen.make_id(*obj, index));
    text.clear();
    render_value(field_value{field_value::kind::datetime, version, {}}, time_zone::utc, text);
    w.value(text);
  }
  w.end_object();
  w.key("deleted").begin_object();
  for (const auto& [index, when] : t.deleted) w.member(gen.make_id(*obj, index), format_datetime(when, time_zone::utc));
  w.end_object();
  w.end_object();
  return json(200, w.take());
}

// GET: the churn now; POST {"rate":N[,"seed":S]}: a new rate (0 stops); a
// seed restarts the sequence at its first mutation.
http_response aqua_service::churn(const http_request& req, const std::string& body) {
  if (req.method == "POST") {
    simdjson::dom::element doc;
    const simdjson::padded_string padded(body);
    double rate = 0;
    if (json_parser_.parse(padded).get(doc) || doc["rate"].get(rate) || !(rate >= 0) || rate > max_churn_rate)
      return admin_error(400, fmt::format(R"(the body must be {{"rate":N}} or {{"rate":N,"seed":S}}, 0 <= N <= {})",
                                          max_churn_rate));
    std::uint64_t seed = churn_.seed;
    simdjson::dom::element s;
    const bool new_seed = !doc["seed"].get(s);
    if (new_seed && s.get(seed)) return admin_error(400, "seed must be a non-negative integer");
    set_churn(rate, seed, new_seed);
  } else if (req.method != "GET") {
    return aqua_error(405, "90010", "Method not allowed; use GET or POST");
  }
  json_writer w;
  churn_json(w);
  return json(200, w.take());
}

http_response aqua_service::stats() {
  json_writer w;
  w.begin_object();
  w.key("requests").begin_object();
  for (const auto& [path, by_status] : requests_) {
    w.key(path).begin_object();
    for (const auto& [status, n] : by_status) w.member(std::to_string(status), n);
    w.end_object();
  }
  w.end_object();
  std::map<std::string, std::uint64_t> by_job_status;
  for (auto& [id, j] : jobs_) {
    refresh(j);
    ++by_job_status[j.status];
  }
  w.key("jobs").begin_object();
  for (const auto& [status, n] : by_job_status) w.member(status, n);
  w.end_object();
  const active_count active = count_active();
  w.member("active_stateless", active.stateless);
  w.member("active_stateful", active.stateful);
  w.member("active_jobs", active.stateless + active.stateful);
  w.member("peak_active_jobs", peaks_.all);
  w.member("peak_active_stateless_jobs", peaks_.stateless);
  w.member("peak_active_stateful_jobs", peaks_.stateful);
  w.member("peak_session_active_jobs", peaks_.session);
  w.member("files", static_cast<std::uint64_t>(files_.size()));
  w.member("downloads_in_flight", static_cast<std::uint64_t>(downloads_in_flight_));
  w.member("bytes_served", bytes_served_);
  w.member("faults_armed", static_cast<std::uint64_t>(faults_.size()));
  w.key("callouts").begin_object().member("sent", callouts_sent_).member("failed", callouts_failed_);
  w.key("log").begin_array();
  for (const auto& line : callout_log_) w.value(line);
  w.end_array().end_object();
  w.key("churn");
  churn_json(w);
  w.member("mutations", history_.size());
  w.end_object();
  return json(200, w.take());
}

http_response aqua_service::reset() {
  for (auto& [id, j] : jobs_) j.cancel->store(true);
  for (auto& [id, b] : json_batches_) b.cancel->store(true);
  jobs_.clear();
  job_order_.clear();
  clock_offset_s_ = 0;
  sessions_.clear();
  std::vector<std::string> ids;
  for (const auto& [id, f] : files_) ids.push_back(id);
  drop_files(ids);
  json_batches_.clear();
  idempotency_.clear();
  faults_.clear();
  requests_.clear();
  peaks_ = {};
  bytes_served_ = 0;
  callouts_sent_ = callouts_failed_ = 0;
  callout_log_.clear();
  rate_count_ = 0;
  rate_window_start_ = clock::now();
  tenant_ = make_tenant(opts_.seed, opts_.scale, bursts_of(opts_));
  tenant_before_second_ = tenant_;
  last_explicit_mutation_s_ = 0;
  history_.clear();
  churn_.skipped = 0;
  churn_.counts.clear();
  set_churn(churn_.rate, churn_.seed, true);
  return json(200, R"({"status":"ok"})");
}

// The service's calendar: GET shows it; POST {"advance_s":N} moves it N
// seconds ahead (never back), as if that time had passed: job times, the
// 180-day job and session limits and the data's "now" follow it. Tokens,
// rate windows, latencies and file retention keep the real clock.
http_response aqua_service::clock_control(const http_request& req, const std::string& body) {
  if (req.method == "POST") {
    simdjson::dom::element doc;
    const simdjson::padded_string padded(body);
    std::int64_t advance = 0;
    if (json_parser_.parse(padded).get(doc) || doc["advance_s"].get(advance) || advance < 0)
      return admin_error(400, R"(the body must be {"advance_s":N} with N >= 0 seconds)");
    clock_offset_s_ += advance;
  } else if (req.method != "GET") {
    return aqua_error(405, "90010", "Method not allowed; use GET or POST");
  }
  json_writer w;
  w.begin_object().member("now", format_utc_z(now_unix_s())).member("offset_s", clock_offset_s_).end_object();
  return json(200, w.take());
}

// Purges result files now, as the retention period would: all of them, or
// those of {"job":"<id>"}.
http_response aqua_service::purge(const std::string& body) {
  std::vector<std::string> ids;
  std::string job_id;
  if (!body.empty()) {
    simdjson::dom::element doc;
    const simdjson::padded_string padded(body);
    std::string_view s;
    if (json_parser_.parse(padded).get(doc) || (!doc["job"].get(s) && (job_id = std::string(s)).empty()))
      return reasons_error(400, 400, R"(the body must be empty or {"job":"<id>"})");
  }
  if (job_id.empty()) {
    for (const auto& [id, f] : files_) ids.push_back(id);
  } else {
    auto it = jobs_.find(job_id);
    if (it == jobs_.end()) return aqua_error(404, "90002", "Invalid Job Id");
    for (const batch& b : it->second.batches) ids.insert(ids.end(), b.file_ids.begin(), b.file_ids.end());
  }
  drop_files(ids);
  return json(200, fmt::format(R"({{"status":"ok","purged":{}}})", ids.size()));
}

http_response aqua_service::control(const http_request& req, const std::string& path, const std::string& body) {
  const std::string& m = req.method;
  if (path == "/_emulator/faults") {
    if (m == "DELETE") {
      faults_.clear();
      return json(200, R"({"status":"ok","armed":0})");
    }
    if (m != "POST") return aqua_error(405, "90010", "Method not allowed; use POST or DELETE");
    std::string error;
    if (!faults_.add_json(body, error)) {
      json_writer w;
      w.begin_object().member("status", "error").member("message", error).end_object();
      return json(400, w.take());
    }
    return json(200, fmt::format(R"({{"status":"ok","armed":{}}})", faults_.size()));
  }
  if (path == "/_emulator/reset") {
    if (m != "POST") return aqua_error(405, "90010", "Method not allowed; use POST");
    return reset();
  }
  if (path == "/_emulator/stats") {
    if (m != "GET") return aqua_error(405, "90010", "Method not allowed; use GET");
    return stats();
  }
  if (path == "/_emulator/mutate") {
    if (m != "POST") return aqua_error(405, "90010", "Method not allowed; use POST");
    return mutate(body);
  }
  if (path == "/_emulator/truth") {
    if (m != "GET") return aqua_error(405, "90010", "Method not allowed; use GET");
    return truth(req);
  }
  if (path == "/_emulator/churn") return churn(req, body);
  if (path == "/_emulator/clock") return clock_control(req, body);
  if (path == "/_emulator/purge") {
    if (m != "POST") return aqua_error(405, "90010", "Method not allowed; use POST");
    return purge(body);
  }
  return aqua_error(404, "90010", fmt::format("No emulator endpoint {}", path));
}

}  // namespace aquaduct::emulator

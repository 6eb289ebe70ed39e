// aqua_service: batch-query jobs, stateful sessions and callouts.
#include <algorithm>

#include <asio/co_spawn.hpp>
#include <asio/post.hpp>
#include <asio/steady_timer.hpp>
#include <asio/use_awaitable.hpp>
#include <fmt/format.h>

#include "emulator/aqua_service.hpp"
#include "emulator/pgp_encrypt.hpp"
#include "emulator/callout.hpp"
#include "emulator/json_writer.hpp"

namespace aquaduct::emulator {

namespace {

// Status word of a callout (${STATUS}): "Completed", "Aborted", "Cancelled".
std::string callout_status(std::string_view status) {
  std::string s(status);
  if (!s.empty()) s[0] = static_cast<char>(s[0] - 32);
  return s;
}

struct ignore_result {
  void operator()(const std::exception_ptr&) const noexcept {}
};

}  // namespace

http_response aqua_service::submit(const http_request& req, const std::string& path, const std::string& body) {
  const std::string* idem = req.header("Idempotency-Key");
  if (idem != nullptr) {
    if (idem->empty() || idem->size() > 255)
      return reasons_error(400, 50000040, "Idempotency-Key must be 1 to 255 characters");
    if (auto it = idempotency_.find(*idem); it != idempotency_.end()) {
      if (it->second.body != body)
        return reasons_error(422, 50000422,
                             "Idempotency-Key was already used with a different request body");
      http_response r = json(200, it->second.response);
      r.headers.emplace_back("Idempotent-Replayed", "true");
      return r;
    }
  }

  job j;
  if (auto e = parse_job_request(body, json_parser_, center_tz_, j.req))
    return aqua_error(e->http_status, e->code, e->message);
  if (j.req.encrypted == "pgp" && pgp_public_key_.empty())
    return aqua_error(200, "90005", "Malformed request: PGP encryption needs a public key, and the tenant has none");
  const bool stateful = j.req.stateful();
  if (!j.req.partner.empty() && !opts_.partners.empty() &&
      std::find(opts_.partners.begin(), opts_.partners.end(), j.req.partner) == opts_.partners.end())
    return aqua_error(200, "90019", fmt::format("The partner '{}' is not recognized", j.req.partner));
  j.entity = entity_of(req);
  if (stateful) j.session_key = session_key_of(j.entity, j.req.partner, j.req.project);

  // A stateful follow-up without queries (or with useLastCompletedJobQueries)
  // reruns the session's last completed queries (§4.2).
  if (stateful) {
    auto s = sessions_.find(j.session_key);
    const std::vector<query_request>* prev =
        s != sessions_.end() && !s->second.last_completed.empty() ? &s->second.last_queries : nullptr;
    if (j.req.queries.empty()) {
      if (prev == nullptr)
        return aqua_error(200, "90016",
                          "There are no queries in the request, and the session has no completed job to reuse");
      j.req.queries = *prev;
    } else if (j.req.use_last_completed && prev != nullptr) {
      for (const query_request& q : *prev) {
        const bool replaced = std::any_of(j.req.queries.begin(), j.req.queries.end(),
                                          [&q](const query_request& n) { return n.name == q.name; });
        if (!replaced) j.req.queries.push_back(q);
      }
    }
  }
  const active_count active = count_active();
  if ((stateful ? active.stateful : active.stateless) >= opts_.max_active_jobs)
    return aqua_error(200, "90028",
                      fmt::format("Concurrent AQuA job limit exceeded: {} {} jobs are submitted or executing",
                                  opts_.max_active_jobs, stateful ? "stateful" : "stateless"));

  for (query_request& q : j.req.queries) {
    batch b;
    b.batch_id = new_id();
    b.q = std::move(q);
    j.batches.push_back(std::move(b));
  }
  j.req.queries.clear();
  j.id = new_id();
  j.submitted_at = clock::now();
  j.submit_unix_s = now_unix_s();
  if (auto abort = faults_.take(fault_kind::job_abort, req.method, path)) j.abort_message = abort->message;
  const std::string id = j.id;
  job& stored = jobs_[id] = std::move(j);
  job_order_.emplace_back(stored.submit_unix_s, id);

  if (stateful) {
    session& s = sessions_[stored.session_key];
    // More than 180 days since the session's last request: a full load again (§4.2).
    if (s.last_request_s != 0 && stored.submit_unix_s - s.last_request_s > 180 * 86400) {
      s.window_start_s.reset();
      s.queries.clear();
    }
    s.last_request_s = stored.submit_unix_s;
    plan_batches(stored, &s);  // provisional: redone when the job starts
    if (s.running) s.waiting.push_back(id);
    else start_job(stored);
  } else {
    start_job(stored);
  }
  note_active(stored);
  std::string response = job_json(stored);
  if (idem != nullptr) idempotency_[*idem] = idempotent_submit{body, response};
  return json(200, std::move(response));
}

aqua_service::active_count aqua_service::count_active(const std::string& session_key) const {
  active_count n;
  for (const auto& [id, j] : jobs_) {
    if (terminal(j.status)) continue;
    if (j.session_key.empty()) {
      ++n.stateless;
    } else {
      ++n.stateful;
      if (j.session_key == session_key) ++n.in_session;
    }
  }
  return n;
}

void aqua_service::note_active(const job& submitted) {
  const active_count n = count_active(submitted.session_key);
  peaks_.all = std::max(peaks_.all, n.stateless + n.stateful);
  peaks_.stateless = std::max(peaks_.stateless, n.stateless);
  peaks_.stateful = std::max(peaks_.stateful, n.stateful);
  peaks_.session = std::max(peaks_.session, n.in_session);
}

// Full or incremental per batch (§4.2): full for the session's first job, for
// a new query, a changed text or deleted spec (the 180-day rule clears the
// session in submit). DECISION (docs/emulator.md "incrementalTime and full
// loads"): an explicit incrementalTime only moves the start of the window of
// the batches that are incremental anyway; it never makes one of these full
// loads incremental, since the documents name no exception to them.
void aqua_service::plan_batches(job& j, const session* s) const {
  // The session's first job: none completed yet (a client that always sends
  // incrementalTime still gets incremental loads after it).
  const bool full_all = s == nullptr || s->last_completed.empty();
  for (batch& b : j.batches) {
    if (full_all) {
      b.full = true;
      continue;
    }
    const auto memo = s->queries.find(b.q.name);
    b.full = memo == s->queries.end() || memo->second.text != b.q.query ||
             memo->second.deleted_json != b.q.deleted_json;
  }
}

void aqua_service::start_job(job& j) {
  session* s = nullptr;
  if (!j.session_key.empty()) {
    s = &sessions_[j.session_key];
    s->running = j.id;
  }
  // Timestamps have whole seconds. The job's transaction start T is this
  // second, and its snapshot holds exactly the changes stamped before T (see
  // mutation_stamp): every row it exports has UpdatedDate < T, and every later
  // change is stamped >= T, so windows [T_prev, T) meet exactly, without gaps
  // or repeats, however busy the churn. DECISION: after a POST
  // /_emulator/mutate the job waits for the next second instead, so a test
  // that mutates and then submits sees its change in that job.
  const auto wall = std::chrono::system_clock::now();
  const std::int64_t wall_s = std::chrono::duration_cast<std::chrono::seconds>(wall.time_since_epoch()).count();
  if (last_explicit_mutation_s_ >= wall_s) {
    j.start_pending = true;
    const auto into = wall.time_since_epoch() - std::chrono::seconds(wall_s);
    const auto wait = std::chrono::ceil<std::chrono::milliseconds>(
        std::chrono::seconds(last_explicit_mutation_s_ - wall_s + 1) - into);
    asio::co_spawn(io_, start_later(j.id, wait + std::chrono::milliseconds(2)), ignore_result{});
    return;
  }
  const std::int64_t now_s = std::max(wall_s, last_mutation_s_);
  j.start_pending = false;
  j.started_at = clock::now();
  j.start_unix_s = now_s;
  plan_batches(j, s);

  // The window: [incrementalTime ?: last transaction start, now - offset).
  std::optional<std::int64_t> from;
  if (j.req.incremental_time_ms) from = *j.req.incremental_time_ms / 1000;
  else if (s != nullptr) from = s->window_start_s;
  const std::int64_t to = now_s - j.req.offset.value_or(0);

  std::vector<export_spec> specs;
  std::vector<std::string> stems;
  for (const batch& b : j.batches) {
    export_spec spec;
    spec.query = b.q.parsed;
    spec.name = b.q.name.empty() ? std::string(b.q.parsed.object->name) : b.q.name;
    spec.format = j.req.format;
    spec.use_query_labels = j.req.use_query_labels;
    spec.tz = j.req.date_time_utc ? time_zone::utc : time_zone::tenant;
    spec.zone = tenant_tz_;
    spec.null_replacement = j.req.null_replacement;
    spec.deleted = b.q.deleted;
    spec.force_export = s == nullptr && b.q.force_export;
    if (!b.full) spec.incremental = time_window{from, to};
    spec.now_unix_s = now_s;
    spec.segment_rows = opts_.segment_rows;
    spec.crlf = opts_.crlf;
    spec.bom = opts_.bom;
    spec.zip_stream = opts_.zip_stream;
    spec.cancel = j.cancel.get();
    spec.max_rows = opts_.max_job_rows;
    specs.push_back(std::move(spec));
    stems.push_back(b.batch_id);
  }
  const std::filesystem::path dir = data_dir_ / j.id;
  // The worker owns copies of everything it reads; `cancel` stays alive in the
  // lambda's shared_ptr even when the job is dropped by a reset.
  // Encrypted results: the formatted file (csv, gzip or zip) is encrypted
  // whole (docs/emulator.md, "Encrypted results").
  std::string pgp_key = j.req.encrypted == "pgp" ? pgp_public_key_ : std::string();
  asio::post(*workers_, [this, id = j.id, snapshot = snapshot_at(now_s), specs = std::move(specs), stems = std::move(stems), dir,
                         cancel = j.cancel, io = io_, pgp_key = std::move(pgp_key)]() mutable {
    export_outcome out;
    try {
      std::filesystem::create_directories(dir);
      for (std::size_t i = 0; i < specs.size(); ++i) {
        out.files.push_back(write_result_files(snapshot, specs[i], dir, stems[i]));
        if (!pgp_key.empty())
          for (written_file& f : out.files.back()) {
            f.bytes = pgp_encrypt_file(f.path, pgp_key);
            f.name += ".pgp";
          }
      }
    } catch (const export_cancelled&) {
      out.cancelled = true;
    } catch (const export_too_long& e) {
      out.too_long = e.what();
    } catch (const std::exception& e) {
      out.error = e.what();
    }
    if (cancel->load() || out.cancelled || out.error || out.too_long) {
      std::error_code ec;
      std::filesystem::remove_all(dir, ec);
      out.files.clear();
    }
    asio::post(io, [this, id, out = std::move(out)]() mutable { on_generated(id, std::move(out)); });
  });
}

void aqua_service::on_generated(const std::string& job_id, export_outcome outcome) {
  auto it = jobs_.find(job_id);
  if (it == jobs_.end()) {  // dropped by a reset while its export ran
    std::error_code ec;
    std::filesystem::remove_all(data_dir_ / job_id, ec);
    return;
  }
  job& j = it->second;
  if (terminal(j.status)) {  // cancelled while exporting
    std::error_code ec;
    std::filesystem::remove_all(data_dir_ / j.id, ec);
    return;
  }
  j.generated = true;
  if (outcome.error) {
    j.abort_message = fmt::format("90006: the result file could not be stored: {}", *outcome.error);
  } else if (outcome.too_long) {
    // What the service says when a job runs out of processing time (contract §1.7, §3.1).
    j.abort_message = fmt::format("90027: Exceeded max processing time: {}", *outcome.too_long);
  } else {
    const auto now = std::chrono::system_clock::now();
    for (std::size_t i = 0; i < j.batches.size() && i < outcome.files.size(); ++i) {
      batch& b = j.batches[i];
      b.record_count = 0;
      for (written_file& f : outcome.files[i]) {
        const std::string fid = new_id();
        stored_file sf;
        sf.path = std::move(f.path);
        sf.name = std::move(f.name);
        sf.content_type = extension_type(sf.name, sf.gzip);
        sf.bytes = f.bytes;
        sf.created = now;
        b.record_count += f.rows;
        files_.emplace(fid, std::move(sf));
        b.file_ids.push_back(fid);
      }
    }
  }
  const auto due = j.started_at + opts_.latency;
  if (clock::now() >= due) finalize(j);
  else asio::co_spawn(io_, finalize_later(j.id, due), ignore_result{});
}

asio::awaitable<void> aqua_service::start_later(std::string job_id, std::chrono::milliseconds after) {
  asio::steady_timer t(io_, after);
  co_await t.async_wait(asio::use_awaitable);
  auto it = jobs_.find(job_id);
  if (it != jobs_.end() && it->second.start_pending && !terminal(it->second.status)) start_job(it->second);
}

asio::awaitable<void> aqua_service::finalize_later(std::string job_id, clock::time_point when) {
  asio::steady_timer t(io_, when);
  co_await t.async_wait(asio::use_awaitable);
  auto it = jobs_.find(job_id);
  if (it != jobs_.end()) refresh(it->second);
}

// The status clients see: submitted for the first half of the latency (and
// while waiting for the session), executing until the export is done and the
// latency has passed, then completed (or aborted).
void aqua_service::refresh(job& j) {
  if (terminal(j.status)) return;
  if (!j.start_unix_s) return;  // queued behind the session's running job
  const auto elapsed = clock::now() - j.started_at;
  if (j.generated && elapsed >= opts_.latency) {
    finalize(j);
  } else if (j.status == "submitted" && elapsed * 2 >= opts_.latency) {
    j.status = "executing";
    for (batch& b : j.batches) b.status = "executing";
  }
}

void aqua_service::finalize(job& j) {
  if (terminal(j.status)) return;
  if (j.abort_message) {
    j.status = "aborted";
    for (batch& b : j.batches) {
      b.status = "aborted";
      b.message = *j.abort_message;
    }
    std::vector<std::string> ids;
    for (batch& b : j.batches) {
      ids.insert(ids.end(), b.file_ids.begin(), b.file_ids.end());
      b.file_ids.clear();
      b.record_count = 0;
    }
    drop_files(ids);
  } else {
    j.status = "completed";
    for (batch& b : j.batches) b.status = "completed";
    if (!j.session_key.empty()) {
      session& s = sessions_[j.session_key];
      // DECISION (§7): a run with an explicit incrementalTime does not move the window,
      // except the session's first: a session always has a window once a job completed.
      if (!j.req.incremental_time_ms || opts_.incremental_time_moves_window || !s.window_start_s)
        s.window_start_s = j.start_unix_s;
      s.last_completed = j.id;
      s.last_queries.clear();
      s.queries.clear();
      for (const batch& b : j.batches) {
        s.last_queries.push_back(b.q);
        s.queries[b.q.name] = query_memo{b.q.query, b.q.deleted_json};
      }
    }
  }
  end_job(j);
}

void aqua_service::end_job(job& j) {
  if (!j.session_key.empty()) {
    session& s = sessions_[j.session_key];
    if (s.running == j.id) {
      s.running.reset();
      while (!s.waiting.empty()) {
        const std::string next = s.waiting.front();
        s.waiting.pop_front();
        auto it = jobs_.find(next);
        if (it == jobs_.end() || terminal(it->second.status)) continue;
        start_job(it->second);
        break;
      }
    } else {
      std::erase(s.waiting, j.id);
    }
  }
  if (!j.req.notify_url.empty()) {
    const std::string url = substitute_callout(j.req.notify_url, j.id, callout_status(j.status));
    asio::co_spawn(io_, callout(url), ignore_result{});
  }
}

asio::awaitable<void> aqua_service::callout(std::string url) {
  std::string outcome;
  for (int attempt = 0; attempt < 3; ++attempt) {
    if (attempt > 0) {
      asio::steady_timer t(io_, std::chrono::milliseconds(200 * attempt));
      co_await t.async_wait(asio::use_awaitable);
    }
    try {
      const int status = co_await http_get_status(url, std::chrono::seconds(10));
      outcome = std::to_string(status);
      if (status >= 200 && status < 300) break;
    } catch (const std::exception& e) {
      outcome = fmt::format("error ({})", e.what());
    }
  }
  if (!outcome.empty() && outcome.front() == '2') ++callouts_sent_;
  else ++callouts_failed_;
  callout_log_.push_back(fmt::format("{} {}", outcome, url));
  if (callout_log_.size() > 100) callout_log_.erase(callout_log_.begin());
}

std::string aqua_service::job_json(const job& j) const {
  json_writer w;
  w.begin_object();
  w.key("batches").begin_array();
  for (const batch& b : j.batches) {
    w.begin_object();
    w.member("batchId", b.batch_id).member("name", b.q.name).member("query", b.q.query);
    w.member("batchType", b.q.type).member("apiVersion", b.q.api_version);
    w.member("status", b.status).member("localizedStatus", b.status);
    w.member("full", b.full).member("recordCount", b.record_count).member("message", b.message);
    if (!b.q.deleted_json.empty()) w.key("deleted").raw(b.q.deleted_json);
    if (!b.q.convert_to_currencies.empty()) w.member("convertToCurrencies", b.q.convert_to_currencies);
    if (b.file_ids.size() == 1) {
      w.member("fileId", b.file_ids.front());
    } else if (b.file_ids.size() > 1) {
      w.key("segments").begin_array();
      for (const auto& f : b.file_ids) w.value(f);
      w.end_array();
    }
    w.end_object();
  }
  w.end_array();
  const job_request& r = j.req;
  w.member("id", j.id).member("name", r.name).member("status", j.status).member("localizedStatus", j.status);
  w.member("format", format_name(r.format)).member("version", r.version).member("encrypted", r.encrypted);
  w.member("sourceData", r.source_data).member("useLastCompletedJobQueries", r.use_last_completed);
  if (!r.partner.empty()) w.member("partner", r.partner);
  if (!r.project.empty()) w.member("project", r.project);
  if (r.offset) w.member("offset", *r.offset);
  if (r.incremental_time_ms) w.member("incrementalTime", *r.incremental_time_ms);
  if (!r.notify_url.empty()) w.member("notifyUrl", r.notify_url);
  const std::int64_t start = j.start_unix_s.value_or(j.submit_unix_s);
  w.member("startTime", opts_.iso_start_time ? format_datetime(start, time_zone::utc)
                                             : format_plain_datetime(start, tenant_offset_minutes(tenant_tz_, start)));
  w.end_object();
  return w.take();
}

http_response aqua_service::get_job(const std::string& id) {
  auto it = jobs_.find(id);
  if (it == jobs_.end()) return aqua_error(404, "90002", "Invalid Job Id");
  refresh(it->second);
  return json(200, job_json(it->second));
}

http_response aqua_service::cancel_job(const std::string& id) {
  auto it = jobs_.find(id);
  if (it == jobs_.end()) return aqua_error(404, "90002", "Invalid Job Id");
  job& j = it->second;
  refresh(j);
  if (j.status == "cancelled") return json(200, job_json(j));
  if (terminal(j.status)) return aqua_error(200, "90003", "Invalid Job Id for cancellation");
  j.status = "cancelled";
  j.cancel->store(true);
  std::vector<std::string> ids;
  for (batch& b : j.batches) {
    b.status = "cancelled";
    ids.insert(ids.end(), b.file_ids.begin(), b.file_ids.end());
    b.file_ids.clear();
  }
  drop_files(ids);
  end_job(j);
  return json(200, job_json(j));
}

http_response aqua_service::last_completed(const std::string& session_key) {
  auto s = sessions_.find(session_key);
  if (s != sessions_.end() && !s->second.last_completed.empty()) {
    auto it = jobs_.find(s->second.last_completed);
    if (it != jobs_.end()) return json(200, job_json(it->second));
  }
  return aqua_error(404, "90002", "Invalid Job Id: the session has no completed job");
}

}  // namespace aquaduct::emulator

// The dry run: the requests a run would start with, from the same plan
// (job_plan), body builder (submit_body) and request builders (aqua_client)
// a run uses, so that what is shown cannot drift from what is sent.
#include <aquaduct/engine.hpp>
#include <aquaduct/error.hpp>

#include "engine/aqua_client.hpp"
#include "engine/aqua_job.hpp"
#include "engine/job_plan.hpp"
#include "engine/run_log.hpp"
#include "engine/state_store.hpp"
#include "engine/tenant_schema.hpp"
#include "engine/zoql_text.hpp"
#include "transport/http_client.hpp"
#include "transport/redact.hpp"
#include "transport/url.hpp"

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <map>

namespace aquaduct {

namespace {

using engine_detail::aqua_client;

using engine_detail::secret_set;

// Every configured secret is cut out of whatever text shows it (a secret
// pasted into a query or a notify_url included); the user names are shown
// (engine/run_log.hpp, transport/redact.hpp).
std::string cut_secrets(std::string text, const secret_set& secrets) {
  return transport::redact_secrets(text, secrets.secrets, secrets.user_names);
}

std::string scrub(std::string text, const secret_set& secrets) { return secrets.cut(text); }

// A body keeps its query text intact (redact() would take "Basic plan" in a
// where clause for a credential): the configured secrets and user:password@
// of URLs (a notifyUrl) are cut out.
std::string scrub_body(std::string text, const secret_set& secrets) {
  text = cut_secrets(std::move(text), secrets);
  for (auto at = text.find("://"); at != std::string::npos; at = text.find("://", at + 3)) {
    const auto end = text.find_first_of("@/ \"", at + 3);
    if (end != std::string::npos && text[end] == '@' && end > at + 3)
      text.replace(at + 3, end - at - 3, transport::redacted);
  }
  return text;
}

// The credential headers authenticator::authorize() adds, values redacted.
void add_auth_headers(const auth_config& auth, planned_request& r) {
  const std::string hidden(transport::redacted);
  switch (auth.type) {
    case auth_type::oauth: r.headers.emplace_back("Authorization", "Bearer " + hidden); break;
    case auth_type::api_key:
      r.headers.emplace_back("apiAccessKeyId", auth.access_key_id);
      r.headers.emplace_back("apiSecretAccessKey", hidden);
      break;
    case auth_type::basic: r.headers.emplace_back("Authorization", "Basic " + hidden); break;
    case auth_type::none: break;
  }
}

// A temporary empty directory, removed at the end of the dry run: the plan of
// a state directory that does not exist yet, without creating it.
class empty_dir {
 public:
  empty_dir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "aquaduct-dry-run-XXXXXX").string();
    if (!::mkdtemp(tmpl.data()))
      throw std::system_error(errno, std::generic_category(), "dry run: cannot create a temporary directory");
    path_ = tmpl;
  }
  ~empty_dir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  empty_dir(const empty_dir&) = delete;
  empty_dir& operator=(const empty_dir&) = delete;
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

class planner {
 public:
  explicit planner(const pipeline_config& cfg) : cfg_(cfg), secrets_(engine_detail::secrets_of(cfg.source)) {
    origin_ = cfg.source.base_url.empty() ? "http://<embedded emulator>" : cfg.source.base_url;
    while (!origin_.empty() && origin_.back() == '/') origin_.pop_back();
    common_ = engine_detail::common_headers(cfg.source.headers);
    user_agent_ = cfg.source.headers.user_agent.empty() ? transport::client_options{}.user_agent
                                                        : cfg.source.headers.user_agent;
  }

  void token() {
    if (cfg_.source.auth.type != auth_type::oauth) return;
    planned_request r;
    r.job = "(all jobs)";
    r.method = "POST";
    r.url = origin_ + "/oauth/token";
    r.headers = {{"Content-Type", "application/x-www-form-urlencoded"}, {"Accept", "application/json"},
                 {"User-Agent", user_agent_}};
    r.body = "client_id=" + transport::form_url_encode(cfg_.source.auth.client_id) + "&client_secret=" +
             std::string(transport::redacted) + "&grant_type=client_credentials";
    r.note = "OAuth token: once before the first call, again when it expires or is refused";
    add(std::move(r));
  }

  void ask_session(const engine_detail::work_unit& u) {
    planned_request r;
    r.job = u.display_name;
    r.method = "GET";
    r.url = origin_ + aqua_client::last_completed_target(u.job->partner, u.job->project);
    job_call_headers(r);
    r.note = "asked first: none of this session's queries has a cursor in the state directory. When the service "
             "has no completed job for the session (404), the submit below goes WITHOUT incrementalTime (a full "
             "load); otherwise it goes as shown";
    add(std::move(r));
  }

  void submit(const engine_detail::work_unit& u, const std::string& notify_url) {
    const std::string body = engine_detail::submit_body(
        *u.job, u.queries, engine_detail::submit_extras{u.incremental_time, notify_url});
    const transport::http_request req = aqua_client::submit_request(body, "<random, one per job>");
    planned_request r;
    r.job = u.display_name;
    r.method = req.method;
    r.url = origin_ + req.target;
    for (const auto& h : req.headers) r.headers.emplace_back(h.name, h.value);
    job_call_headers(r);
    r.body = req.body;
    if (u.window)
      r.note = !u.group || !u.group->next_cursor ? "one window of a partitioned query"
               : u.group->load == load_kind::full
                   ? "an incremental query's first window, from its start: no high-water mark yet"
                   : "an incremental query's window, from its high-water mark in the state directory";
    else if (u.job->stateful() && u.session_may_be_new)
      r.note = "stateful session without cursors: incrementalTime is the floor (2000-01-01 UTC, in the data "
               "centre's zone)";
    else if (u.job->stateful() && !u.expect_full.empty()) {
      std::string names;
      for (const auto& n : u.expect_full) names += (names.empty() ? "" : ", ") + n;
      r.note = "stateful session: incrementalTime is the oldest committed cursor of its unchanged queries; " + names +
               " changed or is new, and the service loads it in full";
    } else if (u.job->stateful() && u.reload.empty())
      r.note = "stateful session: incrementalTime is the oldest committed cursor of its queries";
    else if (u.job->stateful())
      r.note = "stateful session: incrementalTime is the floor (2000-01-01): a full reload of every query, see the "
               "notes";
    add(std::move(r));
  }

  // The describe requests a run sends before any submit (engine/tenant_schema.hpp):
  // one per object a query selects from, once per run; joined objects follow
  // from the base object's related objects, so they are named, not requested here.
  void describe() {
    if (!cfg_.source.describe) {
      note("(all jobs)", "[source] describe = false: no describe request; every column is text");
      return;
    }
    std::vector<std::string> objects;  // in first use order
    std::map<std::string, std::vector<std::string>> uses, joins;  // object -> "job/query", relation names
    for (const auto& job : cfg_.jobs) {
      if (job.kind != job_kind::aqua) continue;
      for (const auto& q : job.queries) {
        std::string error;
        const auto shape = engine_detail::read_select(q.query, error);
        if (!shape) continue;
        if (!uses.count(shape->object)) objects.push_back(shape->object);
        uses[shape->object].push_back(job.name + "/" + q.name);
        for (const auto& item : shape->items) {
          const std::string& e = item.expression;
          const auto dot = e.find('.');
          if (dot == std::string::npos || !engine_detail::is_field_name(e.ends_with(".*") ? e.substr(0, e.size() - 2) + ".x" : e))
            continue;
          const std::string rel = e.substr(0, dot);
          if (engine_detail::zoql_iequals(rel, shape->object)) continue;
          auto& j = joins[shape->object];
          if (std::find(j.begin(), j.end(), rel) == j.end()) j.push_back(rel);
        }
      }
    }
    for (const auto& object : objects) {
      planned_request r;
      r.job = "(all jobs)";
      r.method = "GET";
      r.url = origin_ + engine_detail::tenant_schema::object_target(object);
      r.headers.emplace_back("Accept", "application/xml, text/xml;q=0.9, */*;q=0.1");
      for (const auto& h : common_) r.headers.emplace_back(h.name, h.value);
      r.headers.emplace_back("User-Agent", user_agent_);
      add_auth_headers(cfg_.source.auth, r);
      std::string used;
      for (const auto& u : uses[object]) used += (used.empty() ? "" : ", ") + u;
      r.note = "describe, once per run before any submit: the column types of " + used;
      if (const auto it = joins.find(object); it != joins.end()) {
        std::string rels;
        for (const auto& j : it->second) rels += (rels.empty() ? "" : ", ") + j;
        r.note += "; then the objects its related objects " + rels + " point at (GET /v1/describe, then each)";
      }
      add(std::move(r));
    }
  }

  void note(const std::string& job, const std::string& text) {
    planned_request r;
    r.job = job;
    r.note = text;
    add(std::move(r));
  }

  std::vector<planned_request> take() { return std::move(out_); }

 private:
  // What aqua_client::job_call and send() add to every job call.
  void job_call_headers(planned_request& r) const {
    r.headers.emplace_back("Accept", "application/json");
    for (const auto& h : common_) r.headers.emplace_back(h.name, h.value);
    r.headers.emplace_back("User-Agent", user_agent_);
    add_auth_headers(cfg_.source.auth, r);
  }

  void add(planned_request r) {
    r.url = scrub(std::move(r.url), secrets_);
    for (auto& [name, value] : r.headers) value = scrub(std::move(value), secrets_);
    r.body = scrub_body(std::move(r.body), secrets_);
    r.note = scrub(std::move(r.note), secrets_);
    out_.push_back(std::move(r));
  }

  const pipeline_config& cfg_;
  secret_set secrets_;
  std::string origin_;
  std::vector<transport::header> common_;
  std::string user_agent_;
  std::vector<planned_request> out_;
};

// The notifyUrl a run sends with the [source.callout] listener
// (callout_listener::notify_url()); its address is known only once bound.
std::string listener_notify_url(const callout_config& c) {
  if (c.listen.empty()) return {};
  const std::string base = c.public_url.empty() ? "http://" + c.listen + "/callout" : c.public_url;
  return base + (base.find('?') == std::string::npos ? "?" : "&") + "job=${JOBID}&status=${STATUS}";
}

}  // namespace

std::vector<planned_request> plan_requests(const pipeline_config& cfg, const engine_options& opts) {
  std::unique_ptr<engine_detail::state_store> state;
  std::optional<empty_dir> scratch;
  if (engine_detail::is_state_url(opts.state_dir)) {
    state = engine_detail::open_state(opts.state_dir);  // read, never locked; its schema made if new
  } else if (!opts.state_dir.empty()) {
    std::error_code ec;
    if (std::filesystem::is_directory(opts.state_dir, ec)) {
      state = engine_detail::open_state(opts.state_dir);  // an existing directory: read, never locked or written
    } else {
      scratch.emplace();
      state = engine_detail::open_state(scratch->path().string());
    }
  }
  const auto now = std::chrono::time_point_cast<std::chrono::seconds>(std::chrono::system_clock::now());
  const engine_detail::run_plan plan =
      engine_detail::plan_run(cfg, state.get(), engine_detail::resolve_zone(cfg.source), now);

  planner p(cfg);
  if (cfg.source.base_url.empty())
    p.note("(all jobs)", "no [source] base_url: `aquaduct run` serves this pipeline from an embedded emulator "
                         "(without [source.auth], with its OAuth client \"aquaduct\")");
  if (!cfg.source.proxy.empty() && cfg.source.proxy != "none")
    p.note("(all jobs)", "every request goes through the proxy " + cfg.source.proxy);
  if (scratch) p.note("(all jobs)", "the state directory " + opts.state_dir + " does not exist yet: no cursors");
  p.token();
  p.describe();
  const std::string notify = listener_notify_url(cfg.source.callout);
  if (!notify.empty() && cfg.source.callout.public_url.empty() && cfg.source.callout.listen.ends_with(":0"))
    p.note("(all jobs)", "[source.callout] listen ends in :0: the notifyUrl's port is chosen when the run starts");
  for (const auto& n : plan.notes) p.note(n.job, "query " + n.query + ": " + n.message);
  for (const auto& u : plan.units) {
    if (u.session_may_be_new) p.ask_session(u);
    p.submit(u, notify);
  }
  for (const auto& j : cfg.jobs) {
    if (j.kind != job_kind::aqua || j.stateful()) continue;
    for (const auto& q : j.queries) {
      // What the run does when the service cannot export the query in one
      // piece (docs/architecture.md, "Huge objects"): the same checks as
      // window_plain_query and split_window_unit.
      const std::string when = "if the service cannot export it in one piece (a job out of processing time, "
                               "90027/90029, or a file over its maximum object size, 403)";
      std::string paging = engine_detail::keyset_page_problem(q.query);
      if (paging.empty()) paging = engine_detail::base_id_problem(q.query, j.use_query_labels);
      const std::string pages = "then pages by Id (`and Id > '<last>' order by Id limit n`)";
      const bool windowed = q.partition || q.incremental;
      const std::string min_step = q.partition ? q.partition->min_step : q.incremental ? q.incremental->min_step : "";
      std::string what;
      if (windowed)
        what = "may be split " + when + ": its windows halved down to min_step " + min_step + ", " +
               (paging.empty() ? pages : "and no further, as " + paging) + ", committed as one result as planned here";
      else if (!paging.empty())
        what = "cannot be split " + when + ", as " + paging + ": it would fail, saying so";
      else
        what = "may be split " + when + ": into windows of UpdatedDate halved down to one second, " + pages +
               ", committed as one result";
      p.note(j.name, "query " + q.name + ": " + what);
    }
  }
  for (const auto& r : plan.nothing_to_do)
    for (const auto& q : r.queries)
      p.note(r.name, "query " + q.name + ": nothing to do, its incremental window is empty until lag_s has passed");
  for (const auto& j : cfg.jobs)
    if (j.kind == job_kind::batch_results)
      p.note(j.name, "kind = \"batch_results\": its POST /v4/batch requests are not shown by --dry-run");
  return p.take();
}

std::string to_text(const std::vector<planned_request>& plan) {
  std::string out;
  std::size_t n = 0;
  for (const auto& r : plan)
    if (!r.method.empty()) ++n;
  out += "# " + std::to_string(n) + (n == 1 ? " request" : " requests") +
         " to start with; each submitted job is then polled (GET /v1/batch-query/jobs/{id}) and its files "
         "downloaded (GET /v1/file/{fileId}). Nothing was sent.\n";
  for (const auto& r : plan) {
    out += "\n# " + r.job + (r.note.empty() ? "" : ": " + r.note) + "\n";
    if (r.method.empty()) continue;
    out += r.method + " " + r.url + "\n";
    for (const auto& [name, value] : r.headers) out += name + ": " + value + "\n";
    if (!r.body.empty()) out += "\n" + r.body + "\n";
  }
  return out;
}

}  // namespace aquaduct

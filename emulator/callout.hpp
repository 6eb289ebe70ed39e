#pragma once
// Job-end callouts (contract §1.8, §7): an HTTP GET of the job's notifyUrl
// with ${JOBID} and ${STATUS} substituted, one attempt plus 2 retries. The
// emulator's own tiny client: plain http:// only (an https:// URL is
// reported as failed, never sent unencrypted).
#include <chrono>
#include <string>
#include <string_view>

#include <asio/awaitable.hpp>

namespace aquaduct::emulator {

// notifyUrl with every ${JOBID} and ${STATUS} replaced.
std::string substitute_callout(std::string_view url, std::string_view job_id, std::string_view status);

// One GET of `url` (http://host[:port]/path). Returns the HTTP status, or
// throws std::system_error / std::invalid_argument (bad URL) naming the URL.
// The whole exchange must finish within `timeout`.
asio::awaitable<int> http_get_status(std::string url, std::chrono::milliseconds timeout);

}  // namespace aquaduct::emulator

#pragma once
// SIGINT/SIGTERM for commands that run an engine (`run`, `tap`, `worker`): blocked in
// every thread (block_signals, before any thread starts), then waited for
// by interrupt_watch while the run goes on: the first cancels the run (its
// jobs are cancelled on the server, exit 130), a second one exits at once.
#include <aquaduct/engine.hpp>

#include <atomic>
#include <csignal>
#include <cstdlib>
#include <ctime>
#include <functional>
#include <thread>

#include <pthread.h>

namespace aquaduct::cli {

inline void block_signals(sigset_t& set) {
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
}

class interrupt_watch {
 public:
  // `note` says on stderr, in the command's own voice, that the run is being cancelled.
  interrupt_watch(const sigset_t& set, engine& eng, std::function<void()> note)
      : interrupt_watch(set, [&eng] { eng.cancel(); }, std::move(note)) {}
  // `cancel` stops what runs (an engine, a fleet worker); called once.
  interrupt_watch(const sigset_t& set, std::function<void()> cancel, std::function<void()> note)
      : thread_([this, set, cancel = std::move(cancel), note = std::move(note)] {
          int received = 0;
          const timespec tick{0, 200 * 1000 * 1000};
          while (!done_) {
            if (sigtimedwait(&set, nullptr, &tick) < 0) continue;
            if (++received == 1) {
              if (note) note();
              cancel();
            } else {
              std::_Exit(130);
            }
          }
        }) {}
  ~interrupt_watch() {
    done_ = true;
    thread_.join();
  }
  interrupt_watch(const interrupt_watch&) = delete;
  interrupt_watch& operator=(const interrupt_watch&) = delete;

 private:
  std::atomic<bool> done_{false};
  std::thread thread_;
};

}  // namespace aquaduct::cli

#pragma once
// A private PostgreSQL server for tests and benches: initdb into a fresh
// directory under /tmp, pg_ctl start listening only on a Unix socket in that
// directory, pg_ctl stop and removal at destruction.
//
// PostgreSQL refuses to run as root, so as root the server runs as the
// unprivileged user `aquaduct-pg` (scripts/install-deps.sh creates it), or
// `postgres` (Debian's package creates it) when that one is missing.
//
// The server stops even when the process dies without unwinding (a crash, an
// abort, a fatal doctest signal): a watchdog process, forked at start,
// waits on a pipe whose write end only this process holds, and stops the
// server and removes the directory when the pipe closes without the
// "stopped cleanly" byte.
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <stdexcept>
#include <string>
#include <vector>

#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

namespace aquaduct::test {

class postgres_server {
 public:
  postgres_server() {
    bin_ = find_bindir();
    if (::geteuid() == 0) {
      const passwd* pw = ::getpwnam("aquaduct-pg");
      if (!pw) pw = ::getpwnam("postgres");
      if (!pw) throw std::runtime_error("postgres_server: running as root, but no user aquaduct-pg or postgres");
      uid_ = pw->pw_uid;
      gid_ = pw->pw_gid;
    }
    char tmpl[] = "/tmp/aquaduct-pg-XXXXXX";
    if (!::mkdtemp(tmpl)) throw std::runtime_error(std::string("postgres_server: mkdtemp: ") + std::strerror(errno));
    dir_ = tmpl;
    if (uid_ && ::chown(dir_.c_str(), uid_, gid_) != 0)
      throw std::runtime_error(std::string("postgres_server: chown: ") + std::strerror(errno));
    start_watchdog();
    const std::string data = dir_ + "/data";
    run({bin_ + "/initdb", "-D", data, "-U", "aquaduct", "-A", "trust", "-E", "UTF8", "--locale=C", "--no-sync"},
        "initdb");
    run({bin_ + "/pg_ctl", "-D", data, "-l", dir_ + "/server.log", "-w", "-t", "120", "-o",
         "-k " + dir_ + " -c listen_addresses='' -c fsync=off -c max_connections=40", "start"},
        "pg_ctl start");
    started_ = true;
  }

  ~postgres_server() {
    if (started_) {
      try {
        run({bin_ + "/pg_ctl", "-D", dir_ + "/data", "-m", "fast", "-w", "stop"}, "pg_ctl stop");
      } catch (...) {  // the watchdog stops it instead
      }
    }
    if (watchdog_write_ >= 0) {
      if (started_) (void)!::write(watchdog_write_, "x", 1);
      ::close(watchdog_write_);
      ::waitpid(watchdog_, nullptr, 0);
    }
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }

  postgres_server(const postgres_server&) = delete;
  postgres_server& operator=(const postgres_server&) = delete;

  // A libpq connection string for the server's `postgres` database.
  std::string dsn() const { return "host=" + dir_ + " user=aquaduct dbname=postgres"; }
  const std::string& bindir() const { return bin_; }
  const std::string& dir() const { return dir_; }
  // A new empty database `name` on the server; its postgresql:// URL.
  std::string create_database(const std::string& name) const {
    run({bin_ + "/createdb", "-h", dir_, "-U", "aquaduct", name}, "createdb");
    return "postgresql:///" + name + "?host=" + dir_ + "&user=aquaduct";
  }

 private:
  static std::string find_bindir() {
    for (const char* v : {"17", "16", "15", "14", "13"}) {
      const std::string d = std::string("/usr/lib/postgresql/") + v + "/bin";
      if (::access((d + "/initdb").c_str(), X_OK) == 0) return d;
    }
    throw std::runtime_error("postgres_server: no /usr/lib/postgresql/*/bin/initdb (run scripts/install-deps.sh)");
  }

  // Runs argv as the server's user; throws with the command's log on failure.
  void run(const std::vector<std::string>& argv, const char* what) const {
    const std::string log = dir_ + "/" + what + ".out";
    const pid_t pid = ::fork();
    if (pid < 0) throw std::runtime_error(std::string("postgres_server: fork: ") + std::strerror(errno));
    if (pid == 0) exec_as(argv, log);
    int status = 0;
    while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
      std::string out;
      if (FILE* f = std::fopen(log.c_str(), "r")) {
        char buf[4096];
        std::size_t n;
        while ((n = std::fread(buf, 1, sizeof buf, f)) > 0) out.append(buf, n);
        std::fclose(f);
      }
      throw std::runtime_error(std::string("postgres_server: ") + what + " failed:\n" + out);
    }
  }

  [[noreturn]] void exec_as(const std::vector<std::string>& argv, const std::string& log) const {
    if (uid_) {
      if (::setgroups(0, nullptr) != 0 || ::setgid(gid_) != 0 || ::setuid(uid_) != 0) ::_exit(126);
    }
    const int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd >= 0) {
      ::dup2(fd, 1);
      ::dup2(fd, 2);
      ::close(fd);
    }
    const int devnull = ::open("/dev/null", O_RDONLY);
    if (devnull >= 0) ::dup2(devnull, 0);
    std::vector<char*> args;
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    ::execv(args[0], args.data());
    ::_exit(127);
  }

  void start_watchdog() {
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC) != 0) throw std::runtime_error("postgres_server: pipe");
    watchdog_ = ::fork();
    if (watchdog_ < 0) throw std::runtime_error("postgres_server: fork");
    if (watchdog_ == 0) {
      ::close(fds[1]);
      char c = 0;
      ssize_t n;
      while ((n = ::read(fds[0], &c, 1)) < 0 && errno == EINTR) {
      }
      if (n == 1) ::_exit(0);  // stopped cleanly
      // The owner died: stop the server (if it runs) and remove its directory.
      const pid_t pid = ::fork();
      if (pid == 0)
        exec_as({bin_ + "/pg_ctl", "-D", dir_ + "/data", "-m", "immediate", "-w", "stop"}, "/dev/null");
      int status = 0;
      ::waitpid(pid, &status, 0);
      std::error_code ec;
      std::filesystem::remove_all(dir_, ec);
      ::_exit(0);
    }
    ::close(fds[0]);
    watchdog_write_ = fds[1];
  }

  std::string bin_;
  std::string dir_;
  uid_t uid_ = 0;
  gid_t gid_ = 0;
  pid_t watchdog_ = -1;
  int watchdog_write_ = -1;
  bool started_ = false;
};

}  // namespace aquaduct::test

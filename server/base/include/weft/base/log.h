// Logging and CHECK for Weft, on spdlog (Debian's libspdlog-dev).
//
// The macros keep glog's spelling, which the code base grew up with:
//   LOG(INFO) << "listening on " << address;       // DEBUG, INFO, WARNING, ERROR, FATAL
//   PLOG(WARNING) << "close";                      // appends ": <strerror(errno)> [errno]"
//   LOG_EVERY_N(WARNING, 100) << "refused (" << WEFT_LOG_OCCURRENCES << " so far)";
//   PLOG_EVERY_N(WARNING, 100) << "accept";        // the 1st, 101st, 201st ..., with errno
//   CHECK(ptr != nullptr) << "why it cannot be null";
//   CHECK_EQ(a, b); CHECK_NE, CHECK_LT, CHECK_LE, CHECK_GT, CHECK_GE  // print both values
//   PCHECK(::close(fd) == 0);                      // CHECK with errno's text
//   DCHECK(cond);                                  // CHECK in debug builds; compiled, not run,
//                                                  // with NDEBUG
// The text goes to spdlog; spdlog formats and writes it. Unlike glog, nothing here costs a
// thread memory: glog 0.6 keeps ~30 KiB of static thread-local storage in every thread of the
// process (its message buffer), paid at each thread's start by a thread-per-connection server
// (bench/RESULTS.md, "Threaded manager: the thread stack size").
//
// FATAL, and every failed CHECK, logs the message and a stack trace, flushes, and aborts: it is
// for bugs only (environment failures are a Status or a logged event, never an abort).
//
// Thread-safe: any thread may log at any time, before main too; once a line has been logged,
// also while the process exits (the logger is never destroyed).
#pragma once

#include <atomic>
#include <cerrno>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <sstream>
#include <string>

#include "absl/base/optimization.h"

namespace spdlog {
class logger;
}  // namespace spdlog

namespace weft::base {

// LogSeverity: how grave a log line is, lowest first. kFatal aborts after logging.
enum class LogSeverity : int { kDebug, kInfo, kWarning, kError, kFatal };

// LogSeverityName: "DEBUG", "INFO", "WARNING", "ERROR", "FATAL" (glog's names).
const char* LogSeverityName(LogSeverity severity);

// WeftLogger: the spdlog logger every line of Weft goes to, named "weft". On first use it is
// the logger a program registered under that name with spdlog::register_logger, if any, or else
// a new one writing text to stderr, one line per message:
//   I20260102 03:04:05.678901 1234 server.cc:316] listening on 127.0.0.1:7007
// (severity letter, local date and time in microseconds, thread id, source file:line; glog's
// layout, except that FATAL lines start with spdlog's letter for it, C, not F). Its level
// is info: DEBUG lines are dropped unless the program lowers it (set_level). A program may
// change its formatter and sinks (weftd does, for JSON). Thread-safe; never null.
spdlog::logger& WeftLogger();

namespace log_internal {

// ShouldLog: whether WeftLogger() takes lines of `severity` (so they are worth formatting).
bool ShouldLog(LogSeverity severity);

// LogMessage collects one line through stream() and hands it to WeftLogger() when destroyed.
// `error` is an errno value to append (PLOG), or 0. One pointer in size: the stream lives on the
// heap, so a function that may log or CHECK keeps a small stack frame (a fiber's stack is small,
// and every page of it a connection touches is resident).
class LogMessage {
 public:
  LogMessage(const char* file, int line, LogSeverity severity, int error = 0);
  LogMessage(const LogMessage&) = delete;
  LogMessage& operator=(const LogMessage&) = delete;
  ~LogMessage();

  std::ostream& stream();

 private:
  struct Line;
  std::unique_ptr<Line> line_;
};

// FatalMessage: a LogMessage of severity FATAL, whose destruction never returns: it logs,
// prints the stack, flushes and aborts. `prefix` starts the text (a CHECK's "Check failed: ...");
// a pointer, so that building the arguments allocates nothing that could change errno (PCHECK).
class FatalMessage {
 public:
  FatalMessage(const char* file, int line, const char* prefix, int error = 0);
  FatalMessage(const FatalMessage&) = delete;
  FatalMessage& operator=(const FatalMessage&) = delete;
  [[noreturn]] ~FatalMessage();

  std::ostream& stream() { return message_->stream(); }

 private:
  std::optional<LogMessage> message_;  // Engaged until the destructor logs it.
};

// Voidify turns `stream << ...` into void so the macros are expressions (`a ? (void)0 : ...`)
// and a dangling `else` after them binds as the reader expects.
struct Voidify {
  void operator&(std::ostream&) {}
};

// CheckOpFailure: nullopt when `compare(a, b)` holds, else the CHECK_xx text with both values.
template <typename A, typename B, typename Compare>
std::optional<std::string> CheckOpFailure(const A& a, const B& b, Compare compare,
                                          const char* expression) {
  if (ABSL_PREDICT_TRUE(compare(a, b))) return std::nullopt;
  std::ostringstream text;
  text << "Check failed: " << expression << " (" << a << " vs. " << b << ") ";
  return text.str();
}

}  // namespace log_internal
}  // namespace weft::base

#define WEFT_LOG_STREAM_AT(severity, error)        \
  !::weft::base::log_internal::ShouldLog(severity) \
      ? (void)0                                    \
      : ::weft::base::log_internal::Voidify() &    \
            ::weft::base::log_internal::LogMessage(__FILE__, __LINE__, severity, error).stream()
#define WEFT_LOG_DEBUG(error) WEFT_LOG_STREAM_AT(::weft::base::LogSeverity::kDebug, error)
#define WEFT_LOG_INFO(error) WEFT_LOG_STREAM_AT(::weft::base::LogSeverity::kInfo, error)
#define WEFT_LOG_WARNING(error) WEFT_LOG_STREAM_AT(::weft::base::LogSeverity::kWarning, error)
#define WEFT_LOG_ERROR(error) WEFT_LOG_STREAM_AT(::weft::base::LogSeverity::kError, error)
#define WEFT_LOG_FATAL(error) \
  ::weft::base::log_internal::FatalMessage(__FILE__, __LINE__, "", error).stream()

#define LOG(severity) WEFT_LOG_##severity(0)
#define PLOG(severity) WEFT_LOG_##severity(errno)

// WEFT_LOG_OCCURRENCES: inside LOG_EVERY_N's stream, how many times the statement was reached.
// The counter is per statement (each expansion's lambda has its own static).
#define WEFT_LOG_OCCURRENCES weft_log_occurrences
// The switch makes the whole an unbraced statement of its own, so an `if` around it without braces
// neither takes its `else` nor warns (-Wdangling-else), as in Abseil's logging macros.
#define WEFT_EVERY_N(n, log)                                                 \
  switch (0)                                                                 \
  case 0:                                                                    \
  default:                                                                   \
    if (const ::std::uint64_t WEFT_LOG_OCCURRENCES =                         \
            [] {                                                             \
              static ::std::atomic<::std::uint64_t> reached{0};              \
              return reached.fetch_add(1, ::std::memory_order_relaxed) + 1;  \
            }();                                                             \
        (WEFT_LOG_OCCURRENCES - 1) % static_cast<::std::uint64_t>(n) != 0) { \
    } else                                                                   \
      log
#define LOG_EVERY_N(severity, n) WEFT_EVERY_N(n, WEFT_LOG_##severity(0))
#define PLOG_EVERY_N(severity, n) WEFT_EVERY_N(n, WEFT_LOG_##severity(errno))

// `text` is the condition as written (stringified here, before its macros expand).
#define WEFT_CHECK_WITH(condition, text, error)                                                   \
  ABSL_PREDICT_TRUE(condition)                                                                    \
  ? (void)0                                                                                       \
  : ::weft::base::log_internal::Voidify() &                                                       \
          ::weft::base::log_internal::FatalMessage(__FILE__, __LINE__, "Check failed: " text " ", \
                                                   error)                                         \
              .stream()
#define CHECK(condition) WEFT_CHECK_WITH(condition, #condition, 0)
#define PCHECK(condition) WEFT_CHECK_WITH(condition, #condition, errno)

// The comparison runs inside <functional> (std::equal_to<> and friends), as glog's ran inside
// its own header: a signed/unsigned pair compares as the built-in operator does.
#define WEFT_CHECK_OP(compare, text, a, b)                                          \
  while (const ::std::optional<::std::string> weft_check_failure =                  \
             ::weft::base::log_internal::CheckOpFailure((a), (b), compare{}, text)) \
  ::weft::base::log_internal::FatalMessage(__FILE__, __LINE__, weft_check_failure->c_str()).stream()
#define CHECK_EQ(a, b) WEFT_CHECK_OP(::std::equal_to<>, #a " == " #b, a, b)
#define CHECK_NE(a, b) WEFT_CHECK_OP(::std::not_equal_to<>, #a " != " #b, a, b)
#define CHECK_LT(a, b) WEFT_CHECK_OP(::std::less<>, #a " < " #b, a, b)
#define CHECK_LE(a, b) WEFT_CHECK_OP(::std::less_equal<>, #a " <= " #b, a, b)
#define CHECK_GT(a, b) WEFT_CHECK_OP(::std::greater<>, #a " > " #b, a, b)
#define CHECK_GE(a, b) WEFT_CHECK_OP(::std::greater_equal<>, #a " >= " #b, a, b)

#ifdef NDEBUG
#define DCHECK(condition) \
  while (false) CHECK(condition)
#else
#define DCHECK(condition) CHECK(condition)
#endif

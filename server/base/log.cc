#include "weft/base/log.h"

#include <execinfo.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <sstream>

#include "absl/debugging/symbolize.h"

namespace weft::base {
namespace {

constexpr char kLoggerName[] = "weft";
// glog's text layout (but C, spdlog's letter, for FATAL).
constexpr char kTextPattern[] = "%L%Y%m%d %H:%M:%S.%f %t %s:%#] %v";

spdlog::level::level_enum LevelOf(LogSeverity severity) {
  switch (severity) {
    case LogSeverity::kDebug:
      return spdlog::level::debug;
    case LogSeverity::kInfo:
      return spdlog::level::info;
    case LogSeverity::kWarning:
      return spdlog::level::warn;
    case LogSeverity::kError:
      return spdlog::level::err;
    case LogSeverity::kFatal:
      return spdlog::level::critical;
  }
  return spdlog::level::critical;
}

std::shared_ptr<spdlog::logger> MakeLogger() {
  if (std::shared_ptr<spdlog::logger> registered = spdlog::get(kLoggerName)) return registered;
  // Unregistered: a program's spdlog::drop_all() cannot leave Weft without its logger.
  auto logger = std::make_shared<spdlog::logger>(kLoggerName,
                                                 std::make_shared<spdlog::sinks::stderr_sink_mt>());
  logger->set_pattern(kTextPattern);
  logger->set_level(spdlog::level::info);
  // Errors and worse reach stderr at once even if a program gives the logger a buffered sink.
  logger->flush_on(spdlog::level::err);
  return logger;
}

// PrintStack writes the calling thread's stack, one symbolised frame a line, to stderr. glibc's
// backtrace unwinds with the .eh_frame tables, so it needs no frame pointers (Abseil's
// GetStackTrace does on x86-64); Abseil's symboliser names functions the dynamic symbol table
// leaves out.
void PrintStack() {
  void* frames[64];
  const int depth = ::backtrace(frames, 64);
  std::fputs("*** stack trace: ***\n", stderr);
  for (int i = 1; i < depth; ++i) {  // Frame 0 is PrintStack.
    char symbol[1024];
    const char* name = absl::Symbolize(frames[i], symbol, sizeof symbol) ? symbol : "(unknown)";
    std::fprintf(stderr, "    @ %p  %s\n", frames[i], name);
  }
}

}  // namespace

const char* LogSeverityName(LogSeverity severity) {
  switch (severity) {
    case LogSeverity::kDebug:
      return "DEBUG";
    case LogSeverity::kInfo:
      return "INFO";
    case LogSeverity::kWarning:
      return "WARNING";
    case LogSeverity::kError:
      return "ERROR";
    case LogSeverity::kFatal:
      return "FATAL";
  }
  return "FATAL";
}

spdlog::logger& WeftLogger() {
  // Never destroyed: threads may log while static destructors run at exit.
  static const std::shared_ptr<spdlog::logger>* const logger =
      new std::shared_ptr<spdlog::logger>(MakeLogger());
  return **logger;
}

namespace log_internal {

bool ShouldLog(LogSeverity severity) {
  const int saved_errno = errno;  // PLOG reads errno after this call.
  const bool should = WeftLogger().should_log(LevelOf(severity));
  errno = saved_errno;
  return should;
}

struct LogMessage::Line {
  const char* file;
  int line;
  LogSeverity severity;
  int error;
  std::ostringstream text;
};

LogMessage::LogMessage(const char* file, int line, LogSeverity severity, int error)
    : line_(new Line{file, line, severity, error, {}}) {}

std::ostream& LogMessage::stream() { return line_->text; }

LogMessage::~LogMessage() {
  if (line_->error != 0) {
    char buffer[256];
    // GNU strerror_r: returns the text, in `buffer` or a static string.
    line_->text << ": " << ::strerror_r(line_->error, buffer, sizeof buffer) << " [" << line_->error
                << "]";
  }
  WeftLogger().log(spdlog::source_loc{line_->file, line_->line, ""}, LevelOf(line_->severity), "{}",
                   line_->text.view());
}

FatalMessage::FatalMessage(const char* file, int line, const char* prefix, int error) {
  message_.emplace(file, line, LogSeverity::kFatal, error);
  message_->stream() << prefix;
}

FatalMessage::~FatalMessage() {
  message_.reset();  // Logs it.
  WeftLogger().flush();
  PrintStack();
  std::abort();
}

}  // namespace log_internal
}  // namespace weft::base

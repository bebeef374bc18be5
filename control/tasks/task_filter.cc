#include "control/tasks/task_filter.h"

#include <arpa/inet.h>

#include <algorithm>
#include <string>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "control/proto_conversion.h"

namespace weft::control {
namespace {

constexpr absl::Duration kMaxFilterDuration = absl::Hours(24 * 365 * 100);

struct ParsedIp {
  std::array<std::uint8_t, 16> bytes{};
  bool v4 = false;
};

// ParseIp reads a numeric IPv4 or IPv6 address; an IPv4-mapped IPv6 address becomes IPv4.
std::optional<ParsedIp> ParseIp(absl::string_view text) {
  if (text.empty() || text.size() > INET6_ADDRSTRLEN) return std::nullopt;
  const std::string host(text);
  ParsedIp ip;
  if (inet_pton(AF_INET, host.c_str(), ip.bytes.data()) == 1) {
    ip.v4 = true;
    return ip;
  }
  if (inet_pton(AF_INET6, host.c_str(), ip.bytes.data()) != 1) return std::nullopt;
  constexpr std::array<std::uint8_t, 12> kMapped = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
  if (std::equal(kMapped.begin(), kMapped.end(), ip.bytes.begin())) {
    std::copy(ip.bytes.begin() + 12, ip.bytes.end(), ip.bytes.begin());
    std::fill(ip.bytes.begin() + 4, ip.bytes.end(), 0);
    ip.v4 = true;
  }
  return ip;
}

// PrefixMatches compares the first `bits` bits of `a` and `b`.
bool PrefixMatches(const std::array<std::uint8_t, 16>& a, const std::array<std::uint8_t, 16>& b,
                   int bits) {
  const int whole = bits / 8;
  if (!std::equal(a.begin(), a.begin() + whole, b.begin())) return false;
  if (bits % 8 == 0) return true;
  const std::uint8_t mask = static_cast<std::uint8_t>(0xff << (8 - bits % 8));
  return (a[whole] & mask) == (b[whole] & mask);
}

}  // namespace

absl::StatusOr<Network> Network::Parse(absl::string_view text) {
  absl::string_view address = text;
  absl::string_view prefix;
  if (const std::size_t slash = text.find('/'); slash != absl::string_view::npos) {
    address = text.substr(0, slash);
    prefix = text.substr(slash + 1);
  }
  const std::optional<ParsedIp> ip = ParseIp(address);
  // An IPv4-mapped IPv6 network would read its prefix length against 128 bits: refused.
  if (!ip.has_value() || (ip->v4 && address.find(':') != absl::string_view::npos)) {
    return absl::InvalidArgumentError(
        "expected an IP address or a CIDR block such as 10.0.0.0/8 or fd00::/8");
  }
  Network network;
  network.v4_ = ip->v4;
  network.bytes_ = ip->bytes;
  const int max_length = ip->v4 ? 32 : 128;
  network.prefix_length_ = max_length;
  if (text.find('/') != absl::string_view::npos) {
    int length = -1;
    if (prefix.empty() || prefix.size() > 3 ||
        !std::all_of(prefix.begin(), prefix.end(), [](char c) { return c >= '0' && c <= '9'; }) ||
        !absl::SimpleAtoi(prefix, &length) || length > max_length) {
      return absl::InvalidArgumentError(
          absl::StrCat("the prefix length must be a number from 0 to ", max_length));
    }
    network.prefix_length_ = length;
  }
  std::array<std::uint8_t, 16> host_bits = network.bytes_;
  for (int bit = network.prefix_length_; bit < max_length; ++bit) {
    host_bits[bit / 8] &= static_cast<std::uint8_t>(~(0x80 >> (bit % 8)));
  }
  if (host_bits != network.bytes_) {
    return absl::InvalidArgumentError(
        "the address has bits set beyond the prefix length (write the network's first address)");
  }
  return network;
}

bool Network::ContainsAddress(const std::array<std::uint8_t, 16>& address, bool v4) const {
  return v4 == v4_ && PrefixMatches(address, bytes_, prefix_length_);
}

bool Network::ContainsPeer(absl::string_view peer) const {
  absl::string_view host = peer;
  if (absl::ConsumePrefix(&host, "[")) {
    const std::size_t close = host.find(']');
    if (close == absl::string_view::npos) return false;
    host = host.substr(0, close);
  } else if (const std::size_t colon = host.rfind(':'); colon != absl::string_view::npos) {
    host = host.substr(0, colon);
  }
  const std::optional<ParsedIp> ip = ParseIp(host);
  return ip.has_value() && ContainsAddress(ip->bytes, ip->v4);
}

absl::StatusOr<TaskFilter> TaskFilter::FromProto(const v1::TaskFilter& proto,
                                                 absl::string_view field_prefix) {
  const auto field = [&](const char* name) { return absl::StrCat(field_prefix, name); };
  TaskFilter filter;
  for (const int state : proto.states()) {
    switch (state) {
      case v1::TASK_STATE_QUEUED:
        filter.state_mask_ |= 1u << static_cast<int>(TaskState::kQueued);
        break;
      case v1::TASK_STATE_RUNNING:
        filter.state_mask_ |= 1u << static_cast<int>(TaskState::kRunning);
        break;
      case v1::TASK_STATE_STOPPING:
        filter.state_mask_ |= 1u << static_cast<int>(TaskState::kStopping);
        break;
      default:
        return absl::InvalidArgumentError(
            absl::StrCat(field("states"), " holds ", state, ", which is not a task state"));
    }
  }
  if (!proto.peer().empty()) {
    absl::StatusOr<Network> network = Network::Parse(proto.peer());
    if (!network.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat(field("peer"), ": ", network.status().message()));
    }
    filter.peer_ = *network;
  }
  if (proto.has_min_idle()) {
    const std::string name = field("min_idle");
    absl::StatusOr<absl::Duration> idle =
        DurationFromProto(proto.min_idle(), name.c_str(), kMaxFilterDuration);
    if (!idle.ok()) return idle.status();
    filter.min_idle_ = *idle;
  }
  if (proto.has_min_age()) {
    const std::string name = field("min_age");
    absl::StatusOr<absl::Duration> age =
        DurationFromProto(proto.min_age(), name.c_str(), kMaxFilterDuration);
    if (!age.ok()) return age.status();
    filter.min_age_ = *age;
  }
  filter.min_bytes_ = proto.min_bytes();
  if (proto.has_max_bytes()) {
    if (proto.max_bytes() < proto.min_bytes()) {
      return absl::InvalidArgumentError(absl::StrCat(field("max_bytes"), " (", proto.max_bytes(),
                                                     ") is below ", field("min_bytes"), " (",
                                                     proto.min_bytes(), ")"));
    }
    filter.max_bytes_ = proto.max_bytes();
  }
  filter.stuck_only_ = proto.stuck_only();
  return filter;
}

void TaskFilter::AddMinAge(absl::Duration age) { min_age_ = std::max(min_age_, age); }
void TaskFilter::AddMinIdle(absl::Duration idle) { min_idle_ = std::max(min_idle_, idle); }

bool TaskFilter::empty() const {
  return state_mask_ == 0 && !peer_.has_value() && min_idle_ == absl::ZeroDuration() &&
         min_age_ == absl::ZeroDuration() && min_bytes_ == 0 && !max_bytes_.has_value() &&
         !stuck_only_;
}

bool TaskFilter::Matches(const TaskInfo& task) const {
  if (state_mask_ != 0 && (state_mask_ & (1u << static_cast<int>(task.state))) == 0) return false;
  if (task.idle < min_idle_ || task.age < min_age_) return false;
  const std::uint64_t bytes = task.bytes_in + task.bytes_out;
  if (bytes < min_bytes_ || (max_bytes_.has_value() && bytes > *max_bytes_)) return false;
  if (stuck_only_ && !task.stuck) return false;
  return !peer_.has_value() || peer_->ContainsPeer(task.peer);
}

}  // namespace weft::control

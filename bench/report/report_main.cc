// weft-report: turns the JSON lines of a bench run into markdown tables.
//
//   weft-report RESULTS.jsonl...
//
// Records are grouped by pinning ("pin"), scenario ("scenario") and target ("label"); each cell
// is the median over rounds, with the range. Ratios are against the record's "baseline" target
// measured in the same run and pinning (and, for echo scenarios, against "naive-threads").
#include <algorithm>
#include <cmath>
#include <fstream>
#include <iostream>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "bench/common/json_line.h"

namespace {

using weft::bench::JsonRecord;

constexpr char kNaive[] = "naive-threads";

// Ordered keys: rows appear in the order the run produced them.
template <typename V>
class OrderedMap {
 public:
  V& operator[](const std::string& key) {
    auto it = index_.find(key);
    if (it != index_.end()) return items_[it->second].second;
    index_[key] = items_.size();
    items_.emplace_back(key, V{});
    return items_.back().second;
  }
  const V* Find(const std::string& key) const {
    auto it = index_.find(key);
    return it == index_.end() ? nullptr : &items_[it->second].second;
  }
  std::vector<std::pair<std::string, V>>& items() { return items_; }

 private:
  std::map<std::string, std::size_t> index_;
  std::vector<std::pair<std::string, V>> items_;
};

double Median(std::vector<double> v) {
  if (v.empty()) return NAN;
  std::sort(v.begin(), v.end());
  const std::size_t n = v.size();
  return n % 2 == 1 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

// Values collects one numeric field over the records of a cell.
std::vector<double> Values(const std::vector<JsonRecord>& records, const std::string& key) {
  std::vector<double> out;
  for (const JsonRecord& r : records) {
    if (std::optional<double> v = r.Number(key)) out.push_back(*v);
  }
  return out;
}

double MedianOf(const std::vector<JsonRecord>& records, const std::string& key) {
  return Median(Values(records, key));
}

double SumOf(const std::vector<JsonRecord>& records, const std::string& key) {
  double sum = 0;
  for (double v : Values(records, key)) sum += v;
  return sum;
}

std::string MetricOf(const std::string& mode) {
  if (mode == "pingpong") return "msgs_per_s";
  if (mode == "connrate") return "conns_per_s";
  if (mode == "bulk") return "mib_per_s";
  if (mode == "http") return "requests_per_s";
  return "";
}

std::string UnitOf(const std::string& mode) {
  if (mode == "pingpong") return "msg/s";
  if (mode == "connrate") return "conn/s";
  if (mode == "bulk") return "MiB/s";
  if (mode == "http") return "req/s";
  return "";
}

std::string Num(double v, int decimals = 0) {
  if (std::isnan(v)) return "–";
  if (decimals == 0 && std::fabs(v) >= 1000) {
    // Thousands separators keep wide rates readable.
    std::string digits = absl::StrFormat("%.0f", v);
    std::string out;
    const int n = static_cast<int>(digits.size());
    for (int i = 0; i < n; ++i) {
      out += digits[i];
      if (digits[i] != '-' && (n - i - 1) % 3 == 0 && i != n - 1) out += ',';
    }
    return out;
  }
  return absl::StrFormat("%.*f", decimals, v);
}

std::string Ratio(double a, double b) {
  if (std::isnan(a) || std::isnan(b) || b == 0) return "–";
  return absl::StrFormat("%.2f×", a / b);
}

std::string Percent(double fraction) {
  if (std::isnan(fraction)) return "–";
  return absl::StrFormat("%.0f%%", fraction * 100);
}

// PairedRatio renders the median over rounds of (cell's metric / other's metric in the same
// round), with the range when there are several rounds: pairing by round keeps a drift of the
// machine between rounds out of the ratio. Falls back to the ratio of medians.
std::string PairedRatio(const std::vector<JsonRecord>& cell, const std::vector<JsonRecord>& other,
                        const std::string& metric) {
  std::map<std::string, double> other_by_round;
  for (const JsonRecord& r : other) {
    if (std::optional<double> v = r.Number(metric)) other_by_round[r.String("round")] = *v;
  }
  std::vector<double> ratios;
  for (const JsonRecord& r : cell) {
    const auto it = other_by_round.find(r.String("round"));
    const std::optional<double> v = r.Number(metric);
    if (it != other_by_round.end() && v && it->second > 0) ratios.push_back(*v / it->second);
  }
  if (ratios.empty()) return Ratio(MedianOf(cell, metric), MedianOf(other, metric));
  std::string out = absl::StrFormat("%.2f×", Median(ratios));
  if (ratios.size() > 1) {
    absl::StrAppend(&out, absl::StrFormat(" (%.2f–%.2f)",
                                          *std::min_element(ratios.begin(), ratios.end()),
                                          *std::max_element(ratios.begin(), ratios.end())));
  }
  return out;
}

// A run during which other processes (or the hypervisor) took more than this fraction of a
// pinned CPU measured a shared machine, not the target.
constexpr double kContended = 0.25;

// Contended is true if any record saw more than kContended of other work on a pinned CPU.
bool Contended(const std::vector<JsonRecord>& records) {
  for (const JsonRecord& r : records) {
    if (r.Number("server_cpu_others").value_or(0) > kContended ||
        r.Number("client_cpu_others").value_or(0) > kContended) {
      return true;
    }
  }
  return false;
}

// WithOthers renders "41% (+ 55%)": a side's CPU (median), and the most that anything else took
// of its CPU in any round when pinned.
std::string WithOthers(const std::vector<JsonRecord>& records, const std::string& key) {
  const double own = MedianOf(records, key);
  const std::vector<double> others = Values(records, key + "_others");
  if (others.empty()) return Percent(own);
  return absl::StrCat(Percent(own), " (+ ",
                      Percent(*std::max_element(others.begin(), others.end())), ")");
}

struct Cell {
  std::vector<JsonRecord> records;
};
using Scenario = OrderedMap<Cell>;          // By target label.
using Pinning = OrderedMap<Scenario>;       // By scenario.

// PinTitle renders the "pin" tag as a heading.
std::string PinTitle(const std::string& pin) {
  if (pin == "pinned") return "Pinned: server on one CPU, load generator on the other";
  if (pin == "unpinned") return "Unpinned: server and load generator free on every CPU";
  return pin;
}

void PrintThroughput(const std::string& pin, Pinning& scenarios) {
  bool header = false;
  bool flagged = false;
  for (auto& [scenario_name, targets] : scenarios.items()) {
    if (targets.items().empty()) continue;
    const JsonRecord& first = targets.items().front().second.records.front();
    const std::string mode = first.String("mode");
    const std::string metric = MetricOf(mode);
    if (metric.empty()) continue;
    if (!header) {
      std::cout << "\n### " << PinTitle(pin) << "\n\n"
                << "| scenario | target | rounds | median | range | × baseline (per-round range) | × naive | "
                   "p50 µs | p99 µs | p99.9 µs | server CPU (+ others on its CPU) | server CPU µs per op "
                   "(× baseline) | load CPU (+ others) | errors |\n"
                << "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n";
      header = true;
    }
    const std::string baseline = first.String("baseline");
    const Cell* base = targets.Find(baseline);
    const Cell* naive = targets.Find(kNaive);
    const double base_rate = base != nullptr ? MedianOf(base->records, metric) : NAN;
    const double base_cost =
        base != nullptr ? MedianOf(base->records, "server_cpu") / base_rate * 1e6 : NAN;
    for (auto& [label, cell] : targets.items()) {
      const std::vector<double> rates = Values(cell.records, metric);
      const double rate = Median(rates);
      const double lo = rates.empty() ? NAN : *std::min_element(rates.begin(), rates.end());
      const double hi = rates.empty() ? NAN : *std::max_element(rates.begin(), rates.end());
      const bool is_echo = mode != "http";
      const int decimals = 0;
      flagged |= Contended(cell.records);
      std::cout << "| " << scenario_name << " | " << label
                << (Contended(cell.records) ? " ⚠" : "") << " | " << cell.records.size()
                << " | " << Num(rate, decimals) << " " << UnitOf(mode) << " | "
                << Num(lo, decimals) << "–" << Num(hi, decimals) << " | "
                << (label == baseline ? "1.00× (baseline " + baseline + ")"
                                      : (base != nullptr
                                             ? PairedRatio(cell.records, base->records, metric)
                                             : std::string("–")) +
                                            " " + baseline)
                << " | "
                << (!is_echo || naive == nullptr ? std::string("–")
                    : label == kNaive              ? std::string("1.00×")
                                                   : PairedRatio(cell.records, naive->records, metric))
                << " | " << Num(MedianOf(cell.records, "lat_p50_us"), 1) << " | "
                << Num(MedianOf(cell.records, "lat_p99_us"), 1) << " | "
                << Num(MedianOf(cell.records, "lat_p999_us"), 1) << " | "
                << WithOthers(cell.records, "server_cpu") << " | "
                << Num(MedianOf(cell.records, "server_cpu") / rate * 1e6, 1) << " ("
                << Ratio(MedianOf(cell.records, "server_cpu") / rate * 1e6, base_cost) << ") | "
                << WithOthers(cell.records, "client_cpu") << " | "
                << Num(SumOf(cell.records, "errors")) << " |\n";
    }
  }
  if (flagged) {
    std::cout << "\n⚠ = in at least one round, other processes took more than "
              << Percent(kContended)
              << " of a pinned CPU (\"+ others\", the worst round): that figure measured a "
                 "shared machine.\n";
  }
}

void PrintIdle(const std::string& pin, Pinning& scenarios) {
  Scenario* idle = nullptr;
  for (auto& [name, targets] : scenarios.items()) {
    if (!targets.items().empty() &&
        targets.items().front().second.records.front().String("mode") == "idle") {
      idle = &targets;
    }
  }
  if (idle == nullptr) return;
  std::cout << "\n### Idle connections (" << PinTitle(pin) << ")\n\n"
            << "| target | held / asked | server RSS before → held | KiB per conn | "
               "× naive | threads held | opened per s | echo after hold | dropped | errors |\n"
            << "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n";
  const Cell* naive = idle->Find(kNaive);
  const double naive_kib = naive != nullptr ? MedianOf(naive->records, "rss_per_conn_kib") : NAN;
  for (auto& [label, cell] : idle->items()) {
    const double kib = MedianOf(cell.records, "rss_per_conn_kib");
    std::cout << "| " << label << " | " << Num(MedianOf(cell.records, "held")) << " / "
              << Num(MedianOf(cell.records, "conns")) << " | "
              << Num(MedianOf(cell.records, "server_rss_before_kib") / 1024, 1) << " → "
              << Num(MedianOf(cell.records, "server_rss_held_kib") / 1024, 1) << " MiB | "
              << Num(kib, 1) << " | " << Ratio(kib, naive_kib) << " | "
              << Num(MedianOf(cell.records, "server_threads_held")) << " | "
              << Num(MedianOf(cell.records, "open_per_s")) << " | "
              << Num(MedianOf(cell.records, "rechecked_ok")) << " | "
              << Num(SumOf(cell.records, "dropped_while_held")) << " | "
              << Num(SumOf(cell.records, "errors")) << " |\n";
  }
}

void PrintControl(std::vector<JsonRecord>& tasks, std::vector<JsonRecord>& watches) {
  if (tasks.empty() && watches.empty()) return;
  std::cout << "\n### Control plane\n\n";
  if (!tasks.empty()) {
    std::cout << "| weftd listener | live tasks (running + queued) | ListTasks first page "
                 "p50 / max | ListTasks all tasks p50 / max (pages of 1000) | all, min_idle 1 ms "
                 "p50 / max | all, order_by \"idle desc\" p50 / max | StopServer | "
                 "stopped cooperative / forced / dropped |\n"
              << "|---|---:|---:|---:|---:|---:|---:|---:|\n";
    for (const JsonRecord& r : tasks) {
      std::cout << "| " << r.String("label") << " | "
                << Num(r.Number("live_tasks").value_or(NAN)) << " ("
                << Num(r.Number("running_tasks").value_or(NAN)) << " + "
                << Num(r.Number("queued_tasks").value_or(NAN)) << ") | "
                << Num(r.Number("list_first_page_p50_ms").value_or(NAN), 2) << " / "
                << Num(r.Number("list_first_page_max_ms").value_or(NAN), 2) << " ms | "
                << Num(r.Number("list_all_p50_ms").value_or(NAN), 1) << " / "
                << Num(r.Number("list_all_max_ms").value_or(NAN), 1) << " ms ("
                << Num(r.Number("list_all_tasks").value_or(NAN)) << " listed) | "
                << Num(r.Number("list_min_idle_p50_ms").value_or(NAN), 1) << " / "
                << Num(r.Number("list_min_idle_max_ms").value_or(NAN), 1) << " ms ("
                << Num(r.Number("list_min_idle_tasks").value_or(NAN)) << ") | "
                << Num(r.Number("list_idle_desc_p50_ms").value_or(NAN), 1) << " / "
                << Num(r.Number("list_idle_desc_max_ms").value_or(NAN), 1) << " ms ("
                << Num(r.Number("list_idle_desc_tasks").value_or(NAN)) << ") | "
                << Num(r.Number("stop_ms").value_or(NAN), 1) << " ms | "
                << Num(r.Number("stop_cooperative").value_or(NAN)) << " / "
                << Num(r.Number("stop_forced").value_or(NAN)) << " / "
                << Num(r.Number("stop_dropped").value_or(NAN)) << " |\n";
    }
  }
  if (!watches.empty()) {
    double events = 0;
    double dropped = 0;
    for (const JsonRecord& r : watches) {
      events += r.Number("events").value_or(0);
      dropped += r.Number("dropped_events").value_or(0);
    }
    std::cout << "\nWatchEvents subscribers during the watcher runs: " << watches.size()
              << " stream(s), " << Num(events) << " events delivered, " << Num(dropped)
              << " dropped"
              << (dropped > 0 ? " (the subscriber's bounded buffer overflowed: by design a slow "
                                "watcher loses events rather than slowing the server)"
                              : "")
              << ".\n";
  }
}

// PrintWatchers: weft-ctlbench watchers runs — many streams from one client, the worst unary
// call under them (ListServers every 10 ms) and the events the reading ones saw.
void PrintWatchers(const std::vector<JsonRecord>& runs) {
  if (runs.empty()) return;
  std::cout << "\n### WatchEvents streams, unary probe and churn\n\n"
            << "| label | streams (stalled) | established | churn conn | ListServers p50 / p99 / "
               "max | probes | events read (dropped) | fewest per reader | clean |\n"
            << "|---|---:|---:|---:|---:|---:|---:|---:|---|\n";
  for (const JsonRecord& r : runs) {
    std::cout << "| " << r.String("label") << " | " << Num(r.Number("watchers").value_or(NAN))
              << " (" << Num(r.Number("stalled").value_or(NAN)) << ") | "
              << Num(r.Number("established").value_or(NAN)) << " | "
              << Num(r.Number("churn_conns").value_or(NAN)) << " | "
              << Num(r.Number("probe_p50_ms").value_or(NAN), 2) << " / "
              << Num(r.Number("probe_p99_ms").value_or(NAN), 2) << " / "
              << Num(r.Number("probe_max_ms").value_or(NAN), 2) << " ms | "
              << Num(r.Number("probes").value_or(NAN)) << " | "
              << Num(r.Number("events").value_or(NAN)) << " ("
              << Num(r.Number("dropped_events").value_or(NAN)) << ") | "
              << Num(r.Number("min_events_per_watcher").value_or(NAN)) << " | "
              << (r.Number("clean").value_or(0) > 0 ? "yes" : "no") << " |\n";
  }
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::cerr << "usage: weft-report RESULTS.jsonl...\n";
    return 2;
  }
  OrderedMap<Pinning> pins;
  std::vector<JsonRecord> tasks;
  std::vector<JsonRecord> watches;
  std::vector<JsonRecord> watchers;
  int bad = 0;
  for (int i = 1; i < argc; ++i) {
    std::ifstream file(argv[i]);
    if (!file) {
      std::cerr << "weft-report: cannot read " << argv[i] << "\n";
      return 1;
    }
    std::string line;
    while (std::getline(file, line)) {
      if (line.empty() || line[0] != '{') continue;
      absl::StatusOr<JsonRecord> record = weft::bench::ParseJsonLine(line);
      if (!record.ok()) {
        ++bad;
        continue;
      }
      const std::string mode = record->String("mode");
      if (mode == "tasks") {
        tasks.push_back(*record);
      } else if (mode == "watch") {
        watches.push_back(*record);
      } else if (mode == "watchers") {
        watchers.push_back(*record);
      } else {
        pins[record->String("pin", "unpinned")][record->String("scenario", mode)]
            [record->String("label", record->String("target"))]
                .records.push_back(*record);
      }
    }
  }
  int runs = 0;
  int contended = 0;
  for (auto& [pin, scenarios] : pins.items()) {
    for (auto& [scenario, targets] : scenarios.items()) {
      for (auto& [label, cell] : targets.items()) {
        for (const JsonRecord& r : cell.records) {
          ++runs;
          contended += Contended({r}) ? 1 : 0;
        }
      }
    }
  }
  std::cout << "\nOther work on the machine: " << contended << " of " << runs
            << " runs had more than " << Percent(kContended)
            << " of a pinned CPU taken by other processes.\n";
  for (auto& [pin, scenarios] : pins.items()) PrintThroughput(pin, scenarios);
  for (auto& [pin, scenarios] : pins.items()) PrintIdle(pin, scenarios);
  PrintControl(tasks, watches);
  PrintWatchers(watchers);
  if (bad > 0) std::cerr << "weft-report: skipped " << bad << " malformed lines\n";
  return 0;
}

#include "actors/reports/timestamps.hpp"

#include <cctype>

namespace sb::actors::reports {

namespace {

// 9999-12-31T23:59:59.999Z.
constexpr int64_t max_ms = 253'402'300'799'999;

// Reads exactly `n` digits at `pos` and advances it.
std::optional<int> digits(std::string_view s, size_t& pos, size_t n) {
  if (pos + n > s.size()) {
    return std::nullopt;
  }
  int value = 0;
  for (size_t i = 0; i < n; ++i) {
    auto c = static_cast<unsigned char>(s[pos + i]);
    if (!std::isdigit(c)) {
      return std::nullopt;
    }
    value = value * 10 + (c - '0');
  }
  pos += n;
  return value;
}

bool leap(int y) {
  return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

int days_in_month(int y, int m) {
  static constexpr int days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  return m == 2 && leap(y) ? 29 : days[m - 1];
}

// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's
// days_from_civil).
int64_t days_from_civil(int64_t y, int m, int d) {
  y -= m <= 2;
  const int64_t era = (y >= 0 ? y : y - 399) / 400;
  const int64_t yoe = y - era * 400;
  const int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + doe - 719468;
}

bool expect(std::string_view s, size_t& pos, char c) {
  if (pos < s.size() && s[pos] == c) {
    ++pos;
    return true;
  }
  return false;
}

}  // namespace

std::optional<int64_t> parse_rfc3339(std::string_view s) {
  size_t pos = 0;
  auto y = digits(s, pos, 4);
  if (!y || !expect(s, pos, '-')) {
    return std::nullopt;
  }
  auto mo = digits(s, pos, 2);
  if (!mo || *mo < 1 || *mo > 12 || !expect(s, pos, '-')) {
    return std::nullopt;
  }
  auto d = digits(s, pos, 2);
  if (!d || *d < 1 || *d > days_in_month(*y, *mo)) {
    return std::nullopt;
  }
  int64_t ms = days_from_civil(*y, *mo, *d) * 86'400'000;
  if (pos == s.size()) {
    return ms;  // A full date: midnight UTC.
  }

  if (!expect(s, pos, 'T') && !expect(s, pos, 't')) {
    return std::nullopt;
  }
  auto h = digits(s, pos, 2);
  auto mi = h && expect(s, pos, ':') ? digits(s, pos, 2) : std::nullopt;
  auto sec = mi && expect(s, pos, ':') ? digits(s, pos, 2) : std::nullopt;
  // 60 is a leap second (RFC 3339 §5.6); it is read as the next second.
  if (!sec || *h > 23 || *mi > 59 || *sec > 60) {
    return std::nullopt;
  }
  ms += ((*h * 60 + *mi) * 60 + *sec) * int64_t{1000};

  // A fraction: milliseconds kept, finer digits dropped.
  if (expect(s, pos, '.')) {
    size_t start = pos;
    int64_t frac = 0;
    while (pos < s.size() && std::isdigit(static_cast<unsigned char>(s[pos]))) {
      if (pos - start < 3) {
        frac = frac * 10 + (s[pos] - '0');
      }
      ++pos;
    }
    if (pos == start) {
      return std::nullopt;
    }
    for (size_t n = pos - start; n < 3; ++n) {
      frac *= 10;
    }
    ms += frac;
  }

  if (expect(s, pos, 'Z') || expect(s, pos, 'z')) {
    return pos == s.size() ? std::optional<int64_t>{ms} : std::nullopt;
  }
  int sign = expect(s, pos, '+') ? 1 : expect(s, pos, '-') ? -1 : 0;
  if (sign == 0) {
    return std::nullopt;
  }
  auto oh = digits(s, pos, 2);
  auto om = oh && expect(s, pos, ':') ? digits(s, pos, 2) : std::nullopt;
  if (!om || *oh > 23 || *om > 59 || pos != s.size()) {
    return std::nullopt;
  }
  return ms - sign * (*oh * 60 + *om) * int64_t{60'000};
}

std::optional<int64_t> read_timestamp(const nlohmann::json& value) {
  std::optional<int64_t> ms;
  if (value.is_string()) {
    ms = parse_rfc3339(value.get_ref<const std::string&>());
  } else if (value.is_number_integer()) {
    ms = value.get<int64_t>();
  }
  if (!ms || *ms < 0 || *ms > max_ms) {
    return std::nullopt;
  }
  return ms;
}

}  // namespace sb::actors::reports

#include "persistence/odbc/connection_string.hpp"

#include <algorithm>
#include <cctype>
#include <vector>

namespace sb::persistence::odbc {

namespace {

struct pair_view {
  std::string_view key;
  std::string_view value;  // As written, braces included.
};

std::string_view trim(std::string_view x) {
  while (!x.empty() && std::isspace(static_cast<unsigned char>(x.front()))) {
    x.remove_prefix(1);
  }
  while (!x.empty() && std::isspace(static_cast<unsigned char>(x.back()))) {
    x.remove_suffix(1);
  }
  return x;
}

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) {
    return false;
  }
  for (size_t i = 0; i < a.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(a[i])) !=
        std::tolower(static_cast<unsigned char>(b[i]))) {
      return false;
    }
  }
  return true;
}

// Splits on ';' outside of {braced} values, which ODBC uses to quote values
// that contain ';' (e.g. passwords).
std::vector<pair_view> split(std::string_view cs) {
  std::vector<pair_view> out;
  size_t pos = 0;
  while (pos < cs.size()) {
    size_t eq = cs.find('=', pos);
    size_t semi = cs.find(';', pos);
    if (eq == std::string_view::npos || (semi != std::string_view::npos && semi < eq)) {
      // A fragment without '=': skip it.
      pos = semi == std::string_view::npos ? cs.size() : semi + 1;
      continue;
    }
    size_t end = eq + 1;
    while (end < cs.size() && std::isspace(static_cast<unsigned char>(cs[end]))) {
      ++end;
    }
    if (end < cs.size() && cs[end] == '{') {
      auto close = cs.find('}', end);
      end = close == std::string_view::npos ? cs.size() : close + 1;
    }
    end = std::min(cs.find(';', end), cs.size());
    out.push_back({trim(cs.substr(pos, eq - pos)), trim(cs.substr(eq + 1, end - eq - 1))});
    pos = end + 1;
  }
  return out;
}

}  // namespace

bool contains_ci(std::string_view haystack, std::string_view needle) {
  auto it = std::search(haystack.begin(), haystack.end(), needle.begin(), needle.end(),
                        [](char a, char b) {
                          return std::tolower(static_cast<unsigned char>(a)) ==
                                 std::tolower(static_cast<unsigned char>(b));
                        });
  return it != haystack.end();
}

std::optional<std::string> attribute(std::string_view cs, std::string_view key) {
  for (const auto& p : split(cs)) {
    if (!iequals(p.key, key)) {
      continue;
    }
    auto v = p.value;
    if (v.size() >= 2 && v.front() == '{' && v.back() == '}') {
      v = v.substr(1, v.size() - 2);
    }
    return std::string{v};
  }
  return std::nullopt;
}

std::string with_attribute(std::string_view cs, std::string_view key, std::string_view value) {
  std::string out;
  bool replaced = false;
  for (const auto& p : split(cs)) {
    if (!out.empty()) {
      out += ';';
    }
    out.append(p.key);
    out += '=';
    if (iequals(p.key, key)) {
      out.append(value);
      replaced = true;
    } else {
      out.append(p.value);
    }
  }
  if (!replaced) {
    if (!out.empty()) {
      out += ';';
    }
    out.append(key);
    out += '=';
    out.append(value);
  }
  return out;
}

}  // namespace sb::persistence::odbc

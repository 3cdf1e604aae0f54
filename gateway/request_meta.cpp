#include "gateway/request_meta.hpp"

#include <openssl/rand.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <random>

namespace sb::gateway {

namespace {

constexpr char hex_digits[] = "0123456789abcdef";

bool is_lower_hex(std::string_view x) {
  return std::all_of(x.begin(), x.end(),
                     [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); });
}

bool all_zero(std::string_view x) {
  return std::all_of(x.begin(), x.end(), [](char c) { return c == '0'; });
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') {
    return c - '0';
  }
  if (c >= 'a' && c <= 'f') {
    return c - 'a' + 10;
  }
  if (c >= 'A' && c <= 'F') {
    return c - 'A' + 10;
  }
  return -1;
}

std::string_view trim(std::string_view x) {
  while (!x.empty() && (x.front() == ' ' || x.front() == '\t')) {
    x.remove_prefix(1);
  }
  while (!x.empty() && (x.back() == ' ' || x.back() == '\t')) {
    x.remove_suffix(1);
  }
  return x;
}

char lower(char c) {
  return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
}

// Fallback when OpenSSL's generator fails, which it only does when it cannot
// seed; ids need uniqueness, not secrecy.
void fallback_random(std::array<unsigned char, 16>& bytes) {
  thread_local std::mt19937_64 engine{std::random_device{}()};
  for (size_t i = 0; i < bytes.size(); i += 8) {
    uint64_t v = engine();
    for (size_t j = 0; j < 8; ++j) {
      bytes[i + j] = static_cast<unsigned char>(v >> (8 * j));
    }
  }
}

}  // namespace

bool valid_request_id(std::string_view x) {
  if (x.empty() || x.size() > 128) {
    return false;
  }
  return std::all_of(x.begin(), x.end(), [](char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' ||
           c == '_' || c == ':' || c == '-';
  });
}

std::string new_request_id() {
  std::array<unsigned char, 16> bytes;
  if (RAND_bytes(bytes.data(), static_cast<int>(bytes.size())) != 1) {
    fallback_random(bytes);
  }
  std::string out(32, '0');
  for (size_t i = 0; i < bytes.size(); ++i) {
    out[2 * i] = hex_digits[bytes[i] >> 4];
    out[2 * i + 1] = hex_digits[bytes[i] & 0xf];
  }
  return out;
}

std::string request_id_of(std::string_view client_value) {
  if (valid_request_id(client_value)) {
    return std::string{client_value};
  }
  return new_request_id();
}

std::string trace_id_of(std::string_view traceparent) {
  // W3C Trace Context §3.2: version "00" has exactly four fields of fixed
  // width, lowercase hex, and all-zero trace or parent ids are invalid.
  auto tp = trim(traceparent);
  if (tp.size() != 55 || tp[2] != '-' || tp[35] != '-' || tp[52] != '-') {
    return {};
  }
  auto version = tp.substr(0, 2);
  auto trace = tp.substr(3, 32);
  auto parent = tp.substr(36, 16);
  auto flags = tp.substr(53, 2);
  if (version != "00" || !is_lower_hex(trace) || !is_lower_hex(parent) || !is_lower_hex(flags)) {
    return {};
  }
  if (all_zero(trace) || all_zero(parent)) {
    return {};
  }
  return std::string{trace};
}

std::optional<std::string> percent_decode(std::string_view x, bool plus_as_space) {
  std::string out;
  out.reserve(x.size());
  for (size_t i = 0; i < x.size(); ++i) {
    char c = x[i];
    if (c == '+' && plus_as_space) {
      out += ' ';
      continue;
    }
    if (c != '%') {
      out += c;
      continue;
    }
    if (i + 2 >= x.size()) {
      return std::nullopt;
    }
    int hi = hex_value(x[i + 1]);
    int lo = hex_value(x[i + 2]);
    if (hi < 0 || lo < 0) {
      return std::nullopt;
    }
    out += static_cast<char>(hi * 16 + lo);
    i += 2;
  }
  return out;
}

std::map<std::string, std::string> parse_query(std::string_view query) {
  std::map<std::string, std::string> out;
  while (!query.empty()) {
    auto amp = query.find('&');
    auto pair = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view{} : query.substr(amp + 1);
    if (pair.empty()) {
      continue;
    }
    auto eq = pair.find('=');
    auto key = percent_decode(pair.substr(0, eq), true);
    auto value = eq == std::string_view::npos ? std::optional<std::string>{std::string{}}
                                              : percent_decode(pair.substr(eq + 1), true);
    if (!key || !value || key->empty()) {
      continue;
    }
    out.emplace(std::move(*key), std::move(*value));
  }
  return out;
}

std::string bearer_token(std::string_view authorization) {
  auto v = trim(authorization);
  constexpr std::string_view scheme = "bearer";
  if (v.size() <= scheme.size() || (v[scheme.size()] != ' ' && v[scheme.size()] != '\t')) {
    return {};
  }
  for (size_t i = 0; i < scheme.size(); ++i) {
    if (lower(v[i]) != scheme[i]) {
      return {};
    }
  }
  return std::string{trim(v.substr(scheme.size()))};
}

std::string media_type(std::string_view content_type) {
  auto v = trim(content_type.substr(0, content_type.find(';')));
  std::string out;
  out.reserve(v.size());
  for (char c : v) {
    out += lower(c);
  }
  return out;
}

}  // namespace sb::gateway

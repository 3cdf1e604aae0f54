#include "actors/credentials.hpp"

#include <openssl/crypto.h>
#include <sodium.h>

#include <array>
#include <chrono>
#include <ctime>
#include <mutex>

namespace sb::actors {

namespace {

void ensure_sodium() {
  static std::once_flag once;
  std::call_once(once, [] {
    if (sodium_init() < 0) {
      std::abort();  // No randomness source: nothing secure can be done.
    }
  });
}

std::string base64url(const unsigned char* data, size_t len) {
  ensure_sodium();
  std::string out(sodium_base64_ENCODED_LEN(len, sodium_base64_VARIANT_URLSAFE_NO_PADDING), '\0');
  sodium_bin2base64(out.data(), out.size(), data, len, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
  out.resize(std::char_traits<char>::length(out.c_str()));
  return out;
}

struct argon_cost {
  unsigned long long ops;
  size_t mem;
};

argon_cost cost_of(config::hash_cost c) {
  switch (c) {
    case config::hash_cost::moderate:
      return {crypto_pwhash_OPSLIMIT_MODERATE, crypto_pwhash_MEMLIMIT_MODERATE};
    case config::hash_cost::minimum:
      return {crypto_pwhash_OPSLIMIT_MIN, crypto_pwhash_MEMLIMIT_MIN};
    case config::hash_cost::interactive:
      break;
  }
  return {crypto_pwhash_OPSLIMIT_INTERACTIVE, crypto_pwhash_MEMLIMIT_INTERACTIVE};
}

}  // namespace

std::string new_token() {
  ensure_sodium();
  std::array<unsigned char, 32> bytes;
  randombytes_buf(bytes.data(), bytes.size());
  return base64url(bytes.data(), bytes.size());
}

std::string token_hash(std::string_view token) {
  // On every authenticated request: libsodium's SHA-256 allocates nothing,
  // unlike an OpenSSL 3 EVP digest that looks its algorithm up each call.
  static constexpr char hex[] = "0123456789abcdef";
  unsigned char digest[crypto_hash_sha256_BYTES];
  crypto_hash_sha256(digest, reinterpret_cast<const unsigned char*>(token.data()), token.size());
  std::string out(2 * sizeof(digest), '\0');
  for (size_t i = 0; i < sizeof(digest); ++i) {
    out[2 * i] = hex[digest[i] >> 4];
    out[2 * i + 1] = hex[digest[i] & 0xf];
  }
  return out;
}

std::optional<std::string> hash_password(std::string_view password, config::hash_cost cost) {
  ensure_sodium();
  auto c = cost_of(cost);
  char out[crypto_pwhash_STRBYTES];
  if (crypto_pwhash_str_alg(out, password.data(), password.size(), c.ops, c.mem,
                            crypto_pwhash_ALG_ARGON2ID13) != 0) {
    return std::nullopt;
  }
  return std::string{out};
}

bool verify_password(std::string_view password, const std::string& stored) {
  ensure_sodium();
  return crypto_pwhash_str_verify(stored.c_str(), password.data(), password.size()) == 0;
}

std::string new_id(std::string_view prefix) {
  static constexpr char alphabet[] = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";
  ensure_sodium();

  // Ids made in the same millisecond must still sort in creation order, so
  // the random part of the previous id is incremented instead of redrawn.
  static std::mutex mtx;
  static uint64_t last_ms = 0;
  static std::array<unsigned char, 16> last_rnd{};
  std::array<unsigned char, 16> rnd;
  auto ms = static_cast<uint64_t>(now_ms());
  {
    std::lock_guard<std::mutex> guard{mtx};
    if (ms <= last_ms) {
      ms = last_ms;
      // Sixteen base-32 digits, least significant last.
      for (auto i = last_rnd.size(); i-- > 0;) {
        if (++last_rnd[i] < 32) {
          break;
        }
        last_rnd[i] = 0;
      }
    } else {
      last_ms = ms;
      randombytes_buf(last_rnd.data(), last_rnd.size());
      for (auto& b : last_rnd) {
        b &= 31;
      }
      last_rnd[0] &= 15;  // Headroom: increments within a millisecond never wrap.
    }
    rnd = last_rnd;
  }

  std::string out{prefix};
  out += '_';
  // 48 bits of milliseconds, most significant first, in ten characters.
  for (int shift = 45; shift >= 0; shift -= 5) {
    out += alphabet[(ms >> shift) & 31];
  }
  for (auto b : rnd) {
    out += alphabet[b];
  }
  return out;
}

int64_t now_ms() {
  using namespace std::chrono;
  return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
}

std::string rfc3339(int64_t ms) {
  std::time_t secs = static_cast<std::time_t>(ms / 1000);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[64];
  std::snprintf(buf, sizeof(buf), "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
                tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                static_cast<int>(ms % 1000));
  return buf;
}

bool equal_secrets(std::string_view a, std::string_view b) {
  // Compare digests so that the length of the secret does not leak either.
  auto da = token_hash(a);
  auto db = token_hash(b);
  return CRYPTO_memcmp(da.data(), db.data(), da.size()) == 0;
}

}  // namespace sb::actors

#include "persistence/result.hpp"

namespace sb::persistence {

const char* to_string(db_errc x) {
  switch (x) {
    case db_errc::unavailable:
      return "unavailable";
    case db_errc::transient:
      return "transient";
    case db_errc::conflict:
      return "conflict";
    case db_errc::invalid:
      return "invalid";
    case db_errc::timeout:
      return "timeout";
    case db_errc::internal:
      return "internal";
  }
  return "internal";
}

}  // namespace sb::persistence

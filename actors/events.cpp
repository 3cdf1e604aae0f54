#include "actors/events.hpp"

#include "observability/log.hpp"

namespace sb::actors {

std::string to_json(const event& x) {
  using observability::json_escape;
  std::string out;
  out.reserve(96 + x.type.size() + x.id.size() + x.workspace_id.size() + x.data.size());
  out += R"({"type":")";
  out += json_escape(x.type);
  out += R"(","id":")";
  out += json_escape(x.id);
  out += R"(","workspace_id":")";
  out += json_escape(x.workspace_id);
  out += R"(","data":)";
  out += x.data.empty() ? "null" : x.data;
  out += R"(,"occurred_at":)";
  out += std::to_string(x.occurred_at);
  out += '}';
  return out;
}

}  // namespace sb::actors

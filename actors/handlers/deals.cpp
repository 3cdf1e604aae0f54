// Deals: create, list filtered by stage, read, patch with If-Match, delete.

#include "persistence/repositories/deals.hpp"
#include "actors/credentials.hpp"
#include "actors/handlers/crud.hpp"
#include "actors/handlers/validation.hpp"
#include "persistence/repositories/contacts.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <set>

namespace sb::actors::handlers {

namespace {

namespace repo = persistence::deals;
using persistence::deal_record;

// HubSpot's default sales pipeline, by internal stage name.
constexpr std::array<std::string_view, 7> stages = {
    "appointmentscheduled",
    "qualifiedtobuy",
    "presentationscheduled",
    "decisionmakerboughtin",
    "contractsent",
    "closedwon",
    "closedlost",
};

constexpr const char* stage_list =
    "must be one of appointmentscheduled, qualifiedtobuy, presentationscheduled, "
    "decisionmakerboughtin, contractsent, closedwon, closedlost";

bool known_stage(std::string_view x) {
  return std::find(stages.begin(), stages.end(), x) != stages.end();
}

json amount_json(const deal_record& d) {
  if (!d.amount_minor) {
    return nullptr;
  }
  return static_cast<double>(*d.amount_minor) / 100.0;
}

json to_json(const deal_record& d) {
  auto opt = [](const persistence::opt_text& x) { return x ? json(*x) : json(nullptr); };
  return {
      {"id", d.id},
      {"name", d.name},
      {"stage", d.stage},
      {"amount", amount_json(d)},
      {"currency", opt(d.currency)},
      {"close_date", opt(d.close_date)},
      {"contact_ids", d.contact_ids},
      {"version", d.version},
      {"created_at", rfc3339(d.created_at)},
      {"updated_at", rfc3339(d.updated_at)},
  };
}

// Amounts are kept in hundredths: a number with at most two decimals, from
// zero up to 10^13 (well inside both int64 and a double's exact range).
std::optional<int64_t> read_amount(const json& v) {
  if (!v.is_number()) {
    return std::nullopt;
  }
  double x = v.get<double>();
  if (!std::isfinite(x) || x < 0 || x > 1e13) {
    return std::nullopt;
  }
  // Hundredths must give the same number back: 12.5 passes, 0.000000001 not.
  double cents = std::round(x * 100.0);
  if (std::fabs(cents / 100.0 - x) > 1e-12 * std::max(1.0, x)) {
    return std::nullopt;
  }
  return static_cast<int64_t>(cents);
}

// Reads the writable fields into `d`; on create, name is required.
void read_fields(const json& body, deal_record& d, bool create, field_errors& errors) {
  reject_unknown(body, {"name", "stage", "amount", "currency", "close_date", "contact_ids"},
                 errors);
  auto name = read_text(body, "name", {create, false, 200, 0}, errors);
  if (name.value) {
    d.name = *name.value;
  }
  auto stage = read_text(body, "stage", {false, false, 40, 0}, errors);
  if (stage.value) {
    if (known_stage(*stage.value)) {
      d.stage = *stage.value;
    } else {
      errors.add("stage", stage_list);
    }
  }
  if (auto i = body.find("amount"); i != body.end() && !i->is_null()) {
    if (auto cents = read_amount(*i)) {
      d.amount_minor = cents;
    } else {
      errors.add("amount", "must be a number from 0 with at most two decimals");
    }
  }
  auto currency = read_text(body, "currency", {false, true, 3, 0}, errors);
  if (currency.value) {
    const auto& c = *currency.value;
    bool ok = c.size() == 3 &&
              std::all_of(c.begin(), c.end(), [](char x) { return x >= 'A' && x <= 'Z'; });
    if (ok) {
      d.currency = c;
    } else {
      errors.add("currency", "must be an ISO 4217 code such as USD");
    }
  }
  auto close = read_text(body, "close_date", {false, true, 10, 0}, errors);
  if (close.value) {
    if (valid_date(*close.value)) {
      d.close_date = close.value;
    } else {
      errors.add("close_date", "must be a date written YYYY-MM-DD");
    }
  }
  if (auto i = body.find("contact_ids"); i != body.end()) {
    if (!i->is_array() || i->size() > 100) {
      errors.add("contact_ids", "must be an array of at most 100 contact ids");
      return;
    }
    std::set<std::string> seen;
    for (const auto& id : *i) {
      if (!id.is_string() || id.get_ref<const std::string&>().empty() ||
          id.get_ref<const std::string&>().size() > 64) {
        errors.add("contact_ids", "must hold contact ids (strings)");
        return;
      }
      if (seen.insert(id.get<std::string>()).second) {
        d.contact_ids.push_back(id.get<std::string>());
      }
    }
  }
}

// Every linked contact must exist in the caller's workspace.
std::optional<api_response> check_contacts(handler_context& ctx, persistence::connection& conn,
                                           const deal_record& d) {
  const auto& rid = ctx.request.request_id;
  auto found = persistence::contacts::existing(conn, ctx.session.workspace_id, d.contact_ids);
  if (!found) {
    return db_failure(found.error(), rid);
  }
  if (found->size() == d.contact_ids.size()) {
    return std::nullopt;
  }
  field_errors errors;
  for (const auto& id : d.contact_ids) {
    if (std::find(found->begin(), found->end(), id) == found->end()) {
      errors.add("contact_ids", "no contact " + id + " in this workspace");
    }
  }
  return errors.response(rid);
}

const resource<deal_record> deals{
    "deal", "/v1/deals", repo::find, repo::insert, repo::update, repo::remove, to_json,
};

}  // namespace

api_response deals_create(handler_context& ctx) {
  const auto& rid = ctx.request.request_id;
  std::optional<api_response> bad;
  auto body = parse_object(ctx.request, bad);
  if (!body) {
    return *bad;
  }
  deal_record d;
  d.stage = "appointmentscheduled";
  field_errors errors;
  read_fields(*body, d, true, errors);
  if (d.amount_minor && !d.currency) {
    d.currency = "USD";
  }
  if (!errors.empty()) {
    return errors.response(rid);
  }

  d.id = new_id("dl");
  d.workspace_id = ctx.session.workspace_id;
  d.version = 1;
  d.created_at = d.updated_at = now_ms();
  return create_one(ctx, deals, d,
                    [&](persistence::connection& conn) { return check_contacts(ctx, conn, d); });
}

api_response deals_list(handler_context& ctx) {
  const auto& req = ctx.request;
  field_errors errors;
  auto params = read_list_params(req, errors);
  std::string stage;
  if (auto i = req.query.find("stage"); i != req.query.end()) {
    stage = i->second;
    if (!known_stage(stage)) {
      errors.add("stage", stage_list);
    }
  }
  if (!errors.empty()) {
    return errors.response(req.request_id);
  }

  auto variant = std::to_string(params.limit) + "|" + stage;
  return list_page(ctx, "deal", variant, params.before_id.empty(), [&] {
    auto rows =
        repo::list(ctx.conn, ctx.session.workspace_id, {params.limit + 1, params.before_id}, stage);
    if (!rows) {
      return db_failure(rows.error(), req.request_id);
    }
    return page_response(*rows, params.limit, to_json);
  });
}

api_response deals_get(handler_context& ctx) {
  return get_one(ctx, deals);
}

api_response deals_update(handler_context& ctx) {
  std::optional<api_response> bad;
  auto body = parse_object(ctx.request, bad);
  if (!body) {
    return *bad;
  }
  deal_record patch;
  field_errors errors;
  read_fields(*body, patch, false, errors);
  if (!errors.empty()) {
    return errors.response(ctx.request.request_id);
  }
  return patch_one(ctx, deals, [&](persistence::connection& conn, deal_record& d) {
    if (body->contains("name")) {
      d.name = patch.name;
    }
    if (body->contains("stage")) {
      d.stage = patch.stage;
    }
    if (body->contains("amount")) {
      d.amount_minor = patch.amount_minor;
    }
    if (body->contains("currency")) {
      d.currency = patch.currency;
    }
    if (d.amount_minor && !d.currency) {
      d.currency = "USD";  // As on create: an amount always has a currency.
    }
    if (body->contains("close_date")) {
      d.close_date = patch.close_date;
    }
    if (!body->contains("contact_ids")) {
      return std::optional<api_response>{};
    }
    d.contact_ids = patch.contact_ids;
    return check_contacts(ctx, conn, d);
  });
}

api_response deals_delete(handler_context& ctx) {
  return delete_one(ctx, deals);
}

}  // namespace sb::actors::handlers

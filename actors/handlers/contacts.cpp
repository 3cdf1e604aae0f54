// CRM contacts: create, list with search, read, patch with If-Match, delete.

#include "persistence/repositories/contacts.hpp"
#include "actors/credentials.hpp"
#include "actors/handlers/crud.hpp"
#include "actors/handlers/validation.hpp"

#include <array>

namespace sb::actors::handlers {

namespace {

namespace repo = persistence::contacts;
using persistence::contact_record;

// HubSpot's internal names of the default lifecycle stages.
constexpr std::array<std::string_view, 8> lifecycle_stages = {
    "subscriber",         "lead",        "marketingqualifiedlead",
    "salesqualifiedlead", "opportunity", "customer",
    "evangelist",         "other",
};

json to_json(const contact_record& c) {
  auto opt = [](const persistence::opt_text& x) { return x ? json(*x) : json(nullptr); };
  return {
      {"id", c.id},
      {"email", c.email},
      {"first_name", opt(c.first_name)},
      {"last_name", opt(c.last_name)},
      {"phone", opt(c.phone)},
      {"company", opt(c.company)},
      {"lifecycle_stage", opt(c.lifecycle_stage)},
      {"version", c.version},
      {"created_at", rfc3339(c.created_at)},
      {"updated_at", rfc3339(c.updated_at)},
  };
}

// Reads the writable fields into `c`; on create, email is required.
void read_fields(const json& body, contact_record& c, bool create, field_errors& errors) {
  reject_unknown(body, {"email", "first_name", "last_name", "phone", "company", "lifecycle_stage"},
                 errors);
  auto email = read_text(body, "email", {create, false, 254, 0}, errors);
  if (email.value) {
    if (valid_email(*email.value)) {
      c.email = *email.value;
    } else {
      errors.add("email", "must be an email address");
    }
  }
  auto assign = [&](const char* name, persistence::opt_text& target, size_t max) {
    auto f = read_text(body, name, {false, true, max, 0}, errors);
    if (f.present) {
      target = f.value;
    }
  };
  assign("first_name", c.first_name, 100);
  assign("last_name", c.last_name, 100);
  assign("phone", c.phone, 40);
  assign("company", c.company, 200);
  auto stage = read_text(body, "lifecycle_stage", {false, true, 40, 0}, errors);
  if (stage.present) {
    bool known = !stage.value;
    for (auto s : lifecycle_stages) {
      known = known || *stage.value == s;
    }
    if (known) {
      c.lifecycle_stage = stage.value;
    } else {
      errors.add("lifecycle_stage",
                 "must be one of subscriber, lead, marketingqualifiedlead, "
                 "salesqualifiedlead, opportunity, customer, evangelist, other");
    }
  }
}

const resource<contact_record> contacts{
    "contact",    "/v1/contacts",
    repo::find,   repo::insert,
    repo::update, repo::remove,
    to_json,      "a contact with this email already exists in the workspace",
};

}  // namespace

api_response contacts_create(handler_context& ctx) {
  const auto& rid = ctx.request.request_id;
  std::optional<api_response> bad;
  auto body = parse_object(ctx.request, bad);
  if (!body) {
    return *bad;
  }
  contact_record c;
  field_errors errors;
  read_fields(*body, c, true, errors);
  if (!errors.empty()) {
    return errors.response(rid);
  }

  c.id = new_id("ct");
  c.workspace_id = ctx.session.workspace_id;
  c.version = 1;
  c.created_at = c.updated_at = now_ms();
  return create_one(ctx, contacts, c,
                    [](persistence::connection&) { return std::optional<api_response>{}; });
}

api_response contacts_list(handler_context& ctx) {
  const auto& req = ctx.request;
  field_errors errors;
  auto params = read_list_params(req, errors);
  std::string q;
  if (auto i = req.query.find("q"); i != req.query.end()) {
    q = i->second;
    if (q.size() > 100 || !valid_utf8(q)) {
      errors.add("q", "must be UTF-8 text of at most 100 bytes");
    }
  }
  if (!errors.empty()) {
    return errors.response(req.request_id);
  }

  auto variant = std::to_string(params.limit) + "|" + q;
  return list_page(ctx, "contact", variant, params.before_id.empty(), [&] {
    // One row more than asked tells whether another page follows.
    auto rows =
        repo::list(ctx.conn, ctx.session.workspace_id, {params.limit + 1, params.before_id}, q);
    if (!rows) {
      return db_failure(rows.error(), req.request_id);
    }
    return page_response(*rows, params.limit, to_json);
  });
}

api_response contacts_get(handler_context& ctx) {
  return get_one(ctx, contacts);
}

api_response contacts_update(handler_context& ctx) {
  std::optional<api_response> bad;
  auto body = parse_object(ctx.request, bad);
  if (!body) {
    return *bad;
  }
  contact_record patch;
  field_errors errors;
  read_fields(*body, patch, false, errors);
  if (!errors.empty()) {
    return errors.response(ctx.request.request_id);
  }
  return patch_one(ctx, contacts, [&](persistence::connection&, contact_record& c) {
    auto take = [&](const char* name, persistence::opt_text& to, const persistence::opt_text& x) {
      if (body->contains(name)) {
        to = x;
      }
    };
    if (body->contains("email")) {
      c.email = patch.email;
    }
    take("first_name", c.first_name, patch.first_name);
    take("last_name", c.last_name, patch.last_name);
    take("phone", c.phone, patch.phone);
    take("company", c.company, patch.company);
    take("lifecycle_stage", c.lifecycle_stage, patch.lifecycle_stage);
    return std::optional<api_response>{};
  });
}

api_response contacts_delete(handler_context& ctx) {
  auto res = delete_one(ctx, contacts);
  // The delete cascades to deal_contacts: cached deals may still list the
  // contact (a 5xx may have committed too).
  if (res.status == 204 || res.status >= 500) {
    invalidate_all(ctx.svc, "deal", ctx.session.workspace_id);
  }
  return res;
}

}  // namespace sb::actors::handlers

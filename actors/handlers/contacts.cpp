// CRM contacts: create, list with search, read, patch with If-Match, delete.

#include "actors/credentials.hpp"
#include "actors/handlers/handler.hpp"
#include "actors/handlers/validation.hpp"
#include "persistence/repositories/contacts.hpp"

#include <array>

namespace sb::actors::handlers {

namespace {

namespace repo = persistence::contacts;
using persistence::contact_record;

// HubSpot's internal names of the default lifecycle stages.
constexpr std::array<std::string_view, 8> lifecycle_stages = {
  "subscriber",  "lead",     "marketingqualifiedlead", "salesqualifiedlead",
  "opportunity", "customer", "evangelist",             "other",
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
  reject_unknown(body,
                 {"email", "first_name", "last_name", "phone", "company", "lifecycle_stage"},
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
      errors.add("lifecycle_stage", "must be one of subscriber, lead, marketingqualifiedlead, "
                                    "salesqualifiedlead, opportunity, customer, evangelist, other");
    }
  }
}

api_response conflict_or_failure(const persistence::db_error& err, std::string_view rid) {
  if (err.code == persistence::db_errc::conflict) {
    return problem(409, "a contact with this email already exists in the workspace", rid);
  }
  return db_failure(err, rid);
}

api_response with_etag(uint16_t status, const contact_record& c) {
  auto res = json_response(status, to_json(c).dump());
  res.headers.emplace_back("ETag", etag_of(c.version));
  return res;
}

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
  if (auto st = repo::insert(ctx.conn, c); !st) {
    return conflict_or_failure(st.error(), rid);
  }

  auto data = to_json(c).dump();
  add_event(ctx, "contact.created", c.id, data);
  auto res = json_response(201, std::move(data));
  res.headers.emplace_back("ETag", etag_of(c.version));
  res.headers.emplace_back("Location", "/v1/contacts/" + c.id);
  return res;
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

  // One row more than asked tells whether another page follows.
  auto rows = repo::list(ctx.conn, ctx.session.workspace_id, {params.limit + 1, params.before_id},
                         q);
  if (!rows) {
    return db_failure(rows.error(), req.request_id);
  }
  return page_response(*rows, params.limit, to_json);
}

api_response contacts_get(handler_context& ctx) {
  const auto& rid = ctx.request.request_id;
  auto found = repo::find(ctx.conn, ctx.session.workspace_id, ctx.request.params.at(0));
  if (!found) {
    return db_failure(found.error(), rid);
  }
  if (!*found) {
    return problem(404, "no such contact", rid);
  }
  return with_etag(200, **found);
}

api_response contacts_update(handler_context& ctx) {
  const auto& rid = ctx.request.request_id;
  std::optional<api_response> bad;
  auto body = parse_object(ctx.request, bad);
  if (!body) {
    return *bad;
  }
  contact_record patch;
  field_errors errors;
  read_fields(*body, patch, false, errors);
  if (!errors.empty()) {
    return errors.response(rid);
  }

  // Read, check the precondition and write in one transaction; the write is
  // also guarded by the version, so a concurrent writer cannot be lost.
  std::optional<api_response> outcome;
  contact_record updated;
  auto st = persistence::in_transaction(ctx.conn, [&](persistence::connection& conn) {
    outcome.reset();
    auto found = repo::find(conn, ctx.session.workspace_id, ctx.request.params.at(0));
    if (!found) {
      return persistence::db_result<bool>{found.error()};
    }
    if (!*found) {
      outcome = problem(404, "no such contact", rid);
      return persistence::db_result<bool>{false};
    }
    auto current = **found;
    if (!if_match_accepts(ctx.request.if_match, current.version)) {
      outcome = problem(412, "the contact changed since the given ETag", rid);
      return persistence::db_result<bool>{false};
    }
    updated = current;
    if (body->contains("email")) {
      updated.email = patch.email;
    }
    auto take = [&](const char* name, persistence::opt_text& to, const persistence::opt_text& x) {
      if (body->contains(name)) {
        to = x;
      }
    };
    take("first_name", updated.first_name, patch.first_name);
    take("last_name", updated.last_name, patch.last_name);
    take("phone", updated.phone, patch.phone);
    take("company", updated.company, patch.company);
    take("lifecycle_stage", updated.lifecycle_stage, patch.lifecycle_stage);
    updated.version = current.version + 1;
    updated.updated_at = now_ms();
    auto written = repo::update(conn, updated, current.version);
    if (written && !*written) {
      outcome = problem(412, "the contact changed while it was being updated", rid);
    }
    return written;
  });
  if (!st) {
    return conflict_or_failure(st.error(), rid);
  }
  if (outcome) {
    return *outcome;
  }

  add_event(ctx, "contact.updated", updated.id, to_json(updated).dump());
  return with_etag(200, updated);
}

api_response contacts_delete(handler_context& ctx) {
  const auto& rid = ctx.request.request_id;
  const auto& id = ctx.request.params.at(0);
  auto removed = repo::remove(ctx.conn, ctx.session.workspace_id, id);
  if (!removed) {
    return db_failure(removed.error(), rid);
  }
  if (!*removed) {
    return problem(404, "no such contact", rid);
  }
  add_event(ctx, "contact.deleted", id, "null");
  return no_content();
}

}  // namespace sb::actors::handlers

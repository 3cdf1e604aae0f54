#include "actors/import/contact_columns.hpp"

#include "actors/handlers/validation.hpp"

#include <algorithm>
#include <array>
#include <cctype>

namespace sb::actors::imports {

namespace {

struct header_name {
  std::string_view name;  // Lowercase, without spaces or underscores.
  contact_field field;
};

// HubSpot's export names and our API's, normalized.
constexpr std::array<header_name, 10> header_names{{
    {"recordid", contact_field::record_id},
    {"email", contact_field::email},
    {"firstname", contact_field::first_name},
    {"lastname", contact_field::last_name},
    {"phonenumber", contact_field::phone},
    {"phone", contact_field::phone},
    {"companyname", contact_field::company},
    {"company", contact_field::company},
    {"lifecyclestage", contact_field::lifecycle_stage},
    {"lifecycle", contact_field::lifecycle_stage},
}};

// HubSpot's internal names of the default lifecycle stages, as the contacts
// API accepts them; their labels normalize to the same text.
constexpr std::array<std::string_view, 8> lifecycle_stages = {
    "subscriber",         "lead",        "marketingqualifiedlead",
    "salesqualifiedlead", "opportunity", "customer",
    "evangelist",         "other",
};

// Lowercase ASCII without spaces, tabs, underscores or hyphens.
std::string normalized(std::string_view x) {
  std::string out;
  out.reserve(x.size());
  for (char c : x) {
    if (c == ' ' || c == '\t' || c == '_' || c == '-') {
      continue;
    }
    out += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  }
  return out;
}

std::string_view trimmed(std::string_view x) {
  auto blank = [](char c) { return c == ' ' || c == '\t'; };
  while (!x.empty() && blank(x.front())) {
    x.remove_prefix(1);
  }
  while (!x.empty() && blank(x.back())) {
    x.remove_suffix(1);
  }
  return x;
}

struct field_rule {
  contact_field field;
  const char* name;
  size_t max_length;  // In bytes of UTF-8, as the contacts API counts.
};

constexpr std::array<field_rule, 6> field_rules{{
    {contact_field::email, "email", 254},
    {contact_field::first_name, "first_name", 100},
    {contact_field::last_name, "last_name", 100},
    {contact_field::phone, "phone", 40},
    {contact_field::company, "company", 200},
    {contact_field::lifecycle_stage, "lifecycle_stage", 40},
}};

}  // namespace

contact_field field_of_header(std::string_view header) {
  auto key = normalized(header);
  for (const auto& h : header_names) {
    if (h.name == key) {
      return h.field;
    }
  }
  return contact_field::none;
}

std::string lifecycle_stage_of(std::string_view text) {
  auto key = normalized(text);
  for (auto s : lifecycle_stages) {
    if (s == key) {
      return std::string{s};
    }
  }
  return {};
}

contact_columns::contact_columns(const std::vector<std::string>& header) {
  for (const auto& cell : header) {
    auto f = field_of_header(cell);
    if (std::find(columns_.begin(), columns_.end(), f) != columns_.end()) {
      f = contact_field::none;  // The first column naming a field counts.
    }
    columns_.push_back(f == contact_field::record_id ? contact_field::none : f);
  }
}

bool contact_columns::has_email() const {
  return std::find(columns_.begin(), columns_.end(), contact_field::email) != columns_.end();
}

std::string contact_columns::read(const csv_record& rec, persistence::contact_record& out) const {
  if (!rec.error.empty()) {
    return rec.error;
  }
  out.email.clear();
  out.first_name = out.last_name = out.phone = out.company = out.lifecycle_stage = std::nullopt;

  for (const auto& rule : field_rules) {
    auto col = std::find(columns_.begin(), columns_.end(), rule.field);
    if (col == columns_.end()) {
      continue;
    }
    auto index = static_cast<size_t>(col - columns_.begin());
    auto value = index < rec.fields.size() ? trimmed(rec.fields[index]) : std::string_view{};
    if (value.empty()) {
      continue;
    }
    if (!handlers::valid_utf8(value)) {
      return std::string{rule.name} + ": not UTF-8 text";
    }
    if (value.find('\0') != std::string_view::npos) {
      return std::string{rule.name} + ": contains a NUL byte";  // No database text can.
    }
    if (value.size() > rule.max_length) {
      return std::string{rule.name} + ": longer than " + std::to_string(rule.max_length) + " bytes";
    }
    switch (rule.field) {
      case contact_field::email:
        out.email = std::string{value};
        break;
      case contact_field::first_name:
        out.first_name = std::string{value};
        break;
      case contact_field::last_name:
        out.last_name = std::string{value};
        break;
      case contact_field::phone:
        out.phone = std::string{value};
        break;
      case contact_field::company:
        out.company = std::string{value};
        break;
      case contact_field::lifecycle_stage: {
        auto stage = lifecycle_stage_of(value);
        if (stage.empty()) {
          return "lifecycle_stage: not a known stage";
        }
        out.lifecycle_stage = std::move(stage);
        break;
      }
      default:
        break;
    }
  }

  if (out.email.empty()) {
    return "email: required";
  }
  if (!handlers::valid_email(out.email)) {
    return "email: must be an email address";
  }
  return {};
}

}  // namespace sb::actors::imports

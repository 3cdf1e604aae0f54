// Which CSV columns fill which contact fields, and which rows are valid
// contacts by the contacts API's rules.

#include "actors/import/contact_columns.hpp"

#include <catch2/catch.hpp>

#include <string>
#include <vector>

using namespace sb::actors::imports;
using sb::persistence::contact_record;

namespace {

csv_record row(std::vector<std::string> fields, int64_t line = 2) {
  csv_record r;
  r.fields = std::move(fields);
  r.line = line;
  return r;
}

const std::vector<std::string> hubspot_header = {"Record ID",       "First Name",   "Last Name",
                                                 "Email",           "Phone Number", "Company Name",
                                                 "Lifecycle Stage", "Create Date"};

}  // namespace

TEST_CASE("contact columns know HubSpot's export names and the API's, in any case and spacing") {
  CHECK(field_of_header("Record ID") == contact_field::record_id);
  CHECK(field_of_header("First Name") == contact_field::first_name);
  CHECK(field_of_header("first_name") == contact_field::first_name);
  CHECK(field_of_header("  FIRSTNAME ") == contact_field::first_name);
  CHECK(field_of_header("Last Name") == contact_field::last_name);
  CHECK(field_of_header("EMAIL") == contact_field::email);
  CHECK(field_of_header("Phone Number") == contact_field::phone);
  CHECK(field_of_header("phone") == contact_field::phone);
  CHECK(field_of_header("Company Name") == contact_field::company);
  CHECK(field_of_header("company") == contact_field::company);
  CHECK(field_of_header("Lifecycle Stage") == contact_field::lifecycle_stage);
  CHECK(field_of_header("lifecycle_stage") == contact_field::lifecycle_stage);
  CHECK(field_of_header("Create Date") == contact_field::none);
  CHECK(field_of_header("") == contact_field::none);
}

TEST_CASE("contact columns read a HubSpot row, trimmed, ignoring unknown columns") {
  contact_columns cols{hubspot_header};
  REQUIRE(cols.has_email());
  contact_record c;
  auto reason = cols.read(row({"101", " Ada ", "Lovelace", " Ada@Example.com ", "+44 20",
                               "Analytical Engines", "Marketing Qualified Lead", "2024-01-01"}),
                          c);
  CHECK(reason.empty());
  CHECK(c.email == "Ada@Example.com");
  CHECK(c.first_name == "Ada");
  CHECK(c.last_name == "Lovelace");
  CHECK(c.phone == "+44 20");
  CHECK(c.company == "Analytical Engines");
  CHECK(c.lifecycle_stage == "marketingqualifiedlead");
}

TEST_CASE("contact columns read empty and missing cells as absent") {
  contact_columns cols{{"email", "first_name", "last_name"}};
  contact_record c;
  c.first_name = "stale";
  CHECK(cols.read(row({"a@example.com", "  "}), c).empty());
  CHECK(c.email == "a@example.com");
  CHECK_FALSE(c.first_name);
  CHECK_FALSE(c.last_name);
}

TEST_CASE("contact columns let the first of two columns naming a field count") {
  contact_columns cols{{"Email", "email", "Company", "Company Name"}};
  contact_record c;
  CHECK(cols.read(row({"first@example.com", "second@example.com", "A", "B"}), c).empty());
  CHECK(c.email == "first@example.com");
  CHECK(c.company == "A");
}

TEST_CASE("contact columns reject rows the contacts API would refuse, with a reason") {
  contact_columns cols{{"Email", "First Name", "Phone Number", "Lifecycle Stage"}};
  contact_record c;
  CHECK(cols.read(row({"", "Ada"}), c) == "email: required");
  CHECK(cols.read(row({"not-an-email", "Ada"}), c) == "email: must be an email address");
  CHECK(cols.read(row({"a@example.com", std::string(101, 'x')}), c) ==
        "first_name: longer than 100 bytes");
  CHECK(cols.read(row({"a@example.com", std::string(100, 'x')}), c).empty());
  CHECK(cols.read(row({"a@example.com", "", std::string(41, '1')}), c) ==
        "phone: longer than 40 bytes");
  CHECK(cols.read(row({"a@example.com", "\xff\xfe"}), c) == "first_name: not UTF-8 text");
  CHECK(cols.read(row({"a@example.com", std::string("A\0B", 3)}), c) ==
        "first_name: contains a NUL byte");
  CHECK(cols.read(row({"a@example.com", "", "", "Astronaut"}), c) ==
        "lifecycle_stage: not a known stage");
  CHECK(cols.read(row({"a@example.com", "", "", "customer"}), c).empty());
  CHECK(c.lifecycle_stage == "customer");

  auto broken = row({"a@example.com"});
  broken.error = "unterminated quoted field";
  CHECK(cols.read(broken, c) == "unterminated quoted field");
}

TEST_CASE("contact columns without an email column reject every row") {
  contact_columns cols{{"First Name", "Last Name"}};
  CHECK_FALSE(cols.has_email());
  contact_record c;
  CHECK(cols.read(row({"Ada", "Lovelace"}), c) == "email: required");
}

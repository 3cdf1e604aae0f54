#pragma once

// What the columns of an imported CSV mean: a header names each column as a
// HubSpot contact export does ("First Name", "Email", ...) or as our API does
// ("first_name"), and each later row becomes a contact, validated by the rules
// of the contacts API.

#include "actors/import/csv_reader.hpp"
#include "persistence/records.hpp"

#include <string>
#include <string_view>
#include <vector>

namespace sb::actors::imports {

/// The contact fields a column can fill.
enum class contact_field {
  none,  ///< An unknown column: ignored.
  record_id,
  email,
  first_name,
  last_name,
  phone,
  company,
  lifecycle_stage,
};

/// The field a header cell names, ignoring case, spaces and underscores;
/// none for an unknown name. "Record ID" is known but stored nowhere.
contact_field field_of_header(std::string_view header);

/// The HubSpot internal name of a lifecycle stage written as its label
/// ("Marketing Qualified Lead") or its name; empty if it is no known stage.
std::string lifecycle_stage_of(std::string_view text);

/// Reads the rows of one file by its header.
class contact_columns {
 public:
  /// Maps the header record's cells; when two columns name one field the
  /// first one counts.
  explicit contact_columns(const std::vector<std::string>& header);

  /// Tells whether some column holds the email.
  bool has_email() const;

  /// Reads `rec` into the writable fields of `out` (email, names, phone,
  /// company, lifecycle stage; trimmed, an empty cell read as absent).
  /// Returns the reason when the row is not a valid contact, empty otherwise.
  std::string read(const csv_record& rec, persistence::contact_record& out) const;

 private:
  std::vector<contact_field> columns_;
};

}  // namespace sb::actors::imports

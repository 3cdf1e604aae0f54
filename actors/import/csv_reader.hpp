#pragma once

// A streaming CSV reader (RFC 4180) fed piece by piece, so that a large file
// never has to be held whole: quoted fields with embedded commas, quotes and
// line breaks, a UTF-8 byte-order mark, CRLF, LF or lone CR line ends, and
// the line each record starts on, whatever the piece boundaries are.

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

namespace sb::actors::imports {

/// One record (row) of a CSV file.
struct csv_record {
  std::vector<std::string> fields;  ///< Unquoted field values, untrimmed.
  int64_t line = 0;                 ///< The 1-based line the record starts on.
  std::string error;                ///< Why the record is malformed; empty when it is not.
};

/// Turns CSV bytes into records as they arrive. Lenient where real exports
/// are sloppy: a quote inside an unquoted field is kept as text, and text after
/// a closing quote is appended. Blank lines are skipped.
class csv_reader {
 public:
  /// Receives each record; it may move the fields out.
  using record_handler = std::function<void(csv_record&)>;

  /// A reader whose records may hold at most `max_record_bytes` of field
  /// text; a longer one is reported with an error and its text dropped.
  explicit csv_reader(size_t max_record_bytes = 1024 * 1024);

  /// Reads the next piece of the file and hands over every record it ends.
  void feed(std::string_view piece, const record_handler& on_record);

  /// Ends the file: hands over the last record, if one is open (a quoted
  /// field still open is reported as unterminated).
  void finish(const record_handler& on_record);

  /// Bytes fed so far, the byte-order mark included.
  int64_t bytes() const { return bytes_; }

 private:
  enum class state { record_start, field_start, unquoted, quoted, quote_in_quoted };

  void take(char c, const record_handler& on_record);
  void append(char c);
  void end_field();
  void end_record(const record_handler& on_record);

  size_t max_record_bytes_;
  state state_ = state::record_start;
  csv_record record_;
  std::string field_;
  size_t record_bytes_ = 0;
  bool quoted_record_ = false;  // Some field of the record was quoted.
  bool after_cr_ = false;       // The last byte was a CR: an LF now ends nothing new.
  int64_t line_ = 1;
  int64_t bytes_ = 0;
  size_t bom_matched_ = 0;  // Leading bytes that matched the byte-order mark so far.
  bool bom_done_ = false;
};

}  // namespace sb::actors::imports

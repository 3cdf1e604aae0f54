#include "actors/import/csv_reader.hpp"

namespace sb::actors::imports {

namespace {

constexpr char bom[] = "\xEF\xBB\xBF";
constexpr size_t bom_size = 3;

bool is_line_end(char c) {
  return c == '\r' || c == '\n';
}

}  // namespace

csv_reader::csv_reader(size_t max_record_bytes) : max_record_bytes_(max_record_bytes) {}

void csv_reader::feed(std::string_view piece, const record_handler& on_record) {
  bytes_ += static_cast<int64_t>(piece.size());
  size_t i = 0;

  // The byte-order mark may itself be split across pieces: hold what matches
  // it so far, and replay it as text once a byte differs.
  for (; !bom_done_ && i < piece.size(); ++i) {
    if (piece[i] == bom[bom_matched_]) {
      bom_done_ = ++bom_matched_ == bom_size;
      continue;
    }
    bom_done_ = true;
    for (size_t k = 0; k < bom_matched_; ++k) {
      take(bom[k], on_record);
    }
    break;
  }

  for (; i < piece.size(); ++i) {
    take(piece[i], on_record);
  }
}

void csv_reader::finish(const record_handler& on_record) {
  if (!bom_done_) {
    bom_done_ = true;
    for (size_t k = 0; k < bom_matched_; ++k) {
      take(bom[k], on_record);
    }
  }
  switch (state_) {
    case state::record_start:
      return;
    case state::quoted:
      if (record_.error.empty()) {
        record_.error = "unterminated quoted field";
      }
      break;
    default:
      break;
  }
  end_field();
  end_record(on_record);
}

void csv_reader::take(char c, const record_handler& on_record) {
  // The LF of a CRLF: the CR already ended the line (and any record on it).
  const bool lf_of_crlf = c == '\n' && after_cr_;
  after_cr_ = c == '\r';

  switch (state_) {
    case state::record_start:
      if (is_line_end(c)) {
        break;  // A blank line, or the LF of a CRLF: no record.
      }
      record_.line = line_;
      record_bytes_ = 0;
      quoted_record_ = false;
      state_ = state::field_start;
      [[fallthrough]];
    case state::field_start:
      if (c == '"') {
        quoted_record_ = true;
        state_ = state::quoted;
      } else if (c == ',') {
        end_field();
      } else if (is_line_end(c)) {
        end_field();
        end_record(on_record);
      } else {
        append(c);
        state_ = state::unquoted;
      }
      break;
    case state::unquoted:
      if (c == ',') {
        end_field();
        state_ = state::field_start;
      } else if (is_line_end(c)) {
        end_field();
        end_record(on_record);
      } else {
        append(c);
      }
      break;
    case state::quoted:
      if (c == '"') {
        state_ = state::quote_in_quoted;
      } else {
        append(c);
      }
      break;
    case state::quote_in_quoted:
      if (c == '"') {
        append('"');  // A doubled quote stands for one (RFC 4180 §2.7).
        state_ = state::quoted;
      } else if (c == ',') {
        end_field();
        state_ = state::field_start;
      } else if (is_line_end(c)) {
        end_field();
        end_record(on_record);
      } else {
        append(c);
        state_ = state::unquoted;
      }
      break;
  }

  if ((c == '\n' && !lf_of_crlf) || c == '\r') {
    ++line_;
  }
}

void csv_reader::append(char c) {
  if (record_bytes_ >= max_record_bytes_) {
    if (record_.error.empty()) {
      record_.error = "record longer than " + std::to_string(max_record_bytes_) + " bytes";
    }
    return;
  }
  ++record_bytes_;
  field_ += c;
}

void csv_reader::end_field() {
  record_.fields.push_back(std::move(field_));
  field_.clear();
}

void csv_reader::end_record(const record_handler& on_record) {
  state_ = state::record_start;
  on_record(record_);
  record_.fields.clear();
  record_.error.clear();
}

}  // namespace sb::actors::imports

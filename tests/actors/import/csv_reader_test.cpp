// The streaming CSV reader: RFC 4180 quoting, line ends, the byte-order
// mark, line numbers, and the same records whatever the piece boundaries.

#include "actors/import/csv_reader.hpp"

#include <catch2/catch.hpp>

#include <string>
#include <vector>

using sb::actors::imports::csv_reader;
using sb::actors::imports::csv_record;

namespace {

using fields = std::vector<std::string>;

// Feeds `pieces` in order, then ends the file; returns every record.
std::vector<csv_record> read_pieces(const std::vector<std::string>& pieces,
                                    size_t max_record = 1024 * 1024) {
  csv_reader reader{max_record};
  std::vector<csv_record> out;
  auto keep = [&out](csv_record& r) { out.push_back(r); };
  for (const auto& p : pieces) {
    reader.feed(p, keep);
  }
  reader.finish(keep);
  return out;
}

std::vector<csv_record> read_all(const std::string& text) {
  return read_pieces({text});
}

// A line summary of records, easy to compare and print.
std::vector<std::string> summary(const std::vector<csv_record>& records) {
  std::vector<std::string> out;
  for (const auto& r : records) {
    std::string s = std::to_string(r.line) + ":";
    for (size_t i = 0; i < r.fields.size(); ++i) {
      s += (i ? "|" : "") + r.fields[i];
    }
    if (!r.error.empty()) {
      s += " !" + r.error;
    }
    out.push_back(s);
  }
  return out;
}

// Commas, doubled quotes and line breaks inside quotes, a BOM, CRLF, LF and
// lone CR line ends, blank lines, empty fields and no final line end.
const std::string tricky =
    "\xEF\xBB\xBF"
    "Email,First Name,Notes\r\n"
    "ada@example.com,Ada,\"likes \"\"engines\"\", and\r\nmath\"\r\n"
    "\r\n"
    "grace@example.com,\"Grace\",\n"
    "\"x,y\"@example.com,,\"\"\r"
    "last@example.com,\"multi\nline\nname\",end";

}  // namespace

TEST_CASE("csv reader splits plain records on LF and numbers their lines") {
  auto r = read_all("a,b,c\n1,2,3\n");
  REQUIRE(r.size() == 2);
  CHECK(r[0].fields == fields{"a", "b", "c"});
  CHECK(r[0].line == 1);
  CHECK(r[1].fields == fields{"1", "2", "3"});
  CHECK(r[1].line == 2);
  CHECK(r[1].error.empty());
}

TEST_CASE("csv reader accepts CRLF, LF and lone CR line ends alike") {
  auto expected = std::vector<std::string>{"1:a|b", "2:c|d", "3:e|f"};
  CHECK(summary(read_all("a,b\r\nc,d\r\ne,f\r\n")) == expected);
  CHECK(summary(read_all("a,b\nc,d\ne,f")) == expected);
  CHECK(summary(read_all("a,b\rc,d\re,f\r")) == expected);
  CHECK(summary(read_all("a,b\r\nc,d\ne,f\r")) == expected);
}

TEST_CASE("csv reader reads quoted fields with commas, doubled quotes and line breaks") {
  auto r = read_all("\"a,b\",\"say \"\"hi\"\"\",\"two\r\nlines\",\"\"\nnext,row\n");
  REQUIRE(r.size() == 2);
  CHECK(r[0].fields == fields{"a,b", "say \"hi\"", "two\r\nlines", ""});
  CHECK(r[0].line == 1);
  // The record after one spanning two lines starts on line 3.
  CHECK(r[1].fields == fields{"next", "row"});
  CHECK(r[1].line == 3);
}

TEST_CASE("csv reader keeps empty fields, a trailing comma and a last record without line end") {
  auto r = read_all("a,,c,\n,\nlast");
  REQUIRE(r.size() == 3);
  CHECK(r[0].fields == fields{"a", "", "c", ""});
  CHECK(r[1].fields == fields{"", ""});
  CHECK(r[2].fields == fields{"last"});
  CHECK(r[2].line == 3);
}

TEST_CASE("csv reader skips blank lines but counts them") {
  CHECK(summary(read_all("a\n\n\r\n\rb\n\n")) == std::vector<std::string>{"1:a", "5:b"});
}

TEST_CASE("csv reader drops a UTF-8 byte-order mark and keeps a lookalike prefix") {
  CHECK(summary(read_all("\xEF\xBB\xBFid,x\n1,2\n")) ==
        std::vector<std::string>{"1:id|x", "2:1|2"});
  // Only the mark's first two bytes: they are text.
  CHECK(summary(read_all("\xEF\xBBid\n")) == std::vector<std::string>{"1:\xEF\xBBid"});
  CHECK(summary(read_all("\xEF\xBB")) == std::vector<std::string>{"1:\xEF\xBB"});
  // A mark later in the file is text too.
  CHECK(summary(read_all("a\n\xEF\xBB\xBF"
                         "b\n")) == std::vector<std::string>{"1:a",
                                                             "2:\xEF\xBB\xBF"
                                                             "b"});
}

TEST_CASE("csv reader reports a quoted field left open at the end of the file") {
  auto r = read_all("a,b\n\"open,field\nmore\n");
  REQUIRE(r.size() == 2);
  CHECK(r[0].error.empty());
  CHECK(r[1].line == 2);
  CHECK(r[1].error == "unterminated quoted field");
}

TEST_CASE("csv reader keeps stray quotes and text after a closing quote") {
  auto r = read_all("ab\"c,\"quoted\"tail,x\n");
  REQUIRE(r.size() == 1);
  CHECK(r[0].fields == fields{"ab\"c", "quotedtail", "x"});
  CHECK(r[0].error.empty());
}

TEST_CASE("csv reader reports an overlong record and reads on after it") {
  auto r = read_pieces({"short\n", std::string(100, 'x') + ",y\n", "after\n"}, 50);
  REQUIRE(r.size() == 3);
  CHECK(r[0].error.empty());
  CHECK(r[1].error == "record longer than 50 bytes");
  CHECK(r[1].line == 2);
  CHECK(r[2].fields == fields{"after"});
  CHECK(r[2].error.empty());
}

TEST_CASE("csv reader reads the same records wherever the pieces split the input") {
  auto whole = summary(read_all(tricky));
  REQUIRE(whole == std::vector<std::string>{
                       "1:Email|First Name|Notes",
                       "2:ada@example.com|Ada|likes \"engines\", and\r\nmath",
                       "5:grace@example.com|Grace|",
                       "6:x,y@example.com||",
                       "7:last@example.com|multi\nline\nname|end",
                   });

  SECTION("two pieces, split at every byte") {
    for (size_t at = 0; at <= tricky.size(); ++at) {
      CAPTURE(at);
      CHECK(summary(read_pieces({tricky.substr(0, at), tricky.substr(at)})) == whole);
    }
  }
  SECTION("three pieces, split at every pair of bytes") {
    for (size_t a = 0; a <= tricky.size(); ++a) {
      for (size_t b = a; b <= tricky.size(); ++b) {
        CAPTURE(a, b);
        auto got =
            summary(read_pieces({tricky.substr(0, a), tricky.substr(a, b - a), tricky.substr(b)}));
        REQUIRE(got == whole);
      }
    }
  }
  SECTION("one byte at a time") {
    std::vector<std::string> bytes;
    for (char c : tricky) {
      bytes.emplace_back(1, c);
    }
    CHECK(summary(read_pieces(bytes)) == whole);
  }
}

TEST_CASE("csv reader counts the bytes it was fed") {
  csv_reader reader;
  reader.feed(
      "\xEF\xBB\xBF"
      "a,b\n",
      [](csv_record&) {});
  CHECK(reader.bytes() == 7);
}

// End-to-end CSV contact import through the real server: a HubSpot-style
// export streamed to POST /v1/contacts/import, the job that merges it, and
// the contacts it leaves; refusals for a missing token, a wrong type and an
// oversized body.

#include "tests/integration/api_client.hpp"
#include "tests/support/databases.hpp"
#include "tests/support/server_process.hpp"

#include <catch2/catch.hpp>

#include <chrono>
#include <string>
#include <thread>

using namespace sb::testing;
using nlohmann::json;

namespace {

const header_map csv_type = {{"Content-Type", "text/csv"}};

// A HubSpot contact export: a byte-order mark, CRLF line ends, columns in
// HubSpot's order and names plus some we do not know, quoted fields with
// commas, quotes and a line break, two rows for one email (the later wins),
// and three bad rows.
const std::string export_csv =
    "\xEF\xBB\xBF"
    "Record ID,First Name,Last Name,Email,Phone Number,Company Name,Lifecycle Stage,Create Date\r\n"
    "101,Ada,Lovelace,ada@example.com,+44 20 7946 0000,\"Engines, Analytical\",Lead,2024-01-02\r\n"
    "102,Grace,\"Hopper \"\"Amazing Grace\"\"\",grace@example.com,,Navy,Customer,2024-01-03\r\n"
    "103,No,Email,,,,,2024-01-04\r\n"
    "104,Alan,\"Turing\r\n(Bletchley)\",alan@example.com,,,Subscriber,2024-01-05\r\n"
    "105,Bad,Address,not-an-email,,,,2024-01-06\r\n"
    "106,Ada,Byron,ADA@example.com ,,,Marketing Qualified Lead,2024-01-07\r\n"
    "107,Long,Name," +
    std::string(300, 'x') + "@example.com,,,,2024-01-08\r\n";

api_client sign_up(const server_process& srv, const std::string& email) {
  api_client c{srv.port()};
  auto r = c.post("/v1/auth/signup", {{"email", email},
                                      {"password", "a long password"},
                                      {"name", "Importer"},
                                      {"workspace", "Imports"}});
  REQUIRE(r.status == 201);
  c.token(r.json()["token"].get<std::string>());
  return c;
}

// Uploads `csv`, expects 202 with a queued job, and waits for it to end.
json import_and_wait(api_client& c, const std::string& csv) {
  auto r = c.send("POST", "/v1/contacts/import", csv, csv_type);
  REQUIRE(r.status == 202);
  auto accepted = r.json();
  REQUIRE(accepted["status"] == "queued");
  auto id = accepted["id"].get<std::string>();
  CHECK(r.header("Location") == "/v1/jobs/" + id);

  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  auto job = c.get("/v1/jobs/" + id).json();
  while (job["status"] != "succeeded" && job["status"] != "failed" &&
         std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    job = c.get("/v1/jobs/" + id).json();
  }
  INFO(job.dump());
  REQUIRE(job["status"] == "succeeded");
  return job;
}

json contact(api_client& c, const std::string& query) {
  auto items = c.get("/v1/contacts?q=" + query).json()["items"];
  REQUIRE(items.size() == 1);
  return items[0];
}

}  // namespace

TEST_CASE("a HubSpot export imports its valid rows, reports the rest, and changes nothing twice") {
  auto kind = GENERATE(each_database());
  CAPTURE(kind);
  test_database db{kind};
  server_process srv{
      {{"SWITCHBOARD_DATABASE", db.connection_string()}, {"SWITCHBOARD_PASSWORD_HASH", "minimum"}}};
  auto c = sign_up(srv, "importer@example.com");
  // The first page is read (and cached) before the import; the import must
  // make it stale.
  CHECK(c.get("/v1/contacts").json()["items"].empty());

  auto job = import_and_wait(c, export_csv);
  CHECK(c.get("/v1/contacts").json()["items"].size() == 3);
  auto result = job["result"];
  INFO(result.dump());
  CHECK(result["inserted"] == 3);
  CHECK(result["updated"] == 0);
  CHECK(result["unchanged"] == 0);
  CHECK(result["rejected_count"] == 3);
  CHECK(result["rejected_truncated"] == false);
  CHECK(result["rejected"] == json::array({
                                  {{"line", 4}, {"reason", "email: required"}},
                                  {{"line", 7}, {"reason", "email: must be an email address"}},
                                  {{"line", 9}, {"reason", "email: longer than 254 bytes"}},
                              }));
  CHECK(job["progress"]["done"] == export_csv.size());

  // The later row for Ada won; an empty cell wrote nothing.
  auto ada = contact(c, "ada@");
  CHECK(ada["email"] == "ADA@example.com");
  CHECK(ada["last_name"] == "Byron");
  CHECK(ada["phone"] == nullptr);
  CHECK(ada["company"] == nullptr);
  CHECK(ada["lifecycle_stage"] == "marketingqualifiedlead");
  auto grace = contact(c, "grace@");
  CHECK(grace["last_name"] == "Hopper \"Amazing Grace\"");
  CHECK(grace["company"] == "Navy");
  CHECK(grace["lifecycle_stage"] == "customer");
  CHECK(contact(c, "alan@")["last_name"] == "Turing\r\n(Bletchley)");

  SECTION("importing the same file again changes nothing") {
    auto again = import_and_wait(c, export_csv)["result"];
    CHECK(again["inserted"] == 0);
    CHECK(again["updated"] == 0);
    CHECK(again["unchanged"] == 3);
    CHECK(again["rejected_count"] == 3);
    CHECK(contact(c, "grace@")["version"] == 1);
  }

  SECTION("a changed row updates that contact only") {
    auto changed = "Email,Company Name\nalan@example.com,Bletchley Park\ngrace@example.com,Navy\n";
    auto by_id = "/v1/contacts/" + contact(c, "alan@")["id"].get<std::string>();
    CHECK(c.get(by_id).json()["company"] == nullptr);  // Cached by id.
    auto r = import_and_wait(c, changed)["result"];
    CHECK(c.get(by_id).json()["company"] == "Bletchley Park");
    CHECK(r["inserted"] == 0);
    CHECK(r["updated"] == 1);
    CHECK(r["unchanged"] == 1);
    auto alan = contact(c, "alan@");
    CHECK(alan["company"] == "Bletchley Park");
    CHECK(alan["lifecycle_stage"] == "subscriber");
    CHECK(alan["version"] == 2);
  }

  SECTION("the imported upload is gone") {
    auto conn = connect(db.connection_string());
    CHECK(require_ok(conn->query("SELECT COUNT(*) FROM uploads")).front().int64(0) == 0);
    CHECK(require_ok(conn->query("SELECT COUNT(*) FROM upload_chunks")).front().int64(0) == 0);
  }
}

TEST_CASE("a file larger than one stored chunk imports whole") {
  auto db = temp_sqlite_database();
  server_process srv{{{"SWITCHBOARD_DATABASE", db}, {"SWITCHBOARD_PASSWORD_HASH", "minimum"}}};
  auto c = sign_up(srv, "bulk@example.com");

  std::string csv = "email,first_name,company\n";
  for (int i = 0; i < 20000; ++i) {
    csv += "person" + std::to_string(i) + "@example.com,Person " + std::to_string(i) +
           ",\"Company, " + std::to_string(i % 50) + "\"\n";
  }
  REQUIRE(csv.size() > 3 * 256 * 1024);
  auto result = import_and_wait(c, csv)["result"];
  CHECK(result["inserted"] == 20000);
  CHECK(result["rejected_count"] == 0);
  CHECK(contact(c, "person19999@")["company"] == "Company, 49");
}

TEST_CASE("an import needs a token, a CSV body and a body within the upload limit") {
  auto db = temp_sqlite_database();
  server_process srv{{{"SWITCHBOARD_DATABASE", db},
                      {"SWITCHBOARD_PASSWORD_HASH", "minimum"},
                      {"SWITCHBOARD_UPLOAD_LIMIT", "1000"}}};
  auto c = sign_up(srv, "limits@example.com");

  api_client anonymous{srv.port()};
  CHECK(anonymous.send("POST", "/v1/contacts/import", "email\na@example.com\n", csv_type).status ==
        401);

  auto wrong = c.send("POST", "/v1/contacts/import", "{\"email\":\"a@example.com\"}",
                      {{"Content-Type", "application/json"}});
  CHECK(wrong.status == 415);
  CHECK(wrong.header("Content-Type") == "application/problem+json");

  CHECK(c.send("POST", "/v1/contacts/import", "email\na@example.com\n",
               {{"Content-Type", "text/csv; charset=utf-8"}})
            .status == 202);
  CHECK(
      c.send("POST", "/v1/contacts/import", "email\n" + std::string(2000, 'x'), csv_type).status ==
      413);

  // Nothing of the refused uploads stayed behind.
  auto conn = connect(db);
  CHECK(require_ok(conn->query("SELECT COUNT(*) FROM uploads WHERE state = 'receiving'"))
            .front()
            .int64(0) == 0);
}

TEST_CASE("an upload the client abandons midway leaves nothing stored") {
  auto db = temp_sqlite_database();
  server_process srv{{{"SWITCHBOARD_DATABASE", db}, {"SWITCHBOARD_PASSWORD_HASH", "minimum"}}};
  api_client c{srv.port()};
  auto signed_up = c.post("/v1/auth/signup", {{"email", "leaver@example.com"},
                                              {"password", "a long password"},
                                              {"name", "Leaver"},
                                              {"workspace", "Imports"}});
  REQUIRE(signed_up.status == 201);
  auto token = signed_up.json()["token"].get<std::string>();

  // More than two stored chunks of a body announced as larger, then gone.
  auto conn = connect(db);
  auto count = [&conn](const char* table) {
    return require_ok(conn->query(std::string{"SELECT COUNT(*) FROM "} + table)).front().int64(0);
  };
  {
    http_connection raw{"127.0.0.1", srv.port()};
    std::string body = "email\n" + std::string(600 * 1024, 'x');
    raw.send_raw(
        "POST /v1/contacts/import HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        "Authorization: Bearer " +
        token +
        "\r\n"
        "Content-Type: text/csv\r\nContent-Length: 2000000\r\n\r\n" +
        body);
    // Wait until the server has stored some of it.
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (count("upload_chunks") < 2 && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    REQUIRE(count("upload_chunks") >= 2);
  }

  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (count("uploads") > 0 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  CHECK(count("uploads") == 0);
  CHECK(count("upload_chunks") == 0);
}

TEST_CASE("a file without an Email column fails at once, not after ten retries") {
  auto db = temp_sqlite_database();
  server_process srv{{{"SWITCHBOARD_DATABASE", db}, {"SWITCHBOARD_PASSWORD_HASH", "minimum"}}};
  auto c = sign_up(srv, "noemail@example.com");
  auto r = c.send("POST", "/v1/contacts/import", "Name,Company Name\r\nAda,Engines\r\n", csv_type);
  REQUIRE(r.status == 202);
  auto id = r.json()["id"].get<std::string>();

  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  auto job = c.get("/v1/jobs/" + id).json();
  while (job["status"] != "failed" && job["status"] != "succeeded" &&
         std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    job = c.get("/v1/jobs/" + id).json();
  }
  INFO(job.dump());
  CHECK(job["status"] == "failed");
  CHECK(job["last_error"] == "the header (line 1) names no Email column");
  CHECK(job["attempts"] == 1);
}

TEST_CASE("a cancelled import's upload is swept away") {
  auto db = temp_sqlite_database();
  // A short lease: the sweep runs with every rescue, twice per lease.
  server_process srv{{{"SWITCHBOARD_DATABASE", db},
                      {"SWITCHBOARD_PASSWORD_HASH", "minimum"},
                      {"SWITCHBOARD_JOB_LEASE_MS", "2000"}}};
  auto c = sign_up(srv, "canceller@example.com");
  std::string csv = "email,first_name\n";
  for (int i = 0; i < 100000; ++i) {
    csv += "p" + std::to_string(i) + "@example.com,P" + std::to_string(i) + "\n";
  }

  // Imports run one at a time: the second waits behind the first, and is
  // cancelled while it waits (or runs).
  auto first = c.send("POST", "/v1/contacts/import", csv, csv_type);
  auto second = c.send("POST", "/v1/contacts/import", csv, csv_type);
  REQUIRE(first.status == 202);
  REQUIRE(second.status == 202);
  auto id = second.json()["id"].get<std::string>();
  auto cancelled = c.del("/v1/jobs/" + id);
  REQUIRE(cancelled.status == 200);
  CHECK(cancelled.json()["status"] == "cancelled");

  // The first finishes and deletes its own upload; the sweep takes the other.
  auto conn = connect(db);
  auto uploads = [&conn] {
    return require_ok(conn->query("SELECT COUNT(*) FROM uploads")).front().int64(0);
  };
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (uploads() > 0 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  CHECK(uploads() == 0);
  CHECK(require_ok(conn->query("SELECT COUNT(*) FROM upload_chunks")).front().int64(0) == 0);
  CHECK(c.get("/v1/jobs/" + id).json()["status"] == "cancelled");
}

TEST_CASE("an import lists the first thousand rejected rows and counts them all") {
  auto db = temp_sqlite_database();
  server_process srv{{{"SWITCHBOARD_DATABASE", db}, {"SWITCHBOARD_PASSWORD_HASH", "minimum"}}};
  auto c = sign_up(srv, "rejects@example.com");

  std::string csv = "Email,First Name\n";
  for (int i = 0; i < 1005; ++i) {
    csv += "broken" + std::to_string(i) + ",Someone\n";
  }
  csv += "fine@example.com,Fine\n";
  auto result = import_and_wait(c, csv)["result"];
  CHECK(result["inserted"] == 1);
  CHECK(result["rejected_count"] == 1005);
  CHECK(result["rejected_truncated"] == true);
  REQUIRE(result["rejected"].size() == 1000);
  CHECK(result["rejected"][0]["line"] == 2);
  CHECK(result["rejected"][999]["line"] == 1001);
}

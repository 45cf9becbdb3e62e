// read_dump() rejects every contract violation with exit code 2 and a message naming the file,
// the line and what is wrong.

#include <gtest/gtest.h>

#include "dump/invalid_dumps.h"
#include "greta/core/error.h"

namespace greta::dump {
namespace {

using testing::TempDir;

TEST(DumpReader, AcceptsAHandWrittenDumpWithWhitespaceExtrasAndNull) {
  TempDir tmp;
  nlohmann::json m = testing::plain_metadata(10, 2);
  m["timestamp"] = "2026-02-07T20:00:00.123Z";
  testing::write_plain_dump(tmp.sub("d"), m,
                            " { \"logits\" : [ 1.5 , null, -0 ] ,\"x\":{\"y\":[true,\"a\\\"b\"]}, \"token_id\":1,\"token_idx\":10 }\n" +
                                testing::plain_line(11, 2, {"1e-45", "3.4028235e38", "-1.17549435e-38"}));
  Dump d = read_dump(tmp.sub("d"));
  ASSERT_EQ(d.records.size(), 2u);
  EXPECT_EQ(d.records[0].logits[0], 1.5f);
  EXPECT_TRUE(d.records[0].is_null[1]);
  EXPECT_TRUE(std::signbit(d.records[0].logits[2]));
  EXPECT_EQ(d.records[1].logits[0], std::numeric_limits<float>::denorm_min());
  EXPECT_EQ(d.records[1].logits[1], std::numeric_limits<float>::max());
  EXPECT_EQ(d.records[1].logits[2], -std::numeric_limits<float>::min());
}

TEST(DumpReader, LastLineWithoutNewlineIsAccepted) {
  TempDir tmp;
  std::string lines = testing::three_lines();
  lines.pop_back();
  testing::write_plain_dump(tmp.sub("d"), testing::plain_metadata(10, 2), lines);
  EXPECT_EQ(read_dump(tmp.sub("d")).records.size(), 2u);
}

TEST(DumpReader, EveryInvalidCaseIsExit2WithItsMessage) {
  for (const auto& c : testing::invalid_dump_cases()) {
    TempDir tmp;
    std::string dir = tmp.sub(c.name);
    c.make(dir);
    try {
      read_dump(dir);
      ADD_FAILURE() << c.name << ": no error";
    } catch (const Error& e) {
      EXPECT_EQ(e.exit_code(), kExitUsage) << c.name;
      EXPECT_NE(std::string(e.what()).find(c.message), std::string::npos)
          << c.name << ": got \"" << e.what() << "\", expected to contain \"" << c.message << "\"";
      EXPECT_NE(std::string(e.what()).find(dir), std::string::npos) << c.name << ": message must name the dump";
    }
  }
}

TEST(DumpReader, DeeplyNestedMetadataIsRejected) {
  TempDir tmp;
  nlohmann::json m = testing::plain_metadata(10, 2);
  testing::write_plain_dump(tmp.sub("d"), m, testing::three_lines());
  std::string text = m.dump();
  text.insert(1, "\"x\": " + std::string(100000, '[') + std::string(100000, ']') + ", ");
  testing::write_text(tmp.sub("d") + "/metadata.json", text);
  try {
    read_dump(tmp.sub("d"));
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(std::string(e.what()), tmp.sub("d") + "/metadata.json: JSON nested deeper than 64 levels");
    EXPECT_EQ(e.exit_code(), kExitUsage);
  }
  // Brackets inside strings do not count; 60 levels are fine.
  text = m.dump();
  text.insert(1, "\"y\": \"" + std::string(1000, '[') + "\", \"x\": " + std::string(60, '[') + std::string(60, ']') + ", ");
  testing::write_text(tmp.sub("d") + "/metadata.json", text);
  EXPECT_EQ(read_dump(tmp.sub("d")).records.size(), 2u);
}

TEST(DumpReader, NotADirectory) {
  TempDir tmp;
  testing::write_text(tmp.sub("f"), "x");
  try {
    read_dump(tmp.sub("f"));
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(std::string(e.what()), "dump '" + tmp.sub("f") + "' is not a directory");
    EXPECT_EQ(e.exit_code(), kExitUsage);
  }
  try {
    read_dump(tmp.sub("nope"));
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(std::string(e.what()), "dump directory '" + tmp.sub("nope") + "' does not exist");
  }
}

}  // namespace
}  // namespace greta::dump

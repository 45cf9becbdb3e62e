// Atomic publication: an unwritable or full destination is an error leaving no partial file;
// concurrent writers into one directory leave one complete dump, never a mix.

#include <csignal>
#include <filesystem>
#include <set>

#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include "dump/dump_fixtures.h"
#include "greta/core/error.h"

namespace greta::dump {
namespace {

using testing::TempDir;
namespace fs = std::filesystem;

// The names in dir; none when dir does not exist (a writer removes a directory it created).
std::set<std::string> entries(const std::string& dir) {
  std::set<std::string> s;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(dir, ec)) s.insert(e.path().filename().string());
  return s;
}

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "<no error>";
}

TEST(DumpWriterSafety, DirectoryIsAFile) {
  TempDir tmp;
  testing::write_text(tmp.sub("f"), "x");
  EXPECT_EQ(error_of([&] { DumpWriter w(tmp.sub("f")); }),
            "dump directory '" + tmp.sub("f") + "' exists and is not a directory");
  EXPECT_EQ(error_of([&] { DumpWriter w(tmp.sub("f") + "/sub"); }).rfind("cannot create dump directory '", 0), 0u);
}

TEST(DumpWriterSafety, UnwritableDirectory) {
  // /proc refuses new entries even to root.
  EXPECT_EQ(error_of([] { DumpWriter w("/proc/greta-dump-test"); }).rfind("cannot create dump directory '/proc/greta-dump-test': ", 0), 0u);
  if (::geteuid() != 0) {
    TempDir tmp;
    fs::create_directory(tmp.sub("ro"));
    fs::permissions(tmp.sub("ro"), fs::perms::owner_read | fs::perms::owner_exec);
    EXPECT_EQ(error_of([&] { DumpWriter w(tmp.sub("ro")); }),
              "cannot write to dump directory '" + tmp.sub("ro") + "': Permission denied");
    EXPECT_TRUE(entries(tmp.sub("ro")).empty());
    fs::permissions(tmp.sub("ro"), fs::perms::owner_all);
  }
}

TEST(DumpWriterSafety, CreatesMissingDirectories) {
  TempDir tmp;
  testing::write_dump(tmp.sub("a/b/c"), testing::make_rows(1, 4), 3);
  EXPECT_EQ(entries(tmp.sub("a/b/c")), (std::set<std::string>{"logits.jsonl.gz", "metadata.json"}));
}

// In a forked child with RLIMIT_FSIZE (a full disk, as write(2) sees it): the writer must throw
// and leave nothing behind. Exit status 0 = as expected, 10+ = what went wrong.
int full_disk_child(const std::string& dir, rlim_t limit, bool existing_dump) {
  std::signal(SIGXFSZ, SIG_IGN);  // write() then fails with EFBIG instead of killing us
  rlimit rl{limit, limit};
  if (setrlimit(RLIMIT_FSIZE, &rl) != 0) return 10;
  auto rows = testing::make_rows(16, 20000);
  std::set<std::string> before = entries(dir);
  std::string before_meta = existing_dump ? testing::read_text(dir + "/metadata.json") : "";
  try {
    DumpWriter w(dir);
    for (size_t i = 0; i < rows.size(); ++i) w.add(5 + static_cast<int64_t>(i), 1, rows[i].data(), 20000);
    w.finish(testing::make_meta(5, 16));
    return 11;  // should have failed
  } catch (const Error& e) {
    std::string msg = e.what();
    if (msg.find("logits.jsonl.gz") == std::string::npos || msg.find("File too large") == std::string::npos) {
      std::fprintf(stderr, "unexpected message: %s\n", msg.c_str());
      return 12;
    }
  }
  if (entries(dir) != before) return 13;  // a temporary or a half-published file was left
  if (existing_dump && testing::read_text(dir + "/metadata.json") != before_meta) return 14;
  return 0;
}

TEST(DumpWriterSafety, FullDestinationLeavesNoPartialFile) {
  for (bool existing : {false, true}) {
    TempDir tmp;
    fs::create_directory(tmp.sub("d"));
    if (existing) testing::write_dump(tmp.sub("d"), testing::make_rows(1, 4), 3);
    pid_t pid = fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) _exit(full_disk_child(tmp.sub("d"), 64 * 1024, existing));
    int status = 0;
    ASSERT_EQ(waitpid(pid, &status, 0), pid);
    ASSERT_TRUE(WIFEXITED(status)) << "child killed by signal " << WTERMSIG(status);
    EXPECT_EQ(WEXITSTATUS(status), 0) << "existing dump: " << existing;
    if (existing) EXPECT_EQ(read_dump(tmp.sub("d")).records.size(), 1u);  // the old dump is intact
  }
}

TEST(DumpWriterSafety, AbortDestructorAndFailedFinishRemoveTemporaries) {
  TempDir tmp;
  auto rows = testing::make_rows(2, 8);
  {
    DumpWriter w(tmp.sub("d"));
    w.add(1, 1, rows[0].data(), 8);
    EXPECT_EQ(entries(tmp.sub("d")).size(), 1u);  // the temporary
  }
  EXPECT_FALSE(fs::exists(tmp.sub("d")));  // the writer created it and removed it again
  {
    DumpWriter w(tmp.sub("d"));
    w.add(1, 1, rows[0].data(), 8);
    w.abort();
    EXPECT_TRUE(entries(tmp.sub("d")).empty());
    EXPECT_NE(error_of([&] { w.add(2, 1, rows[1].data(), 8); }).find("after finish() or abort()"), std::string::npos);
  }
  {
    DumpWriter w(tmp.sub("d"));
    w.add(1, 1, rows[0].data(), 8);
    EXPECT_EQ(error_of([&] { w.add(3, 1, rows[1].data(), 8); }),
              "dump '" + tmp.sub("d") + "': token_idx 3 out of order (expected 2)");
    EXPECT_TRUE(entries(tmp.sub("d")).empty());
  }
  {
    DumpWriter w(tmp.sub("d"));
    w.add(1, 1, rows[0].data(), 8);
    EXPECT_EQ(error_of([&] { w.finish(testing::make_meta(1, 2)); }),
              "dump '" + tmp.sub("d") + "': token_span {start 1, count 2} does not match the 1 records written from token_idx 1");
    EXPECT_TRUE(entries(tmp.sub("d")).empty());
  }
}

TEST(DumpWriterSafety, MetadataFromAnotherWriterIsDetected) {
  TempDir tmp;
  testing::write_dump(tmp.sub("d"), testing::make_rows(1, 50, 1), 3);
  std::string first_meta = testing::read_text(tmp.sub("d") + "/metadata.json");
  testing::write_dump(tmp.sub("d"), testing::make_rows(1, 50, 2), 3);
  // As if a crash or a foreign writer left the first run's metadata beside the second's logits.
  testing::write_text(tmp.sub("d") + "/metadata.json", first_meta);
  std::string msg = error_of([&] { read_dump(tmp.sub("d")); });
  EXPECT_NE(msg.find("metadata.json does not belong to this logits.jsonl.gz"), std::string::npos) << msg;
}

// Several processes write different dumps into one directory at once while another reads it:
// every read sees one writer's metadata with the same writer's logits, and the end state is one
// complete dump with no temporaries left.
TEST(DumpWriterSafety, ConcurrentWritersLeaveOneCompleteDump) {
  TempDir tmp;
  const std::string dir = tmp.sub("d");
  constexpr int kWriters = 4, kRounds = 6, kVocab = 20000, kCount = 3;
  std::vector<pid_t> pids;
  for (int w = 0; w < kWriters; ++w) {
    pid_t pid = fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      int rc = 0;
      try {
        for (int r = 0; r < kRounds; ++r) {
          // Writer w's logits are all equal to w, its token ids are w: a mix is visible.
          std::vector<std::vector<float>> rows(kCount, std::vector<float>(kVocab, static_cast<float>(w)));
          testing::write_dump(dir, rows, 7, 1, "prefill", {{"writer", w}}, /*token_id_base=*/w * 1000);
        }
      } catch (const Error& e) {
        std::fprintf(stderr, "writer %d: %s\n", w, e.what());
        rc = 1;
      }
      _exit(rc);
    }
    pids.push_back(pid);
  }
  int reads = 0, bad = 0, finished = 0;
  for (;;) {
    try {
      Dump d = read_dump(dir);
      int w = d.metadata["writer"];
      for (const auto& rec : d.records) {
        if (rec.logits[0] != static_cast<float>(w) || rec.logits[kVocab - 1] != static_cast<float>(w) ||
            rec.token_id / 1000 != w) {
          ++bad;
        }
      }
      ++reads;
    } catch (const Error& e) {
      // Before the first publication the dump is simply not there yet.
      std::string msg = e.what();
      if (msg.find("is missing") == std::string::npos && msg.find("does not exist") == std::string::npos) {
        ADD_FAILURE() << "reader saw: " << msg;
      }
    }
    for (pid_t& p : pids) {
      int status = 0;
      if (p > 0 && waitpid(p, &status, WNOHANG) == p) {
        EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
        p = -1;
        ++finished;
      }
    }
    if (finished == kWriters) break;
  }
  EXPECT_EQ(bad, 0);
  Dump d = read_dump(dir);
  EXPECT_EQ(d.records.size(), static_cast<size_t>(kCount));
  EXPECT_EQ(entries(dir), (std::set<std::string>{"logits.jsonl.gz", "metadata.json"}));
  std::printf("concurrent readers: %d consistent reads\n", reads);
}

}  // namespace
}  // namespace greta::dump

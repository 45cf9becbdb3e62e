#pragma once
// File names of a dump directory and the lock that serialises publishing into it.

#include <string>

namespace greta::dump {

inline constexpr const char* kMetadataFile = "metadata.json";
inline constexpr const char* kLogitsFile = "logits.jsonl.gz";

// ".<final>.tmp-<pid>-<n>": hidden, so a leftover after a crash never looks like a dump.
std::string dump_tmp_name(const char* final_name, long pid, unsigned n);

// flock(2) on the directory DIR itself for the lifetime of the object (no lock file is left in
// the user's directory). Exclusive for a writer's renames, shared for a reader opening both
// files. A reader that cannot open the directory skips the lock: opening the files fails anyway.
class DumpLock {
 public:
  DumpLock(const std::string& dir, bool exclusive);
  ~DumpLock();
  DumpLock(const DumpLock&) = delete;
  DumpLock& operator=(const DumpLock&) = delete;

 private:
  int fd_ = -1;
};

}  // namespace greta::dump

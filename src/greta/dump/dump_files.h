#pragma once
// File names of a dump directory and the lock that serialises publishing into it.

#include <string>

namespace greta::dump {

inline constexpr const char* kMetadataFile = "metadata.json";
inline constexpr const char* kLogitsFile = "logits.jsonl.gz";
inline constexpr const char* kLockFile = ".greta-dump.lock";

// ".<final>.tmp-<pid>-<n>": hidden, so a leftover after a crash never looks like a dump.
std::string dump_tmp_name(const char* final_name, long pid, unsigned n);

// flock(2) on DIR/.greta-dump.lock for the lifetime of the object. Exclusive for a writer's
// renames, shared for a reader opening both files. A shared lock on a directory where the lock
// file cannot be created (read-only media) is skipped: nobody can be writing there.
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

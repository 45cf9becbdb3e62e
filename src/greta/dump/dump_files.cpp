#include "greta/dump/dump_files.h"

#include <cerrno>
#include <cstring>

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include "greta/core/error.h"

namespace greta::dump {

std::string dump_tmp_name(const char* final_name, long pid, unsigned n) {
  return std::string(".") + final_name + ".tmp-" + std::to_string(pid) + "-" + std::to_string(n);
}

DumpLock::DumpLock(const std::string& dir, bool exclusive) {
  // The lock is the directory's own inode (renames inside it never replace it), so nothing is
  // created next to the dump. The CRC-32 recorded in metadata.json still catches a writer that
  // does not lock.
  const std::string& path = dir;
  fd_ = ::open(path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd_ < 0) {
    if (!exclusive) return;
    fail("cannot open dump directory '" + path + "' to lock it: " + std::strerror(errno));
  }
  int rc;
  do {
    rc = ::flock(fd_, exclusive ? LOCK_EX : LOCK_SH);
  } while (rc != 0 && errno == EINTR);
  if (rc != 0 && exclusive) {
    int err = errno;
    ::close(fd_);
    fd_ = -1;
    fail("cannot lock '" + path + "': " + std::strerror(err));
  }
}

DumpLock::~DumpLock() {
  if (fd_ >= 0) ::close(fd_);  // closing the descriptor releases the flock
}

}  // namespace greta::dump

// DumpWriter: streams logits.jsonl.gz, then publishes it and metadata.json atomically.
//
// Publication protocol (see docs/ARCHITECTURE.md, "Logits dump"):
//   1. Both files are written under temporary names in DIR (".logits.jsonl.gz.tmp-<pid>-<n>",
//      ".metadata.json.tmp-<pid>-<n>") and fsync'ed. metadata.json records the size and CRC-32 of
//      the logits file it belongs to ("logits_file": {"bytes", "crc32"}).
//   2. Under an exclusive flock on DIR itself (no lock file): rename logits, then metadata, then fsync
//      DIR. Two writers into one DIR are serialised: the last one to take the lock wins both
//      names, never one name each.
//   3. read_dump() takes the lock shared while it opens both files, so it never sees one writer's
//      metadata with another's logits. A reader that does not lock (a script) and reads metadata
//      first can only see a new metadata.json after the matching logits were renamed in, and
//      the recorded CRC-32 catches what remains (a crash between the two renames, a third writer).

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <filesystem>

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "greta/core/build_info.h"
#include "greta/core/error.h"
#include "greta/dump/dump_files.h"
#include "greta/dump/huffman_gzip.h"
#include "greta/dump/logits_dump.h"

namespace greta::dump {

namespace fs = std::filesystem;

void append_float(std::string& out, float v) {
  if (!std::isfinite(v)) {
    out += "null";
    return;
  }
  char buf[32];
  // The float overload: the shortest text that std::from_chars<float> maps back to these bits.
  auto [end, ec] = std::to_chars(buf, buf + sizeof(buf), v);
  GRETA_ASSERT(ec == std::errc());
  out.append(buf, end);
}

namespace {

std::atomic<unsigned> g_tmp_counter{0};

std::string utc_timestamp_now() {
  std::time_t t = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now());
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

void write_all(int fd, const std::string& data, const std::string& name) {
  const char* p = data.data();
  size_t n = data.size();
  while (n > 0) {
    ssize_t w = ::write(fd, p, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      fail("writing '" + name + "': " + std::strerror(errno));
    }
    if (w == 0) fail("writing '" + name + "': no space left (short write)");
    p += w;
    n -= static_cast<size_t>(w);
  }
}

void fsync_or_fail(int fd, const std::string& name) {
  if (::fsync(fd) != 0 && errno != EINVAL && errno != EROFS) {
    fail("syncing '" + name + "': " + std::strerror(errno));
  }
}

std::string hex32(uint32_t v) {
  char buf[9];
  std::snprintf(buf, sizeof(buf), "%08x", v);
  return buf;
}

}  // namespace

struct DumpWriter::Impl {
  std::string dir;
  std::string tmp_logits;    // full path of the temporary logits file
  std::string tmp_meta;      // full path of the temporary metadata file ("" until created)
  int fd = -1;               // tmp_logits, open for writing
  std::unique_ptr<HuffmanGzipWriter> gz;
  std::string line;          // [64 KiB] formatting buffer for a record's text
  int64_t n_records = 0;
  int64_t first_idx = 0;
  int64_t next_idx = 0;
  int64_t n_vocab = -1;
  bool done = false;         // published, or aborted
  std::vector<std::string> created;  // directories this writer created, deepest first

  void cleanup() noexcept {
    gz.reset();
    if (fd >= 0) {
      ::close(fd);
      fd = -1;
    }
    if (!tmp_logits.empty()) ::unlink(tmp_logits.c_str());
    if (!tmp_meta.empty()) ::unlink(tmp_meta.c_str());
    tmp_logits.clear();
    tmp_meta.clear();
    // A run that ends without a dump leaves no directory behind that it created (only empty
    // ones are removed: fs::remove fails on anything else).
    for (const std::string& d : created) {
      std::error_code ec;
      fs::remove(d, ec);
    }
    created.clear();
    done = true;
  }
};

DumpWriter::DumpWriter(const std::string& dir) : impl_(std::make_unique<Impl>()) {
  Impl& m = *impl_;
  m.dir = dir.empty() ? std::string(".") : dir;
  std::error_code ec;
  fs::file_status st = fs::status(m.dir, ec);
  if (fs::exists(st)) {
    if (!fs::is_directory(st)) fail("dump directory '" + m.dir + "' exists and is not a directory");
  } else {
    for (fs::path p(m.dir); !p.empty() && !fs::exists(p, ec); p = p.parent_path()) {
      m.created.push_back(p.string());
      if (p == p.parent_path()) break;
    }
    fs::create_directories(m.dir, ec);
    if (ec) fail("cannot create dump directory '" + m.dir + "': " + ec.message());
  }
  // Creating the temporary file now proves the directory writable before any model work.
  std::string base = dump_tmp_name(kLogitsFile, static_cast<long>(::getpid()), g_tmp_counter++);
  m.tmp_logits = m.dir + "/" + base;
  m.fd = ::open(m.tmp_logits.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (m.fd < 0) {
    int err = errno;
    m.tmp_logits.clear();
    m.cleanup();  // the directories it created, if any
    fail("cannot write to dump directory '" + m.dir + "': " + std::strerror(err));
  }
  m.gz = std::make_unique<HuffmanGzipWriter>(m.fd, m.dir + "/" + kLogitsFile);
  m.line.resize(size_t{1} << 16);
}

DumpWriter::~DumpWriter() {
  if (impl_ && !impl_->done) impl_->cleanup();
}

void DumpWriter::abort() noexcept {
  if (impl_ && !impl_->done) impl_->cleanup();
}

void DumpWriter::add(int64_t token_idx, int32_t token_id, const float* logits, int64_t n_vocab) {
  Impl& m = *impl_;
  if (m.done) fail("dump '" + m.dir + "': add() after finish() or abort()");
  try {
    if (m.n_records == 0) {
      m.first_idx = token_idx;
      m.n_vocab = n_vocab;
    } else if (token_idx != m.next_idx) {
      fail("dump '" + m.dir + "': token_idx " + std::to_string(token_idx) + " out of order (expected " +
           std::to_string(m.next_idx) + ")");
    } else if (n_vocab != m.n_vocab) {
      fail("dump '" + m.dir + "': record has " + std::to_string(n_vocab) + " logits, earlier ones " +
           std::to_string(m.n_vocab));
    }
    std::string head = "{\"token_idx\":" + std::to_string(token_idx) + ",\"token_id\":" +
                       std::to_string(token_id) + ",\"logits\":[";
    m.gz->write(head);
    // Format straight into a fixed buffer (no per-float string growth) and hand it to deflate
    // when nearly full; 16 bytes cover the longest float text ("-1.17549435e-38") plus a comma.
    char* buf = m.line.data();
    const size_t cap = m.line.size();
    size_t len = 0;
    for (int64_t i = 0; i < n_vocab; ++i) {
      if (len + 32 > cap) {
        m.gz->write(std::string_view(buf, len));
        len = 0;
      }
      if (i) buf[len++] = ',';
      float v = logits[i];
      if (std::isfinite(v)) {
        auto [end, ec] = std::to_chars(buf + len, buf + cap, v);
        GRETA_ASSERT(ec == std::errc());
        len = static_cast<size_t>(end - buf);
      } else {
        std::memcpy(buf + len, "null", 4);
        len += 4;
      }
    }
    std::memcpy(buf + len, "]}\n", 3);
    len += 3;
    m.gz->write(std::string_view(buf, len));
  } catch (const Error&) {
    m.cleanup();
    throw;
  }
  m.n_records++;
  m.next_idx = token_idx + 1;
}

void DumpWriter::finish(const DumpMetadata& meta) {
  Impl& m = *impl_;
  if (m.done) fail("dump '" + m.dir + "': finish() after finish() or abort()");
  try {
    if (meta.span_count != m.n_records || (m.n_records > 0 && meta.span_start != m.first_idx)) {
      fail("dump '" + m.dir + "': token_span {start " + std::to_string(meta.span_start) + ", count " +
           std::to_string(meta.span_count) + "} does not match the " + std::to_string(m.n_records) +
           " records written from token_idx " + std::to_string(m.first_idx));
    }
    m.gz->finish();
    fsync_or_fail(m.fd, m.tmp_logits);
    uint64_t gz_bytes = m.gz->compressed_bytes();
    uint32_t gz_crc = m.gz->compressed_crc32();
    m.gz.reset();
    if (::close(m.fd) != 0) {
      m.fd = -1;
      fail("closing '" + m.tmp_logits + "': " + std::strerror(errno));
    }
    m.fd = -1;

    // Required keys in the contract's order, then the extras (which never override them).
    nlohmann::ordered_json j;
    j["dtype"] = meta.dtype;
    j["prompt_len"] = meta.prompt_len;
    j["gen_len"] = meta.gen_len;
    j["seed"] = meta.seed;
    j["kv_aligned"] = meta.kv_aligned;
    j["mode"] = meta.mode;
    j["token_span"] = {{"start", meta.span_start}, {"count", meta.span_count}};
    j["timestamp"] = meta.timestamp.empty() ? utc_timestamp_now() : meta.timestamp;
    j["repo_branch"] = meta.repo_branch.empty() ? std::string(build::kGitBranch) : meta.repo_branch;
    if (meta.extra.is_object()) {
      for (auto it = meta.extra.begin(); it != meta.extra.end(); ++it) {
        if (!j.contains(it.key())) j[it.key()] = it.value();
      }
    }
    if (!j.contains("vocab_size") && m.n_vocab >= 0) j["vocab_size"] = m.n_vocab;
    if (!j.contains("commit") && !j.contains("repo_commit")) j["repo_commit"] = build::kGitCommit;
    j["logits_file"] = {{"bytes", gz_bytes}, {"crc32", hex32(gz_crc)}};
    // Paths are bytes on Linux and need not be UTF-8: invalid sequences become U+FFFD rather than
    // an exception after the whole run.
    std::string text = j.dump(2, ' ', false, nlohmann::ordered_json::error_handler_t::replace) + "\n";

    m.tmp_meta = m.dir + "/" + dump_tmp_name(kMetadataFile, static_cast<long>(::getpid()), g_tmp_counter++);
    int mfd = ::open(m.tmp_meta.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (mfd < 0) {
      int err = errno;
      std::string failed = m.tmp_meta;
      m.tmp_meta.clear();
      fail("cannot create '" + failed + "': " + std::strerror(err));
    }
    try {
      write_all(mfd, text, m.tmp_meta);
      fsync_or_fail(mfd, m.tmp_meta);
    } catch (const Error&) {
      ::close(mfd);
      throw;
    }
    if (::close(mfd) != 0) fail("closing '" + m.tmp_meta + "': " + std::strerror(errno));

    // Publish under the lock: logits first, then metadata (see the protocol above).
    DumpLock lock(m.dir, /*exclusive=*/true);
    std::string final_logits = m.dir + "/" + kLogitsFile;
    std::string final_meta = m.dir + "/" + kMetadataFile;
    if (::rename(m.tmp_logits.c_str(), final_logits.c_str()) != 0) {
      fail("publishing '" + final_logits + "': " + std::strerror(errno));
    }
    m.tmp_logits.clear();
    if (::rename(m.tmp_meta.c_str(), final_meta.c_str()) != 0) {
      int err = errno;
      // Without its metadata the new logits must not stay published next to an old metadata.json.
      ::unlink(final_meta.c_str());
      fail("publishing '" + final_meta + "': " + std::strerror(err));
    }
    m.tmp_meta.clear();
    int dfd = ::open(m.dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
      ::fsync(dfd);
      ::close(dfd);
    }
  } catch (const Error&) {
    m.cleanup();
    throw;
  }
  m.done = true;
}

}  // namespace greta::dump

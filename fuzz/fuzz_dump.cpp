// libFuzzer target: the logits-dump reader used by greta_compare (untrusted dumps).
//
// Input layout: one mode byte, the metadata.json text, a NUL, then the logits payload. Mode bit 0
// clear: the payload is JSONL text, gzipped here into logits.jsonl.gz (so the fuzzer explores the
// JSON and the contract checks); set: the payload is written as the .gz file verbatim (so it
// explores the gunzip error paths). Both files go to a private temporary directory and
// read_dump() validates it. Each JSONL line is also fed to the record parser directly.
// Any greta::Error is an accepted outcome; anything else is a bug.

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <string_view>

#include <fcntl.h>
#include <unistd.h>

#include "greta/core/error.h"
#include "greta/dump/dump_files.h"
#include "greta/dump/gzip_stream.h"
#include "greta/dump/jsonl_record.h"
#include "greta/dump/logits_dump.h"

namespace {

std::string g_dir;

void remove_dir() {
  std::error_code ec;
  std::filesystem::remove_all(g_dir, ec);
}

const std::string& dump_dir() {
  if (g_dir.empty()) {
    const char* tmp = std::getenv("TMPDIR");
    std::string tmpl = std::string(tmp != nullptr && *tmp != '\0' ? tmp : "/tmp") + "/greta-fuzz-dump-XXXXXX";
    if (mkdtemp(tmpl.data()) == nullptr) std::abort();
    g_dir = tmpl;
    std::atexit(remove_dir);
  }
  return g_dir;
}

void write_file(const std::string& path, std::string_view bytes, bool gzip) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) std::abort();
  if (gzip) {
    greta::dump::GzipWriter w(fd, path);
    w.write(bytes);
    w.finish();
  } else {
    size_t off = 0;
    while (off < bytes.size()) {
      const ssize_t n = ::write(fd, bytes.data() + off, bytes.size() - off);
      if (n <= 0) std::abort();
      off += static_cast<size_t>(n);
    }
  }
  ::close(fd);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  const bool raw_gz = (data[0] & 1) != 0;
  const std::string_view rest(reinterpret_cast<const char*>(data) + 1, size - 1);
  const size_t nul = rest.find('\0');
  const std::string_view meta = rest.substr(0, nul);
  const std::string_view payload = nul == std::string_view::npos ? std::string_view() : rest.substr(nul + 1);

  if (!raw_gz) {
    size_t pos = 0;
    while (pos <= payload.size()) {
      const size_t nl = payload.find('\n', pos);
      const std::string_view line = payload.substr(pos, nl == std::string_view::npos ? std::string_view::npos : nl - pos);
      greta::dump::DumpRecord rec;
      const std::string err = greta::dump::jsonl_record_parse(line, rec);
      if (err.empty() && rec.logits.size() != rec.is_null.size()) __builtin_trap();
      if (nl == std::string_view::npos) break;
      pos = nl + 1;
    }
  }

  const std::string& dir = dump_dir();
  write_file(dir + "/" + greta::dump::kMetadataFile, meta, false);
  write_file(dir + "/" + greta::dump::kLogitsFile, payload, !raw_gz);
  try {
    greta::dump::Dump d = greta::dump::read_dump(dir);
    // A dump that validated must be self-consistent.
    if (d.records.size() != static_cast<size_t>(d.meta.span_count)) __builtin_trap();
    for (const auto& r : d.records) {
      if (r.logits.size() != d.records[0].logits.size() || r.logits.empty()) __builtin_trap();
    }
  } catch (const greta::Error&) {
  }
  return 0;
}

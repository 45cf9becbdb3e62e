#include "greta/gguf/gguf_writer.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <condition_variable>
#include <mutex>
#include <thread>
#include <cstring>
#include <limits>

#include "greta/core/checked_math.h"
#include "greta/core/error.h"

namespace greta::gguf {

namespace {

constexpr uint32_t kMagic = 0x46554747;
constexpr uint32_t kVersion = 3;

uint64_t elem_size(ValueType t) {
  switch (t) {
    case ValueType::U8: case ValueType::I8: case ValueType::BOOL: return 1;
    case ValueType::U16: case ValueType::I16: return 2;
    case ValueType::U32: case ValueType::I32: case ValueType::F32: return 4;
    case ValueType::U64: case ValueType::I64: case ValueType::F64: return 8;
    default: return 0;
  }
}

uint64_t align_up(uint64_t x, uint64_t a) { return (x + a - 1) / a * a; }

class VectorSink : public ByteSink {
 public:
  explicit VectorSink(std::vector<uint8_t>* out) : out_(out) {}
  void write(const void* data, size_t n) override {
    const auto* p = static_cast<const uint8_t*>(data);
    out_->insert(out_->end(), p, p + n);
  }

 private:
  std::vector<uint8_t>* out_;
};

// Buffered writes to a file descriptor on a background thread, so that producing tensor data
// (generation, quantization) overlaps with the kernel's write-back. Errors name the file and
// surface at the next write() or at finish().
class FileSink : public ByteSink {
 public:
  FileSink(int fd, const std::string& path) : fd_(fd), path_(path) {
    current_.reserve(kBufBytes);
    writer_ = std::thread([this] { writer_loop(); });
  }
  ~FileSink() override {
    if (writer_.joinable()) stop();
  }
  void write(const void* data, size_t n) override {
    const auto* p = static_cast<const uint8_t*>(data);
    while (n > 0) {
      const size_t take = std::min(n, kBufBytes - current_.size());
      current_.insert(current_.end(), p, p + take);
      p += take;
      n -= take;
      if (current_.size() == kBufBytes) submit();
    }
  }
  // Writes everything still buffered and reports the first write error.
  void finish() {
    if (!current_.empty()) submit();
    stop();
    if (!error_.empty()) fail(error_);
  }

 private:
  static constexpr size_t kBufBytes = size_t(8) << 20;
  static constexpr size_t kMaxQueued = 2;

  void submit() {
    std::unique_lock<std::mutex> lock(mutex_);
    cv_.wait(lock, [&] { return full_.size() < kMaxQueued || !error_.empty(); });
    if (!error_.empty()) {
      const std::string e = error_;
      lock.unlock();
      fail(e);
    }
    full_.push_back(std::move(current_));
    if (!spare_.empty()) {
      current_ = std::move(spare_.back());
      spare_.pop_back();
    } else {
      current_ = std::vector<uint8_t>();
      current_.reserve(kBufBytes);
    }
    current_.clear();
    cv_.notify_all();
  }
  void stop() {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      done_ = true;
    }
    cv_.notify_all();
    writer_.join();
  }
  void writer_loop() {
    for (;;) {
      std::vector<uint8_t> buf;
      {
        std::unique_lock<std::mutex> lock(mutex_);
        cv_.wait(lock, [&] { return !full_.empty() || done_; });
        if (full_.empty()) return;
        buf = std::move(full_.front());
        full_.erase(full_.begin());
      }
      std::string err;
      if (error_empty()) err = write_all(buf.data(), buf.size());
      std::lock_guard<std::mutex> lock(mutex_);
      if (!err.empty() && error_.empty()) error_ = err;
      buf.clear();
      spare_.push_back(std::move(buf));
      cv_.notify_all();
    }
  }
  bool error_empty() {
    std::lock_guard<std::mutex> lock(mutex_);
    return error_.empty();
  }
  std::string write_all(const uint8_t* p, size_t n) {
    while (n > 0) {
      const ssize_t w = ::write(fd_, p, n);
      if (w < 0) {
        if (errno == EINTR) continue;
        return path_ + ": write failed: " + std::strerror(errno);
      }
      p += w;
      n -= size_t(w);
    }
    return "";
  }

  int fd_;
  const std::string& path_;
  std::vector<uint8_t> current_;
  std::vector<std::vector<uint8_t>> full_, spare_;
  std::mutex mutex_;
  std::condition_variable cv_;
  bool done_ = false;
  std::string error_;
  std::thread writer_;
};

// Counts the bytes a fill callback produces and forwards them.
class CountingSink : public ByteSink {
 public:
  explicit CountingSink(ByteSink& inner) : inner_(inner) {}
  void write(const void* data, size_t n) override {
    inner_.write(data, n);
    count_ += n;
  }
  uint64_t count() const { return count_; }

 private:
  ByteSink& inner_;
  uint64_t count_ = 0;
};

}  // namespace

void GgufWriter::put_string(std::string_view s) {
  put<uint64_t>(s.size());
  kv_bytes_.insert(kv_bytes_.end(), s.begin(), s.end());
}

void GgufWriter::begin_key(std::string_view key, ValueType type) {
  if (key.empty() || key.size() > kMaxKeyBytes) {
    fail("gguf writer: key length " + std::to_string(key.size()) + " is invalid (expected 1 to " +
         std::to_string(kMaxKeyBytes) + ")");
  }
  if (!keys_.emplace(key).second) fail("gguf writer: duplicate key '" + std::string(key) + "'");
  put_string(key);
  put<uint32_t>(static_cast<uint32_t>(type));
  ++n_kv_;
}

void GgufWriter::set_alignment(uint32_t alignment) {
  if (alignment < kMinAlignment || (alignment & (alignment - 1)) != 0 || alignment > kMaxAlignment) {
    fail("gguf writer: alignment " + std::to_string(alignment) + " is invalid (expected a power of two from 8 to " +
         std::to_string(kMaxAlignment) + ")");
  }
  alignment_ = alignment;
  add_u32("general.alignment", alignment);
}

void GgufWriter::add_u8(std::string_view key, uint8_t v) { begin_key(key, ValueType::U8); put(v); }
void GgufWriter::add_i8(std::string_view key, int8_t v) { begin_key(key, ValueType::I8); put(v); }
void GgufWriter::add_u16(std::string_view key, uint16_t v) { begin_key(key, ValueType::U16); put(v); }
void GgufWriter::add_i16(std::string_view key, int16_t v) { begin_key(key, ValueType::I16); put(v); }
void GgufWriter::add_u32(std::string_view key, uint32_t v) { begin_key(key, ValueType::U32); put(v); }
void GgufWriter::add_i32(std::string_view key, int32_t v) { begin_key(key, ValueType::I32); put(v); }
void GgufWriter::add_u64(std::string_view key, uint64_t v) { begin_key(key, ValueType::U64); put(v); }
void GgufWriter::add_i64(std::string_view key, int64_t v) { begin_key(key, ValueType::I64); put(v); }
void GgufWriter::add_f32(std::string_view key, float v) { begin_key(key, ValueType::F32); put(v); }
void GgufWriter::add_f64(std::string_view key, double v) { begin_key(key, ValueType::F64); put(v); }
void GgufWriter::add_bool(std::string_view key, bool v) { begin_key(key, ValueType::BOOL); put<uint8_t>(v ? 1 : 0); }
void GgufWriter::add_string(std::string_view key, std::string_view v) {
  begin_key(key, ValueType::STRING);
  put_string(v);
}

void GgufWriter::add_array(std::string_view key, ValueType elem, const void* data, uint64_t n) {
  const uint64_t es = elem_size(elem);
  if (es == 0) fail("gguf writer: key '" + std::string(key) + "': add_array needs a numeric or bool element type");
  begin_key(key, ValueType::ARRAY);
  put<uint32_t>(static_cast<uint32_t>(elem));
  put<uint64_t>(n);
  const auto* p = static_cast<const uint8_t*>(data);
  kv_bytes_.insert(kv_bytes_.end(), p, p + n * es);
}

void GgufWriter::add_string_array(std::string_view key, const std::vector<std::string>& v) {
  begin_key(key, ValueType::ARRAY);
  put<uint32_t>(static_cast<uint32_t>(ValueType::STRING));
  put<uint64_t>(v.size());
  for (const std::string& s : v) put_string(s);
}

void GgufWriter::put_value_payload(const Value& v) {
  switch (v.type) {
    case ValueType::U8: put<uint8_t>(static_cast<uint8_t>(v.u)); break;
    case ValueType::I8: put<int8_t>(static_cast<int8_t>(v.i)); break;
    case ValueType::U16: put<uint16_t>(static_cast<uint16_t>(v.u)); break;
    case ValueType::I16: put<int16_t>(static_cast<int16_t>(v.i)); break;
    case ValueType::U32: put<uint32_t>(static_cast<uint32_t>(v.u)); break;
    case ValueType::I32: put<int32_t>(static_cast<int32_t>(v.i)); break;
    case ValueType::U64: put<uint64_t>(v.u); break;
    case ValueType::I64: put<int64_t>(v.i); break;
    case ValueType::F32: put<float>(static_cast<float>(v.f)); break;
    case ValueType::F64: put<double>(v.f); break;
    case ValueType::BOOL: put<uint8_t>(v.u ? 1 : 0); break;
    case ValueType::STRING: put_string(v.str); break;
    case ValueType::ARRAY: {
      GRETA_ASSERT(v.arr != nullptr);
      const ArrayValue& a = *v.arr;
      put<uint32_t>(static_cast<uint32_t>(a.elem_type));
      put<uint64_t>(a.size);
      if (a.elem_type == ValueType::STRING) {
        for (std::string_view s : a.strings) put_string(s);
      } else if (a.elem_type == ValueType::ARRAY) {
        for (const Value& e : a.arrays) {
          GRETA_ASSERT(e.type == ValueType::ARRAY && e.arr != nullptr);
          put_value_payload(e);
        }
      } else if (a.size > 0) {
        kv_bytes_.insert(kv_bytes_.end(), a.data, a.data + a.size * elem_size(a.elem_type));
      }
      break;
    }
  }
}

void GgufWriter::add_value(std::string_view key, const Value& v) {
  begin_key(key, v.type);
  put_value_payload(v);
}

void GgufWriter::add_tensor(std::string_view name, TensorType type, const std::vector<int64_t>& shape,
                            TensorDataFn fill) {
  const std::string ctx = "gguf writer: tensor '" + std::string(name) + "'";
  if (name.empty() || name.size() > kMaxTensorNameBytes) {
    fail(ctx + ": name length " + std::to_string(name.size()) + " is invalid (expected 1 to " +
         std::to_string(kMaxTensorNameBytes) + ")");
  }
  if (shape.empty() || shape.size() > size_t(kMaxDims)) {
    fail(ctx + ": n_dims " + std::to_string(shape.size()) + " is invalid (expected 1 to " + std::to_string(kMaxDims) + ")");
  }
  const TensorTypeInfo& info = tensor_type_info(type);
  if (!info.is_storage_type) fail(ctx + ": tensor type " + info.name + " cannot be stored");
  uint64_t n = 1;
  for (int64_t d : shape) {
    if (d <= 0 || !checked_mul(n, uint64_t(d), &n) || n > uint64_t(std::numeric_limits<int64_t>::max())) {
      fail(ctx + ": invalid shape");
    }
  }
  if (shape[0] % info.block_size != 0) {
    fail(ctx + ": row length " + std::to_string(shape[0]) + " is not a multiple of the " + info.name + " block size " +
         std::to_string(info.block_size));
  }
  uint64_t n_bytes = 0;
  uint64_t row_bytes = 0;
  if (!checked_mul(uint64_t(shape[0]) / uint64_t(info.block_size), uint64_t(info.type_size), &row_bytes) ||
      !checked_mul(row_bytes, n / uint64_t(shape[0]), &n_bytes)) {
    fail(ctx + ": byte size overflows");
  }
  if (!tensor_names_.emplace(name).second) fail("gguf writer: duplicate tensor name '" + std::string(name) + "'");
  tensors_.push_back(PendingTensor{std::string(name), type, shape, n_bytes, 0, std::move(fill)});
}

void GgufWriter::add_tensor(std::string_view name, TensorType type, const std::vector<int64_t>& shape,
                            const void* data) {
  add_tensor(name, type, shape, TensorDataFn{});
  PendingTensor& t = tensors_.back();
  const uint64_t n_bytes = t.n_bytes;
  t.fill = [data, n_bytes](ByteSink& out) { out.write(data, n_bytes); };
}

void GgufWriter::write_to(ByteSink& out) const {
  std::vector<uint8_t> head;
  auto put = [&head](const void* p, size_t n) {
    const auto* b = static_cast<const uint8_t*>(p);
    head.insert(head.end(), b, b + n);
  };
  auto put_u32 = [&](uint32_t v) { put(&v, 4); };
  auto put_u64 = [&](uint64_t v) { put(&v, 8); };
  put_u32(kMagic);
  put_u32(kVersion);
  put_u64(tensors_.size());
  put_u64(n_kv_);
  head.insert(head.end(), kv_bytes_.begin(), kv_bytes_.end());
  // Offsets are assigned here so that set_alignment() may come after add_tensor().
  std::vector<uint64_t> offsets(tensors_.size());
  uint64_t offset = 0;
  for (size_t i = 0; i < tensors_.size(); ++i) {
    const PendingTensor& t = tensors_[i];
    offset = align_up(offset, alignment_);
    offsets[i] = offset;
    offset += t.n_bytes;
    put_u64(t.name.size());
    put(t.name.data(), t.name.size());
    put_u32(static_cast<uint32_t>(t.shape.size()));
    for (int64_t d : t.shape) put_u64(static_cast<uint64_t>(d));
    put_u32(static_cast<uint32_t>(t.type));
    put_u64(offsets[i]);
  }
  head.resize(align_up(head.size(), alignment_), 0);
  out.write(head.data(), head.size());

  const std::vector<uint8_t> zeros(alignment_, 0);
  uint64_t pos = 0;
  for (size_t i = 0; i < tensors_.size(); ++i) {
    const PendingTensor& t = tensors_[i];
    out.write(zeros.data(), offsets[i] - pos);
    CountingSink counted(out);
    t.fill(counted);
    if (counted.count() != t.n_bytes) {
      fail("gguf writer: tensor '" + t.name + "': data callback produced " + std::to_string(counted.count()) +
           " bytes, expected " + std::to_string(t.n_bytes));
    }
    pos = offsets[i] + t.n_bytes;
  }
}

std::vector<uint8_t> GgufWriter::to_bytes() const {
  std::vector<uint8_t> bytes;
  VectorSink sink(&bytes);
  write_to(sink);
  return bytes;
}

void GgufWriter::write_file(const std::string& path) const {
  const std::string tmp = path + ".tmp." + std::to_string(::getpid());
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) fail(path + ": cannot create '" + tmp + "': " + std::strerror(errno));
  bool closed = false;
  try {
    FileSink sink(fd, path);
    write_to(sink);
    sink.finish();
    if (::fsync(fd) != 0) fail(path + ": fsync failed: " + std::strerror(errno));
    closed = true;
    if (::close(fd) != 0) fail(path + ": close failed: " + std::strerror(errno));
  } catch (...) {
    if (!closed) ::close(fd);
    ::unlink(tmp.c_str());
    throw;
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    const int err = errno;
    ::unlink(tmp.c_str());
    fail(path + ": cannot rename '" + tmp + "' into place: " + std::strerror(err));
  }
  // Persist the rename itself.
  const size_t slash = path.find_last_of('/');
  const std::string dir = slash == std::string::npos ? "." : (slash == 0 ? "/" : path.substr(0, slash));
  const int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    ::fsync(dfd);
    ::close(dfd);
  }
}

}  // namespace greta::gguf

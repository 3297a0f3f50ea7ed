// The safetensors reader and writer of ag (see safetensors.hpp for the layout).
//
// Note [Atomic write]: write() never opens `path` itself. The bytes go to
// `path + ".tmp.<pid>.<n>"` in the same directory (n counts this process's saves, so two
// threads saving to one path write two files; created with O_EXCL and O_NOFOLLOW), which
// is fsynced, closed and renamed over `path`; then the directory is fsynced so that the
// rename survives a crash. A reader sees the old file or the new one, never half of one.
// On any error the temporary file is removed. A process killed inside a save (SIGKILL,
// power loss) leaves its temporary file behind, so before creating its own, write()
// removes the regular files named exactly `<basename(path)>.tmp.<N>` or `....tmp.<N>.<n>`
// in that directory whose N, a pid written as a plain number, is not this process and
// names no process (kill(N, 0) fails with ESRCH). This is best effort and never fails a
// save. A pid names a process of this pid namespace and host only: processes in other pid
// namespaces or on other hosts saving to the same path on a shared file system could remove
// each other's temporary file, and that save would then fail at its rename (it throws;
// `path` is intact either way).
#include "ag/io/safetensors.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <bit>
#include <cerrno>
#include <charconv>
#include <climits>
#include <cstring>
#include <limits>
#include <nlohmann/json.hpp>
#include <set>
#include <string_view>

#include "ag/detail/tensor_impl.hpp"

namespace ag::io::safetensors {

namespace {

using json = nlohmann::ordered_json;

constexpr uint64_t kMaxHeader = 100'000'000;  // the reference implementation's limit
constexpr size_t kMaxDims = 64;
const char* const kMetadataKey = "__metadata__";

bool parse_dtype(const std::string& s, Dtype* out) {
  if (s == "F32") *out = kFloat32;
  else if (s == "F64") *out = kFloat64;
  else if (s == "I64") *out = kInt64;
  else if (s == "BOOL") *out = kBool;
  else return false;
  return true;
}

std::string errno_text() { return std::strerror(errno); }

// Copies n elements of size `es` from src to dst, converting between native and
// little-endian byte order (a plain copy on little-endian machines).
void copy_le(char* dst, const char* src, size_t n, size_t es) {
  if constexpr (std::endian::native == std::endian::little) {
    std::memcpy(dst, src, n * es);
  } else {
    for (size_t i = 0; i < n; ++i)
      for (size_t b = 0; b < es; ++b) dst[i * es + b] = src[i * es + (es - 1 - b)];
  }
}

// ---- writing -----------------------------------------------------------------------------

// `path` split into its directory ("." when it has none) and its last component.
std::pair<std::string, std::string> split_path(const std::string& path) {
  const size_t slash = path.find_last_of('/');
  if (slash == std::string::npos) return {".", path};
  return {slash == 0 ? "/" : path.substr(0, slash), path.substr(slash + 1)};
}

// Whether `s` is a number as std::to_string writes it (digits, no leading zero), of at most
// `max_digits` digits.
bool plain_number(std::string_view s, size_t max_digits) {
  if (s.empty() || s.size() > max_digits || (s[0] == '0' && s.size() > 1)) return false;
  return std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

// The pid N of a temporary file's name, `prefix + N + "." + S` as write() names them (S the
// process's save count) or `prefix + N` as earlier versions did; 0 for any other name.
pid_t temp_owner(std::string_view name, std::string_view prefix) {
  if (!name.starts_with(prefix)) return 0;
  std::string_view digits = name.substr(prefix.size());
  if (const size_t dot = digits.find('.'); dot != std::string_view::npos) {
    if (!plain_number(digits.substr(dot + 1), 20)) return 0;
    digits = digits.substr(0, dot);
  }
  if (!plain_number(digits, 10) || digits == "0") return 0;
  uint64_t n = 0;
  std::from_chars(digits.data(), digits.data() + digits.size(), n);
  return n <= static_cast<uint64_t>(INT_MAX) ? static_cast<pid_t>(n) : 0;
}

// Note [Atomic write]: removes the temporary files of `base` in `dir` whose process is gone.
// Best effort: a failure of any kind leaves the files where they are, and nothing throws.
void remove_stale_temps(const std::string& dir, const std::string& base) noexcept {
  if (base.empty()) return;
  DIR* d = ::opendir(dir.c_str());
  if (!d) return;
  try {
    const std::string prefix = base + ".tmp.";
    const pid_t self = ::getpid();
    std::vector<std::string> stale;  // removed after the walk, not during it
    while (const dirent* e = ::readdir(d)) {
      const pid_t n = temp_owner(e->d_name, prefix);
      struct stat st;  // only regular files (not what a symlink of that name points to)
      if (n > 0 && n != self && ::kill(n, 0) == -1 && errno == ESRCH &&
          ::fstatat(::dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG(st.st_mode))
        stale.emplace_back(e->d_name);
    }
    for (const auto& name : stale) ::unlinkat(::dirfd(d), name.c_str(), 0);
  } catch (const std::bad_alloc&) {
  }
  ::closedir(d);
}

class TempFile {
 public:
  TempFile(std::string path, const char* op) : final_(std::move(path)), op_(op) {
    const auto [dir, base] = split_path(final_);
    dir_ = dir;
    remove_stale_temps(dir_, base);
    // One name per save, also between threads of this process saving to the same path
    // (with the pid alone they would write into one file); created exclusively and never
    // through a symlink. A name that exists was left by a dead process that had this pid:
    // it is removed and the name taken again.
    static std::atomic<uint64_t> saves{0};
    tmp_ = final_ + ".tmp." + std::to_string(::getpid()) + "." + std::to_string(saves.fetch_add(1));
    const int flags = O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC;
    fd_ = ::open(tmp_.c_str(), flags, 0666);
    if (fd_ < 0 && errno == EEXIST && ::unlink(tmp_.c_str()) == 0) fd_ = ::open(tmp_.c_str(), flags, 0666);
    AG_CHECK(fd_ >= 0, op_, ": cannot create '", tmp_, "': ", errno_text());
  }
  ~TempFile() {
    if (fd_ >= 0) ::close(fd_);
    if (!committed_) ::unlink(tmp_.c_str());
  }
  TempFile(const TempFile&) = delete;
  TempFile& operator=(const TempFile&) = delete;

  void write(const void* data, size_t n) {
    const char* p = static_cast<const char*>(data);
    while (n > 0) {
      const ssize_t w = ::write(fd_, p, std::min<size_t>(n, size_t{1} << 30));
      if (w < 0 && errno == EINTR) continue;
      AG_CHECK(w > 0, op_, ": writing '", tmp_, "' failed: ", w < 0 ? errno_text() : std::string("no progress"));
      p += w;
      n -= static_cast<size_t>(w);
    }
  }

  // fsync, close, rename over the final path, fsync the directory.
  void commit() {
    AG_CHECK(::fsync(fd_) == 0, op_, ": fsync of '", tmp_, "' failed: ", errno_text());
    const int fd = fd_;
    fd_ = -1;
    AG_CHECK(::close(fd) == 0, op_, ": closing '", tmp_, "' failed: ", errno_text());
    AG_CHECK(::rename(tmp_.c_str(), final_.c_str()) == 0, op_, ": renaming '", tmp_, "' to '", final_,
             "' failed: ", errno_text());
    committed_ = true;
    const int dfd = ::open(dir_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
      ::fsync(dfd);  // best effort: some file systems refuse fsync on directories
      ::close(dfd);
    }
  }

 private:
  std::string final_, tmp_, dir_;
  const char* op_;
  int fd_ = -1;
  bool committed_ = false;
};

// ---- reading -----------------------------------------------------------------------------

std::vector<char> read_all(const std::string& path, const char* op, uint64_t limit) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  AG_CHECK(fd >= 0, op, ": cannot open '", path, "': ", errno_text());
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    const std::string e = errno_text();
    ::close(fd);
    fail(op, ": cannot stat '", path, "': ", e);
  }
  const uint64_t size = std::min<uint64_t>(static_cast<uint64_t>(st.st_size), limit);
  std::vector<char> bytes;
  try {
    bytes.resize(size);
  } catch (const std::bad_alloc&) {
    ::close(fd);
    fail(op, ": '", path, "' (", size, " bytes) does not fit in memory");
  }
  size_t got = 0;
  while (got < size) {
    const ssize_t r = ::read(fd, bytes.data() + got, size - got);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) {
      const std::string e = r < 0 ? errno_text() : std::string("unexpected end of file");
      ::close(fd);
      fail(op, ": reading '", path, "' failed: ", e);
    }
    got += static_cast<size_t>(r);
  }
  ::close(fd);
  return bytes;
}

uint64_t file_size(const std::string& path, const char* op) {
  struct stat st {};
  AG_CHECK(::stat(path.c_str(), &st) == 0, op, ": cannot open '", path, "': ", errno_text());
  AG_CHECK(S_ISREG(st.st_mode), op, ": '", path, "' is not a regular file");
  return static_cast<uint64_t>(st.st_size);
}

// A non-negative JSON integer, or failure.
bool as_u64(const json& j, uint64_t* out) {
  if (j.is_number_unsigned()) {
    *out = j.get<uint64_t>();
    return true;
  }
  if (j.is_number_integer() && j.get<int64_t>() >= 0) {
    *out = static_cast<uint64_t>(j.get<int64_t>());
    return true;
  }
  return false;
}

Entry parse_entry(const std::string& name, const json& j, uint64_t data_size, uint64_t max_size,
                  const std::string& where) {
  AG_CHECK(j.is_object(), where, ": entry '", name, "' is not a JSON object");
  for (const auto& [k, v] : j.items())
    AG_CHECK(k == "dtype" || k == "shape" || k == "data_offsets", where, ": entry '", name, "' has an unknown field '",
             k, "'");
  AG_CHECK(j.contains("dtype") && j.contains("shape") && j.contains("data_offsets"), where, ": entry '", name,
           "' needs the fields dtype, shape and data_offsets");
  Entry e;
  e.name = name;
  const json& dt = j["dtype"];
  AG_CHECK(dt.is_string(), where, ": entry '", name, "' has a dtype that is not a string");
  AG_CHECK(parse_dtype(dt.get<std::string>(), &e.dtype), where, ": entry '", name, "' has dtype '",
           dt.get<std::string>(), "', which ag does not support (F32, F64, I64, BOOL)");
  const json& sh = j["shape"];
  AG_CHECK(sh.is_array() && sh.size() <= kMaxDims, where, ": entry '", name,
           "' has a shape that is not an array of sizes");
  uint64_t numel = 1;
  for (const auto& d : sh) {
    uint64_t v = 0;
    AG_CHECK(as_u64(d, &v) && v <= static_cast<uint64_t>(std::numeric_limits<int64_t>::max()), where, ": entry '",
             name, "' has an invalid size ", d.dump(), " in its shape ", sh.dump());
    AG_CHECK(!__builtin_mul_overflow(numel, v, &numel), where, ": entry '", name, "' has a shape ", sh.dump(),
             " too large to address");
    AG_CHECK(max_size == 0 || (v <= max_size && numel <= max_size), where, ": entry '", name, "' has a shape ",
             sh.dump(), " too large (a size or the element count above ", max_size, ")");
    e.shape.push_back(static_cast<int64_t>(v));
  }
  uint64_t bytes = 0;
  AG_CHECK(!__builtin_mul_overflow(numel, static_cast<uint64_t>(element_size(e.dtype)), &bytes), where, ": entry '",
           name, "' has a shape ", sh.dump(), " too large to address");
  const json& off = j["data_offsets"];
  AG_CHECK(off.is_array() && off.size() == 2 && as_u64(off[0], &e.begin) && as_u64(off[1], &e.end), where,
           ": entry '", name, "' has data_offsets ", off.dump(), "; expected [begin, end]");
  AG_CHECK(e.begin <= e.end, where, ": entry '", name, "' has data_offsets ", off.dump(), " with begin > end");
  AG_CHECK(e.end <= data_size, where, ": entry '", name, "' has data_offsets ", off.dump(),
           " beyond the data area of ", data_size, " bytes (truncated file?)");
  AG_CHECK(e.end - e.begin == bytes, where, ": entry '", name, "' of dtype ", dt.get<std::string>(), " and shape ",
           shape_str(e.shape), " needs ", bytes, " bytes but its data_offsets ", off.dump(), " span ",
           e.end - e.begin);
  return e;
}

// The entries must tile the data area exactly: no overlap, no hole, nothing after.
void check_tiling(const std::vector<Entry>& entries, uint64_t data_size, const std::string& where) {
  std::vector<const Entry*> order;
  order.reserve(entries.size());
  for (const auto& e : entries) order.push_back(&e);
  std::stable_sort(order.begin(), order.end(), [](const Entry* a, const Entry* b) {
    return a->begin != b->begin ? a->begin < b->begin : a->end < b->end;
  });
  uint64_t at = 0;
  const Entry* prev = nullptr;
  for (const Entry* e : order) {
    AG_CHECK(e->begin >= at, where, ": the data of '", e->name, "' [", e->begin, ", ", e->end, ") overlaps that of '",
             prev ? prev->name : std::string(), "' [", prev ? prev->begin : 0, ", ", prev ? prev->end : 0, ")");
    AG_CHECK(e->begin == at, where, ": there is a hole in the data area before '", e->name, "' (bytes [", at, ", ",
             e->begin, ") belong to no tensor)");
    at = e->end;
    prev = e;
  }
  AG_CHECK(at == data_size, where, ": the data area has ", data_size, " bytes but the tensors cover ", at,
           " (trailing bytes)");
}

}  // namespace

const char* dtype_code(Dtype d) {
  switch (d) {
    case Dtype::Float32: return "F32";
    case Dtype::Float64: return "F64";
    case Dtype::Int64: return "I64";
    case Dtype::Bool: return "BOOL";
  }
  return "?";
}

void write(const NamedTensors& tensors, const std::string& path, const Metadata& metadata, const char* op) {
  AG_CHECK(!path.empty(), op, ": the path is empty");
  json header = json::object();
  if (!metadata.empty()) {
    json md = json::object();
    for (const auto& [k, v] : metadata) md[k] = v;
    header[kMetadataKey] = std::move(md);
  }
  std::set<std::string> names;
  std::vector<Tensor> data;
  data.reserve(tensors.size());
  uint64_t offset = 0;
  for (const auto& [name, t] : tensors) {
    AG_CHECK(t.defined(), op, ": tensor '", name, "' is undefined");
    AG_CHECK(name != kMetadataKey, op, ": '", name, "' is reserved for metadata");
    AG_CHECK(names.insert(name).second, op, ": the name '", name, "' appears twice");
    const uint64_t bytes = static_cast<uint64_t>(t.numel()) * element_size(t.dtype());
    header[name] = {{"dtype", dtype_code(t.dtype())},
                    {"shape", std::vector<int64_t>(t.shape().begin(), t.shape().end())},
                    {"data_offsets", {offset, offset + bytes}}};
    offset += bytes;
    data.push_back(t.detach().contiguous());
  }
  std::string text;
  try {
    text = header.dump();
  } catch (const json::exception& e) {  // e.g. a name that is not valid UTF-8
    fail(op, ": cannot write the header of '", path, "': ", e.what());
  }
  text.append((8 - text.size() % 8) % 8, ' ');  // the data area starts 8-byte aligned
  unsigned char len[8];
  for (int i = 0; i < 8; ++i) len[i] = static_cast<unsigned char>(static_cast<uint64_t>(text.size()) >> (8 * i));

  TempFile f(path, op);  // Note [Atomic write]
  f.write(len, 8);
  f.write(text.data(), text.size());
  std::vector<char> buf;
  for (const auto& t : data) {
    const size_t es = element_size(t.dtype()), n = static_cast<size_t>(t.numel());
    const char* src = static_cast<const char*>(t.unsafeGetTensorImpl()->raw_data());
    if constexpr (std::endian::native == std::endian::little) {
      if (t.dtype() != kBool) {
        f.write(src, n * es);
        continue;
      }
    }
    buf.resize(n * es);
    if (t.dtype() == kBool)
      for (size_t i = 0; i < n; ++i) buf[i] = reinterpret_cast<const bool*>(src)[i] ? 1 : 0;
    else
      copy_le(buf.data(), src, n, es);
    f.write(buf.data(), buf.size());
  }
  f.commit();
}

File read(const std::string& path, const char* op, const ReadOptions& options) {
  const std::string where = std::string(op) + ": '" + path + "'";
  const uint64_t size = file_size(path, op);
  AG_CHECK(size >= 8, where, " is not a safetensors file: it has ", size, " bytes, fewer than the 8 of the header length");
  File file;
  file.bytes = read_all(path, op, options.with_data ? size : std::min<uint64_t>(size, 8 + kMaxHeader));
  AG_CHECK(file.bytes.size() >= 8, where, " changed while it was read");
  uint64_t n = 0;
  for (int i = 0; i < 8; ++i) n |= static_cast<uint64_t>(static_cast<unsigned char>(file.bytes[i])) << (8 * i);
  AG_CHECK(n <= kMaxHeader, where, " declares a header of ", n, " bytes, more than the limit of ", kMaxHeader,
           " (not a safetensors file?)");
  AG_CHECK(n <= size - 8, where, " declares a header of ", n, " bytes but only ", size - 8,
           " bytes follow the length (truncated or not a safetensors file)");
  AG_CHECK(n <= file.bytes.size() - 8, where, " changed while it was read");
  file.data_start = 8 + n;
  const uint64_t data_size = size - file.data_start;
  AG_CHECK(!options.with_data || file.bytes.size() == size, where, " changed while it was read");
  const char* text = file.bytes.data() + 8;
  AG_CHECK(n > 0 && text[0] == '{', where, " has a corrupt header: it does not start with '{'");

  // Parse, refusing duplicate names at the top level.
  std::set<std::string> seen;
  std::string duplicate;
  json header;
  try {
    header = json::parse(text, text + n, [&](int depth, json::parse_event_t event, json& parsed) {
      if (event == json::parse_event_t::key && depth == 1 && !seen.insert(parsed.get<std::string>()).second &&
          duplicate.empty())
        duplicate = parsed.get<std::string>();
      return true;
    });
  } catch (const json::exception& e) {
    fail(where, " has a corrupt header: the JSON does not parse (", e.what(), ")");
  }
  AG_CHECK(duplicate.empty(), where, " has the name '", duplicate, "' twice in its header");
  AG_CHECK(header.is_object(), where, " has a corrupt header: it is not a JSON object");

  for (const auto& [name, value] : header.items()) {
    if (name == kMetadataKey) {
      AG_CHECK(value.is_object(), where, ": __metadata__ must be an object of strings");
      for (const auto& [k, v] : value.items()) {
        AG_CHECK(v.is_string(), where, ": __metadata__ value of '", k, "' is not a string");
        file.metadata[k] = v.get<std::string>();
      }
      continue;
    }
    file.entries.push_back(parse_entry(name, value, data_size, options.max_size, where));
  }
  check_tiling(file.entries, data_size, where);
  // BOOL bytes must be 0 or 1 (any other value is not a bool); checked for every entry,
  // used or not, so a file is either valid as a whole or refused.
  if (options.with_data)
    for (const auto& e : file.entries) {
      if (e.dtype != kBool) continue;
      const char* src = file.bytes.data() + file.data_start + e.begin;
      for (uint64_t i = 0; i < e.end - e.begin; ++i)
        AG_CHECK(static_cast<unsigned char>(src[i]) <= 1, where, ": BOOL tensor '", e.name, "' holds the byte ",
                 static_cast<int>(static_cast<unsigned char>(src[i])), " at element ", i, " (expected 0 or 1)");
    }
  if (options.by_offset)
    std::stable_sort(file.entries.begin(), file.entries.end(), [](const Entry& a, const Entry& b) {
      return a.begin != b.begin ? a.begin < b.begin : a.end < b.end;
    });
  return file;
}

Tensor File::tensor(const Entry& e) const {
  AG_CHECK(data_start + e.end <= bytes.size(), "safetensors: the data of '", e.name, "' was not read");
  Tensor t = empty(e.shape, TensorOptions(e.dtype));
  const char* src = bytes.data() + data_start + e.begin;
  const size_t n = static_cast<size_t>(t.numel());
  char* dst = static_cast<char*>(t.unsafeGetTensorImpl()->raw_data());
  if (e.dtype == kBool) {
    for (size_t i = 0; i < n; ++i) reinterpret_cast<bool*>(dst)[i] = src[i] == 1;  // validated by read()
  } else {
    copy_le(dst, src, n, element_size(e.dtype));
  }
  return t;
}

NamedTensors File::tensors() const {
  NamedTensors out;
  out.reserve(entries.size());
  for (const auto& e : entries) out.emplace_back(e.name, tensor(e));
  return out;
}

}  // namespace ag::io::safetensors

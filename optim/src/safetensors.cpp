// The safetensors writer and reader of ag::optim (see safetensors.hpp for the layout).
#include "safetensors.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <bit>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <limits>
#include <nlohmann/json.hpp>

namespace ag::optim::internal {

static_assert(std::endian::native == std::endian::little, "safetensors I/O assumes a little-endian machine");

namespace {

using json = nlohmann::json;

// Upper bound on the JSON header (the safetensors reference implementation uses 100 MB).
constexpr uint64_t kMaxHeader = 100u << 20;

const char* st_dtype(Dtype d) {
  switch (d) {
    case Dtype::Float32: return "F32";
    case Dtype::Float64: return "F64";
    case Dtype::Int64: return "I64";
    case Dtype::Bool: return "BOOL";
  }
  return "?";
}

bool parse_st_dtype(const std::string& s, Dtype& d) {
  if (s == "F32") d = kFloat32;
  else if (s == "F64") d = kFloat64;
  else if (s == "I64") d = kInt64;
  else if (s == "BOOL") d = kBool;
  else return false;
  return true;
}

void write_all(int fd, const void* data, size_t n, const std::string& path) {
  const char* p = static_cast<const char*>(data);
  while (n > 0) {
    ssize_t w = ::write(fd, p, n);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) fail("optim::save: cannot write '", path, "': ", std::strerror(errno));
    p += w;
    n -= static_cast<size_t>(w);
  }
}

std::string dir_of(const std::string& path) {
  auto slash = path.find_last_of('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

}  // namespace

void write_safetensors(const std::string& path, const NamedTensors& tensors, const Metadata& metadata) {
  json header = json::object();
  std::vector<Tensor> data;
  uint64_t offset = 0;
  for (const auto& [name, t] : tensors) {
    AG_CHECK(t.defined(), "optim::save: tensor '", name, "' is undefined");
    AG_CHECK(name != "__metadata__" && !header.contains(name), "optim::save: tensor name '", name,
             "' is reserved or appears twice");
    Tensor c = t.detach().contiguous();
    const uint64_t bytes = static_cast<uint64_t>(c.numel()) * element_size(c.dtype());
    header[name] = {{"dtype", st_dtype(c.dtype())},
                    {"shape", std::vector<int64_t>(c.shape())},
                    {"data_offsets", {offset, offset + bytes}}};
    offset += bytes;
    data.push_back(std::move(c));
  }
  json md = json::object();
  for (const auto& [k, v] : metadata) md[k] = v;
  header["__metadata__"] = md;
  std::string text = header.dump();
  while (text.size() % 8 != 0) text.push_back(' ');
  const uint64_t hlen = text.size();

  const std::string tmp = path + ".tmp." + std::to_string(::getpid());
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  AG_CHECK(fd >= 0, "optim::save: cannot create '", tmp, "': ", std::strerror(errno));
  try {
    write_all(fd, &hlen, 8, path);
    write_all(fd, text.data(), text.size(), path);
    for (const Tensor& c : data) write_all(fd, c.unsafeGetTensorImpl()->raw_data(), c.numel() * element_size(c.dtype()), path);
    AG_CHECK(::fsync(fd) == 0, "optim::save: cannot sync '", tmp, "': ", std::strerror(errno));
    AG_CHECK(::close(fd) == 0, "optim::save: cannot close '", tmp, "': ", std::strerror(errno));
    fd = -1;
    AG_CHECK(::rename(tmp.c_str(), path.c_str()) == 0, "optim::save: cannot rename '", tmp, "' to '", path, "': ",
             std::strerror(errno));
  } catch (...) {
    if (fd >= 0) ::close(fd);
    ::unlink(tmp.c_str());
    throw;
  }
  // Make the rename itself durable.
  int dfd = ::open(dir_of(path).c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    (void)::fsync(dfd);
    ::close(dfd);
  }
}

OptimizerStateDict read_safetensors(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  AG_CHECK(in, "optim::load: cannot open '", path, "'");
  in.seekg(0, std::ios::end);
  const auto end = in.tellg();
  AG_CHECK(end >= 0, "optim::load: cannot read '", path, "'");
  const uint64_t size = static_cast<uint64_t>(end);
  in.seekg(0);
  AG_CHECK(size >= 8, "optim::load: '", path, "' is not a safetensors file (", size, " bytes)");
  uint64_t hlen = 0;
  in.read(reinterpret_cast<char*>(&hlen), 8);
  AG_CHECK(in && hlen <= kMaxHeader && hlen <= size - 8, "optim::load: '", path,
           "' is not a safetensors file (header length ", hlen, ", file size ", size, ")");
  std::string text(hlen, '\0');
  in.read(text.data(), static_cast<std::streamsize>(hlen));
  AG_CHECK(in, "optim::load: cannot read the header of '", path, "'");
  json header = json::parse(text, nullptr, /*allow_exceptions=*/false);
  AG_CHECK(header.is_object(), "optim::load: '", path, "' has a corrupt header (not a JSON object)");
  const uint64_t data_size = size - 8 - hlen;

  OptimizerStateDict out;
  struct Entry {
    std::string name;
    Dtype dtype;
    Shape shape;
    uint64_t begin, end;
  };
  std::vector<Entry> entries;
  for (auto it = header.begin(); it != header.end(); ++it) {
    if (it.key() == "__metadata__") {
      AG_CHECK(it->is_object(), "optim::load: '", path, "': __metadata__ is not an object");
      for (auto m = it->begin(); m != it->end(); ++m) {
        AG_CHECK(m->is_string(), "optim::load: '", path, "': metadata '", m.key(), "' is not a string");
        out.metadata[m.key()] = m->get<std::string>();
      }
      continue;
    }
    const json& e = *it;
    auto bad = [&](const char* why) { fail("optim::load: '", path, "': tensor '", it.key(), "' ", why); };
    if (!e.is_object() || !e.contains("dtype") || !e.contains("shape") || !e.contains("data_offsets"))
      bad("lacks dtype, shape or data_offsets");
    Entry en{it.key(), kFloat32, {}, 0, 0};
    if (!e["dtype"].is_string() || !parse_st_dtype(e["dtype"].get<std::string>(), en.dtype)) bad("has an unsupported dtype");
    if (!e["shape"].is_array()) bad("has a malformed shape");
    uint64_t numel = 1;
    for (const auto& d : e["shape"]) {
      if (!d.is_number_unsigned()) bad("has a malformed shape");
      const uint64_t v = d.get<uint64_t>();
      if (v > (uint64_t{1} << 40) || (v != 0 && numel > (uint64_t{1} << 40) / v)) bad("has an absurd shape");
      numel *= v;
      en.shape.push_back(static_cast<int64_t>(v));
    }
    const json& off = e["data_offsets"];
    if (!off.is_array() || off.size() != 2 || !off[0].is_number_unsigned() || !off[1].is_number_unsigned())
      bad("has malformed data_offsets");
    en.begin = off[0].get<uint64_t>();
    en.end = off[1].get<uint64_t>();
    if (en.begin > en.end || en.end > data_size) bad("has data_offsets outside the file (truncated?)");
    if (en.end - en.begin != numel * element_size(en.dtype)) bad("has data_offsets that do not match its shape");
    entries.push_back(std::move(en));
  }
  std::sort(entries.begin(), entries.end(), [](const Entry& a, const Entry& b) {
    return a.begin != b.begin ? a.begin < b.begin : a.end < b.end;
  });
  uint64_t pos = 0;
  for (const Entry& en : entries) {
    AG_CHECK(en.begin == pos, "optim::load: '", path, "': tensor '", en.name, "' overlaps another or leaves a gap");
    pos = en.end;
  }
  AG_CHECK(pos == data_size, "optim::load: '", path, "': ", data_size - pos, " bytes after the last tensor");
  for (const Entry& en : entries) {
    Tensor t = empty(en.shape, TensorOptions(en.dtype));
    in.seekg(static_cast<std::streamoff>(8 + hlen + en.begin));
    in.read(static_cast<char*>(t.unsafeGetTensorImpl()->raw_data()), static_cast<std::streamsize>(en.end - en.begin));
    AG_CHECK(in, "optim::load: '", path, "': cannot read tensor '", en.name, "'");
    out.tensors.emplace_back(en.name, std::move(t));
  }
  return out;
}

}  // namespace ag::optim::internal

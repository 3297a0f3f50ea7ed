// Helpers shared by the libFuzzer targets in fuzz/.
//
// The contract every target checks (DESIGN.md, "Errors"): for any input the library either
// succeeds or throws ag::Error, leaving what it was given as it was. Anything else — another
// exception, a crash, a sanitizer report, a hang, a changed input after an error — is a
// finding: report_and_abort() prints it and aborts, so libFuzzer saves the input.
#pragma once

#include <sys/mman.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <filesystem>
#include <string>

#include <ag/ag.hpp>

namespace ag_fuzz {

[[noreturn]] inline void report_and_abort(const std::string& what) {
  std::fprintf(stderr, "\n==ag-fuzz== FINDING: %s\n", what.c_str());
  std::fflush(stderr);
  std::abort();
}

#define AG_FUZZ_ASSERT(cond, what)                                                                    \
  do {                                                                                                \
    if (!(cond)) ::ag_fuzz::report_and_abort(std::string(__FILE__ ":") + std::to_string(__LINE__) + \
                                             ": " #cond ": " + (what));                               \
  } while (0)

// Runs f; ag::Error is an allowed outcome (returns false), success returns true, any other
// exception is a finding.
template <class F>
bool allowed(F&& f) {
  try {
    f();
    return true;
  } catch (const ag::Error&) {
    return false;
  } catch (const std::exception& e) {
    report_and_abort(std::string("an exception other than ag::Error: ") + e.what());
  } catch (...) {
    report_and_abort("a non-std exception");
  }
}

// One in-memory file (memfd), rewritten for every input and opened by path through
// /proc/self/fd: the readers under test open files by name, and nothing touches the disk.
class MemFile {
 public:
  explicit MemFile(const char* name) {
    fd_ = ::memfd_create(name, 0);
    if (fd_ < 0) report_and_abort("memfd_create failed");
    path_ = "/proc/self/fd/" + std::to_string(fd_);
  }
  ~MemFile() { ::close(fd_); }
  MemFile(const MemFile&) = delete;
  MemFile& operator=(const MemFile&) = delete;

  const std::string& write(const void* data, size_t size) {
    if (::ftruncate(fd_, 0) != 0) report_and_abort("ftruncate failed");
    const char* p = static_cast<const char*>(data);
    size_t done = 0;
    while (done < size) {
      const ssize_t w = ::pwrite(fd_, p + done, size - done, static_cast<off_t>(done));
      if (w <= 0) report_and_abort("pwrite failed");
      done += static_cast<size_t>(w);
    }
    return path_;
  }
  const std::string& path() const { return path_; }

 private:
  int fd_ = -1;
  std::string path_;
};

// A private directory for files that must be written by name (save renames a temporary
// file over its target, which a memfd cannot take). Removed at exit.
inline const std::string& temp_dir() {
  struct Dir {
    std::string path;
    Dir() {
      const char* base = std::getenv("TMPDIR");
      std::string tmpl = std::string(base && *base ? base : "/tmp") + "/ag-fuzz-XXXXXX";
      if (!::mkdtemp(tmpl.data())) report_and_abort("mkdtemp failed");
      path = tmpl;
    }
    ~Dir() {
      std::error_code ec;
      std::filesystem::remove_all(path, ec);
    }
  };
  static Dir dir;
  return dir.path;
}

// Bitwise equality of two tensors (shape, dtype and bytes; NaN payloads included).
inline bool same_bits(const ag::Tensor& a, const ag::Tensor& b) {
  if (a.defined() != b.defined()) return false;
  if (!a.defined()) return true;
  if (a.dtype() != b.dtype() || a.shape() != b.shape()) return false;
  const ag::Tensor ca = a.detach().contiguous(), cb = b.detach().contiguous();
  const size_t n = static_cast<size_t>(ca.numel()) * ag::element_size(ca.dtype());
  return n == 0 || std::memcmp(ca.unsafeGetTensorImpl()->raw_data(), cb.unsafeGetTensorImpl()->raw_data(), n) == 0;
}

// What a tensor looked like before a call that may fail: a failing call must leave it so.
struct Snapshot {
  ag::Tensor t, copy;
  uint32_t version = 0;
  ag::Shape shape;
  ag::Dtype dtype = ag::kFloat32;
  const ag::Node* grad_fn = nullptr;
  bool requires_grad = false;
  explicit Snapshot(const ag::Tensor& x) : t(x) {
    if (!x.defined()) return;
    ag::NoGradGuard no_grad;
    copy = x.detach().clone();
    version = x._version();
    shape = x.shape();
    dtype = x.dtype();
    grad_fn = x.grad_fn().get();
    requires_grad = x.requires_grad();
  }
  // Empty when unchanged, else what changed.
  std::string changed() const {
    if (!t.defined()) return "";
    if (t._version() != version) return "version " + std::to_string(version) + " -> " + std::to_string(t._version());
    if (t.shape() != shape) return "shape " + ag::shape_str(shape) + " -> " + ag::shape_str(t.shape());
    if (t.dtype() != dtype) return "dtype";
    if (t.grad_fn().get() != grad_fn) return "grad_fn";
    if (t.requires_grad() != requires_grad) return "requires_grad";
    if (!same_bits(t.detach(), copy)) return "values";
    return "";
  }
};

}  // namespace ag_fuzz

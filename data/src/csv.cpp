// read_csv: numeric CSV into float32 [rows, cols], with the line number in every error.
#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <string>
#include <vector>

#include "ag/data/csv.hpp"

namespace ag::data {

namespace {

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\f' || c == '\v'; }

std::string_view trim(std::string_view s) {
  while (!s.empty() && is_space(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_space(s.back())) s.remove_suffix(1);
  return s;
}

// Parses one field as a number (C locale); throws naming file, line and column.
float parse_field(std::string_view field, const std::string& path, int64_t line, size_t column) {
  const std::string_view f = trim(field);
  AG_CHECK(!f.empty(), "read_csv: ", path, ":", line, ": field ", column + 1, " is empty");
  const std::string s(f);
  char* end = nullptr;
  errno = 0;
  const double v = std::strtod(s.c_str(), &end);
  AG_CHECK(end == s.c_str() + s.size(), "read_csv: ", path, ":", line, ": field ", column + 1, " (\"", s,
           "\") is not a number");
  // strtod reports overflow as ERANGE with +-HUGE_VAL; underflow to 0 is fine.
  AG_CHECK(!(errno == ERANGE && std::isinf(v)), "read_csv: ", path, ":", line, ": field ", column + 1, " (\"", s,
           "\") is out of range");
  return static_cast<float>(v);
}

}  // namespace

Tensor read_csv(const std::string& path, CsvOptions options) {
  AG_CHECK(options.delimiter() != '\n' && options.delimiter() != '\r' && options.delimiter() != '\0',
           "read_csv: the delimiter cannot be a line end or NUL");
  std::ifstream in(path, std::ios::binary);
  if (!in) fail("read_csv: ", path, ": cannot open: ", std::strerror(errno));

  std::vector<float> values;
  int64_t cols = -1, rows = 0, line_no = 0, first_row_line = 0;
  bool header_pending = options.header();
  std::string line;
  while (std::getline(in, line)) {
    ++line_no;
    if (trim(line).empty()) continue;
    if (header_pending) {  // the column names: count them, parse nothing
      header_pending = false;
      cols = 1 + static_cast<int64_t>(std::count(line.begin(), line.end(), options.delimiter()));
      first_row_line = line_no;
      continue;
    }
    std::string_view rest(line);
    size_t column = 0;
    const size_t before = values.size();
    while (true) {
      const size_t cut = rest.find(options.delimiter());
      const std::string_view field = cut == std::string_view::npos ? rest : rest.substr(0, cut);
      values.push_back(parse_field(field, path, line_no, column));
      ++column;
      if (cut == std::string_view::npos) break;
      rest.remove_prefix(cut + 1);
    }
    const auto n = static_cast<int64_t>(values.size() - before);
    if (cols < 0) {
      cols = n;
      first_row_line = line_no;
    }
    AG_CHECK(n == cols, "read_csv: ", path, ":", line_no, ": ragged row: ", n, " fields, but ",
             options.header() ? "the header (line " : "line ", first_row_line, options.header() ? ")" : "", " has ", cols);
    ++rows;
  }
  AG_CHECK(!in.bad(), "read_csv: ", path, ": read error after line ", line_no);
  AG_CHECK(cols >= 0 || line_no > 0, "read_csv: ", path, ": the file is empty");
  if (cols < 0) cols = 0;  // only blank lines: [0, 0]
  return tensor(values, Shape{rows, cols}, TensorOptions(kFloat32));
}

}  // namespace ag::data

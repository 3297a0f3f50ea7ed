// ag::data::read_csv — a numeric CSV file as a float32 matrix.
//
// Requires: every data row has the same number of fields, each a number that strtod
// accepts in the C locale (surrounding spaces allowed; "nan" and "inf" too).
// Ensures: returns float32 [rows, cols]. An empty field, a field that is not a number, a
// row with a different number of fields than the first, or a file that cannot be read
// throws ag::Error naming the file and the line number. Blank lines are skipped; "\r\n"
// line ends are accepted.
#pragma once

#include <string>

#include "ag/tensor.hpp"

namespace ag::data {

class CsvOptions {
 public:
  // Skip the first non-blank line (column names).
  CsvOptions& header(bool h) { header_ = h; return *this; }
  CsvOptions& delimiter(char d) { delimiter_ = d; return *this; }
  bool header() const { return header_; }
  char delimiter() const { return delimiter_; }

 private:
  bool header_ = false;
  char delimiter_ = ',';
};

Tensor read_csv(const std::string& path, CsvOptions options = {});

}  // namespace ag::data

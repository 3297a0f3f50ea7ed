// Helpers shared by the test files.
#pragma once

#include <gtest/gtest.h>

#include <ag/error.hpp>

#include <exception>
#include <string>

// Runs f, expects an ag::Error, and returns its message ("" and a test failure otherwise).
template <class F>
std::string error_of(F&& f) {
  try {
    f();
  } catch (const ag::Error& e) {
    return e.what();
  } catch (const std::exception& e) {
    ADD_FAILURE() << "expected ag::Error, got another exception: " << e.what();
    return "";
  }
  ADD_FAILURE() << "expected ag::Error, nothing was thrown";
  return "";
}

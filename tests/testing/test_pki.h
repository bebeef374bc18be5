// TestPki: a throw-away PKI made with the openssl command for TLS tests: a CA, a server
// certificate for 127.0.0.1/localhost and a client certificate signed by it, and a second,
// untrusted CA with a client certificate of its own.
#pragma once

#include <string>

#include "absl/status/status.h"

namespace weft::testing {

class TestPki {
 public:
  // Make creates the files in a new temporary directory (removed by the destructor).
  // INTERNAL if an openssl command fails.
  absl::Status Make();
  ~TestPki();

  std::string Cert(const std::string& name) const { return dir_ + "/" + name + ".crt"; }
  std::string Key(const std::string& name) const { return dir_ + "/" + name + ".key"; }
  const std::string& dir() const { return dir_; }

 private:
  absl::Status MakeCa(const std::string& name);
  absl::Status MakeLeaf(const std::string& name, const std::string& ca,
                        const std::string& extensions);

  std::string dir_;
  int serial_ = 1000;
};

}  // namespace weft::testing

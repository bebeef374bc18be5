#include "tests/testing/test_pki.h"

#include <stdlib.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>

#include "absl/strings/str_cat.h"

namespace weft::testing {
namespace {

constexpr char kKeyOptions[] = "-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes";

absl::Status Run(const std::string& command) {
  if (std::system(command.c_str()) != 0) {
    return absl::InternalError(absl::StrCat("failed: ", command));
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status TestPki::Make() {
  std::string pattern = "/tmp/weft-pki-XXXXXX";
  if (::mkdtemp(pattern.data()) == nullptr) return absl::InternalError("mkdtemp");
  dir_ = pattern;
  std::ofstream(dir_ + "/server.ext")
      << "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n";
  std::ofstream(dir_ + "/client.ext") << "extendedKeyUsage=clientAuth\n";
  for (const char* ca : {"ca", "rogue-ca"}) {
    if (absl::Status s = MakeCa(ca); !s.ok()) return s;
  }
  if (absl::Status s = MakeLeaf("server", "ca", "server.ext"); !s.ok()) return s;
  if (absl::Status s = MakeLeaf("client", "ca", "client.ext"); !s.ok()) return s;
  return MakeLeaf("rogue-client", "rogue-ca", "client.ext");
}

TestPki::~TestPki() {
  if (!dir_.empty()) {
    std::error_code ignored;
    std::filesystem::remove_all(dir_, ignored);
  }
}

absl::Status TestPki::MakeCa(const std::string& name) {
  return Run(absl::StrCat("openssl req -x509 -batch ", kKeyOptions, " -days 2 -subj '/CN=", name,
                          "' -addext basicConstraints=critical,CA:TRUE",
                          " -addext keyUsage=critical,keyCertSign,cRLSign -keyout ", Key(name),
                          " -out ", Cert(name), " 2>/dev/null"));
}

absl::Status TestPki::MakeLeaf(const std::string& name, const std::string& ca,
                               const std::string& extensions) {
  const std::string csr = absl::StrCat(dir_, "/", name, ".csr");
  if (absl::Status s = Run(absl::StrCat("openssl req -batch ", kKeyOptions, " -subj '/CN=", name,
                                        "' -keyout ", Key(name), " -out ", csr, " 2>/dev/null"));
      !s.ok()) {
    return s;
  }
  return Run(absl::StrCat("openssl x509 -req -days 2 -set_serial 0x", ++serial_, " -in ", csr,
                          " -CA ", Cert(ca), " -CAkey ", Key(ca), " -extfile ", dir_, "/",
                          extensions, " -out ", Cert(name), " 2>/dev/null"));
}

}  // namespace weft::testing

// cell_signature.h: Ed25519 signatures of cell objects (libsodium), shared by delosctl (signs)
// and delosd (verifies against its trusted keys). What is signed is "delos-cell-v1" followed by
// the object's SHA-256, so a signature never verifies for other bytes or another purpose.
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>

namespace delos::controller {

constexpr std::size_t kPublicKeyBytes = 32;
constexpr std::size_t kSecretKeyBytes = 64;
constexpr std::size_t kSignatureBytes = 64;

class SignatureError : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

struct KeyPair {
    std::string public_key;  // 32 raw bytes
    std::string secret_key;  // 64 raw bytes (libsodium's seed + public key)
};

// Throws SignatureError if libsodium cannot start.
void init_sodium();

KeyPair generate_key_pair();
// The message that is signed for an object with this SHA-256 (32 raw bytes).
std::string signed_message(const std::string& sha256);
std::string sign_digest(const std::string& sha256, const std::string& secret_key);
bool verify_digest(const std::string& sha256, const std::string& signature, const std::string& public_key);

std::string to_hex(const std::string& bytes);
// nullopt for odd lengths or non-hex characters.
std::optional<std::string> from_hex(const std::string& hex);
std::string sha256_of(const std::string& bytes);

// Files. Public key: "delos-ed25519-public <hex>"; secret key (mode 0600):
// "delos-ed25519-secret <hex>"; signature: "delos-ed25519-signature <public hex> <signature hex>".
// Readers throw SignatureError saying what is wrong with which file.
void write_public_key(const std::string& path, const std::string& public_key);
void write_secret_key(const std::string& path, const std::string& secret_key);
std::string read_public_key(const std::string& path);
std::string read_secret_key(const std::string& path);
struct DetachedSignature {
    std::string public_key;
    std::string signature;
};
void write_signature(const std::string& path, const DetachedSignature& signature);
DetachedSignature read_signature(const std::string& path);

// Every *.pub file in `directory`, by raw public key -> file name. Throws on unreadable or
// malformed files (a typo in a trusted key must not pass silently).
std::map<std::string, std::string> load_trusted_keys(const std::string& directory);

} // namespace delos::controller

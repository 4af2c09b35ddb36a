// cell_signature.cpp: see cell_signature.h.
#include "cell_signature.h"

#include <openssl/sha.h>
#include <sodium.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <vector>

namespace delos::controller {

namespace {

constexpr const char* kContext = "delos-cell-v1";

std::string read_text(const std::string& path)
{
    std::ifstream in(path, std::ios::binary);
    if (!in)
        throw SignatureError("cannot read " + path);
    std::ostringstream text;
    text << in.rdbuf();
    return text.str();
}

// "<tag> <hex>..." -> the hex words, checking the tag.
std::vector<std::string> words_after_tag(const std::string& path, const std::string& tag, std::size_t count)
{
    std::istringstream in(read_text(path));
    std::string first;
    in >> first;
    if (first != tag)
        throw SignatureError(path + ": not a " + tag + " file (it should start with '" + tag + "')");
    std::vector<std::string> words;
    for (std::size_t i = 0; i < count; ++i) {
        std::string word;
        if (!(in >> word))
            throw SignatureError(path + ": truncated");
        words.push_back(word);
    }
    return words;
}

std::string decode_exact(const std::string& path, const std::string& hex, std::size_t bytes, const char* what)
{
    auto raw = from_hex(hex);
    if (!raw || raw->size() != bytes)
        throw SignatureError(path + ": the " + std::string(what) + " is not " + std::to_string(bytes) + " bytes of hex");
    return *raw;
}

void write_text(const std::string& path, const std::string& text, mode_t mode)
{
    std::filesystem::remove(path);
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    if (!out)
        throw SignatureError("cannot write " + path);
    ::chmod(path.c_str(), mode);
    out << text;
    if (!out.flush())
        throw SignatureError("cannot write " + path);
}

} // namespace

void init_sodium()
{
    if (sodium_init() < 0)
        throw SignatureError("libsodium failed to initialise");
}

KeyPair generate_key_pair()
{
    init_sodium();
    unsigned char pk[crypto_sign_PUBLICKEYBYTES];
    unsigned char sk[crypto_sign_SECRETKEYBYTES];
    crypto_sign_keypair(pk, sk);
    KeyPair pair{std::string(reinterpret_cast<char*>(pk), sizeof pk), std::string(reinterpret_cast<char*>(sk), sizeof sk)};
    sodium_memzero(sk, sizeof sk);
    return pair;
}

std::string signed_message(const std::string& sha256) { return std::string(kContext) + sha256; }

std::string sign_digest(const std::string& sha256, const std::string& secret_key)
{
    init_sodium();
    if (secret_key.size() != crypto_sign_SECRETKEYBYTES)
        throw SignatureError("secret key is not " + std::to_string(crypto_sign_SECRETKEYBYTES) + " bytes");
    std::string message = signed_message(sha256);
    unsigned char signature[crypto_sign_BYTES];
    crypto_sign_detached(signature, nullptr, reinterpret_cast<const unsigned char*>(message.data()), message.size(),
                         reinterpret_cast<const unsigned char*>(secret_key.data()));
    return std::string(reinterpret_cast<char*>(signature), sizeof signature);
}

bool verify_digest(const std::string& sha256, const std::string& signature, const std::string& public_key)
{
    init_sodium();
    if (signature.size() != crypto_sign_BYTES || public_key.size() != crypto_sign_PUBLICKEYBYTES)
        return false;
    std::string message = signed_message(sha256);
    return crypto_sign_verify_detached(reinterpret_cast<const unsigned char*>(signature.data()),
                                       reinterpret_cast<const unsigned char*>(message.data()), message.size(),
                                       reinterpret_cast<const unsigned char*>(public_key.data()))
        == 0;
}

std::string to_hex(const std::string& bytes)
{
    static const char digits[] = "0123456789abcdef";
    std::string hex;
    hex.reserve(bytes.size() * 2);
    for (unsigned char byte : bytes) {
        hex += digits[byte >> 4];
        hex += digits[byte & 15];
    }
    return hex;
}

std::optional<std::string> from_hex(const std::string& hex)
{
    if (hex.size() % 2)
        return std::nullopt;
    auto value = [](char c) -> int {
        if (c >= '0' && c <= '9')
            return c - '0';
        if (c >= 'a' && c <= 'f')
            return c - 'a' + 10;
        if (c >= 'A' && c <= 'F')
            return c - 'A' + 10;
        return -1;
    };
    std::string bytes;
    for (std::size_t i = 0; i < hex.size(); i += 2) {
        int high = value(hex[i]), low = value(hex[i + 1]);
        if (high < 0 || low < 0)
            return std::nullopt;
        bytes += static_cast<char>(high * 16 + low);
    }
    return bytes;
}

std::string sha256_of(const std::string& bytes)
{
    // OpenSSL's SHA-256 uses the CPU's SHA extensions (~5x libsodium's portable code on a
    // 1 MiB cell), and the channel client already links it.
    unsigned char digest[SHA256_DIGEST_LENGTH];
    SHA256(reinterpret_cast<const unsigned char*>(bytes.data()), bytes.size(), digest);
    return std::string(reinterpret_cast<char*>(digest), sizeof digest);
}

void write_public_key(const std::string& path, const std::string& public_key)
{
    write_text(path, "delos-ed25519-public " + to_hex(public_key) + "\n", 0644);
}

void write_secret_key(const std::string& path, const std::string& secret_key)
{
    write_text(path, "delos-ed25519-secret " + to_hex(secret_key) + "\n", 0600);
}

std::string read_public_key(const std::string& path)
{
    return decode_exact(path, words_after_tag(path, "delos-ed25519-public", 1)[0], kPublicKeyBytes, "public key");
}

std::string read_secret_key(const std::string& path)
{
    return decode_exact(path, words_after_tag(path, "delos-ed25519-secret", 1)[0], kSecretKeyBytes, "secret key");
}

void write_signature(const std::string& path, const DetachedSignature& signature)
{
    write_text(path, "delos-ed25519-signature " + to_hex(signature.public_key) + " " + to_hex(signature.signature) + "\n",
               0644);
}

DetachedSignature read_signature(const std::string& path)
{
    auto words = words_after_tag(path, "delos-ed25519-signature", 2);
    return {decode_exact(path, words[0], kPublicKeyBytes, "public key"),
            decode_exact(path, words[1], kSignatureBytes, "signature")};
}

std::map<std::string, std::string> load_trusted_keys(const std::string& directory)
{
    std::error_code error;
    if (!std::filesystem::is_directory(directory, error))
        throw SignatureError("trusted-keys directory " + directory + " does not exist");
    std::map<std::string, std::string> keys;
    for (const auto& entry : std::filesystem::directory_iterator(directory)) {
        if (entry.path().extension() != ".pub")
            continue;
        keys[read_public_key(entry.path().string())] = entry.path().filename().string();
    }
    return keys;
}

} // namespace delos::controller

# fuzz-channel: the channel codec (HostMessage, GuestMessage) and the frame decoder over arbitrary bytes.
delos_add_fuzzer(channel SOURCES
  tests/fuzz/channel_fuzzer.cpp
  guest/lib/proto/channel_codec.cpp
  guest/lib/proto/frame_decoder.cpp
  guest/lib/proto/utf8.cpp
  guest/lib/proto/wire_reader.cpp
  guest/lib/crypto/sha256.cpp
  guest/lib/core/error_or.cpp)

# fuzz-channel-engine: the channel engine (decode, dispatch, pushes, replies) over arbitrary bytes.
delos_add_fuzzer(channel-engine SOURCES
  tests/fuzz/channel_engine_fuzzer.cpp
  guest/lib/control/channel_engine.cpp
  guest/lib/control/cell_pushes.cpp
  guest/lib/proto/channel_codec.cpp
  guest/lib/proto/frame_decoder.cpp
  guest/lib/proto/utf8.cpp
  guest/lib/proto/wire_reader.cpp
  guest/lib/crypto/sha256.cpp
  guest/linker/cell_identity.cpp
  guest/linker/relocatable_object.cpp
  guest/lib/elf/elf_file.cpp
  guest/lib/core/format.cpp
  guest/lib/core/error_or.cpp)

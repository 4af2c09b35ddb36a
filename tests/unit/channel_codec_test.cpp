// channel_codec_test.cpp: every channel message, both directions, against libprotobuf: our
// encoding parses with libprotobuf to the same fields (and the same bytes), and libprotobuf's
// encoding, unknown fields included, decodes with our codec to the same fields. The field
// walk is generic (our visit_fields against libprotobuf reflection), so it also proves that
// channel_messages.h lists every field of channel.proto with the right number and type.
#include <gtest/gtest.h>

#include <google/protobuf/descriptor.h>
#include <google/protobuf/unknown_field_set.h>
#include <google/protobuf/util/message_differencer.h>

#include <deque>
#include <random>
#include <set>
#include <string>

#include "delos/v1/channel.pb.h"
#include "lib/proto/channel_codec.h"
#include "lib/proto/message_codec.h"

namespace pb = google::protobuf;
namespace v1 = delos::v1;
using namespace delos;
using namespace delos::channel;

namespace {

using Rng = std::mt19937_64;

// ---------------------------------------------------------------------------------------------
// Our struct against a libprotobuf message, field by field, through reflection.

class FieldComparer {
public:
    FieldComparer(const pb::Message& message, std::string path)
        : m_message(message), m_reflection(message.GetReflection()), m_descriptor(message.GetDescriptor()),
          m_path(std::move(path))
    {
    }

    template <typename Ours>
    static void compare(const Ours& ours, const pb::Message& theirs, const std::string& path)
    {
        FieldComparer comparer(theirs, path);
        Ours::visit_fields(comparer, ours);
        comparer.expect_every_field_visited();
    }

    void uint32(std::uint32_t number, std::uint32_t value)
    {
        if (auto* field = expect_field(number, pb::FieldDescriptor::TYPE_UINT32))
            EXPECT_EQ(m_reflection->GetUInt32(m_message, field), value) << where(number);
    }
    void uint64(std::uint32_t number, std::uint64_t value)
    {
        if (auto* field = expect_field(number, pb::FieldDescriptor::TYPE_UINT64))
            EXPECT_EQ(m_reflection->GetUInt64(m_message, field), value) << where(number);
    }
    void optional_uint64(std::uint32_t number, std::uint64_t value, bool present)
    {
        auto* field = expect_field(number, pb::FieldDescriptor::TYPE_UINT64);
        if (!field)
            return;
        EXPECT_TRUE(field->has_presence()) << where(number);
        EXPECT_EQ(m_reflection->HasField(m_message, field), present) << where(number);
        if (present)
            EXPECT_EQ(m_reflection->GetUInt64(m_message, field), value) << where(number);
    }
    void boolean(std::uint32_t number, bool value)
    {
        if (auto* field = expect_field(number, pb::FieldDescriptor::TYPE_BOOL))
            EXPECT_EQ(m_reflection->GetBool(m_message, field), value) << where(number);
    }
    template <typename E>
    void enumeration(std::uint32_t number, E value)
    {
        if (auto* field = expect_field(number, pb::FieldDescriptor::TYPE_ENUM))
            EXPECT_EQ(m_reflection->GetEnumValue(m_message, field), static_cast<std::int32_t>(value)) << where(number);
    }
    void string(std::uint32_t number, const String& value)
    {
        if (auto* field = expect_field(number, pb::FieldDescriptor::TYPE_STRING))
            EXPECT_EQ(m_reflection->GetString(m_message, field), std::string(value.data(), value.size())) << where(number);
    }
    void bytes(std::uint32_t number, ByteView value)
    {
        if (auto* field = expect_field(number, pb::FieldDescriptor::TYPE_BYTES))
            EXPECT_EQ(m_reflection->GetString(m_message, field),
                      std::string(reinterpret_cast<const char*>(value.data()), value.size()))
                << where(number);
    }
    void digest(std::uint32_t number, const Sha256Digest& value, bool present)
    {
        auto* field = expect_field(number, pb::FieldDescriptor::TYPE_BYTES);
        if (!field)
            return;
        std::string theirs = m_reflection->GetString(m_message, field);
        std::string ours = present ? std::string(reinterpret_cast<const char*>(value.bytes), 32) : std::string();
        EXPECT_EQ(theirs, ours) << where(number);
    }
    template <typename M>
    void message(std::uint32_t number, const M& value)
    {
        auto* field = expect_field(number, pb::FieldDescriptor::TYPE_MESSAGE);
        if (!field)
            return;
        EXPECT_EQ(field->real_containing_oneof(), nullptr) << where(number) << " should not be in a oneof";
        compare(value, m_reflection->GetMessage(m_message, field), where(number));
    }
    template <typename Kind, typename M>
    void oneof(std::uint32_t number, Kind active, Kind which, const M& value)
    {
        auto* field = expect_field(number, pb::FieldDescriptor::TYPE_MESSAGE);
        if (!field)
            return;
        EXPECT_NE(field->real_containing_oneof(), nullptr) << where(number) << " should be in a oneof";
        bool theirs_set = m_reflection->HasField(m_message, field);
        EXPECT_EQ(theirs_set, active == which) << where(number);
        if (theirs_set && active == which)
            compare(value, m_reflection->GetMessage(m_message, field), where(number));
    }
    void repeated_string(std::uint32_t number, const Vector<String>& values, std::uint32_t)
    {
        auto* field = expect_field(number, pb::FieldDescriptor::TYPE_STRING, true);
        if (!field)
            return;
        ASSERT_EQ(m_reflection->FieldSize(m_message, field), static_cast<int>(values.size())) << where(number);
        for (std::size_t i = 0; i < values.size(); ++i)
            EXPECT_EQ(m_reflection->GetRepeatedString(m_message, field, static_cast<int>(i)),
                      std::string(values[i].data(), values[i].size()))
                << where(number) << "[" << i << "]";
    }
    template <typename M>
    void repeated_message(std::uint32_t number, const Vector<M>& values, std::uint32_t)
    {
        auto* field = expect_field(number, pb::FieldDescriptor::TYPE_MESSAGE, true);
        if (!field)
            return;
        ASSERT_EQ(m_reflection->FieldSize(m_message, field), static_cast<int>(values.size())) << where(number);
        for (std::size_t i = 0; i < values.size(); ++i)
            compare(values[i], m_reflection->GetRepeatedMessage(m_message, field, static_cast<int>(i)),
                    where(number) + "[" + std::to_string(i) + "]");
    }

private:
    const pb::FieldDescriptor* expect_field(std::uint32_t number, pb::FieldDescriptor::Type type, bool repeated = false)
    {
        m_visited.insert(static_cast<int>(number));
        const pb::FieldDescriptor* field = m_descriptor->FindFieldByNumber(static_cast<int>(number));
        if (!field) {
            ADD_FAILURE() << m_path << ": channel.proto has no field " << number << " in " << m_descriptor->full_name();
            return nullptr;
        }
        if (field->type() != type || field->is_repeated() != repeated) {
            ADD_FAILURE() << where(number) << ": proto type " << field->type_name()
                          << (field->is_repeated() ? " (repeated)" : "") << " does not match the codec's";
            return nullptr;
        }
        return field;
    }
    void expect_every_field_visited()
    {
        for (int i = 0; i < m_descriptor->field_count(); ++i) {
            const pb::FieldDescriptor* field = m_descriptor->field(i);
            EXPECT_TRUE(m_visited.count(field->number()))
                << m_descriptor->full_name() << "." << field->name() << " (" << field->number()
                << ") is missing from channel_messages.h";
        }
    }
    std::string where(std::uint32_t number) const
    {
        const pb::FieldDescriptor* field = m_descriptor->FindFieldByNumber(static_cast<int>(number));
        return m_path + "." + (field ? field->name() : std::to_string(number));
    }

    const pb::Message& m_message;
    const pb::Reflection* m_reflection;
    const pb::Descriptor* m_descriptor;
    std::string m_path;
    std::set<int> m_visited;
};

// ---------------------------------------------------------------------------------------------
// Random values, biased towards defaults and edges.

std::uint64_t random_u64(Rng& rng)
{
    switch (rng() % 6) {
    case 0:
    case 1: return 0;
    case 2: return rng() % 128;
    case 3: return rng() % 100000;
    case 4: return ~0ull - rng() % 3;
    default: return rng();
    }
}

std::int32_t random_enum_value(Rng& rng)
{
    switch (rng() % 8) {
    case 0: return -1 - static_cast<std::int32_t>(rng() % 1000);  // ten-byte varint on the wire
    case 1: return 1000 + static_cast<std::int32_t>(rng() % 100);  // unknown to both: open enums keep it
    default: return static_cast<std::int32_t>(rng() % 7);
    }
}

std::string random_utf8(Rng& rng)
{
    static const char* pieces[] = {"a", "Z", "0", "_", " ", "cell", "caf\xc3\xa9", "\xe6\x97\xa5",
                                   "\xf0\x9f\x98\x80", "\n", "\x7f", "\x01"};
    std::string text;
    std::size_t count = rng() % 3 == 0 ? 0 : rng() % 12;
    for (std::size_t i = 0; i < count; ++i)
        text += pieces[rng() % (sizeof pieces / sizeof pieces[0])];
    return text;
}

std::string random_bytes(Rng& rng, std::size_t max_size)
{
    std::string bytes(rng() % 10 == 0 ? (rng() % (max_size + 1)) : rng() % 40, '\0');
    for (char& c : bytes)
        c = static_cast<char>(rng());
    return bytes;
}

// Collects the field numbers of a message's oneof members.
struct OneofNumbers {
    std::vector<std::uint32_t> numbers;
    template <typename... Args>
    void uint32(Args&&...) {}
    template <typename... Args>
    void uint64(Args&&...) {}
    template <typename... Args>
    void optional_uint64(Args&&...) {}
    template <typename... Args>
    void boolean(Args&&...) {}
    template <typename... Args>
    void enumeration(Args&&...) {}
    template <typename... Args>
    void string(Args&&...) {}
    template <typename... Args>
    void bytes(Args&&...) {}
    template <typename... Args>
    void digest(Args&&...) {}
    template <typename... Args>
    void message(Args&&...) {}
    template <typename... Args>
    void repeated_string(Args&&...) {}
    template <typename... Args>
    void repeated_message(Args&&...) {}
    template <typename Kind, typename M>
    void oneof(std::uint32_t number, const Kind&, Kind, const M&) { numbers.push_back(number); }
};

// Fills one of our structs with random values (valid UTF-8, so encodings must match exactly).
class RandomFiller {
public:
    RandomFiller(Rng& rng, std::deque<std::string>& storage, int depth) : m_rng(rng), m_storage(storage), m_depth(depth) {}

    template <typename M>
    static void fill(M& message, Rng& rng, std::deque<std::string>& storage, int depth = 0)
    {
        OneofNumbers oneofs;
        M::visit_fields(oneofs, message);
        RandomFiller filler(rng, storage, depth);
        if (!oneofs.numbers.empty()) {
            std::size_t pick = rng() % (oneofs.numbers.size() + 1);  // sometimes none
            filler.m_chosen_oneof = pick < oneofs.numbers.size() ? oneofs.numbers[pick] : 0;
        }
        M::visit_fields(filler, message);
    }

    void uint32(std::uint32_t, std::uint32_t& value) { value = static_cast<std::uint32_t>(random_u64(m_rng)); }
    void uint64(std::uint32_t, std::uint64_t& value) { value = random_u64(m_rng); }
    void optional_uint64(std::uint32_t, std::uint64_t& value, bool& present)
    {
        present = m_rng() % 2;
        value = present ? random_u64(m_rng) : 0;
    }
    void boolean(std::uint32_t, bool& value) { value = m_rng() % 2; }
    template <typename E>
    void enumeration(std::uint32_t, E& value) { value = static_cast<E>(random_enum_value(m_rng)); }
    void string(std::uint32_t, String& value)
    {
        std::string text = random_utf8(m_rng);
        value = String(StringView(text.data(), text.size()));
    }
    void bytes(std::uint32_t, ByteView& value)
    {
        m_storage.push_back(random_bytes(m_rng, 70000));
        value = ByteView(m_storage.back().data(), m_storage.back().size());
    }
    void digest(std::uint32_t, Sha256Digest& value, bool& present)
    {
        present = m_rng() % 3 != 0;
        for (auto& byte : value.bytes)
            byte = present ? static_cast<std::uint8_t>(m_rng()) : 0;
    }
    template <typename M>
    void message(std::uint32_t, M& value)
    {
        if (m_rng() % 4 != 0)
            fill(value, m_rng, m_storage, m_depth + 1);
    }
    template <typename Kind, typename M>
    void oneof(std::uint32_t number, Kind& active, Kind which, M& value)
    {
        if (number != m_chosen_oneof)
            return;
        active = which;
        fill(value, m_rng, m_storage, m_depth + 1);
    }
    void repeated_string(std::uint32_t number, Vector<String>& values, std::uint32_t)
    {
        std::size_t count = m_rng() % 4;
        for (std::size_t i = 0; i < count; ++i) {
            String value;
            string(number, value);
            values.append(std::move(value));
        }
    }
    template <typename M>
    void repeated_message(std::uint32_t, Vector<M>& values, std::uint32_t)
    {
        std::size_t count = m_depth > 3 ? 0 : m_rng() % 4;
        for (std::size_t i = 0; i < count; ++i)
            fill(values.emplace(), m_rng, m_storage, m_depth + 1);
    }

private:
    Rng& m_rng;
    std::deque<std::string>& m_storage;
    int m_depth;
    std::uint32_t m_chosen_oneof = 0;
};

// Fills a libprotobuf message with random values through reflection, unknown fields included.
void fill_with_reflection(pb::Message& message, Rng& rng, int depth, bool add_unknown_fields)
{
    const pb::Descriptor* descriptor = message.GetDescriptor();
    const pb::Reflection* reflection = message.GetReflection();

    auto set_one = [&](const pb::FieldDescriptor* field) {
        bool repeated = field->is_repeated();
        switch (field->cpp_type()) {
        case pb::FieldDescriptor::CPPTYPE_UINT32: {
            auto value = static_cast<std::uint32_t>(random_u64(rng));
            repeated ? reflection->AddUInt32(&message, field, value) : reflection->SetUInt32(&message, field, value);
            break;
        }
        case pb::FieldDescriptor::CPPTYPE_UINT64: {
            auto value = random_u64(rng);
            repeated ? reflection->AddUInt64(&message, field, value) : reflection->SetUInt64(&message, field, value);
            break;
        }
        case pb::FieldDescriptor::CPPTYPE_BOOL:
            reflection->SetBool(&message, field, rng() % 2);
            break;
        case pb::FieldDescriptor::CPPTYPE_ENUM:
            reflection->SetEnumValue(&message, field, random_enum_value(rng));
            break;
        case pb::FieldDescriptor::CPPTYPE_STRING: {
            std::string value;
            if (field->type() == pb::FieldDescriptor::TYPE_STRING) {
                value = random_utf8(rng);
            } else if (field->name() == "sha256") {  // a digest is exactly 32 bytes or absent
                if (rng() % 4 != 0)
                    for (int k = 0; k < 32; ++k)
                        value += static_cast<char>(rng());
            } else {
                value = random_bytes(rng, 70000);
            }
            repeated ? reflection->AddString(&message, field, value) : reflection->SetString(&message, field, value);
            break;
        }
        case pb::FieldDescriptor::CPPTYPE_MESSAGE: {
            pb::Message* nested = repeated ? reflection->AddMessage(&message, field) : reflection->MutableMessage(&message, field);
            if (depth < 4)
                fill_with_reflection(*nested, rng, depth + 1, add_unknown_fields);
            break;
        }
        default:
            FAIL() << "channel.proto uses a type this test does not fill: " << field->type_name();
        }
    };

    for (int i = 0; i < descriptor->field_count(); ++i) {
        const pb::FieldDescriptor* field = descriptor->field(i);
        if (field->real_containing_oneof())
            continue;
        if (field->is_repeated()) {
            int count = depth > 3 ? 0 : static_cast<int>(rng() % 4);
            for (int k = 0; k < count; ++k)
                set_one(field);
        } else if (rng() % 3 != 0) {
            set_one(field);
        }
    }
    for (int i = 0; i < descriptor->real_oneof_decl_count(); ++i) {
        const pb::OneofDescriptor* oneof = descriptor->oneof_decl(i);
        int pick = static_cast<int>(rng() % (oneof->field_count() + 1));
        if (pick < oneof->field_count())
            set_one(oneof->field(pick));
    }
    if (add_unknown_fields && rng() % 2) {
        pb::UnknownFieldSet* unknown = reflection->MutableUnknownFields(&message);
        int count = 1 + static_cast<int>(rng() % 3);
        for (int k = 0; k < count; ++k) {
            int number = rng() % 8 == 0 ? static_cast<int>(wire::kMaxFieldNumber) : 100 + static_cast<int>(rng() % 1000);
            switch (rng() % 4) {
            case 0: unknown->AddVarint(number, random_u64(rng)); break;
            case 1: unknown->AddFixed32(number, static_cast<std::uint32_t>(rng())); break;
            case 2: unknown->AddFixed64(number, rng()); break;
            default: unknown->AddLengthDelimited(number, random_bytes(rng, 300)); break;
            }
        }
    }
}

template <typename Ours>
std::string encode(const Ours& message)
{
    std::string out(wire::encoded_size(message), '\0');
    std::uint8_t* end = wire::encode_to(message, reinterpret_cast<std::uint8_t*>(out.data()));
    EXPECT_EQ(end, reinterpret_cast<std::uint8_t*>(out.data()) + out.size()) << "size pass and write pass disagree";
    return out;
}

bool equivalent(const pb::Message& a, const pb::Message& b)
{
    pb::util::MessageDifferencer differencer;
    // proto3: an embedded message that is set but empty equals one that is absent.
    differencer.set_message_field_comparison(pb::util::MessageDifferencer::EQUIVALENT);
    std::string report;
    differencer.ReportDifferencesToString(&report);
    bool same = differencer.Compare(a, b);
    EXPECT_TRUE(same) << report;
    return same;
}

template <typename O, typename T>
struct Pair {
    using Ours = O;
    using Theirs = T;
};

} // namespace

template <typename P>
class ChannelMessage : public ::testing::Test {};

using AllMessages = ::testing::Types<
    Pair<HostMessage, v1::HostMessage>, Pair<HelloRequest, v1::HelloRequest>, Pair<PingRequest, v1::PingRequest>,
    Pair<ListCellsRequest, v1::ListCellsRequest>, Pair<PushCellBegin, v1::PushCellBegin>,
    Pair<PushCellChunk, v1::PushCellChunk>, Pair<PushCellCommit, v1::PushCellCommit>,
    Pair<PushCellAbort, v1::PushCellAbort>, Pair<LoadCellRequest, v1::LoadCellRequest>,
    Pair<UnloadCellRequest, v1::UnloadCellRequest>, Pair<StatsRequest, v1::StatsRequest>,
    Pair<GuestMessage, v1::GuestMessage>, Pair<Status, v1::Status>, Pair<Reply, v1::Reply>,
    Pair<HelloReply, v1::HelloReply>, Pair<PingReply, v1::PingReply>, Pair<CellInfo, v1::CellInfo>,
    Pair<ListCellsReply, v1::ListCellsReply>, Pair<PushCellBeginReply, v1::PushCellBeginReply>,
    Pair<PushCellChunkReply, v1::PushCellChunkReply>, Pair<PushCellCommitReply, v1::PushCellCommitReply>,
    Pair<PushCellAbortReply, v1::PushCellAbortReply>, Pair<LoadCellReply, v1::LoadCellReply>,
    Pair<UnloadCellReply, v1::UnloadCellReply>, Pair<StatsReply, v1::StatsReply>, Pair<CellTasks, v1::CellTasks>,
    Pair<Event, v1::Event>,
    Pair<Ready, v1::Ready>, Pair<LogLine, v1::LogLine>, Pair<BacktraceFrame, v1::BacktraceFrame>,
    Pair<FaultReport, v1::FaultReport>, Pair<SwapPair, v1::SwapPair>, Pair<SwapCellsRequest, v1::SwapCellsRequest>,
    Pair<RollbackCellRequest, v1::RollbackCellRequest>, Pair<SwappedCell, v1::SwappedCell>, Pair<SwapTiming, v1::SwapTiming>,
    Pair<CellSwapped, v1::CellSwapped>, Pair<SwapCellsReply, v1::SwapCellsReply>,
    Pair<RecoveryPolicyInfo, v1::RecoveryPolicy>, Pair<CellRecoveryInfo, v1::CellRecovery>,
    Pair<SetRecoveryPolicyRequest, v1::SetRecoveryPolicyRequest>, Pair<SetRecoveryPolicyReply, v1::SetRecoveryPolicyReply>>;
TYPED_TEST_SUITE(ChannelMessage, AllMessages);

TYPED_TEST(ChannelMessage, DefaultEncodesToNothingLikeLibprotobuf)
{
    typename TypeParam::Ours ours{};
    typename TypeParam::Theirs theirs;
    EXPECT_EQ(encode(ours), theirs.SerializeAsString());
    FieldComparer::compare(ours, theirs, theirs.GetDescriptor()->name());
}

TYPED_TEST(ChannelMessage, OurEncodingParsesWithLibprotobufToTheSameFieldsAndBytes)
{
    Rng rng(std::hash<std::string>{}(TypeParam::Theirs::descriptor()->full_name()));
    for (int round = 0; round < 300; ++round) {
        std::deque<std::string> storage;
        typename TypeParam::Ours ours{};
        RandomFiller::fill(ours, rng, storage);
        std::string bytes = encode(ours);

        typename TypeParam::Theirs theirs;
        ASSERT_TRUE(theirs.ParseFromString(bytes)) << "round " << round;
        EXPECT_TRUE(theirs.GetReflection()->GetUnknownFields(theirs).empty()) << "round " << round;
        FieldComparer::compare(ours, theirs, "round " + std::to_string(round));

        // Both write fields in number order and omit the same defaults: identical bytes.
        std::string reencoded;
        {
            pb::io::StringOutputStream stream(&reencoded);
            pb::io::CodedOutputStream coded(&stream);
            coded.SetSerializationDeterministic(true);
            theirs.SerializeToCodedStream(&coded);
        }
        ASSERT_EQ(bytes, reencoded) << "round " << round;
        if (::testing::Test::HasFailure())
            FAIL() << "stopping at round " << round;
    }
}

TYPED_TEST(ChannelMessage, LibprotobufEncodingWithUnknownFieldsDecodesToTheSameFields)
{
    Rng rng(~std::hash<std::string>{}(TypeParam::Theirs::descriptor()->full_name()));
    for (int round = 0; round < 300; ++round) {
        typename TypeParam::Theirs theirs;
        fill_with_reflection(theirs, rng, 0, true);
        std::string bytes = theirs.SerializeAsString();

        auto decoded = wire::decode<typename TypeParam::Ours>(ByteView(bytes.data(), bytes.size()));
        ASSERT_FALSE(decoded.is_error()) << "round " << round << ": " << decoded.error().message << " ("
                                         << decoded.error().value << ")";
        FieldComparer::compare(decoded.value(), theirs, "round " + std::to_string(round));

        // Our re-encoding carries the same known fields (unknown ones are dropped, by design).
        typename TypeParam::Theirs reparsed;
        ASSERT_TRUE(reparsed.ParseFromString(encode(decoded.value())));
        theirs.DiscardUnknownFields();
        equivalent(reparsed, theirs);
        if (::testing::Test::HasFailure())
            FAIL() << "stopping at round " << round;
    }
}

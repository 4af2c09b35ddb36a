// control_agent.cpp: the agent task: bytes from the control port into the channel engine
// (lib/control/channel_engine.h), frames from it back to the port, sessions opened and closed
// as the host connects and leaves. What the engine asks of the kernel is KernelControlBackend.
#include "control/control_agent.h"

#include "arch/x86_64/cpu.h"
#include "control/kernel_control_backend.h"
#include "control/log_forwarder.h"
#include "log/kernel_log.h"
#include "platform/vm_generation.h"
#include "control/control_port.h"
#include "lib/control/channel_engine.h"
#include "recovery/fault_log.h"
#include "task/mutex.h"
#include "task/scheduler.h"
#include "task/spawn.h"

namespace delos::control {

namespace {

// How long the agent busy-polls for input before it sleeps (see Agent::run).
constexpr std::uint64_t kInputPollNs = 500'000;
// 56 KiB for the agent, 8 KiB of it the overflow reserve (task/stack_cache.h); one task, made once.
constexpr std::size_t kAgentStackPages = 16;

// The port the agent reads, for the fault log's listener: a recorded fault ends the agent's wait
// at once, so its FaultReport leaves before the next request or device interrupt.
virtio::ControlPort* g_agent_port = nullptr;

void wake_agent_for_fault()
{
    if (virtio::ControlPort* port = __atomic_load_n(&g_agent_port, __ATOMIC_ACQUIRE))
        port->wake_reader();
}

// Frames go only to the connection whose bytes the engine's session holds: a reply to a request
// of a session that has ended must not reach the next client. The agent and its cell-operation
// tasks both send, one at a time.
class PortWriter final : public FrameWriter {
public:
    explicit PortWriter(virtio::ControlPort& port) : m_port(port) {}
    void write_frame(ByteView frame) override
    {
        if (!m_port.connected())
            return;  // the host went away; it learns nothing more of this connection
        // A disconnect mid-write, or a newer peer: the next connection starts afresh.
        (void)m_port.write(frame, __atomic_load_n(&m_connection, __ATOMIC_RELAXED));
    }
    void lock_sends() override { m_lock.lock(); }
    void unlock_sends() override { m_lock.unlock(); }
    void set_connection(std::uint64_t connection) { __atomic_store_n(&m_connection, connection, __ATOMIC_RELAXED); }

private:
    virtio::ControlPort& m_port;
    std::uint64_t m_connection = 0;
    task::Mutex m_lock;
};

class Agent {
public:
    explicit Agent(virtio::ControlPort port) : m_port(port), m_writer(m_port), m_engine(m_backend, m_writer) {}
    [[noreturn]] void run();

private:
    void follow_connection(bool open, std::uint64_t number);

    virtio::ControlPort m_port;
    PortWriter m_writer;
    KernelControlBackend m_backend;
    ChannelEngine m_engine;
    std::uint64_t m_connection = 0;
};

// A session opens: a guest restored from a snapshot finds a VM generation it has not seen (the
// host gives each clone its own) and takes a fresh boot id before Ready tells the host it.
void renew_identity_if_cloned()
{
    platform::VmGenerationCheck check = platform::check_vm_generation();
    if (check.refused)
        kprint("delos: VM generation refused: {}\n", check.refused);
    if (!check.changed)
        return;
    const char* id = task::renew_boot_id(check.value);
    kprint("delos: new VM generation '{}': boot id {}\n", check.value, id);
}

// A new connection number starts a session; a closed port ends one, so what the session held
// (a partial frame's buffer, open pushes) goes back at once.
void Agent::follow_connection(bool open, std::uint64_t number)
{
    if (open && number != m_connection) {
        // The old session ends before frames may go to the new peer: a cell operation of the
        // old session that finishes now finds it closed and drops its reply.
        m_engine.close_session();
        m_connection = number;
        m_writer.set_connection(number);
        renew_identity_if_cloned();
        m_engine.open_session();
    } else if (!open && m_engine.session_open()) {
        m_engine.close_session();
    }
}

void Agent::run()
{
    static std::uint8_t buffer[64 * 1024];
    __atomic_store_n(&g_agent_port, &m_port, __ATOMIC_RELEASE);
    task::set_fault_recorded_listener(wake_agent_for_fault);
    for (;;) {
        m_engine.forward_backend_events();
        // read() polls the device (PORT_OPEN included); the connection state it leaves is then
        // read without another lock round (each is a cli/sti pair: two traps under kvm_pvm).
        auto received = m_port.read(buffer, sizeof buffer);
        if (received.is_error()) {
            kprint("control: the control port failed: {}\n", received.error().message);
            m_port.wait_for_activity();
            continue;
        }
        auto state = m_port.connection_state();
        follow_connection(state.open, state.number);
        if (received.value().bytes == 0) {
            // A host that just got a reply usually sends again within tens of microseconds:
            // polling for that long costs less than an interrupt (two ~32 us register exits
            // under kvm_pvm), and a quiet channel sleeps after it as before.
            m_port.wait_for_input(kInputPollNs);
            continue;
        }
        if (received.value().connection != m_connection) {
            // The peer changed between the check above and this read: these bytes start its framing.
            m_engine.close_session();
            m_connection = received.value().connection;
            m_writer.set_connection(m_connection);
            renew_identity_if_cloned();
        m_engine.open_session();
        } else if (!m_engine.session_open()) {
            continue;  // the tail of a connection that has ended belongs to no session
        }
        m_engine.receive(ByteView(buffer, received.value().bytes));
    }
}

} // namespace

void serve_control_channel()
{
    auto port = virtio::ControlPort::open();
    if (port.is_error()) {
        kprint("control: no control port: {}\n", port.error().message);
        // Off the CPU for good (halting here would keep this task running through others' time).
        for (;;)
            task::scheduler::sleep_for(3'600'000'000'000ull);
    }
    kprint("control: serving the channel on {}\n", virtio::kControlPortName);
    Agent agent(port.release_value());
    agent.run();
}

ErrorOr<void> start_control_agent()
{
    start_log_capture();
    // The agent runs swaps on its own stack (the engine's requests, replies and events are
    // values, a swap's report and its CellSwapped event among them): the default 16 KiB was
    // found exhausted by the split-stack check during a swap of the SDK example's service.
    task::SpawnOptions options;
    options.stack_pages = kAgentStackPages;
    auto handle = TRY(task::spawn("control-agent", [] { serve_control_channel(); }, options));
    handle.detach();
    return {};
}

} // namespace delos::control

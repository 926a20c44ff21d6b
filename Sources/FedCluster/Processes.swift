import FedConfig
import FedOptim
import FedProtocol
import FedSimulation
import FedTransportZMQ
import Foundation
import Synchronization

/// The signal that asked this process to stop (0: none). A lock-free atomic, so the signal
/// handler may set it (async-signal-safe).
private let receivedSignal = Atomic<Int32>(0)

/// SIGINT and SIGTERM set a flag that the run loops poll (at least twice per heartbeat
/// interval), so a run stops between messages with its files flushed and its children told.
public final class StopSignal: Sendable {
    public init() {}

    /// Installs the handlers for this process.
    public func install() {
        signal(SIGINT) { receivedSignal.store($0, ordering: .sequentiallyConsistent) }
        signal(SIGTERM) { receivedSignal.store($0, ordering: .sequentiallyConsistent) }
    }

    /// The signal received, or 0.
    public var received: Int32 { receivedSignal.load(ordering: .sequentiallyConsistent) }
    public var isSet: Bool { received != 0 }
    public func set() { receivedSignal.store(SIGTERM, ordering: .sequentiallyConsistent) }
}

/// Starts and supervises the client processes of a local cluster. Every child gets
/// `--exit-with-parent`, so even a SIGKILLed launcher leaves no orphans behind.
public final class ClientProcesses {
    public private(set) var children: [(range: ClosedRange<Int>, process: Process)] = []
    private let events: EventLog

    public init(events: EventLog) { self.events = events }

    /// This executable's path.
    public static var executable: URL { URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath() }

    public func start(topology: String, overrides: [String], ranges: [ClosedRange<Int>], endpoint: String, stateDirectory: URL) throws {
        for range in ranges {
            let process = Process()
            process.executableURL = ClientProcesses.executable
            process.arguments = ["client", topology, "--clients", "\(range.lowerBound)-\(range.upperBound)", "--connect", endpoint,
                                 "--state-dir", stateDirectory.path, "--exit-with-parent"] + overrides.flatMap { ["--set", $0] }
            var environment = ProcessInfo.processInfo.environment
            environment["OPENBLAS_NUM_THREADS"] = "1"
            process.environment = environment
            try process.run()
            children.append((range, process))
        }
        events.log("started \(ranges.count) client process(es): " + children.map { "pid \($0.process.processIdentifier) (clients \($0.range.lowerBound)-\($0.range.upperBound))" }.joined(separator: ", "))
    }

    /// Waits up to `grace` seconds for the children to exit, then terminates (and finally kills)
    /// the rest. Returns when no child is left.
    public func stop(grace: Double) {
        let deadline = Date().addingTimeInterval(grace)
        while children.contains(where: { $0.process.isRunning }) && Date() < deadline { Thread.sleep(forTimeInterval: 0.05) }
        for child in children where child.process.isRunning { kill(child.process.processIdentifier, SIGTERM) }
        let hard = Date().addingTimeInterval(2)
        while children.contains(where: { $0.process.isRunning }) && Date() < hard { Thread.sleep(forTimeInterval: 0.05) }
        for child in children where child.process.isRunning { kill(child.process.processIdentifier, SIGKILL) }
        for child in children { child.process.waitUntilExit() }
    }
}

/// Clients hosted as threads of this process (for `inproc://` endpoints, which only reach
/// sockets of the same ZeroMQ context).
public final class ClientThreads: Sendable {
    private let finished = Mutex<[Int32]>([])

    public init() {}

    public func start(prepared: PreparedRun, ranges: [ClosedRange<Int>], context: ZMQContext, endpoint: String,
                      stateDirectory: URL, stop: StopSignal) {
        for range in ranges {
            let thread = Thread { [self] in
                let events = EventLog(file: nil, prefix: "clients \(range.lowerBound)-\(range.upperBound)")
                do {
                    let host = try ClientHost.make(prepared: prepared, ranges: [range], context: context, endpoint: endpoint,
                                                   stateDirectory: stateDirectory, events: events, shouldStop: { stop.isSet })
                    let status = try host.run()
                    finished.withLock { $0.append(status) }
                } catch {
                    events.log("error: \(error)")
                    finished.withLock { $0.append(1) }
                }
            }
            thread.start()
        }
    }

    public var exited: Int { finished.withLock { $0.count } }
}

extension ClientHost {
    /// A host for the clients in `ranges` of a prepared run, restoring their snapshots.
    public static func make(prepared: PreparedRun, ranges: [ClosedRange<Int>], context: ZMQContext, endpoint: String,
                            stateDirectory: URL?, events: EventLog, shouldStop: @escaping () -> Bool) throws -> ClientHost {
        let t = prepared.topology
        let ids = ranges.flatMap { Array($0) }
        let store = try stateDirectory.map { try SnapshotStore(directory: $0, fingerprint: t.fingerprint) }
        let worker = TrainingWorker(prepared: prepared, ids: ids, snapshots: store)
        return ClientHost(context: context, endpoint: endpoint, spec: t.cluster, wire: RunWire(prepared), worker: worker,
                              ranges: ranges, snapshots: store, events: events, shouldStop: shouldStop)
    }
}

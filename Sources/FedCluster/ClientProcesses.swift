import FedSimulation
import Foundation

/// Starts and supervises the client processes of a local cluster. Every child gets
/// `--exit-with-parent`, so even a SIGKILLed launcher leaves no orphans behind.
public final class ClientProcesses {
    public private(set) var children: [(range: ClosedRange<Int>, process: Process)] = []
    private let events: EventLog

    public init(events: EventLog) { self.events = events }

    /// This executable's path.
    public static var executable: URL { URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath() }

    /// - Parameters:
    ///   - keys: each process's CURVE key file (`--key`), in the order of `ranges`.
    ///   - threads: training threads for each client process (`--threads`).
    public func start(
        topology: String, overrides: [String], ranges: [ClosedRange<Int>], keys: [String]? = nil, endpoint: String,
        stateDirectory: URL, threads: Int = 1
    ) throws {
        for (index, range) in ranges.enumerated() {
            let process = Process()
            process.executableURL = ClientProcesses.executable
            process.arguments =
                [
                    "client", topology, "--clients", "\(range.lowerBound)-\(range.upperBound)", "--connect", endpoint,
                    "--state-dir", stateDirectory.path, "--exit-with-parent",
                ] + overrides.flatMap { ["--set", $0] } + ["--threads", String(threads)]
                + (keys.map { ["--key", $0[index]] } ?? [])
            try process.run()
            children.append((range, process))
        }
        events.log(
            "started \(ranges.count) client process(es): "
                + children.map {
                    "pid \($0.process.processIdentifier) (clients \($0.range.lowerBound)-\($0.range.upperBound))"
                }.joined(separator: ", "))
    }

    /// Waits up to `grace` seconds for the children to exit, then terminates (and finally kills)
    /// the rest. Returns when no child is left.
    public func stop(grace: Double) {
        let deadline = Date().addingTimeInterval(grace)
        while children.contains(where: { $0.process.isRunning }) && Date() < deadline {
            Thread.sleep(forTimeInterval: 0.05)
        }
        for child in children where child.process.isRunning { kill(child.process.processIdentifier, SIGTERM) }
        let hard = Date().addingTimeInterval(2)
        while children.contains(where: { $0.process.isRunning }) && Date() < hard {
            Thread.sleep(forTimeInterval: 0.05)
        }
        for child in children where child.process.isRunning { kill(child.process.processIdentifier, SIGKILL) }
        for child in children { child.process.waitUntilExit() }
    }
}

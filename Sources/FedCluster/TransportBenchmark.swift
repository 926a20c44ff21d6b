import FedProtocol
import FedSimulation
import FedTopology
import FedTransportZMQ
import FedWire
import Foundation

/// Benchmarks of the distributed path, printed by `fedsim bench transport` and
/// `fedsim bench cluster`: figures measured in the same run, side by side.
public enum TransportBenchmark {
    /// FedSim's delta path: encode an UPDATE, send it over a DEALER, receive at a ROUTER and
    /// decode it with full validation (lengths, finiteness). Returns payload bytes per second.
    public static func fedsimPath(endpoint: String, parameterCount: Int, count: Int) throws -> Double {
        let codec = WireCodec(fingerprint: 1, parameterCount: parameterCount)
        let context = try ZMQContext()
        let receiver = try ZMQSocket(context: context, kind: .router)
        try receiver.setMaxMessageSize(codec.maxFrameBytes)
        let bound = try receiver.bind(endpoint)
        let delta = (0..<parameterCount).map { Float($0 % 97) * 1e-3 }
        let thread = Thread {
            guard let sender = try? ZMQSocket(context: context, kind: .dealer) else { return }
            try? sender.setLinger(nil)  // deliver everything before the socket closes
            try? sender.connect(bound)
            _ = try? sender.send(codec.encode(.heartbeat))
            for i in 0..<count {
                let update = ClientUpdate(
                    round: 1, clientID: i, sampleCount: 10, delta: delta, trainLoss: 0.5, steps: 1, state: nil)
                _ = try? sender.send(codec.encode(.update(update)))
            }
        }
        thread.start()
        guard try receiver.receive(timeout: 10) != nil else {
            throw ZMQError(operation: "warm-up", code: ETIMEDOUT, message: "no connection")
        }
        let start = DispatchTime.now().uptimeNanoseconds
        var received = 0
        while received < count {
            guard let frames = try receiver.receive(timeout: 60) else {
                throw ZMQError(
                    operation: "benchmark", code: ETIMEDOUT, message: "only \(received) of \(count) messages arrived")
            }
            guard case .update = try codec.decode(Array(frames.dropFirst())) else { continue }
            received += 1
        }
        let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
        return Double(4 * parameterCount * received) / seconds
    }

    public static func runTransport(parameterCount: Int, messages: Int, print: (String) -> Void) throws {
        let bytes = 4 * parameterCount
        print(
            "Delta transfer: \(parameterCount) parameters = \(bytes) bytes per message, \(messages) messages, one "
                + "way, best of 3"
        )
        print("endpoint     raw libzmq GB/s   FedSim UPDATE GB/s   FedSim / raw")
        for kind in ["tcp", "ipc"] {
            var raw = 0.0
            var fed = 0.0
            for attempt in 0..<3 {
                let endpoint =
                    kind == "tcp" ? "tcp://127.0.0.1:*" : "ipc:///tmp/fedsim-bench-\(getpid())-\(attempt).ipc"
                raw = max(raw, try RawThroughput.measure(endpoint: endpoint, bytes: bytes, count: messages))
                let endpoint2 =
                    kind == "tcp" ? "tcp://127.0.0.1:*" : "ipc:///tmp/fedsim-bench-\(getpid())-\(attempt)b.ipc"
                fed = max(fed, try fedsimPath(endpoint: endpoint2, parameterCount: parameterCount, count: messages))
                if kind == "ipc" {
                    try? FileManager.default.removeItem(atPath: "/tmp/fedsim-bench-\(getpid())-\(attempt).ipc")
                    try? FileManager.default.removeItem(atPath: "/tmp/fedsim-bench-\(getpid())-\(attempt)b.ipc")
                }
            }
            print(
                String(
                    format: "%@          %8.2f          %8.2f             %.2f", kind, raw / 1e9, fed / 1e9, fed / raw))
        }
    }

    /// Per-round time of a topology: the single-process run (local training, aggregation and
    /// evaluation, no transport) beside the same rounds as a local cluster.
    public static func runCluster(
        topologyFile: String, overrides: [String], executable: URL, print: (String) -> Void
    ) throws {
        let topology = try Topology.load(file: topologyFile, overrides: overrides)
        let prepared = try PreparedRun.prepare(topology)
        let single = try InProcessRun.records(prepared).dropFirst().map(\.seconds)
        // Each mode as a user runs it, with its run directory, checkpoint and logs: `seconds` in
        // rounds.jsonl covers the whole round in both.
        func roundSeconds(_ command: String) throws -> [Double] {
            let out = FileManager.default.temporaryDirectory.appendingPathComponent(
                "fedsim-bench-\(getpid())-\(command)")
            defer { try? FileManager.default.removeItem(at: out) }
            let process = Process()
            process.executableURL = executable
            process.arguments =
                [command, topologyFile, "--out", out.path, "--quiet"] + overrides.flatMap { ["--set", $0] }
            process.standardOutput = FileHandle.nullDevice
            process.standardError = FileHandle.nullDevice
            try process.run()
            process.waitUntilExit()
            guard process.terminationStatus == 0 else {
                throw RunInputError("the \(command) run failed (status \(process.terminationStatus))")
            }
            let lines = try String(contentsOf: out.appendingPathComponent("rounds.jsonl"), encoding: .utf8).split(
                separator: "\n")
            return lines.compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
                .filter { ($0["round"] as? Int ?? 0) > 0 }.compactMap { $0["seconds"] as? Double }
        }
        let whole = try roundSeconds("run")
        let cluster = try roundSeconds("cluster")
        func median(_ x: [Double]) -> Double {
            let s = x.sorted()
            return s.isEmpty ? .nan : s[s.count / 2]
        }
        let compute = median(single)
        let total = median(cluster)
        let processes = min(topology.cluster.processes, ProcessInfo.processInfo.activeProcessorCount)
        print(
            "Per-round time for \(topology.name): \(topology.clients.perRound) clients per round, "
                + "\(topology.cluster.processes) client process(es), "
                + "\(ProcessInfo.processInfo.activeProcessorCount) cores; medians over \(topology.rounds) rounds"
        )
        print(
            String(
                format: "single process (compute: local training + aggregation + evaluation): %8.2f ms", compute * 1000)
        )
        let inProcess = median(whole)
        print(
            String(
                format: "single-process round as `fedsim run` runs it (with checkpoint and logs): %8.2f ms",
                inProcess * 1000))
        print(
            String(format: "local cluster round, wall clock:                                    %8.2f ms", total * 1000)
        )
        print(
            String(
                format: "cluster round ÷ single-process round:                               %8.2f×", total / inProcess)
        )
        print(
            String(
                format:
                    "coordination (cluster − compute/%d, i.e. compute spread over the processes that can run at "
                    + "once): %8.2f ms",
                processes, (total - compute / Double(processes)) * 1000))
    }
}

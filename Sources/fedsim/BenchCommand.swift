import ArgumentParser
import FedBench
import FedCluster
import FedProtocol
import FedWire

struct BenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Benchmarks (build with -c release for meaningful figures).",
        subcommands: [Optimizers.self, Transport.self, Cluster.self])

    struct Optimizers: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Optimizer step throughput beside a STREAM-style triad measured in the same run.")

        @Option(help: "Parameters in the buffer.")
        var params: Int = 10_000_000

        @Option(help: "Timed repetitions per optimizer (the best is reported).")
        var repeats: Int = 5

        func validate() throws {
            guard params >= 1000 else { throw ValidationError("--params must be at least 1000") }
            guard (1...1000).contains(repeats) else { throw ValidationError("--repeats must be in 1...1000") }
        }

        func run() {
            OptimizerBenchmark(parameterCount: params, repeats: repeats).run { print($0) }
        }
    }
}

extension BenchCommand {
    struct Transport: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Delta transfer throughput over tcp and ipc beside raw libzmq for the same payload.")

        @Option(help: "Parameters per delta.") var params: Int = 1_000_000
        @Option(help: "Messages per measurement.") var messages: Int = 200

        func validate() throws {
            guard (1...WireCodec.maxParameters).contains(params) else {
                throw ValidationError("--params must be in 1...\(WireCodec.maxParameters)")
            }
            guard (1...100_000).contains(messages) else { throw ValidationError("--messages must be in 1...100000") }
        }

        func run() throws {
            try TransportBenchmark.runTransport(parameterCount: params, messages: messages) { print($0) }
        }
    }

    struct Cluster: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Per-round time of a topology in one process beside the same rounds as a local cluster.")

        @OptionGroup var options: TopologyOptions

        func run() throws {
            try reportingInputErrors {
                try TransportBenchmark.runCluster(
                    topologyFile: options.topology, overrides: options.allOverrides,
                    executable: ClientProcesses.executable
                ) { print($0) }
            }
        }
    }
}

import ArgumentParser
import FedBench
import FedCluster
import FedModels
import FedProtocol
import FedWire

struct BenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Benchmarks (build with -c release for meaningful figures).",
        discussion: """
            Examples:
              Scripts/bench.sh
              fedsim bench optimizers --params 10000000 --repeats 5
              fedsim bench transport --params 1000000 --messages 300
              fedsim bench cluster Topologies/quickstart-cluster.yaml
              fedsim bench models --batch 32
            """,
        subcommands: [Optimizers.self, Transport.self, Cluster.self, Models.self])

    struct Models: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Forward+backward of the conv presets on one batch of 28×28 images, on one thread.",
            discussion: """
                Scripts/bench-cnn.sh sets these figures beside PyTorch's on the same shapes.
                Examples:
                  fedsim bench models
                  fedsim bench models --preset lenet5 --batch 64 --repeats 9
                """)

        @Option(help: "Preset to time (repeat for several; default: all).")
        var preset: [NetworkPreset] = []
        @Option(help: "Images per batch.") var batch: Int = 32
        @Option(help: "Timed repetitions (the median is reported).") var repeats: Int = 5

        func validate() throws {
            guard (1...4096).contains(batch) else { throw ValidationError("--batch must be in 1...4096") }
            guard (1...1000).contains(repeats) else { throw ValidationError("--repeats must be in 1...1000") }
        }

        func run() throws {
            _ = try ModelBenchmark(
                presets: preset.isEmpty ? NetworkPreset.allCases : preset, batch: batch, repeats: repeats
            ).run { print($0) }
        }
    }

    struct Optimizers: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Optimizer step throughput beside a STREAM-style triad measured in the same run.",
            discussion: """
                Examples:
                  fedsim bench optimizers
                  fedsim bench optimizers --params 1000000 --repeats 3
                """)

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
            abstract: "Delta transfer throughput over tcp and ipc beside raw libzmq for the same payload.",
            discussion: """
                Examples:
                  fedsim bench transport
                  fedsim bench transport --params 250000 --messages 1000
                """)

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
            abstract: "Per-round time of a topology in one process beside the same rounds as a local cluster.",
            discussion: """
                Examples:
                  fedsim bench cluster Topologies/quickstart-cluster.yaml
                  fedsim bench cluster Topologies/cluster-1000.yaml --rounds 10
                """)

        @OptionGroup var options: TopologyOptions

        func run() throws {
            try reportingInputErrors {
                try TransportBenchmark.runCluster(
                    topologyFile: options.topology, overrides: options.allOverrides.map(\.assignment),
                    executable: ClientProcesses.executable
                ) { print($0) }
            }
        }
    }
}

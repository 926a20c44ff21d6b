import ArgumentParser
import FedBench

struct BenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Benchmarks (build with -c release for meaningful figures).",
        subcommands: [Optimizers.self])

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

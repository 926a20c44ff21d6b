import ArgumentParser
import FedConfig
import FedSimulation
import Foundation

/// Options shared by the commands that read a topology.
struct TopologyOptions: ParsableArguments {
    @Argument(help: "Topology file (YAML).")
    var topology: String

    @Option(help: "Override the number of rounds.")
    var rounds: Int?

    @Option(help: "Override the seed.")
    var seed: Int?

    @Option(name: .customLong("set"), parsing: .singleValue,
            help: ArgumentHelp("Override any field: key.path=value (YAML value), repeatable.", valueName: "key.path=value"))
    var overrides: [String] = []

    func validate() throws {
        if let rounds, rounds < 1 { throw ValidationError("--rounds must be at least 1") }
        if let seed, seed < 0 { throw ValidationError("--seed must be non-negative") }
    }

    /// Every override: the `--set`s, then `--rounds` and `--seed` (last, so they win).
    var allOverrides: [String] { TopologyOptions.overrides(overrides, rounds: rounds, seed: seed) }

    static func overrides(_ sets: [String], rounds: Int?, seed: Int?) -> [String] {
        sets + (rounds.map { ["rounds=\($0)"] } ?? []) + (seed.map { ["seed=\($0)"] } ?? [])
    }

    /// The topology with every override applied.
    func load() throws -> Topology { try Topology.load(file: topology, overrides: allOverrides) }
}

struct RunCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Run a federation in this process and log the global model's quality every round.",
        discussion: """
            Writes runs/<name>-<UTC time>/ (or --out): topology.yaml (resolved), partition.txt, \
            rounds.jsonl and rounds.csv (one line per round; round 0 is the initial model), \
            clients.jsonl (one line per participant per round), final_weights.f32, summary.json.

            Every round's weights_hash lets anyone check that two runs agree to the bit. \
            Bad input (topology, data, flags) exits with status 2 and writes nothing.
            """)

    @OptionGroup var options: TopologyOptions

    @Option(help: "Directory to create for this run's files (default: runs/<name>-<UTC time>).")
    var out: String?

    @Flag(help: "Print only the final line.")
    var quiet = false

    func run() async throws {
        let (prepared, directory) = try reportingInputErrors { () -> (PreparedRun, RunDirectory) in
            let topology = try options.load()
            let prepared = try PreparedRun.prepare(topology)
            let directory = try RunDirectory(out: out, for: prepared)
            return (prepared, directory)
        }
        let t = prepared.topology
        if !quiet {
            print("FedSim run '\(t.name)': \(t.clients.count) clients (\(t.clients.perRound) per round), \(t.rounds) rounds, seed \(t.seed)")
            print("model \(t.model.kind.rawValue) with \(prepared.model.parameterCount) parameters; test set \(prepared.testSet.count) samples")
            print(prepared.partitionSummary)
            print("writing \(directory.url.path)")
        }
        let records = try await Simulation.run(prepared, directory: directory) { line in
            if !quiet { print(line) }
        }
        if quiet, let last = records.last { print(Simulation.progressLine(last, of: t.rounds)) }
        if !quiet { print("done: \(directory.url.path)") }
    }
}

struct ValidateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "validate",
        abstract: "Check a topology (and its data) without running it; prints the resolved topology.")

    @OptionGroup var options: TopologyOptions

    @Flag(help: "Only check the file itself; do not load data or build the model.")
    var noData = false

    func run() throws {
        let topology = try reportingInputErrors { () -> Topology in
            let topology = try options.load()
            if !noData { _ = try PreparedRun.prepare(topology) }
            return topology
        }
        print(topology.resolvedYAML(), terminator: "")
    }
}

import ArgumentParser
import FedSimulation
import FedTopology
import Foundation

/// The overrides every command that reads a topology takes.
struct OverrideOptions: ParsableArguments {
    // `.unconditional`: `--seed -1` is a bad seed, not a missing value followed by a flag.
    @Option(parsing: .unconditional, help: "Override the number of rounds.")
    var rounds: Int?

    @Option(parsing: .unconditional, help: "Override the seed (0 … 2⁶⁴ − 1).")
    var seed: UInt64?

    @Option(
        parsing: .unconditional,
        help: "Threads that train a round's clients and evaluate (default: the topology's threads, 0 = one per core).")
    var threads: Int?

    @Option(
        name: .customLong("set"), parsing: .singleValue,
        help: ArgumentHelp("Override any field: key.path=value (YAML value), repeatable.", valueName: "key.path=value"))
    var sets: [String] = []

    func validate() throws {
        if let rounds, rounds < 1 { throw ValidationError("--rounds must be at least 1") }
        if let threads, !(0...1024).contains(threads) { throw ValidationError("--threads must be in 0...1024") }
    }

    /// No override that changes the numbers (`--threads` does not).
    var isEmpty: Bool { rounds == nil && seed == nil && sets.isEmpty }

    /// Every override: the `--set`s, then `--rounds`, `--seed` and `--threads` (last, so they win).
    var all: [Override] {
        sets.map { Override($0) } + (rounds.map { [Override("rounds=\($0)", flag: "--rounds \($0)")] } ?? [])
            + (seed.map { [Override("seed=\($0)", flag: "--seed \($0)")] } ?? [])
            + (threads.map { [Override("threads=\($0)", flag: "--threads \($0)")] } ?? [])
    }

    /// The topology in `file` with every override applied.
    func load(_ file: String) throws -> Topology { try Topology.load(file: file, overrides: all) }
}

/// A topology file and its overrides.
struct TopologyOptions: ParsableArguments {
    @Argument(help: "Topology file (YAML).")
    var topology: String

    @OptionGroup var overrides: OverrideOptions

    var allOverrides: [Override] { overrides.all }

    /// The topology with every override applied.
    func load() throws -> Topology { try overrides.load(topology) }
}

/// What `run` and `coordinator` start: a topology with its overrides and `--out`, or with
/// `--resume RUN_DIR` a run directory to continue.
struct RunTarget: ParsableArguments {
    @Argument(help: "Topology file (YAML); not with --resume.")
    var topology: String?

    @OptionGroup var overrides: OverrideOptions

    @Option(help: "Directory to create for this run's files (default: runs/<name>-<UTC time>).")
    var out: String?

    @Option(help: ArgumentHelp("Continue the run in this directory from its last checkpoint.", valueName: "run-dir"))
    var resume: String?

    func validate() throws {
        if resume == nil && topology == nil { throw ValidationError("give a TOPOLOGY file, or --resume RUN_DIR") }
        if resume != nil && (topology != nil || out != nil || !overrides.isEmpty) {
            throw ValidationError(
                "--resume takes the run's own topology: drop TOPOLOGY, --out, --rounds, --seed and --set")
        }
    }

    /// The prepared run, its directory (new, or reopened at the checkpoint) and the checkpoint.
    func open() throws -> (PreparedRun, RunDirectory, Checkpoint?) {
        if let resume {
            let resumed = try ResumedRun.open(resume, threads: overrides.threads)
            return (resumed.prepared, resumed.directory, resumed.checkpoint)
        }
        let prepared = try PreparedRun.prepare(try overrides.load(topology!))
        return (prepared, try RunDirectory(out: out, for: prepared), nil)
    }
}

struct RunCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Run a federation in this process and log the global model's quality every round.",
        discussion: """
            Writes runs/<name>-<UTC time>/ (or --out): topology.yaml (resolved), partition.txt, \
            rounds.jsonl and rounds.csv (one line per round; round 0 is the initial model), \
            clients.jsonl (one line per participant per round), checkpoint.bin (after every \
            round), client-state/ (persistent optimizer states), final_weights.f32, summary.json.

            Every round's weights_hash lets anyone check that two runs agree to the bit. \
            Bad input (topology, data, flags) exits with status 2 and writes nothing. Ctrl-C stops \
            between rounds (exit 130) with every finished round on disk; --resume RUN_DIR \
            continues a stopped or killed run to the same numbers as an uninterrupted one.

            Examples:
              fedsim run Topologies/quickstart.yaml
              fedsim run Topologies/quickstart.yaml --rounds 50 --seed 1 --set clients.state=reset --out runs/reset
              fedsim run --resume runs/reset
            """)

    @OptionGroup var target: RunTarget

    @Flag(help: "Print only the final line.")
    var quiet = false

    func run() throws {
        let stop = StopSignal()
        stop.install()
        let (prepared, directory, checkpoint) = try reportingInputErrors { try target.open() }
        let t = prepared.topology
        if !quiet {
            print(
                "FedSim run '\(t.name)': \(t.clients.count) clients (\(t.clients.perRound) per round), \(t.rounds) "
                    + "rounds, seed \(t.seed)"
            )
            print(
                "model \(t.model.kind.rawValue) with \(prepared.model.parameterCount) parameters; test set "
                    + "\(prepared.testSet.count) samples"
            )
            print(prepared.partitionSummary)
            print(
                checkpoint.map { "resuming \(directory.url.path) after round \($0.round)" }
                    ?? "writing \(directory.url.path)")
        }
        let events = EventLog(file: directory.url.appendingPathComponent("events.log"), prefix: "run", echo: !quiet)
        let result = try reportingRunErrors {
            try InProcessRun.run(
                prepared, directory: directory, resume: checkpoint, events: events,
                shouldStop: { stop.isSet }, progress: quiet ? nil : { print($0) })
        }
        if quiet { print(ProgressLine.format(result.last, of: t.rounds)) }
        if !quiet { print("done: \(directory.url.path)") }
    }
}

struct ValidateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "validate",
        abstract: "Check a topology (and its data) without running it; prints the resolved topology.",
        discussion: """
            Examples:
              fedsim validate Topologies/quickstart.yaml
              fedsim validate Topologies/digits-noniid.yaml --set clients.optimizer.name=adam_l2 --no-data
            """)

    @OptionGroup var options: TopologyOptions

    @Flag(help: "Only check the file itself; do not load data or build the model.")
    var noData = false

    func run() throws {
        let (topology, prepared) = try reportingInputErrors { () -> (Topology, PreparedRun?) in
            let topology = try options.load()
            return (topology, noData ? nil : try PreparedRun.prepare(topology))
        }
        print(topology.resolvedYAML(), terminator: "")
        // The verdict, as a YAML comment so the output stays a valid topology.
        if let prepared {
            let samples = prepared.shards.reduce(0) { $0 + $1.count }
            let validation = prepared.validationSet.map { "\($0.count) validation, " } ?? ""
            print(
                "# valid: \(topology.clients.count) clients holding \(samples) training samples, "
                    + "\(validation)\(prepared.testSet.count) test; \(prepared.model.parameterCount) parameters; "
                    + "fingerprint \(prepared.fingerprintHex)")
        } else {
            print("# valid as a file (data and model not checked: --no-data)")
        }
    }
}

struct ExportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "export",
        abstract: "Write what a client in another language needs to join a run: federation.json and its shards.",
        discussion: """
            DIR gets federation.json (the run fingerprint, the parameter layout by name and shape, the
            local training, each client's optimizer and state policy, the heartbeat settings) and each
            client's training shard as NumPy files (client-<id>-features.npy, client-<id>-targets.npy):
            the samples the coordinator expects that client to claim. The Python client
            (Sources/fedsim-python) reads it; docs/PROTOCOL.md says what goes on the wire.

            Examples:
              fedsim export Topologies/quickstart.yaml --clients 8-9 --out runs/py-clients
              python3 -m fedsim_client --federation runs/py-clients --connect tcp://127.0.0.1:5555
            """)

    @OptionGroup var options: TopologyOptions

    @Option(help: "The client ids to export, e.g. 8-9 or 0-4,7.")
    var clients: ClientIDRanges

    @Option(help: "The directory to create.")
    var out: String

    func run() throws {
        let export = try reportingInputErrors { () -> FederationExport in
            let prepared = try PreparedRun.prepare(try options.load())
            return try FederationExport.write(
                prepared, clients: clients.ranges.flatMap { Array($0) }, to: URL(fileURLWithPath: out))
        }
        let samples = export.clients.reduce(0) { $0 + $1.samples }
        print(
            "wrote \(out): \(export.clients.count) client(s) holding \(samples) samples; "
                + "\(export.parameterCount) parameters; fingerprint \(export.fingerprint)")
    }
}

import ArgumentParser
import FedCluster
import FedCore
import FedSimulation
import FedTopology
import FedTransport
import FedTransportZMQ
import Foundation

/// Errors that end a run: one line on stderr, exit 1 (130 when interrupted).
func reportingRunErrors<T>(_ body: () throws -> T) throws -> T {
    do {
        return try body()
    } catch let stop as RunInterrupted {
        let rounds = stop.round.map { "rounds 0–\($0) are on disk" } ?? "every finished round is on disk"
        FileHandle.standardError.write(
            Data("\(stop): stopped cleanly; \(rounds) (continue with --resume)\n".utf8))
        throw ExitCode(ExitStatus.interrupted.rawValue)
    } catch ClusterError.interrupted {
        FileHandle.standardError.write(
            Data("interrupted: stopped cleanly; every finished round is on disk (continue with --resume)\n".utf8))
        throw ExitCode(ExitStatus.interrupted.rawValue)
    } catch let error as ClusterError {
        FileHandle.standardError.write(Data("error: \(error)\n".utf8))
        throw ExitCode(ExitStatus.runFailed.rawValue)
    } catch let error as ZMQError {
        FileHandle.standardError.write(Data("error: ZeroMQ: \(error)\n".utf8))
        throw ExitCode(ExitStatus.runFailed.rawValue)
    }
}

struct CoordinatorCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "coordinator",
        abstract: "Bind a ZeroMQ ROUTER socket and coordinate client processes through the rounds.",
        discussion: """
            Writes the same run directory as `fedsim run`, plus checkpoint.bin after every round \
            and events.log. Start client processes with `fedsim client TOPOLOGY --clients A-B \
            --connect ENDPOINT`. `--resume RUN_DIR` continues a run that was stopped or killed.

            Examples:
              fedsim coordinator Topologies/quickstart.yaml --endpoint tcp://127.0.0.1:5555 --out runs/qs
              fedsim coordinator --resume runs/qs --endpoint tcp://127.0.0.1:5555
            """)

    @OptionGroup var target: RunTarget

    @Option(help: "Endpoint to bind (overrides cluster.endpoint), e.g. tcp://127.0.0.1:5555 or ipc:///tmp/fedsim.ipc.")
    var endpoint: Endpoint?

    @Option(help: "The coordinator's CURVE key file (NAME.key from `fedsim keys generate`), when cluster.curve is set.")
    var key: String?

    @Flag(help: "Print only the final line.") var quiet = false

    func run() throws {
        let stop = StopSignal()
        stop.install()
        let (prepared, directory, checkpoint) = try reportingInputErrors { try target.open() }
        let t = prepared.topology
        var bind = endpoint?.description ?? t.cluster.endpoint
        if bind == "auto" { bind = "tcp://127.0.0.1:*" }
        let endpointToBind = bind
        let security = try reportingInputErrors {
            do { return try CoordinatorRun.security(for: t, keyFile: key, endpoint: endpointToBind) } catch {
                directory.discardUnstarted()
                throw error
            }
        }
        let events = EventLog(file: directory.url.appendingPathComponent("events.log"), prefix: "coordinator")
        let context = try ZMQContext()
        let result = try reportingRunErrors {
            try CoordinatorRun.run(
                prepared: prepared, directory: directory, context: context, endpoint: bind, resume: checkpoint,
                events: events, security: security, shouldStop: { stop.isSet },
                onBound: { bound in
                    if !quiet {
                        print("coordinator for '\(t.name)' listening on \(bound); writing \(directory.url.path)")
                    }
                },
                progress: quiet ? nil : { print($0) })
        }
        print(quiet ? ProgressLine.format(result.last, of: t.rounds) : "done: \(directory.url.path)")
    }
}

struct ClientCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "client",
        abstract: "Host virtual clients in this process and train for a coordinator.",
        discussion: """
            Each virtual client derives its own data shard from the topology and seed (no \
            training data crosses the wire), keeps its own optimizer state, and writes its \
            persistent optimizer state into one file in --state-dir as it finishes each round \
            (fsynced before its update leaves), so a restarted process carries on where it stopped.

            Examples:
              fedsim client Topologies/quickstart.yaml --clients 0-4 --connect tcp://127.0.0.1:5555
              fedsim client Topologies/quickstart.yaml --clients 0-2,8,9 --connect ipc:///tmp/fedsim.ipc \\
                --state-dir /tmp/qs-state
            """)

    @Argument(help: "Topology file (YAML): the same file and overrides the coordinator uses.")
    var topology: String

    @Option(help: "The client ids to host, e.g. 0-49 or 0-9,20-29.")
    var clients: ClientIDRanges

    @Option(help: "Coordinator endpoint (default: the topology's cluster.endpoint).")
    var connect: Endpoint?

    @Option(help: "Directory for the clients' state file (default: runs/<name>-client-state).")
    var stateDir: String?

    @Option(help: "This process's CURVE key file (NAME.key from `fedsim keys generate`), when cluster.curve is set.")
    var key: String?

    @Flag(help: "Exit when the parent process exits (used by `fedsim cluster`).")
    var exitWithParent = false

    @OptionGroup var overrides: OverrideOptions

    func run() throws {
        let stop = StopSignal()
        stop.install()
        let parent = getppid()
        let (prepared, ranges, endpoint) = try reportingInputErrors { () -> (PreparedRun, [ClosedRange<Int>], String) in
            let t = try overrides.load(topology)
            let ranges = clients.ranges
            if let bad = ranges.first(where: { $0.upperBound >= t.clients.count }) {
                throw InputError(
                    "--clients: \(bad.lowerBound)-\(bad.upperBound) is outside 0-\(t.clients.count - 1) "
                        + "(clients.count is \(t.clients.count))"
                )
            }
            let endpoint = connect?.description ?? t.cluster.endpoint
            if endpoint == "auto" {
                throw InputError("the topology's cluster.endpoint is auto: give --connect ENDPOINT")
            }
            // Only the hosted clients' samples stay; the rest of the data is released here.
            return (try PreparedRun.prepare(t).hosting(ranges.joined()), ranges, endpoint)
        }
        let name = ranges.map { "\($0.lowerBound)-\($0.upperBound)" }.joined(separator: ",")
        let events = EventLog(file: nil, prefix: "clients \(name)")
        let context = try ZMQContext()
        let directory = URL(fileURLWithPath: stateDir ?? "runs/\(prepared.topology.name)-client-state")
        let status = try reportingRunErrors { () -> Int32 in
            let host = try reportingInputErrors {
                try ClientHost.make(
                    prepared: prepared, ranges: ranges, context: context, endpoint: endpoint, stateDirectory: directory,
                    events: events,
                    curve: try ClientHost.curve(for: prepared.topology, keyFile: key, endpoint: endpoint),
                    shouldStop: { stop.isSet || (exitWithParent && getppid() != parent) })
            }
            return try host.run()
        }
        if status != 0 { throw ExitCode(status) }
    }
}

struct ClusterCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cluster",
        abstract: "Run a local cluster: a coordinator and the topology's client processes on this machine.",
        discussion: """
            The coordinator runs in this process; cluster.processes client processes (or threads, \
            for an inproc:// endpoint) host the virtual clients. Prints round-by-round progress and \
            exits with the coordinator's status. Ctrl-C or a failure stops every child process. \
            The numbers equal `fedsim run` on the same topology and seed, bit for bit.

            Examples:
              fedsim cluster Topologies/quickstart-cluster.yaml
              fedsim cluster Topologies/cluster-10.yaml --processes 4 --rounds 5
              fedsim cluster Topologies/quickstart.yaml --endpoint tcp://127.0.0.1:5555 --out runs/qs-cluster
              fedsim cluster --resume runs/qs-cluster      # after Ctrl-C or a crash: clients keep their state
            """)

    @OptionGroup var target: RunTarget

    @Option(
        help:
            "tcp://HOST:PORT, ipc://PATH or inproc://NAME (overrides cluster.endpoint; default: a fresh ipc:// socket)."
    )
    var endpoint: Endpoint?

    @Option(parsing: .unconditional, help: "Client processes (overrides cluster.processes).")
    var processes: Int?

    @Flag(help: "Print only the final line.") var quiet = false

    func run() throws {
        let stop = StopSignal()
        stop.install()
        var overrides = target.overrides.all
        if let endpoint { overrides.append(Override("cluster.endpoint=\(endpoint)", flag: "--endpoint \(endpoint)")) }
        if let processes {
            overrides.append(Override("cluster.processes=\(processes)", flag: "--processes \(processes)"))
        }
        let (prepared, directory, checkpoint) = try reportingInputErrors {
            () -> (PreparedRun, RunDirectory, Checkpoint?) in
            if let resume = target.resume {
                // The run's own topology; where and how it runs may change, never its numbers.
                let resumed = try ResumedRun.open(resume, threads: target.overrides.threads) { t in
                    if let endpoint { t.cluster.endpoint = endpoint.description }
                    if let processes { t.cluster.processes = processes }
                }
                return (resumed.prepared, resumed.directory, resumed.checkpoint)
            }
            let t = try Topology.load(file: target.topology!, overrides: overrides)
            let prepared = try PreparedRun.prepare(t)
            return (prepared, try RunDirectory(out: target.out, for: prepared), nil)
        }
        let t = prepared.topology
        var bind = t.cluster.endpoint
        var socketFile: String?
        if bind == "auto" {
            let path = FileManager.default.temporaryDirectory.appendingPathComponent(
                "fedsim-\(getpid())-\(UInt32.random(in: 0...UInt32.max)).ipc"
            ).path
            bind = "ipc://\(path)"
            socketFile = path
        } else if bind.hasPrefix("ipc://") {
            socketFile = String(bind.dropFirst("ipc://".count))
        }
        defer { if let socketFile { try? FileManager.default.removeItem(atPath: socketFile) } }
        let events = EventLog(
            file: directory.url.appendingPathComponent("events.log"), prefix: "coordinator", echo: !quiet)
        let context = try ZMQContext()
        let ranges = splitClients(t.clients.count, into: t.cluster.processes)
        // With cluster.curve, a local cluster makes its own keys (`keys/` in the run directory,
        // secrets 0600): one pair for the coordinator and one per client process, each bound to
        // its clients. Threads over inproc:// need none (no bytes leave the process).
        var security: (keys: CurveKeyPair, clients: ClientKeyList)?
        var childKeys: [String]?
        var childOverrides = overrides.map(\.assignment)
        let endpointToBind = bind
        try reportingInputErrors {
            do {
                if t.cluster.curve != nil && !endpointToBind.hasPrefix("inproc://") {
                    // A resumed run makes new keys beside the old ones (a key is never overwritten).
                    let keysDirectory = directory.url.appendingPathComponent(
                        checkpoint == nil ? "keys" : "keys-resumed-\(UInt32.random(in: 0...UInt32.max))")
                    let coordinatorKeys = try CurveKeyPair.generate()
                    let (_, coordinatorPublic) = try CurveKeyFile.write(
                        coordinatorKeys, directory: keysDirectory, name: "coordinator")
                    var allowed: [String: [ClosedRange<Int>]] = [:]
                    var files: [String] = []
                    for (i, range) in ranges.enumerated() {
                        let keys = try CurveKeyPair.generate()
                        files.append(
                            try CurveKeyFile.write(keys, directory: keysDirectory, name: "clients-\(i)").key.path)
                        allowed[keys.publicKey] = [range]
                    }
                    security = (coordinatorKeys, ClientKeyList(ranges: allowed))
                    childKeys = files
                    childOverrides.append("cluster.curve.coordinator=\(coordinatorPublic.path)")
                } else if t.cluster.curve == nil {
                    try refusePlaintextOffLoopback(t, endpoint: endpointToBind)
                }
            } catch {
                directory.discardUnstarted()
                throw error
            }
        }
        let children = ClientProcesses(events: events)
        let threads = ClientThreads()
        let stateDirectory = directory.url.appendingPathComponent("client-state")
        if !quiet {
            print(
                "FedSim cluster '\(t.name)': coordinator + \(ranges.count) client "
                    + "\(bind.hasPrefix("inproc://") ? "thread" : "process")(es), \(t.clients.count) clients "
                    + "(\(t.clients.perRound) per round), \(t.rounds) rounds"
            )
            print(prepared.partitionSummary)
            print("writing \(directory.url.path)")
        }
        // Children read the topology this run was started from; a resumed run's own copy
        // (resolved, with every override already applied).
        let topologyPath =
            target.resume == nil
            ? URL(fileURLWithPath: target.topology!).standardizedFileURL.path
            : directory.url.appendingPathComponent("topology.yaml").path
        if target.resume != nil { childOverrides = childOverrides.filter { $0.hasPrefix("cluster.curve.") } }
        let result = try reportingRunErrors { () -> RunResult in
            defer { children.stop(grace: 5) }
            return try CoordinatorRun.run(
                prepared: prepared, directory: directory, context: context, endpoint: bind, resume: checkpoint,
                events: events, security: security, shouldStop: { stop.isSet },
                onBound: { bound in
                    if bound.hasPrefix("inproc://") {
                        threads.start(
                            prepared: prepared, ranges: ranges, context: context, endpoint: bound,
                            stateDirectory: stateDirectory, stop: stop)
                    } else {
                        do {
                            try children.start(
                                topology: topologyPath, overrides: childOverrides, ranges: ranges, keys: childKeys,
                                endpoint: bound, stateDirectory: stateDirectory,
                                // The cores shared out among the client processes, unless the topology says.
                                threads: t.threads > 0 ? t.threads : max(1, ParallelWork.cores / ranges.count))
                        } catch {
                            events.log("cannot start client processes: \(error)")
                            stop.set()
                        }
                    }
                },
                progress: quiet ? nil : { print($0) })
        }
        // Threads leave after SHUTDOWN; give them a moment so the context can close cleanly.
        let deadline = Date().addingTimeInterval(5)
        while bind.hasPrefix("inproc://") && threads.exited < ranges.count && Date() < deadline {
            Thread.sleep(forTimeInterval: 0.02)
        }
        print(quiet ? ProgressLine.format(result.last, of: t.rounds) : "done: \(directory.url.path)")
    }
}

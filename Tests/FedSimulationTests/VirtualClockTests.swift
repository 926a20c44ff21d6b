import FedClient
import FedConfig
import FedCoordinator
import FedSimulation
import FedTopology
import Foundation
import XCTest

/// The `clock` section: per-client devices and availability drawn from the train seed or read
/// from a trace, deadlines with drop and partial work, over-commitment, and virtual time in the
/// round records.
final class VirtualClockTests: XCTestCase {
    /// Collects every round's outcome.
    final class Outcomes: RunObserver {
        var all: [RoundOutcome] = []
        func runStarted(from record: RoundRecord, resumed: Bool, engine: RoundEngine) throws {}
        func roundFinished(_ outcome: RoundOutcome, engine: RoundEngine) throws { all.append(outcome) }
    }

    func topology(_ clock: String, rounds: Int = 6, extra: String = "", base: String = "/tmp") throws -> Topology {
        try Topology.parse(
            """
            seed: 11
            rounds: \(rounds)
            data: {source: blobs, count: 900, features: 4, classes: 3}
            partition: {scheme: quantity, alpha: 0.5}
            model: {kind: softmax}
            clients:
              count: 12
              per_round: 4
              local: {epochs: 2, batch_size: 8}
              optimizer: {name: adamw, lr: 0.05}
              \(extra)
            clock: \(clock)
            """, baseDirectory: base)
    }

    func run(_ t: Topology, resume: Checkpoint? = nil) throws -> (PreparedRun, [RoundOutcome], RoundEngine) {
        let prepared = try PreparedRun.prepare(t)
        let clients = prepared.makeClients(0..<t.clients.count)
        let outcomes = Outcomes()
        let driver = try RunDriver(
            prepared: prepared, pool: InProcessPool(clients: (0..<t.clients.count).map { clients[$0]! }),
            mode: .inProcess, resume: resume, events: EventLog(file: nil, prefix: "run", echo: false),
            observers: [outcomes])
        _ = try driver.run()
        return (prepared, outcomes.all, driver.engine)
    }

    /// The timing of one client worked by hand: 25 samples in batches of 10 over 2 epochs is 6
    /// steps and 50 samples; at 0.01 s per sample and speed 2 that is 0.25 s of compute, plus
    /// 2 × 0.5 s latency, 4,000 B down at 4,000 B/s and 2,000 B up at 1,000 B/s: 4.25 s.
    func testATimingIsTransferPlusComputeAndPartialWorkIsTheStepsThatFit() {
        var clock = VirtualClock()
        clock.secondsPerSample = 0.01
        clock.speed = LogNormal(median: 2)
        clock.latency = LogNormal(median: 0.5)
        clock.upload = LogNormal(median: 1000)
        clock.download = LogNormal(median: 4000)
        let training = LocalTraining(length: .epochs(2), batchSize: 10)
        func timing(_ c: VirtualClock) -> ClientTiming {
            c.timing(seed: 1, client: 3, samples: 25, training: training, downBytes: 4000, upBytes: 2000)
        }
        let full = timing(clock)
        XCTAssertEqual(full.steps, 6)
        XCTAssertEqual(full.finish, 4.25, accuracy: 1e-12)
        XCTAssertTrue(full.complete && full.arrives)
        clock.deadline = 4.2
        XCTAssertEqual(timing(clock).arrives, false, "drop: late means left out")
        XCTAssertEqual(timing(clock).complete, false)
        clock.late = .partial
        // 5 steps are 25 + 2 × 10 = 45 samples (4.225 s); 4 steps are 35 samples (4.175 s).
        let partial = timing(clock)
        XCTAssertEqual(partial.steps, 4)
        XCTAssertEqual(partial.finish, 4.175, accuracy: 1e-12)
        XCTAssertTrue(partial.arrives)
        clock.deadline = 3.9  // the transfers alone take 4 s
        XCTAssertFalse(timing(clock).arrives)
        XCTAssertEqual(timing(clock).steps, 0)
    }

    func testDevicesAreSeededLognormalsAndAvailabilityFollowsItsProbability() {
        var clock = VirtualClock()
        clock.speed = LogNormal(median: 2, sigma: 0.5)
        clock.availability = 0.7
        let speeds = (0..<4000).map { clock.profile(seed: 3, client: $0).speed }
        let logs = speeds.map { log($0) }
        let mean = logs.reduce(0, +) / Double(logs.count)
        let sd = (logs.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(logs.count - 1)).squareRoot()
        XCTAssertEqual(exp(mean), 2, accuracy: 0.05, "the median")
        XCTAssertEqual(sd, 0.5, accuracy: 0.02)
        XCTAssertEqual(speeds, (0..<4000).map { clock.profile(seed: 3, client: $0).speed }, "the same seed")
        XCTAssertNotEqual(speeds[0], clock.profile(seed: 4, client: 0).speed)
        XCTAssertEqual(clock.profile(seed: 3, client: 0).latency, 0)
        XCTAssertNil(clock.profile(seed: 3, client: 0).upload, "no bandwidth: instant transfers")
        var online = 0
        for round in 1...100 {
            for client in 0..<100 where clock.isOnline(seed: 3, round: round, client: client, start: 0) { online += 1 }
        }
        XCTAssertEqual(Double(online) / 10_000, 0.7, accuracy: 0.02)
    }

    /// Under a deadline with `drop`, the round keeps the clients whose timing arrives, lasts until
    /// the deadline when one is missing, and the virtual time adds up; under `partial` every
    /// late client trains exactly the steps its timing says.
    func testDeadlinesDropOrCutTheLateAndTheVirtualTimeAddsUp() throws {
        let clock =
            "{seconds_per_sample: 0.01, speed: {median: 1, sigma: 0.8}, latency: 0.1, deadline: 2.5, late: LATE}"
        var sawLate = false
        for late in ["drop", "partial"] {
            let t = try topology(clock.replacingOccurrences(of: "LATE", with: late))
            let (prepared, outcomes, _) = try run(t)
            let c = try XCTUnwrap(t.clock)
            let sampler = ClientSampler(seed: t.trainSeed, clientCount: 12, perRound: 4)
            var time = 0.0
            for outcome in outcomes {
                let round = outcome.record.round
                let sampled = sampler.sample(round: round)
                let timings = Dictionary(
                    uniqueKeysWithValues: sampled.map { id in
                        (
                            id,
                            c.timing(
                                seed: t.trainSeed, client: id, samples: prepared.shards[id].count,
                                training: t.clients.local, downBytes: 4 * prepared.model.parameterCount,
                                upBytes: 4 * prepared.model.parameterCount)
                        )
                    })
                let arriving = sampled.filter { timings[$0]!.arrives }
                XCTAssertEqual(outcome.accepted.map(\.clientID), arriving, "round \(round) \(late)")
                XCTAssertEqual(outcome.record.stragglers, sampled.filter { !timings[$0]!.complete }.count)
                for u in outcome.accepted { XCTAssertEqual(u.steps, timings[u.clientID]!.steps, "steps trained") }
                let seconds = arriving.count == sampled.count ? arriving.map { timings[$0]!.finish }.max()! : 2.5
                XCTAssertEqual(outcome.record.virtualSeconds!, seconds, accuracy: 1e-12)
                time += seconds
                XCTAssertEqual(outcome.record.virtualTime!, time, accuracy: 1e-9)
                XCTAssertLessThanOrEqual(seconds, 2.5)
                if arriving.count < sampled.count || timings.values.contains(where: { !$0.complete }) {
                    sawLate = true
                }
                XCTAssertNil(outcome.record.offline, "nobody can be offline")
            }
        }
        XCTAssertTrue(sawLate, "the deadline is tight enough that some clients are late")
    }

    /// Over-commitment samples ⌈1.5 · 4⌉ = 6 clients and keeps the 4 that finish first; 1.1 × 50
    /// samples 55, not the 56 that 1.1 × 50 = 55.00000000000001 in binary would round up to.
    func testOvercommitKeepsTheFirstToFinish() throws {
        var t13 = try topology("{seconds_per_sample: 0.01, speed: {median: 1, sigma: 1}, overcommit: 1.1}")
        t13.clients.count = 60
        t13.clients.perRound = 50
        let (p13, rounds13, _) = try run(t13)
        let c13 = t13.clock!
        let sampler13 = ClientSampler(seed: t13.trainSeed, clientCount: 60, perRound: 50)
        func firstFifty(_ round: Int, of count: Int) -> [Int] {
            let bytes = 4 * p13.model.parameterCount
            var timed: [(id: Int, finish: Double)] = []
            for id in sampler13.sample(round: round, count: count) {
                let timing = c13.timing(
                    seed: t13.trainSeed, client: id, samples: p13.shards[id].count, training: t13.clients.local,
                    downBytes: bytes, upBytes: bytes)
                timed.append((id, timing.finish))
            }
            timed.sort { $0.finish != $1.finish ? $0.finish < $1.finish : $0.id < $1.id }
            return timed.prefix(50).map(\.id).sorted()
        }
        for outcome in rounds13 {
            XCTAssertEqual(outcome.record.participants, firstFifty(outcome.record.round, of: 55))
        }
        XCTAssertTrue(
            rounds13.contains { firstFifty($0.record.round, of: 56) != firstFifty($0.record.round, of: 55) },
            "56 sampled would have kept other clients in some round")
        let t = try topology("{seconds_per_sample: 0.01, speed: {median: 1, sigma: 1}, overcommit: 1.5}")
        let (prepared, outcomes, _) = try run(t)
        let c = t.clock!
        let sampler = ClientSampler(seed: t.trainSeed, clientCount: 12, perRound: 4)
        for outcome in outcomes {
            let sampled = sampler.sample(round: outcome.record.round, count: 6)
            let finish = sampled.map { id in
                (
                    id,
                    c.timing(
                        seed: t.trainSeed, client: id, samples: prepared.shards[id].count, training: t.clients.local,
                        downBytes: 4 * prepared.model.parameterCount, upBytes: 4 * prepared.model.parameterCount
                    ).finish
                )
            }.sorted { $0.1 != $1.1 ? $0.1 < $1.1 : $0.0 < $1.0 }
            XCTAssertEqual(outcome.record.participants, finish.prefix(4).map(\.0).sorted())
            XCTAssertEqual(outcome.record.virtualSeconds!, finish[3].1, accuracy: 1e-12, "the 4th arrival ends it")
        }
    }

    /// Offline clients never answer (counted), unless the cohort is drawn among the online ones.
    func testOfflineClientsAreCountedOrNotSampled() throws {
        for sampleOnline in [false, true] {
            let t = try topology("{seconds_per_sample: 0.01, availability: 0.5, sample_online: \(sampleOnline)}")
            let (_, outcomes, _) = try run(t, resume: nil)
            let c = t.clock!
            var offline = 0
            for outcome in outcomes {
                for id in outcome.record.participants {
                    XCTAssertTrue(c.isOnline(seed: t.trainSeed, round: outcome.record.round, client: id, start: 0))
                }
                offline += outcome.record.offline!
                if sampleOnline {
                    XCTAssertEqual(outcome.record.offline, 0)
                    let online = (0..<12).filter {
                        c.isOnline(seed: t.trainSeed, round: outcome.record.round, client: $0, start: 0)
                    }
                    XCTAssertEqual(outcome.record.participants.count, min(4, online.count))
                } else {
                    XCTAssertEqual(outcome.record.participants.count + outcome.record.offline!, 4)
                }
            }
            if !sampleOnline { XCTAssertGreaterThan(offline, 0) }
        }
    }

    /// A trace sets devices and online windows; the windows are read against the virtual time at
    /// each round's start, so a client offline in the first window comes online later.
    func testATraceSetsDevicesAndOnlineWindows() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("clock-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        var csv = "client,speed,online\n"
        for id in 0..<12 {
            csv += id < 6 ? "\(id),\(id + 1),\n" : "\(id),,\(id == 6 ? "3-1000" : "")\n"
        }
        try csv.write(to: dir.appendingPathComponent("devices.csv"), atomically: true, encoding: .utf8)
        let t = try topology(
            "{seconds_per_sample: 0.01, latency: 0.5, trace: devices.csv, sample_online: true}", base: dir.path)
        let c = t.clock!
        XCTAssertEqual(c.profile(seed: t.trainSeed, client: 4).speed, 5, "from the trace")
        XCTAssertEqual(c.profile(seed: t.trainSeed, client: 8).speed, 1, "the clock's speed where the cell is empty")
        let (_, outcomes, _) = try run(t)
        let before = outcomes.filter { ($0.record.virtualTime! - $0.record.virtualSeconds!) < 3 }
        let after = outcomes.filter { ($0.record.virtualTime! - $0.record.virtualSeconds!) >= 3 }
        XCTAssertFalse(before.isEmpty)
        XCTAssertFalse(after.isEmpty)
        XCTAssertFalse(before.contains { $0.record.participants.contains(6) }, "client 6 is offline before 3 s")
        XCTAssertTrue(outcomes.allSatisfy { $0.record.offline == 0 })
        // The trace is part of the numbers: its content, not its path.
        XCTAssertTrue(t.numbersYAML.contains(String(format: "fnv1a:%016llx", c.trace!.contentHash)))
        XCTAssertFalse(t.numbersYAML.contains("devices.csv"))
        var back = try Topology.parse(t.resolvedYAML(), baseDirectory: "/").clock
        XCTAssertEqual(back?.tracePath, dir.appendingPathComponent("devices.csv").path, "written resolved")
        back?.tracePath = "devices.csv"
        XCTAssertEqual(back, t.clock, "topology.yaml reads back to the same clock")
        // Bad traces: one error naming the file and line.
        for (text, message) in [
            ("client,speed\n0,1\n", "client 1 has no row"), ("client,speed,colour\n", "unknown trace column 'colour'"),
            ("client,online\n0,5-2\n", "bad.csv:2: online window '5-2'"),
            ("client,speed\n0,-1\n", "speed '-1' is not a positive number"),
            ("client,speed\n12,1\n", "client 12 is outside 0-11"),
        ] {
            try text.write(to: dir.appendingPathComponent("bad.csv"), atomically: true, encoding: .utf8)
            XCTAssertThrowsError(try topology("{trace: bad.csv}", base: dir.path)) { error in
                XCTAssertTrue("\(error)".contains(message), "\(error)")
                XCTAssertTrue("\(error)".contains("bad.csv"), "\(error)")
            }
        }
    }

    func testClockSettingsAreCheckedAndWrittenBack() throws {
        let t = try topology(
            "{seconds_per_sample: 0.002, speed: {median: 1, sigma: 0.3}, upload: 1.0e6, download: {median: 5.0e6, "
                + "sigma: 1}, availability: 0.9, deadline: 30, late: partial, overcommit: 1.3}")
        XCTAssertEqual(try Topology.parse(t.resolvedYAML(), baseDirectory: "/tmp").clock, t.clock)
        for (clock, message) in [
            ("{late: partial}", "a late policy needs a deadline"),
            ("{overcommit: 0.5}", "clock.overcommit"),
            ("{speed: {sigma: 1}}", "missing required key 'median'"),
            ("{speed: {median: 1, spread: 2}}", "spread"),
            ("{availability: 0}", "clock.availability"),
        ] {
            XCTAssertThrowsError(try topology(clock)) { XCTAssertTrue("\($0)".contains(message), "\($0)") }
        }
        XCTAssertThrowsError(
            try topology("{deadline: 3}", extra: "stragglers: {fraction: 0.5}")
        ) { XCTAssertTrue("\($0)".contains("not both"), "\($0)") }
    }

    /// A run resumed from a checkpoint goes on from the virtual time it had reached.
    func testAResumedRunContinuesTheVirtualTime() throws {
        let clock = "{seconds_per_sample: 0.01, speed: {median: 1, sigma: 0.8}, deadline: 2.5, late: partial}"
        let reset = "state: reset"  // the clients' persistent states are not what this test is about
        let (_, whole, _) = try run(try topology(clock, extra: reset))
        let (prepared, firstHalf, engine) = try run(try topology(clock, rounds: 3, extra: reset))
        let checkpoint = Checkpoint(
            fingerprint: prepared.fingerprint, runID: 1, round: 3, engine: engine, record: firstHalf.last!.record,
            clients: [])
        let (_, secondHalf, _) = try run(try topology(clock, extra: reset), resume: checkpoint)
        XCTAssertEqual(secondHalf.map(\.record.round), [4, 5, 6])
        XCTAssertEqual(secondHalf.map(\.record.virtualTime), Array(whole.suffix(3).map(\.record.virtualTime)))
        XCTAssertEqual(secondHalf.last!.record.weightsHash, whole.last!.record.weightsHash)
    }
}

import FedProtocol
import FedSimulation
import FedTransport
import FedTransportMemory
import FedWire
import Foundation
import XCTest

@testable import FedCluster

/// The coordinator's rules on a memory network with a manual clock and scripted client
/// processes: every fault the process tests provoke, in milliseconds of real time.
final class CoordinatorRulesTests: XCTestCase {
    var network: MemoryNetwork!
    var events: EventLog!
    var prepared: PreparedRun!
    var wire: RunWire!
    var routerSocket: MemoryRouter?

    func coordinator(_ cluster: String = "", stop: @escaping () -> Bool = { false }) throws -> ClusterCoordinator {
        network = MemoryNetwork()
        events = EventLog(file: nil, prefix: "test", echo: false)
        prepared = try protocolTestRun(cluster)
        wire = RunWire(prepared)
        routerSocket = network.router()
        return ClusterCoordinator(
            socket: routerSocket!, boundEndpoint: "memory://coordinator", codec: wire.codec,
            spec: prepared.topology.cluster, clientCount: 8, events: events, runID: 42,
            stateTemplate: wire.stateTemplate, clock: network.clock, shouldStop: stop)
    }

    func process(_ id: String, _ ranges: [ClosedRange<Int>]) -> ScriptedProcess {
        ScriptedProcess(network, id: id, codec: wire.codec, ranges: ranges)
    }

    /// Two scripted processes, "a" hosting clients 0-3 and "b" 4-7, joined to `c`.
    func join(_ c: ClusterCoordinator) throws -> (ScriptedProcess, ScriptedProcess) {
        let a = process("a", [0...3])
        let b = process("b", [4...7])
        a.hello()
        b.hello()
        try c.waitForClients()
        return (a, b)
    }

    func tasks(_ ids: [Int], round: Int = 1) -> [ClientTask] {
        ids.map { ClientTask(round: round, clientID: $0, globalWeights: prepared.initialWeights, sharedState: nil) }
    }

    func testProcessesJoinAndAreWelcomed() throws {
        let c = try coordinator()
        let (a, b) = try join(c)
        XCTAssertEqual(a.received.first, .welcome(roundsCompleted: 0, runID: 42))
        XCTAssertEqual(b.received.first, .welcome(roundsCompleted: 0, runID: 42))
    }

    /// A second HELLO for ids a live process holds is refused, not obeyed: once, one HELLO moved
    /// clients 0-3 to an attacker mid-run and the honest process was never told.
    func testAHelloForIdsALivePeerHoldsIsRefused() throws {
        let c = try coordinator("quorum: 1.0, round_timeout: 30")
        let (a, b) = try join(c)
        a.answer = ScriptedProcess.honest
        b.answer = ScriptedProcess.honest
        let thief = process("thief", [0...3])
        thief.answer = ScriptedProcess.honest
        thief.hello()
        let updates = try c.train(tasks([0, 1, 4]))
        XCTAssertEqual(updates.map(\.clientID), [0, 1, 4])
        XCTAssertEqual(
            thief.received.first.map { "\($0)" },
            "\(WireMessage.error(code: .clientIDsHeld, message: "client 0 and 3 more held by a live peer"))")
        XCTAssertFalse(thief.received.contains { if case .task = $0 { true } else { false } }, "no task went to it")
        XCTAssertEqual(a.received.filter { if case .task = $0 { true } else { false } }.count, 2, "a kept its clients")
        XCTAssertEqual(events.counters["rejected.ids_held"], 1)
    }

    func testMissingClientsEndTheJoinAtItsTimeout() throws {
        let c = try coordinator("join_timeout: 600")
        process("a", [0...3]).hello()
        let start = network.clock.now
        let wall = Date()
        XCTAssertThrowsError(try c.waitForClients()) { error in
            guard case ClusterError.joinTimeout(let missing) = error else { return XCTFail("\(error)") }
            XCTAssertEqual(missing, [4, 5, 6, 7])
        }
        XCTAssertGreaterThanOrEqual(network.clock.now - start, 600, "ten minutes of protocol time")
        XCTAssertLessThan(Date().timeIntervalSince(wall), 5, "in a moment of real time")
    }

    func testARoundCollectsOneUpdatePerTaskAndRejectsTheRest() throws {
        let c = try coordinator("quorum: 0.75, round_timeout: 30")
        let (a, b) = try join(c)
        // a never answers for client 1, so an update for it from b meets a pending task.
        a.answer = { task in task.clientID == 1 ? nil : ScriptedProcess.honest(task) }
        // b also sends what no honest process would: an update for a's client, a duplicate,
        // one for a future round and one for a client that was not sampled.
        b.answer = { [unowned b] task in
            let u = ScriptedProcess.honest(task)!
            var notHosted = u
            notHosted.clientID = 1
            var future = u
            future.round = 9
            var unsampled = u
            unsampled.clientID = 7
            for bad in [notHosted, future, unsampled] { b.say(.update(bad)) }
            b.say(.update(u))  // this one arrives first: the copy returned below is the duplicate
            return u
        }
        let updates = try c.train(tasks([0, 1, 4, 5]))
        XCTAssertEqual(
            updates.map(\.clientID), [0, 4, 5], "client 1's task met its deadline; the quorum (3 of 4) was met")
        let counts = events.counters
        XCTAssertEqual(counts["rejected.not_hosted"], 2)
        XCTAssertEqual(counts["rejected.wrong_round"], 2)
        XCTAssertEqual(counts["rejected.not_sampled"], 2)
        XCTAssertEqual(counts["rejected.duplicate"], 2)
        XCTAssertEqual(counts["deadline_misses"], 1)
        // An update after the round ended is late.
        b.answer = ScriptedProcess.honest
        b.say(.update(updates[2]))
        c.finished(round: 1)
        let round2 = try c.train(tasks([2, 6], round: 2))
        XCTAssertEqual(round2.map(\.clientID), [2, 6])
        XCTAssertEqual(events.counters["late_updates"], 1)
    }

    func testASilentProcessMissesEveryDeadlineAndTheQuorumFailureEndsTheRun() throws {
        let c = try coordinator("round_timeout: 120, retries: 2")
        let (_, b) = try join(c)
        b.answer = nil  // it keeps heartbeating but never trains
        let start = network.clock.now
        XCTAssertThrowsError(try c.train(tasks([0, 4]))) { error in
            guard case ClusterError.quorum(let round, let got, let needed) = error else { return XCTFail("\(error)") }
            XCTAssertEqual([round, got, needed], [1, 1, 2])
        }
        XCTAssertGreaterThanOrEqual(network.clock.now - start, 3 * 120, "three attempts, each to its deadline")
        XCTAssertEqual(events.counters["quorum_failures"], 3)
        XCTAssertEqual(events.counters["deadline_misses"], 3)
        XCTAssertEqual(b.kinds.filter { $0 == "TASK" }.count, 3, "a retry sends the same task again")
    }

    func testADeadProcessIsDeclaredDeadAndTheRoundEndsWithoutIt() throws {
        let c = try coordinator("quorum: 0.5, heartbeat_interval: 1, liveness: 3")
        let (_, b) = try join(c)
        b.answer = nil
        b.answersHeartbeats = false  // b's process is gone
        b.dealer.close()
        let start = network.clock.now
        let updates = try c.train(tasks([0, 4]))
        XCTAssertEqual(updates.map(\.clientID), [0])
        XCTAssertEqual(events.counters["dead_peers"], 1)
        XCTAssertLessThan(
            network.clock.now - start, 10, "ended once its only missing client's process was dead, not at the deadline")
    }

    func testARestartedProcessTakesOverItsClientsAndTheirPendingTasks() throws {
        let c = try coordinator()
        let (_, b) = try join(c)
        b.answer = nil
        var restarted: ScriptedProcess?
        // Once b has its task, b's process "restarts": the old one falls silent and a new peer
        // says HELLO for 4-7. It is refused while b still counts as alive, and welcomed (with
        // b's pending task) once b is declared dead.
        network.addActor { [unowned self] in
            if restarted == nil, b.kinds.contains("TASK") {
                b.answersHeartbeats = false
                restarted = self.process("b2", [4...7])
                restarted!.hello()
            }
        }
        let updates = try c.train(tasks([1, 5]))
        XCTAssertEqual(updates.map(\.clientID), [1, 5])
        let kinds = restarted?.kinds ?? []
        XCTAssertEqual(kinds.first, "ERROR", "refused while b was alive: \(kinds)")
        let welcome = try XCTUnwrap(kinds.firstIndex(of: "WELCOME"))
        XCTAssertEqual(kinds[welcome + 1], "TASK", "the pending task went to the new process")
    }

    func testHostileFramesAreRejectedCountedAndAnswered() throws {
        let c = try coordinator()
        let a = process("a", [0...7])
        a.hello()
        try c.waitForClients()
        let hostile = network.dealer(id: "hostile")
        let other = WireCodec(fingerprint: prepared.fingerprint ^ 1, parameterCount: prepared.model.parameterCount)
        var wrongVersion = wire.codec.encode(.heartbeat).map(\.received)
        wrongVersion[0][4] = 9
        let inputs: [[Frame]] = [
            [Array("this is not a FedSim message".utf8)], [[0x46, 0x53]], wrongVersion,
            other.encode(.heartbeat).map(\.received),
            wire.codec.encode(.heartbeat).map(\.received),  // valid, but this peer never said HELLO
            wire.codec.encode(.hello(ranges: [6...9])).map(\.received),  // 8 and 9 do not exist
        ]
        for frames in inputs { _ = try hostile.send(frames.map { .bytes($0) }) }
        a.say(.task(tasks([0])[0]))  // a client sending a TASK
        XCTAssertEqual(try c.train(tasks([3])).map(\.clientID), [3], "the run goes on")
        let counts = events.counters
        XCTAssertEqual(counts["rejected.bad_magic"], 1)
        XCTAssertEqual(counts["rejected.truncated"], 1)
        XCTAssertEqual(counts["rejected.wrong_version"], 1)
        XCTAssertEqual(counts["rejected.wrong_run"], 1)
        XCTAssertEqual(counts["rejected.unknown_peer"], 1)
        XCTAssertEqual(counts["rejected.bad_hello"], 1)
        XCTAssertEqual(counts["rejected.unexpected_kind"], 1)
        var replies: [ProtocolErrorCode] = []
        while let frames = hostile.take() {
            if case .error(let code, _)? = try? wire.codec.decode(frames) { replies.append(code) }
        }
        XCTAssertEqual(replies, [.unsupportedVersion, .wrongRun, .unknownPeer, .clientIDsOutOfRange])
    }

    func testIdlePeersGetHeartbeatsAndShutdownReachesEveryLivePeer() throws {
        let c = try coordinator("heartbeat_interval: 2, round_timeout: 20, quorum: 0.5")
        let (a, b) = try join(c)
        a.answer = nil  // a waits out the round's 20 s: meanwhile both peers are idle
        XCTAssertEqual(try c.train(tasks([0, 4])).map(\.clientID), [4])
        XCTAssertGreaterThanOrEqual(
            a.kinds.filter { $0 == "HEARTBEAT" }.count, 5, "one every 2 s of 20 s, give or take")
        XCTAssertEqual(events.counters["dead_peers"], nil, "a peer that answers heartbeats stays alive")
        c.shutdown()
        network.settle()
        XCTAssertEqual(a.kinds.last, "SHUTDOWN")
        XCTAssertEqual(b.kinds.last, "SHUTDOWN")
    }

    func testStopIsHonouredWhileWaiting() throws {
        var stop = false
        let c = try coordinator(stop: { stop })
        process("a", [0...3]).hello()
        network.addActor { stop = true }
        XCTAssertThrowsError(try c.waitForClients()) { XCTAssertEqual("\($0)", "interrupted") }
    }

    /// One socket floods 10,000 HEARTBEATs without ever reading the ERROR replies, while reading
    /// costs 2 ms of protocol time per message (20 s in all). The coordinator never blocks on the
    /// full queue (the replies it cannot queue are dropped and counted), keeps heartbeating the
    /// honest processes between bounded batches, declares none of them dead, and finishes the
    /// round. (Before: a blocking send to the full queue hung the coordinator for good, and the
    /// whole flood was read before any heartbeat went out, so honest peers fell silent.)
    func testAFloodFromAPeerThatNeverReadsNeitherBlocksNorStalls() throws {
        let c = try coordinator("heartbeat_interval: 1, liveness: 3, round_timeout: 30, quorum: 0.5")
        let (a, _) = try join(c)
        a.answer = nil  // the round lasts its 30 s, long enough to read the whole flood
        network.secondsPerMessage = 0.002
        let hostile = network.dealer(id: "flood", capacity: 50)
        let heartbeat = wire.codec.encode(.heartbeat)
        for _ in 0..<10_000 { _ = try hostile.send(heartbeat) }
        let router = try XCTUnwrap(routerSocket)
        XCTAssertEqual(try c.train(tasks([0, 5])).map(\.clientID), [5])
        XCTAssertEqual(events.counters["rejected.unknown_peer"], 10_000, "the whole flood was read and counted")
        XCTAssertEqual(router.blockedSends, 0, "no send ever waited on a full queue")
        XCTAssertEqual(events.counters["send_dropped"], 10_000 - 50, "replies beyond the flooder's queue were dropped")
        XCTAssertEqual(events.counters["dead_peers"], nil, "honest processes kept getting heartbeats during the flood")
    }
}

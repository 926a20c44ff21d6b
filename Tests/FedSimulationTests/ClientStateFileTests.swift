import FedCore
import FedOptim
import FedProtocol
import FedSimulation
import FedTopology
import Foundation
import XCTest

/// `ClientStateFile`: fixed slots written in place, the previous state kept for a retried round,
/// the other half written before the control word flips, and a file of another run refused.
final class ClientStateFileTests: XCTestCase {
    var dir: URL!
    override func setUpWithError() throws {
        dir = FileManager.default.temporaryDirectory.appendingPathComponent("fedsim-states-\(UUID().uuidString)")
    }
    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: dir) }

    let optimizer = Optimizer(OptimizerSpec(.adamw), layout: .flat(3))
    func state(_ x: Float, step: Int) -> OptimizerState {
        var s = optimizer.initialState(params: [0, 0, 0])
        s.transforms[0].setSlot("m", [x, x + 1, x + 2])
        s.transforms[0].setSlot("v", [x * x, 1, 2])
        s.step = step
        return s
    }
    var template: OptimizerState { optimizer.initialState(params: [0, 0, 0]) }

    func file(fingerprint: UInt64 = 7, clients: Int = 5) throws -> ClientStateFile {
        try ClientStateFile(
            url: dir.appendingPathComponent("states.bin"), fingerprint: fingerprint, clients: clients,
            halfBytes: ClientStateFile.halfBytes(for: [template]))
    }

    func testRoundsRetriesAndReplaceKeepTheRightStates() throws {
        let f = try file()
        XCTAssertNil(f.load(client: 2, template: template), "never trained")
        f.advance(client: 2, state: state(1, step: 4), round: 1)
        XCTAssertEqual(
            f.load(client: 2, template: template),
            ClientSnapshot(client: 2, state: state(1, step: 4), lastRound: 1, stateBeforeLastRound: nil))
        f.advance(client: 2, state: state(2, step: 8), round: 3)
        XCTAssertEqual(f.load(client: 2, template: template)?.stateBeforeLastRound, state(1, step: 4))
        XCTAssertEqual(f.load(client: 2, template: template)?.state, state(2, step: 8))
        // Round 3 again (a retry): trained from the same state, so that one stays.
        f.advance(client: 2, state: state(5, step: 8), round: 3)
        XCTAssertEqual(
            f.load(client: 2, template: template),
            ClientSnapshot(client: 2, state: state(5, step: 8), lastRound: 3, stateBeforeLastRound: state(1, step: 4)))
        XCTAssertNil(f.load(client: 1, template: template), "other slots untouched")
        let snapshot = ClientSnapshot(
            client: 4, state: state(9, step: 2), lastRound: 6, stateBeforeLastRound: state(8, step: 1))
        f.replace(snapshot)
        XCTAssertEqual(f.load(client: 4, template: template), snapshot)
        try f.sync()
        // Reopened (a resumed run): the same slots.
        let again = try file()
        XCTAssertEqual(again.load(client: 2, template: template)?.state, state(5, step: 8))
        // The file is the header plus one slot per client, sparse until written.
        let size =
            try FileManager.default.attributesOfItem(atPath: dir.appendingPathComponent("states.bin").path)[.size]
            as! Int
        XCTAssertEqual(size, 4096 + 5 * (8 + 2 * ClientStateFile.halfBytes(for: [template])))
    }

    /// A process killed while writing a new state: the bytes went into the other half and the
    /// control word had not flipped, so the previous state is read back whole.
    func testATornWriteLeavesThePreviousStateWhole() throws {
        let f = try file()
        f.advance(client: 0, state: state(1, step: 4), round: 1)
        try f.sync()
        let half = ClientStateFile.halfBytes(for: [template])
        let handle = try FileHandle(forWritingTo: dir.appendingPathComponent("states.bin"))
        try handle.seek(toOffset: UInt64(4096 + 8 + half))  // half 1: where round 2's state would go
        try handle.write(contentsOf: Data(repeating: 0xAB, count: half))
        try handle.close()
        XCTAssertEqual(try file().load(client: 0, template: template)?.state, state(1, step: 4))
    }

    func testAnotherRunsFileIsRefused() throws {
        _ = try file(fingerprint: 7)
        XCTAssertThrowsError(try file(fingerprint: 8)) { XCTAssertTrue("\($0)".contains("another run"), "\($0)") }
        XCTAssertThrowsError(try file(fingerprint: 7, clients: 6)) { XCTAssertTrue("\($0)".contains("another run")) }
    }

    /// In `fedsim run`, persist clients keep their states in the file, not in memory, and the
    /// numbers are those of the in-memory run.
    func testARunKeepsItsPersistStatesInTheFileWithTheSameNumbers() throws {
        let t = try Topology.parse(
            """
            seed: 3
            rounds: 4
            data: {source: blobs, count: 400, features: 4, classes: 3}
            model: {kind: softmax}
            clients: {count: 8, per_round: 4, optimizer: {name: adamw, lr: 0.02}}
            """, baseDirectory: "/tmp")
        let prepared = try PreparedRun.prepare(t)
        let reference = try InProcessRun.records(prepared).map(\.weightsHash)
        let run = try RunDirectory(out: dir.appendingPathComponent("run").path, for: prepared)
        let result = try InProcessRun.run(
            prepared, directory: run, events: EventLog(file: nil, prefix: "run", echo: false))
        XCTAssertEqual(result.last.weightsHash, reference.last)
        let states = try XCTUnwrap(try prepared.clientStateFile(in: run.url))
        let trained = (0..<8).filter { states.load(client: $0, template: prepared.freshState(group: 0)) != nil }
        XCTAssertFalse(trained.isEmpty)
        for id in trained {
            let saved = try XCTUnwrap(states.load(client: id, template: prepared.freshState(group: 0))?.state)
            XCTAssertGreaterThan(saved.step, 0)
            XCTAssertTrue(saved.buffer(named: "v")!.contains { $0 > 0 }, "client \(id) has trained moments on disk")
        }
    }
}

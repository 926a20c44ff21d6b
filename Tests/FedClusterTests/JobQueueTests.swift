import FedProtocol
import FedSimulation
import FedTopology
import XCTest

@testable import FedCluster

/// The client process's job queue, decided without threads (`tryNext` is `next` without the
/// wait): a client never trains twice at once, a restore waits for every running job and holds
/// back every job queued after it, and nothing runs beside a restore. The last rule is the race
/// `Scripts/soak.sh` once found (trainings queued behind a restore started while it ran, from
/// states it had not restored yet); this test states it deterministically.
final class JobQueueTests: XCTestCase {
    func train(_ client: Int, round: Int = 1) -> TrainingWorker.Job {
        .train(ClientTask(round: round, clientID: client, globalWeights: [0], sharedState: nil), runID: 7)
    }

    /// The client id of the training `pick` hands out, "restore", "stop" or "wait".
    func next(_ queue: JobQueue) -> String {
        switch queue.tryNext() {
        case .run(.train(let task, _)): "train \(task.clientID)"
        case .run(.restore): "restore"
        case .run(.stop): "stop job"
        case .stopped: "stop"
        case .wait: "wait"
        }
    }

    /// Of the queued trainings, the largest client's goes first (ties in arrival order), so that
    /// a big client of a Dirichlet split does not start last while the other threads idle.
    func testTheLargestFreeClientTrainsFirst() throws {
        let prepared = try PreparedRun.prepare(
            Topology.parse(
                """
                name: sizes
                seed: 3
                data: {source: blobs, count: 300, features: 4, classes: 3}
                partition: {scheme: dirichlet, alpha: 0.3}
                model: {kind: softmax}
                clients: {count: 5, optimizer: {name: adamw}}
                """, baseDirectory: "/tmp"))
        let clients = prepared.makeClients(0..<5)
        let sizes = (0..<5).map { clients[$0]!.shard.count }
        let queue = JobQueue(clients: clients)
        for c in 0..<5 { queue.append(train(c)) }
        let bySize = (0..<5).sorted { sizes[$0] != sizes[$1] ? sizes[$0] > sizes[$1] : $0 < $1 }
        XCTAssertNotEqual(bySize, Array(0..<5), "the sizes \(sizes) differ, so arrival order is not size order")
        XCTAssertEqual((0..<5).map { _ in next(queue) }, bySize.map { "train \($0)" }, "sizes \(sizes)")
        XCTAssertEqual(next(queue), "wait")
    }

    func testARestoreWaitsForRunningWorkHoldsBackLaterWorkAndRunsAlone() {
        let queue = JobQueue(clients: [:])
        queue.append(train(1))
        queue.append(.restore(runID: 7))
        queue.append(train(2))
        XCTAssertEqual(next(queue), "train 1")
        XCTAssertEqual(next(queue), "wait", "the restore waits for client 1, and client 2 waits behind it")
        queue.finished(train(1))
        XCTAssertEqual(next(queue), "restore")
        XCTAssertEqual(next(queue), "wait", "nothing runs beside a restore")
        queue.finished(.restore(runID: 7))
        XCTAssertEqual(next(queue), "train 2")
    }

    func testAClientNeverTrainsTwiceAtOnceAndOthersPassIt() {
        let queue = JobQueue(clients: [:])
        queue.append(train(1, round: 1))
        queue.append(train(1, round: 2))
        queue.append(train(3))
        XCTAssertEqual(next(queue), "train 1")
        XCTAssertEqual(next(queue), "train 3", "a training of another client passes the busy one")
        XCTAssertEqual(next(queue), "wait")
        queue.finished(train(1))
        XCTAssertEqual(next(queue), "train 1")
    }

    func testAStopWaitsForRunningWorkAndStaysQueued() {
        let queue = JobQueue(clients: [:])
        queue.append(train(4))
        XCTAssertEqual(next(queue), "train 4")
        queue.append(.stop)
        queue.append(train(5))
        XCTAssertEqual(next(queue), "wait", "the stop waits for client 4 and holds back client 5")
        queue.finished(train(4))
        XCTAssertEqual(next(queue), "stop")
        XCTAssertEqual(next(queue), "stop", "every thread sees the stop")
    }
}

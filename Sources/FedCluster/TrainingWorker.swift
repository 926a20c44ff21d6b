import FedClient
import FedProtocol
import FedSimulation
import Foundation
import Synchronization

/// Trains a client process's virtual clients on a thread of its own, so the socket loop keeps
/// heartbeating and answering while a long local training runs. The worker owns the clients:
/// they are made on its thread and never leave it; jobs go in and outcomes come out through
/// locked queues, in order.
final class TrainingWorker: Sendable {
    enum Job: Sendable {
        /// Restore every client's snapshot for this run id (others start fresh).
        case restore(runID: UInt64)
        case train(ClientTask, runID: UInt64)
        case stop
    }

    enum Outcome: Sendable {
        case update(ClientUpdate)
        case restored(count: Int)
        /// The update went out, but its snapshot could not be written.
        case snapshotFailed(String)
        /// Nothing sensible can continue (a damaged snapshot).
        case fatal(String)
    }

    private let jobs = Mutex<[Job]>([])
    private let outcomes = Mutex<[Outcome]>([])
    private let wake = DispatchSemaphore(value: 0)
    private let pending = Atomic<Int>(0)

    init(prepared: PreparedRun, ids: [Int], snapshots: SnapshotStore?) {
        let thread = Thread { [self] in work(prepared: prepared, ids: ids, snapshots: snapshots) }
        thread.name = "fedsim-training"
        thread.start()
    }

    func submit(_ job: Job) {
        pending.add(1, ordering: .sequentiallyConsistent)
        jobs.withLock { $0.append(job) }
        wake.signal()
    }

    /// Jobs queued or running.
    var isBusy: Bool { pending.load(ordering: .sequentiallyConsistent) > 0 }

    /// Outcomes so far, oldest first.
    func take() -> [Outcome] {
        outcomes.withLock {
            let all = $0
            $0 = []
            return all
        }
    }

    private func work(prepared: PreparedRun, ids: [Int], snapshots: SnapshotStore?) {
        let clients = prepared.makeClients(ids)
        let scratch = TrainingScratch()
        while true {
            wake.wait()
            let job = jobs.withLock { $0.removeFirst() }
            var result: Outcome?
            switch job {
            case .stop:
                pending.subtract(1, ordering: .sequentiallyConsistent)
                return
            case .restore(let runID):
                result = restore(clients, runID: runID, snapshots: snapshots)
            case .train(let task, let runID):
                let client = clients[task.clientID]!  // the socket loop only submits hosted ids
                let update = client.train(task, scratch: scratch)
                outcomes.withLock { $0.append(.update(update)) }
                if client.policy == .persist, let snapshots {
                    do { try snapshots.save(client.snapshot, runID: runID) } catch {
                        result = .snapshotFailed("\(error)")
                    }
                }
            }
            if let result { outcomes.withLock { $0.append(result) } }
            pending.subtract(1, ordering: .sequentiallyConsistent)
        }
    }

    private func restore(_ clients: [Int: VirtualClient], runID: UInt64, snapshots: SnapshotStore?) -> Outcome {
        guard let snapshots else { return .restored(count: 0) }
        var restored = 0
        do {
            for (id, client) in clients {
                let template = client.optimizer.initialState(
                    params: [Float](repeating: 0, count: client.model.parameterCount))
                let snapshot = try snapshots.load(client: id, template: template, runID: runID)
                client.restore(
                    snapshot ?? ClientSnapshot(client: id, state: nil, lastRound: nil, stateBeforeLastRound: nil))
                if snapshot != nil { restored += 1 }
            }
        } catch {
            return .fatal("\(error)")
        }
        return .restored(count: restored)
    }
}

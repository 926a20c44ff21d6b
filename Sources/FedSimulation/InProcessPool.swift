import FedClient
import FedCoordinator
import FedCore
import FedProtocol
import Synchronization

/// The direct, single-process pool: every virtual client in this process, the round's tasks
/// trained on up to `threads` threads at once. A product feature (tests, sweeps, `fedsim run`),
/// not a mock. Each client's training is independent of the others and of the thread that runs
/// it (each thread has its own scratch memory), so the updates are the same bits at any thread
/// count; the engine aggregates them in client-id order. In `fedsim run` its *persist* clients keep
/// their states in the run's `ClientStateFile`, so `fedsim run --resume` finds them there.
public final class InProcessPool: ClientPool {
    public let clients: [VirtualClient]
    public let threads: Int
    /// The clients the last `train` call trained.
    public private(set) var lastTrained: [Int] = []
    private let scratch: [TrainingScratch]

    public init(clients: [VirtualClient], threads: Int = 1) {
        self.clients = clients
        self.threads = max(1, threads)
        scratch = (0..<max(1, threads)).map { _ in TrainingScratch() }
    }

    public func train(_ tasks: [ClientTask]) throws -> [ClientUpdate] {
        lastTrained = tasks.map(\.clientID)
        precondition(Set(lastTrained).count == tasks.count, "one task per client and round")
        let updates = Mutex([ClientUpdate?](repeating: nil, count: tasks.count))
        let work = ExclusiveWork(clients: clients, scratch: scratch)
        // The largest clients first (longest-processing-time order): under a Dirichlet split the
        // clients' sizes differ by an order of magnitude, and a big one claimed last would
        // leave the other threads idle while it trains. Which thread trains a task, and when,
        // changes no bit of its update, which goes to the task's own slot.
        let size = tasks.map { clients[$0.clientID].shard.count }
        let order = tasks.indices.sorted { size[$0] != size[$1] ? size[$0] > size[$1] : $0 < $1 }
        ParallelWork.run(workers: threads, items: tasks.count) { worker, j in
            let i = order[j]
            let update = work.clients[tasks[i].clientID].train(tasks[i], scratch: work.scratch[worker])
            updates.withLock { $0[i] = update }
        }
        return updates.withLock { $0.map { $0! } }
    }
}

/// The clients and scratch memory of one `train` call, shared with its worker threads. Safe
/// because no object is touched by two threads at once: a round has one task per client, so
/// each client is trained by one worker, and worker w uses only `scratch[w]`; the pool waits
/// for every worker before it touches them again.
private struct ExclusiveWork: @unchecked Sendable {
    let clients: [VirtualClient]
    let scratch: [TrainingScratch]
}

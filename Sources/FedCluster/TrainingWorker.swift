import FedClient
import FedProtocol
import FedSimulation
import FedTransport
import Foundation
import Synchronization

/// Trains a client process's virtual clients on threads of their own, so the socket loop keeps
/// heartbeating and answering while long local trainings run, and a process uses every core it
/// is given. Up to `threads` tasks train at once, each on its own thread with its own scratch
/// memory; one client never trains on two threads at once (a repeated task for a busy client
/// waits), and a restore or a stop waits for every training before it and holds back every job
/// after it. Each client's update is the same bits whichever thread trains it. Jobs go in and
/// outcomes come out through locked queues.
final class TrainingWorker: Sendable {
    enum Job: Sendable {
        /// Keep the clients' states if they are this run's, else start them fresh.
        case restore(runID: UInt64)
        case train(ClientTask, runID: UInt64)
        case stop
    }

    enum Outcome: Sendable {
        case update(ClientUpdate)
        case restored(count: Int)
        /// Nothing sensible can continue (a damaged snapshot).
        case fatal(String)
    }

    private let queue: JobQueue
    private let outcomes = Mutex<[Outcome]>([])
    private let pending = Atomic<Int>(0)

    /// Where the persist clients keep their states (nil: in memory, lost with the process).
    let states: ClientStateFile?

    init(prepared: PreparedRun, ids: [Int], states: ClientStateFile?, threads: Int = 1) {
        self.states = states
        queue = JobQueue(clients: prepared.makeClients(ids, stateStore: states))
        for index in 0..<max(1, threads) {
            let thread = Thread { [self] in work() }
            thread.name = "fedsim-training-\(index)"
            thread.start()
        }
    }

    func submit(_ job: Job) {
        pending.add(1, ordering: .sequentiallyConsistent)
        queue.append(job)
    }

    /// Jobs queued or running.
    var isBusy: Bool { pending.load(ordering: .sequentiallyConsistent) > 0 }

    /// Outcomes waiting to be taken.
    var outcomeCount: Int { outcomes.withLock { $0.count } }

    /// Raised each time a job ends (its outcome queued, and it no longer counts as busy), so the
    /// socket loop waits for "a message or a finished job" in one poll. Raised after both, so a
    /// loop that lowers it, then finds the worker busy and waits, is always woken by the job's
    /// end (the lost wakeup of issue 13 was a loop that polled past a job that had just ended).
    let wakeup = Wakeup()

    /// Outcomes so far, oldest first.
    func take() -> [Outcome] {
        outcomes.withLock {
            let all = $0
            $0 = []
            return all
        }
    }

    private func work() {
        let scratch = TrainingScratch()
        while let (job, clients) = queue.next() {
            var result: Outcome?
            switch job {
            case .stop:
                return
            case .restore(let runID):
                do { result = .restored(count: try states?.adopt(runID: runID) ?? 0) } catch {
                    result = .fatal("\(error)")
                }
            case .train(let task, _):
                let client = clients[task.clientID]!  // the socket loop only submits hosted ids
                // A persist client's state is in the state file (written in place) before its
                // update is queued; the socket loop fsyncs the file before the update leaves.
                let update = client.train(task, scratch: scratch)
                outcomes.withLock { $0.append(.update(update)) }
            }
            if let result { outcomes.withLock { $0.append(result) } }
            queue.finished(job)
            pending.subtract(1, ordering: .sequentiallyConsistent)
            // Raised after the outcome is queued and the job stops counting: a socket loop that
            // saw the worker busy and waits is woken, and then finds it idle with the outcome.
            wakeup.raise()
        }
    }
}

/// The worker's jobs and clients, shared by its threads under one lock (`NSCondition`): that
/// lock guards every field, and `next()` hands a client to one thread at a time (it is marked
/// busy until `finished`), so no two threads ever touch one `VirtualClient`. Hence the
/// `@unchecked Sendable`.
final class JobQueue: @unchecked Sendable {
    private let condition = NSCondition()
    private var jobs: [TrainingWorker.Job] = []
    private var busy = Set<Int>()
    private var running = 0
    /// A restore is running: it touches every client, so nothing else may run beside it.
    private var restoring = false
    private let clients: [Int: VirtualClient]

    init(clients: [Int: VirtualClient]) { self.clients = clients }

    func append(_ job: TrainingWorker.Job) {
        condition.lock()
        jobs.append(job)
        condition.broadcast()
        condition.unlock()
    }

    /// The next job this thread may run, waiting until there is one; nil once a stop is reached
    /// (it stays queued, so every thread sees it). Of the queued trainings of free clients, the
    /// largest client's runs first. A training may pass other trainings but never a restore or
    /// a stop; those run only when nothing else runs, and nothing runs
    /// beside a restore. (Once, trainings queued behind a restore started while it ran, from
    /// states it had not restored yet: `Scripts/soak.sh` found it.)
    func next() -> (TrainingWorker.Job, [Int: VirtualClient])? {
        condition.lock()
        defer { condition.unlock() }
        while true {
            switch pick() {
            case .run(let job): return (job, clients)
            case .stopped: return nil
            case .wait: condition.wait()
            }
        }
    }

    /// What a thread asking now would get, without waiting (the rules of `next`, for tests).
    func tryNext() -> Pick {
        condition.lock()
        defer { condition.unlock() }
        return pick()
    }

    enum Pick {
        case run(TrainingWorker.Job)
        case stopped
        case wait
    }

    /// The rules, under the lock: the first job that may start now, taken off the queue.
    private func pick() -> Pick {
        guard !restoring else { return .wait }
        // Of the trainings before the first restore or stop whose clients are free, the largest
        // client's (longest-processing-time order, as `InProcessPool`; ties in arrival order), so
        // that a big client does not start last while the other threads idle. The order changes
        // no bit: each client's update depends only on its task and its own state.
        var chosen: (index: Int, samples: Int)?
        scan: for (i, job) in jobs.enumerated() {
            switch job {
            case .train(let task, _):
                guard !busy.contains(task.clientID) else { continue }
                let samples = clients[task.clientID]?.shard.count ?? 0
                if chosen == nil || samples > chosen!.samples { chosen = (i, samples) }
            case .restore:
                if chosen != nil { break scan }
                guard i == 0 && running == 0 else { return .wait }
                running += 1
                restoring = true
                jobs.remove(at: 0)
                return .run(job)
            case .stop:
                if chosen != nil { break scan }
                return i == 0 && running == 0 ? .stopped : .wait
            }
        }
        guard let (i, _) = chosen, case .train(let task, _) = jobs[i] else { return .wait }
        busy.insert(task.clientID)
        running += 1
        return .run(jobs.remove(at: i))
    }

    func finished(_ job: TrainingWorker.Job) {
        condition.lock()
        if case .train(let task, _) = job { busy.remove(task.clientID) }
        if case .restore = job { restoring = false }
        running -= 1
        condition.broadcast()
        condition.unlock()
    }
}

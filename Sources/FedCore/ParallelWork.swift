import Foundation
import Synchronization

/// Runs independent items on up to `workers` threads: worker w takes the next unclaimed item
/// until none is left. Which worker runs an item never changes its result, so callers that keep
/// per-worker scratch and write each item's result to its own slot get the same numbers at any
/// worker count.
public enum ParallelWork {
    /// The machine's cores (what `threads: 0` means).
    public static var cores: Int { max(1, ProcessInfo.processInfo.activeProcessorCount) }

    /// Calls `body(worker, item)` for every item in `0..<items`, on at most `workers` threads
    /// (inline when one is enough).
    public static func run(workers: Int, items: Int, _ body: @Sendable (_ worker: Int, _ item: Int) -> Void) {
        let workers = max(1, min(workers, items))
        if workers == 1 {
            for item in 0..<items { body(0, item) }
            return
        }
        let next = Atomic<Int>(0)
        DispatchQueue.concurrentPerform(iterations: workers) { worker in
            while true {
                let item = next.add(1, ordering: .relaxed).oldValue
                guard item < items else { return }
                body(worker, item)
            }
        }
    }
}

/// The state of one transform in a chain: named per-parameter buffers (e.g. Adam's `m`, `v`)
/// and scalars (e.g. NAdam's running momentum product).
public struct TransformState: Codable, Sendable, Equatable {
    /// Slot names, e.g. `["m", "v"]`.
    public var names: [String]
    /// All slots back to back in one buffer (slot `j` is `storage[j·n ..< (j+1)·n]`), so a
    /// kernel reaches every slot through one pointer, without allocating.
    public var storage: [Float]
    public var scalars: [Double]

    public init(names: [String] = [], count: Int = 0, fill: Float = 0, scalars: [Double] = []) {
        self.names = names
        self.storage = [Float](repeating: fill, count: names.count * count)
        self.scalars = scalars
    }

    /// Parameters per slot.
    public var slotCount: Int { names.isEmpty ? 0 : storage.count / names.count }

    /// A copy of the slot called `name`.
    public subscript(name: String) -> [Float]? {
        guard let j = names.firstIndex(of: name) else { return nil }
        let n = slotCount
        return Array(storage[(j * n)..<((j + 1) * n)])
    }

    /// Replaces the slot called `name` (used when moments are averaged by the server).
    public mutating func setSlot(_ name: String, _ values: [Float]) {
        guard let j = names.firstIndex(of: name) else { return }
        let n = slotCount
        precondition(values.count == n, "slot \(name) expects \(n) values")
        storage.replaceSubrange((j * n)..<((j + 1) * n), with: values)
    }

    /// Calls `body` with a function that returns slot `j` as a mutable buffer.
    @inline(__always)
    public mutating func withSlots<R>(_ body: (_ slot: (Int) -> UnsafeMutableBufferPointer<Float>) -> R) -> R {
        let n = slotCount
        return storage.withUnsafeMutableBufferPointer { base in
            body { j in UnsafeMutableBufferPointer(rebasing: base[(j * n)..<((j + 1) * n)]) }
        }
    }
}

/// Everything an optimizer remembers between steps. A value: a client can keep it across rounds
/// (*persist*), drop it (*reset*), or send its moments to be averaged (*aggregate*).
public struct OptimizerState: Codable, Sendable, Equatable {
    /// Steps taken so far; the next step is `step + 1` (bias corrections and schedules use it).
    public var step: Int
    /// One entry per transform of the optimizer's chain, in chain order.
    public var transforms: [TransformState]
    /// Lookahead's slow weights (nil unless the optimizer is wrapped in Lookahead).
    public var slowWeights: [Float]?

    public init(step: Int = 0, transforms: [TransformState], slowWeights: [Float]? = nil) {
        self.step = step
        self.transforms = transforms
        self.slowWeights = slowWeights
    }

    /// Floats held in all slots (what sending this state moves).
    public var storageCount: Int { transforms.reduce(0) { $0 + $1.storage.count } }

    /// The first buffer called `name` in any transform (e.g. `"m"`, `"v"`), for inspection.
    public func buffer(named name: String) -> [Float]? {
        for t in transforms { if let b = t[name] { return b } }
        return nil
    }
}

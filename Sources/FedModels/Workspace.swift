/// Scratch memory for one network's forward and backward passes, reused across batches so a
/// training step allocates nothing once warmed up. Owned by one trainer; not shared.
public final class Workspace {
    /// `activations[0]` is the gathered input batch; `activations[i + 1]` layer i's output.
    private(set) var activations: [UnsafeMutablePointer<Float>] = []
    /// `deltas[i]`: dLoss/d`activations[i]`.
    private(set) var deltas: [UnsafeMutablePointer<Float>] = []
    /// Shared by the layers in turn: transposes, one sample's conv patches, pixel-major outputs.
    private(set) var scratch = UnsafeMutablePointer<Float>.allocate(capacity: 0)
    /// Each max-pool layer's winners (nil for other layers).
    private(set) var argmax: [UnsafeMutablePointer<Int32>?] = []
    /// Each group-norm layer's per-sample, per-group means then reciprocal deviations; each
    /// dropout layer's mask.
    private(set) var stats: [UnsafeMutablePointer<Float>?] = []
    private var statCapacities: [Int] = []
    /// Each residual block's workspaces: its body's, then its shortcut's (empty for others).
    private(set) var children: [[Workspace]] = []
    private var capacities: [Int] = []
    private var scratchCapacity = 0
    private var argmaxCapacities: [Int] = []

    public init() {}

    /// Floats per buffer for `rows` samples: one per activation, then the scratch.
    private static func sizes(
        for network: Network, rows: Int
    ) -> (
        buffers: [Int], scratch: Int, argmax: [Int], stats: [Int]
    ) {
        let rows = max(rows, 1)
        let buffers = [network.inputCount * rows] + network.plan.map { $0.outputCount * rows }
        var scratch = 0
        var argmax: [Int] = []
        var stats: [Int] = []
        for layer in network.plan {
            var pooled = 0
            var groupStats = 0
            switch layer.spec {
            case .dense:
                let weights = layer.inputCount * layer.outputCount
                scratch = max(scratch, weights, rows * (layer.inputCount + layer.outputCount))
            case .conv2d:
                scratch = max(scratch, LayerKernels.convScratch(layer))
            case .maxPool2d:
                pooled = layer.outputCount * rows
            case .groupNorm(let groups):
                groupStats = 2 * rows * groups
            case .dropout:
                groupStats = rows * layer.outputCount
            case .batchNorm:
                groupStats = 3 * layer.input[0]
            case .avgPool2d, .relu, .flatten, .residual:
                break
            }
            argmax.append(pooled)
            stats.append(groupStats)
        }
        return (buffers, scratch, argmax, stats)
    }

    /// All the floats a pass over `rows` samples holds (activations, deltas and scratch).
    static func floats(for network: Network, rows: Int) -> Int {
        let s = sizes(for: network, rows: rows)
        let children = network.plan.reduce(0) { sum, layer in
            layer.children.reduce(sum) { $0 + floats(for: $1, rows: rows) }
        }
        return 2 * s.buffers.reduce(0, +) + s.scratch + s.argmax.reduce(0, +)
            + s.stats.reduce(0, +) + children
    }

    func prepare(for network: Network, rows: Int) {
        prepareOwn(for: network, rows: rows)
        if children.map(\.count) != network.plan.map(\.children.count) {
            children = network.plan.map { layer in layer.children.map { _ in Workspace() } }
        }
        for (layer, workspaces) in zip(network.plan, children) {
            for (child, workspace) in zip(layer.children, workspaces) { workspace.prepare(for: child, rows: rows) }
        }
    }

    private func prepareOwn(for network: Network, rows: Int) {
        let needed = Self.sizes(for: network, rows: rows)
        if needed.buffers.count == capacities.count && zip(needed.buffers, capacities).allSatisfy({ $0 <= $1 })
            && needed.scratch <= scratchCapacity && needed.argmax.count == argmaxCapacities.count
            && zip(needed.argmax, argmaxCapacities).allSatisfy({ $0 <= $1 })
            && needed.stats.count == statCapacities.count && zip(needed.stats, statCapacities).allSatisfy({ $0 <= $1 })
        {
            return
        }
        release()
        capacities = needed.buffers
        activations = needed.buffers.map { UnsafeMutablePointer<Float>.allocate(capacity: $0) }
        deltas = needed.buffers.map { UnsafeMutablePointer<Float>.allocate(capacity: $0) }
        scratch = .allocate(capacity: needed.scratch)
        scratchCapacity = needed.scratch
        argmaxCapacities = needed.argmax
        argmax = needed.argmax.map { $0 > 0 ? UnsafeMutablePointer<Int32>.allocate(capacity: $0) : nil }
        statCapacities = needed.stats
        stats = needed.stats.map { $0 > 0 ? UnsafeMutablePointer<Float>.allocate(capacity: $0) : nil }
    }

    private func release() {
        activations.forEach { $0.deallocate() }
        deltas.forEach { $0.deallocate() }
        argmax.forEach { $0?.deallocate() }
        stats.forEach { $0?.deallocate() }
        stats = []
        statCapacities = []
        scratch.deallocate()
        scratch = .allocate(capacity: 0)
        scratchCapacity = 0
        activations = []
        deltas = []
        argmax = []
        capacities = []
        argmaxCapacities = []
    }

    deinit { release() }
}

import FedData
import FedOptim
import FedProtocol
import FedTopology
import FedTransport
import FedWire
import Foundation

/// What FedSim reads from strangers and files, as functions of raw bytes: the wire decoder, the
/// topology parser and the data loaders. Each must turn any input into a value or a typed error
/// — never a crash, a trap or a hang. `fedsim-fuzz` runs them under libFuzzer
/// (`Scripts/fuzz.sh`); `FuzzCorpusTests` replays the committed corpora and mutations of them.
public enum FuzzTarget: String, CaseIterable, Sendable {
    case wire, topology, csv, libsvm, idx, npy

    /// Feeds `bytes` to the target. Returns whether the input was accepted (for statistics).
    @discardableResult
    public func run(_ bytes: [UInt8]) -> Bool {
        switch self {
        case .wire: return Self.wire(bytes)
        case .topology: return Self.topology(bytes)
        case .csv, .libsvm, .idx, .npy: return Self.file(self, bytes)
        }
    }

    /// Frames from bytes: byte 0 says how many (1–6); then a little-endian u16 length for each
    /// frame but the last, which takes the rest (lengths past the end are cut short).
    static func frames(_ bytes: [UInt8]) -> [Frame] {
        guard let first = bytes.first else { return [[]] }
        let count = Int(first % 6) + 1
        var position = 1
        var lengths: [Int] = []
        for _ in 0..<(count - 1) {
            guard position + 2 <= bytes.count else { break }
            lengths.append(Int(bytes[position]) | Int(bytes[position + 1]) << 8)
            position += 2
        }
        var frames: [Frame] = []
        for length in lengths {
            let end = min(bytes.count, position + length)
            frames.append(Array(bytes[position..<end]))
            position = end
        }
        frames.append(Array(bytes[min(position, bytes.count)...]))
        return frames
    }

    /// The inverse of `frames`: a message's frames as one fuzz input.
    static func input(_ frames: [Frame]) -> [UInt8] {
        var bytes: [UInt8] = [UInt8(frames.count - 1)]
        for frame in frames.dropLast() { bytes += [UInt8(frame.count & 0xFF), UInt8(frame.count >> 8)] }
        return bytes + frames.joined()
    }

    /// Valid inputs to start a corpus from (`fedsim-fuzz seeds TARGET DIR`).
    public var seeds: [[UInt8]] {
        switch self {
        case .wire:
            let weights = [Float](repeating: 0.5, count: 8)
            let update = ClientUpdate(
                round: 3, clientID: 2, sampleCount: 10, delta: weights, trainLoss: 0.25, steps: 4,
                state: Self.template)
            let messages: [WireMessage] = [
                .hello(ranges: [0...3, 6...6]), .welcome(roundsCompleted: 2, runID: 9), .heartbeat,
                .task(ClientTask(round: 3, clientID: 2, globalWeights: weights, sharedState: Self.template)),
                .update(update), .error(code: .wrongRun, message: "another run"), .shutdown,
            ]
            return messages.map { Self.input(Self.codec.encode($0).map(\.received)) }
        case .topology:
            return [
                "data: {source: blobs}\nmodel: {kind: softmax}\nclients: {optimizer: {name: adamw}}\n",
                "seed: 3\nrounds: 2\ndata: {source: blobs, shape: [1, 1, 2]}\n"
                    + "partition: {scheme: dirichlet, alpha: 0.3}\n"
                    + "model: {kind: sequential, layers: [{layer: conv2d, channels: 2, kernel: 1}, relu, flatten,\n"
                    + "  {layer: residual, body: [{layer: dense, units: 2}]}, {layer: dense, units: 3}]}\n"
                    + "clients: {count: 4, optimizer: {name: adam_l2, lr: 0.01, weight_decay: 0.1}, state: aggregate}\n"
                    + "server: {strategy: fedadam, lr: 0.1}\ncluster: {endpoint: tcp://127.0.0.1:5555, quorum: 0.5}\n",
            ].map { Array($0.utf8) }
        case .csv: return [Array("label,a,b\n0,1.5,2\n1,-3e2,4\n".utf8), Array("1,0.5\n0,0.25\n".utf8)]
        case .libsvm: return [Array("1 1:0.5 3:2\n-1 2:1.5\n".utf8)]
        case .idx:
            // A 2-image 2×2 file: the labels' read of the same bytes fails (another magic), the images' succeeds.
            return [[0, 0, 8, 3, 0, 0, 0, 2, 0, 0, 0, 2, 0, 0, 0, 2, 1, 2, 3, 4, 5, 6, 7, 8]]
        case .npy:
            // One-dimensional whole numbers: valid as features (one each) and as labels.
            return [NumpyArrayFile.float32([0, 1, 2, 1], shape: [4]), NumpyArrayFile.float32([3, 0], shape: [2, 1])]
        }
    }

    static let codec = WireCodec(fingerprint: 0x1234_5678_9ABC_DEF0, parameterCount: 8)
    static let template = OptimizerState(step: 0, transforms: [TransformState(names: ["m", "v"], count: 8)])

    static func wire(_ bytes: [UInt8]) -> Bool {
        (try? codec.decode(frames(bytes), stateTemplate: { $0 % 2 == 0 ? template : nil })) != nil
    }

    static func topology(_ bytes: [UInt8]) -> Bool {
        let text = String(decoding: bytes, as: UTF8.self)
        return (try? Topology.parse(text, file: "fuzz.yaml", baseDirectory: "/nonexistent-fedsim-fuzz")) != nil
    }

    /// Loaders read files: the input goes to a scratch file (in /dev/shm when there is one).
    static let scratch: String = {
        let dir = FileManager.default.fileExists(atPath: "/dev/shm") ? "/dev/shm" : NSTemporaryDirectory()
        return dir + "/fedsim-fuzz-\(getpid())"
    }()

    static func file(_ target: FuzzTarget, _ bytes: [UInt8]) -> Bool {
        let path = scratch + "." + target.rawValue
        guard FileManager.default.createFile(atPath: path, contents: Data(bytes)) else { return false }
        defer { try? FileManager.default.removeItem(atPath: path) }
        switch target {
        case .csv: return (try? DataLoader.csv(path: path, task: .classification)) != nil
        case .libsvm: return (try? DataLoader.libsvm(path: path, task: .classification)) != nil
        case .npy: return (try? DataLoader.npy(features: path, targets: path, task: .classification)) != nil
        default:
            // The same bytes as images and as labels (a label file is the one-dimensional case).
            return (try? DataLoader.idx(images: path, labels: path)) != nil
        }
    }
}

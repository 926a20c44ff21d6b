import FedOptim
import FedProtocol
import FedTransport

/// Encodes and strictly decodes protocol messages for one run (fingerprint) and one model size.
public struct WireCodec: Sendable {
    public static let version: UInt16 = 1
    public static let magic: [UInt8] = Array("FSIM".utf8)
    public static let maxParameters = 1 << 27
    public static let maxRanges = 4096
    public static let maxErrorBytes = 1024

    public let fingerprint: UInt64
    public let parameterCount: Int

    public init(fingerprint: UInt64, parameterCount: Int) {
        precondition(parameterCount <= WireCodec.maxParameters)
        self.fingerprint = fingerprint
        self.parameterCount = parameterCount
    }

    /// libzmq's per-frame limit for this model (`ZMQ_MAXMSGSIZE`).
    public var maxFrameBytes: Int64 { Int64(16 * parameterCount + 65_536) }

    enum Kind: UInt8 {
        case hello = 1
        case welcome, task, update, heartbeat, error, shutdown
    }

    // MARK: - Encoding

    public func encode(_ message: WireMessage) -> [OutgoingFrame] {
        var w = ByteWriter()
        func header(_ kind: Kind) {
            w.bytes(WireCodec.magic)
            w.u16(WireCodec.version)
            w.u8(kind.rawValue)
            w.u8(0)
            w.u64(fingerprint)
        }
        switch message {
        case .hello(let ranges):
            header(.hello)
            w.u32(UInt32(ranges.count))
            for r in ranges {
                w.u32(UInt32(r.lowerBound))
                w.u32(UInt32(r.upperBound))
            }
            return [.bytes(w.data)]
        case .welcome(let rounds, let runID):
            header(.welcome)
            w.u32(UInt32(rounds))
            w.u64(runID)
            return [.bytes(w.data)]
        case .task(let task):
            header(.task)
            w.u32(UInt32(task.round))
            w.u32(UInt32(task.clientID))
            w.u8(task.sharedState == nil ? 0 : 1)
            w.zeros(3)
            return [.bytes(w.data), .floats(task.globalWeights)] + (task.sharedState.map(encodeState) ?? [])
        case .update(let u):
            header(.update)
            w.u32(UInt32(u.round))
            w.u32(UInt32(u.clientID))
            w.u32(UInt32(u.sampleCount))
            w.u32(UInt32(u.steps))
            w.f64(u.trainLoss)
            w.u8(u.state == nil ? 0 : 1)
            w.u8(u.effectiveDecay == nil ? 0 : 1)
            w.zeros(2)
            w.f32(Float(u.effectiveDecay ?? 0))
            return [.bytes(w.data), .floats(u.delta)] + (u.state.map(encodeState) ?? [])
        case .heartbeat:
            header(.heartbeat)
            return [.bytes(w.data)]
        case .error(let code, let message):
            header(.error)
            w.u16(code.rawValue)
            w.bytes(Array(Array(message.utf8).prefix(WireCodec.maxErrorBytes)))
            return [.bytes(w.data)]
        case .shutdown:
            header(.shutdown)
            return [.bytes(w.data)]
        }
    }

    private func encodeState(_ s: OptimizerState) -> [OutgoingFrame] {
        [.bytes(OptimizerStateCoding.header(s)), .floats(OptimizerStateCoding.data(s))]
    }

    // MARK: - Decoding

    /// Decodes a message. `template` supplies slot names for a decoded optimizer state.
    public func decode(_ frames: [Frame], stateTemplate: ((Int) -> OptimizerState?)? = nil) throws -> WireMessage {
        guard let head = frames.first, head.count >= 16 else {
            throw ProtocolError.truncatedHeader(bytes: frames.first?.count ?? 0)
        }
        var r = ByteReader(head)
        guard r.bytes(4) == WireCodec.magic else { throw ProtocolError.badMagic }
        let version = r.u16()
        guard version == WireCodec.version else { throw ProtocolError.unsupportedVersion(version) }
        let rawKind = r.u8()
        guard let kind = Kind(rawValue: rawKind) else { throw ProtocolError.unknownKind(rawKind) }
        _ = r.u8()
        let fp = r.u64()
        // An ERROR is read whatever run it names: it is how a peer of another run learns that it is.
        guard fp == fingerprint || kind == .error else {
            throw ProtocolError.fingerprintMismatch(got: fp, expected: fingerprint)
        }
        let name = "\(kind)".uppercased()
        func expect(length: Int, frames count: Int) throws {
            guard head.count == length else {
                throw ProtocolError.headerLength(kind: name, got: head.count, expected: length)
            }
            guard frames.count == count else {
                throw ProtocolError.frameCount(kind: name, got: frames.count, expected: count)
            }
        }
        switch kind {
        case .hello:
            guard head.count >= 20 else { throw ProtocolError.headerLength(kind: name, got: head.count, expected: 20) }
            let n = Int(r.u32())
            guard (1...WireCodec.maxRanges).contains(n) else {
                throw ProtocolError.invalidField("HELLO range count \(n) is outside [1, \(WireCodec.maxRanges)]")
            }
            try expect(length: 20 + 8 * n, frames: 1)
            let ranges = try (0..<n).map { _ -> ClosedRange<Int> in
                let a = Int(r.u32())
                let b = Int(r.u32())
                guard a <= b else { throw ProtocolError.invalidField("HELLO range \(a)-\(b) is empty") }
                return a...b
            }
            return .hello(ranges: ranges)
        case .welcome:
            try expect(length: 28, frames: 1)
            let rounds = Int(r.u32())
            return .welcome(roundsCompleted: rounds, runID: r.u64())
        case .task:
            guard head.count == 28 else { throw ProtocolError.headerLength(kind: name, got: head.count, expected: 28) }
            let round = Int(r.u32())
            let client = Int(r.u32())
            let hasState = r.u8()
            guard hasState <= 1 else { throw ProtocolError.invalidField("TASK has_state is \(hasState)") }
            try expect(length: 28, frames: hasState == 1 ? 4 : 2)
            let weights = try Float32LE.decode(
                frames[1], what: "TASK weights", count: parameterCount, requireFinite: true)
            let state =
                hasState == 1
                ? try decodeState(frames[2], frames[3], client: client, template: stateTemplate, requireFinite: true)
                : nil
            return .task(ClientTask(round: round, clientID: client, globalWeights: weights, sharedState: state))
        case .update:
            guard head.count == 48 else { throw ProtocolError.headerLength(kind: name, got: head.count, expected: 48) }
            let round = Int(r.u32())
            let client = Int(r.u32())
            let samples = Int(r.u32())
            let steps = Int(r.u32())
            let loss = r.f64()
            let hasState = r.u8()
            guard hasState <= 1 else { throw ProtocolError.invalidField("UPDATE has_state is \(hasState)") }
            let hasDecay = r.u8()
            guard hasDecay <= 1 else { throw ProtocolError.invalidField("UPDATE has_decay is \(hasDecay)") }
            _ = r.u16()
            let decay = r.f32()
            guard samples > 0 else { throw ProtocolError.invalidField("UPDATE sample count is 0") }
            try expect(length: 48, frames: hasState == 1 ? 4 : 2)
            // An update's values are checked where every run mode checks them: `UpdateValidator`.
            let delta = try Float32LE.decode(
                frames[1], what: "UPDATE delta", count: parameterCount, requireFinite: false)
            let state =
                hasState == 1
                ? try decodeState(frames[2], frames[3], client: client, template: stateTemplate, requireFinite: false)
                : nil
            return .update(
                ClientUpdate(
                    round: round, clientID: client, sampleCount: samples, delta: delta,
                    trainLoss: loss, steps: steps, state: state, effectiveDecay: hasDecay == 1 ? Double(decay) : nil))
        case .heartbeat:
            try expect(length: 16, frames: 1)
            return .heartbeat
        case .error:
            guard head.count >= 18, head.count <= 18 + WireCodec.maxErrorBytes else {
                throw ProtocolError.headerLength(kind: name, got: head.count, expected: 18)
            }
            try expect(length: head.count, frames: 1)
            let code = r.u16()
            return .error(
                code: ProtocolErrorCode(rawValue: code), message: String(decoding: head[18...], as: UTF8.self))
        case .shutdown:
            try expect(length: 16, frames: 1)
            return .shutdown
        }
    }

    private func decodeState(
        _ header: Frame, _ data: Frame, client: Int, template: ((Int) -> OptimizerState?)?,
        requireFinite: Bool
    ) throws -> OptimizerState {
        guard let base = template?(client) else {
            throw ProtocolError.stateShape("client \(client) does not use an aggregated optimizer state")
        }
        return try OptimizerStateCoding.decode(header: header, data: data, template: base, requireFinite: requireFinite)
    }
}

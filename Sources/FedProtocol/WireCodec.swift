import FedOptim
import FedTransport

/// Everything the decoder rejects. Each case names what was wrong; none of them traps.
public enum ProtocolError: Error, Equatable, CustomStringConvertible {
    case truncatedHeader(bytes: Int)
    case badMagic
    case unsupportedVersion(UInt16)
    case unknownKind(UInt8)
    case headerLength(kind: String, got: Int, expected: Int)
    case frameCount(kind: String, got: Int, expected: Int)
    case fingerprintMismatch(got: UInt64, expected: UInt64)
    case payloadLength(what: String, got: Int, expected: Int)
    case nonFinite(what: String, index: Int)
    case stateShape(String)
    case invalidField(String)

    public var description: String {
        switch self {
        case let .truncatedHeader(b): "header truncated: \(b) bytes, at least 16 needed"
        case .badMagic: "bad magic (not a FedSim message)"
        case let .unsupportedVersion(v): "unsupported protocol version \(v) (this side speaks \(WireCodec.version))"
        case let .unknownKind(k): "unknown message kind \(k)"
        case let .headerLength(kind, got, expected): "\(kind) header has \(got) bytes, expected \(expected)"
        case let .frameCount(kind, got, expected): "\(kind) has \(got) frames, expected \(expected)"
        case let .fingerprintMismatch(got, expected):
            "run fingerprint \(String(got, radix: 16)) differs from ours (\(String(expected, radix: 16))): a different topology, seed or data"
        case let .payloadLength(what, got, expected): "\(what) has \(got) bytes, expected \(expected)"
        case let .nonFinite(what, index): "\(what) holds a non-finite value at index \(index)"
        case let .stateShape(s): "optimizer state shape: \(s)"
        case let .invalidField(s): s
        }
    }

    /// A short stable name for counters (`rejected.bad_magic`, …).
    public var counterName: String {
        switch self {
        case .truncatedHeader: "truncated"
        case .badMagic: "bad_magic"
        case .unsupportedVersion: "wrong_version"
        case .unknownKind: "unknown_kind"
        case .headerLength: "bad_header_length"
        case .frameCount: "bad_frame_count"
        case .fingerprintMismatch: "wrong_run"
        case .payloadLength: "bad_payload_length"
        case .nonFinite: "non_finite"
        case .stateShape: "bad_state"
        case .invalidField: "invalid_field"
        }
    }
}

/// The messages of protocol version 1 (`docs/PROTOCOL.md`).
public enum WireMessage: Sendable, Equatable {
    case hello(ranges: [ClosedRange<Int>])
    /// `runID` names this run instance (kept across coordinator restarts), so a client process
    /// restores only optimizer-state snapshots it wrote for this very run.
    case welcome(roundsCompleted: Int, runID: UInt64)
    case task(ClientTask)
    case update(ClientUpdate)
    case heartbeat
    case error(code: UInt16, message: String)
    case shutdown

    public var kindName: String {
        switch self {
        case .hello: "HELLO"
        case .welcome: "WELCOME"
        case .task: "TASK"
        case .update: "UPDATE"
        case .heartbeat: "HEARTBEAT"
        case .error: "ERROR"
        case .shutdown: "SHUTDOWN"
        }
    }
}

extension ClientTask: Equatable {
    public static func == (a: ClientTask, b: ClientTask) -> Bool {
        a.round == b.round && a.clientID == b.clientID && a.globalWeights.map(\.bitPattern) == b.globalWeights.map(\.bitPattern)
            && a.sharedState == b.sharedState
    }
}

/// Encodes and strictly decodes protocol messages for one run (fingerprint) and one model size.
public struct WireCodec: Sendable {
    public static let version: UInt16 = 1
    public static let magic: [UInt8] = Array("FSIM".utf8)
    public static let maxParameters = 1 << 27
    public static let maxRanges = 4096
    public static let maxErrorBytes = 1024

    public let fingerprint: UInt64
    public let parameterCount: Int
    /// The expected optimizer-state shape for a client: (slots, scalars) per transform.
    public let stateShape: @Sendable (Int) -> [(slots: Int, scalars: Int)]?

    public init(fingerprint: UInt64, parameterCount: Int, stateShape: @escaping @Sendable (Int) -> [(slots: Int, scalars: Int)]?) {
        precondition(parameterCount <= WireCodec.maxParameters)
        self.fingerprint = fingerprint
        self.parameterCount = parameterCount
        self.stateShape = stateShape
    }

    /// libzmq's per-frame limit for this model (`ZMQ_MAXMSGSIZE`).
    public var maxFrameBytes: Int64 { Int64(16 * parameterCount + 65_536) }

    enum Kind: UInt8 {
        case hello = 1, welcome, task, update, heartbeat, error, shutdown
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
        case let .hello(ranges):
            header(.hello)
            w.u32(UInt32(ranges.count))
            for r in ranges { w.u32(UInt32(r.lowerBound)); w.u32(UInt32(r.upperBound)) }
            return [.bytes(w.data)]
        case let .welcome(rounds, runID):
            header(.welcome)
            w.u32(UInt32(rounds))
            w.u64(runID)
            return [.bytes(w.data)]
        case let .task(task):
            header(.task)
            w.u32(UInt32(task.round)); w.u32(UInt32(task.clientID)); w.u8(task.sharedState == nil ? 0 : 1); w.zeros(3)
            return [.bytes(w.data), .floats(task.globalWeights)] + (task.sharedState.map(encodeState) ?? [])
        case let .update(u):
            header(.update)
            w.u32(UInt32(u.round)); w.u32(UInt32(u.clientID)); w.u32(UInt32(u.sampleCount)); w.u32(UInt32(u.steps))
            w.f64(u.trainLoss); w.u8(u.state == nil ? 0 : 1); w.zeros(7)
            return [.bytes(w.data), .floats(u.delta)] + (u.state.map(encodeState) ?? [])
        case .heartbeat:
            header(.heartbeat)
            return [.bytes(w.data)]
        case let .error(code, message):
            header(.error)
            w.u16(code)
            w.bytes(Array(Array(message.utf8).prefix(WireCodec.maxErrorBytes)))
            return [.bytes(w.data)]
        case .shutdown:
            header(.shutdown)
            return [.bytes(w.data)]
        }
    }

    private func encodeState(_ s: OptimizerState) -> [OutgoingFrame] {
        var w = ByteWriter()
        w.u64(UInt64(s.step))
        w.u16(UInt16(s.transforms.count))
        var data: [Float] = []
        data.reserveCapacity(s.transforms.reduce(0) { $0 + $1.storage.count })
        for t in s.transforms {
            w.u16(UInt16(t.names.count)); w.u16(UInt16(t.scalars.count))
            for x in t.scalars { w.f64(x) }
            data += t.storage
        }
        return [.bytes(w.data), .floats(data)]
    }

    // MARK: - Decoding

    /// Decodes a message. `template` supplies slot names for a decoded optimizer state.
    public func decode(_ frames: [Frame], stateTemplate: ((Int) -> OptimizerState?)? = nil) throws -> WireMessage {
        guard let head = frames.first, head.count >= 16 else { throw ProtocolError.truncatedHeader(bytes: frames.first?.count ?? 0) }
        var r = ByteReader(head)
        guard r.bytes(4) == WireCodec.magic else { throw ProtocolError.badMagic }
        let version = r.u16()
        guard version == WireCodec.version else { throw ProtocolError.unsupportedVersion(version) }
        let rawKind = r.u8()
        guard let kind = Kind(rawValue: rawKind) else { throw ProtocolError.unknownKind(rawKind) }
        _ = r.u8()
        let fp = r.u64()
        // An ERROR is read whatever run it names: it is how a peer of another run learns that it is.
        guard fp == fingerprint || kind == .error else { throw ProtocolError.fingerprintMismatch(got: fp, expected: fingerprint) }
        let name = "\(kind)".uppercased()
        func expect(length: Int, frames count: Int) throws {
            guard head.count == length else { throw ProtocolError.headerLength(kind: name, got: head.count, expected: length) }
            guard frames.count == count else { throw ProtocolError.frameCount(kind: name, got: frames.count, expected: count) }
        }
        switch kind {
        case .hello:
            guard head.count >= 20 else { throw ProtocolError.headerLength(kind: name, got: head.count, expected: 20) }
            let n = Int(r.u32())
            guard (1...WireCodec.maxRanges).contains(n) else { throw ProtocolError.invalidField("HELLO range count \(n) is outside [1, \(WireCodec.maxRanges)]") }
            try expect(length: 20 + 8 * n, frames: 1)
            let ranges = try (0..<n).map { _ -> ClosedRange<Int> in
                let a = Int(r.u32()), b = Int(r.u32())
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
            let round = Int(r.u32()), client = Int(r.u32()), hasState = r.u8()
            guard hasState <= 1 else { throw ProtocolError.invalidField("TASK has_state is \(hasState)") }
            try expect(length: 28, frames: hasState == 1 ? 4 : 2)
            let weights = try floats(frames[1], what: "TASK weights", count: parameterCount, requireFinite: true)
            let state = hasState == 1
                ? try decodeState(frames[2], frames[3], client: client, template: stateTemplate, requireFinite: true) : nil
            return .task(ClientTask(round: round, clientID: client, globalWeights: weights, sharedState: state))
        case .update:
            guard head.count == 48 else { throw ProtocolError.headerLength(kind: name, got: head.count, expected: 48) }
            let round = Int(r.u32()), client = Int(r.u32()), samples = Int(r.u32()), steps = Int(r.u32())
            let loss = r.f64(), hasState = r.u8()
            guard hasState <= 1 else { throw ProtocolError.invalidField("UPDATE has_state is \(hasState)") }
            guard samples > 0 else { throw ProtocolError.invalidField("UPDATE sample count is 0") }
            try expect(length: 48, frames: hasState == 1 ? 4 : 2)
            // An update's values are checked where every run mode checks them: `UpdateValidator`.
            let delta = try floats(frames[1], what: "UPDATE delta", count: parameterCount, requireFinite: false)
            let state = hasState == 1
                ? try decodeState(frames[2], frames[3], client: client, template: stateTemplate, requireFinite: false) : nil
            return .update(ClientUpdate(round: round, clientID: client, sampleCount: samples, delta: delta,
                                        trainLoss: loss, steps: steps, state: state))
        case .heartbeat:
            try expect(length: 16, frames: 1)
            return .heartbeat
        case .error:
            guard head.count >= 18, head.count <= 18 + WireCodec.maxErrorBytes else {
                throw ProtocolError.headerLength(kind: name, got: head.count, expected: 18)
            }
            try expect(length: head.count, frames: 1)
            let code = r.u16()
            return .error(code: code, message: String(decoding: head[18...], as: UTF8.self))
        case .shutdown:
            try expect(length: 16, frames: 1)
            return .shutdown
        }
    }

    private func floats(_ frame: Frame, what: String, count: Int, requireFinite: Bool) throws -> [Float] {
        guard frame.count == 4 * count else { throw ProtocolError.payloadLength(what: what, got: frame.count, expected: 4 * count) }
        // One copy into aligned Float storage (the wire is little-endian, as is every host FedSim
        // builds for), then one pass for finiteness.
        let values = frame.withUnsafeBytes { raw in
            [Float](unsafeUninitializedCapacity: count) { buffer, initialized in
                UnsafeMutableRawBufferPointer(buffer).copyMemory(from: raw)
                initialized = count
            }
        }
        if requireFinite, let bad = values.firstIndex(where: { !$0.isFinite }) { throw ProtocolError.nonFinite(what: what, index: bad) }
        return values
    }

    private func decodeState(_ headerFrame: Frame, _ dataFrame: Frame, client: Int,
                             template: ((Int) -> OptimizerState?)?, requireFinite: Bool) throws -> OptimizerState {
        guard let shape = stateShape(client), let base = template?(client) else {
            throw ProtocolError.stateShape("client \(client) does not use an aggregated optimizer state")
        }
        var r = ByteReader(headerFrame)
        guard headerFrame.count >= 10 else { throw ProtocolError.stateShape("state header has \(headerFrame.count) bytes") }
        let step = r.u64()
        let t = Int(r.u16())
        guard t == shape.count else { throw ProtocolError.stateShape("\(t) transforms, expected \(shape.count)") }
        var expectedLength = 10
        var result = base
        for (i, s) in shape.enumerated() {
            guard r.remaining >= 4 else { throw ProtocolError.stateShape("state header truncated") }
            let slots = Int(r.u16()), scalars = Int(r.u16())
            guard slots == s.slots, scalars == s.scalars else {
                throw ProtocolError.stateShape("transform \(i) has \(slots) slots and \(scalars) scalars, expected \(s.slots) and \(s.scalars)")
            }
            guard r.remaining >= 8 * scalars else { throw ProtocolError.stateShape("state header truncated") }
            result.transforms[i].scalars = (0..<scalars).map { _ in r.f64() }
            if requireFinite, let bad = result.transforms[i].scalars.firstIndex(where: { !$0.isFinite }) {
                throw ProtocolError.nonFinite(what: "state scalars", index: bad)
            }
            expectedLength += 4 + 8 * scalars
        }
        guard headerFrame.count == expectedLength else {
            throw ProtocolError.payloadLength(what: "state header", got: headerFrame.count, expected: expectedLength)
        }
        guard step <= UInt64(Int32.max) else { throw ProtocolError.stateShape("step \(step) is implausible") }
        result.step = Int(step)
        let total = shape.reduce(0) { $0 + $1.slots } * parameterCount
        let values = try floats(dataFrame, what: "state data", count: total, requireFinite: requireFinite)
        var offset = 0
        for i in result.transforms.indices {
            let n = result.transforms[i].storage.count
            result.transforms[i].storage = Array(values[offset..<(offset + n)])
            offset += n
        }
        result.slowWeights = nil
        return result
    }

    /// The shape of an optimizer state, as `stateShape` reports it.
    public static func shape(of state: OptimizerState) -> [(slots: Int, scalars: Int)] {
        state.transforms.map { ($0.names.count, $0.scalars.count) }
    }
}

/// Little-endian writer.
struct ByteWriter {
    var data: [UInt8] = []
    mutating func bytes(_ b: [UInt8]) { data += b }
    mutating func zeros(_ n: Int) { data += [UInt8](repeating: 0, count: n) }
    mutating func u8(_ x: UInt8) { data.append(x) }
    mutating func u16(_ x: UInt16) { withUnsafeBytes(of: x.littleEndian) { data += $0 } }
    mutating func u32(_ x: UInt32) { withUnsafeBytes(of: x.littleEndian) { data += $0 } }
    mutating func u64(_ x: UInt64) { withUnsafeBytes(of: x.littleEndian) { data += $0 } }
    mutating func f64(_ x: Double) { u64(x.bitPattern) }
}

/// Little-endian reader; callers check lengths first, and reading past the end yields zeros
/// rather than trapping.
struct ByteReader {
    let data: [UInt8]
    var offset = 0
    init(_ data: [UInt8]) { self.data = data }
    var remaining: Int { data.count - offset }
    mutating func bytes(_ n: Int) -> [UInt8] {
        let end = min(offset + n, data.count)
        defer { offset = offset + n }
        return offset < end ? Array(data[offset..<end]) : []
    }
    mutating func u8() -> UInt8 { uint(1) }
    mutating func u16() -> UInt16 { uint(2) }
    mutating func u32() -> UInt32 { uint(4) }
    mutating func u64() -> UInt64 { uint(8) }
    mutating func f64() -> Double { Double(bitPattern: u64()) }
    private mutating func uint<T: FixedWidthInteger>(_ n: Int) -> T {
        var x: T = 0
        for i in 0..<n where offset + i < data.count { x |= T(data[offset + i]) << (8 * i) }
        offset += n
        return x
    }
}

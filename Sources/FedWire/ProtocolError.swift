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
        case .truncatedHeader(let b): "header truncated: \(b) bytes, at least 16 needed"
        case .badMagic: "bad magic (not a FedSim message)"
        case .unsupportedVersion(let v): "unsupported protocol version \(v) (this side speaks \(WireCodec.version))"
        case .unknownKind(let k): "unknown message kind \(k)"
        case .headerLength(let kind, let got, let expected): "\(kind) header has \(got) bytes, expected \(expected)"
        case .frameCount(let kind, let got, let expected): "\(kind) has \(got) frames, expected \(expected)"
        case .fingerprintMismatch(let got, let expected):
            "run fingerprint \(String(got, radix: 16)) differs from ours (\(String(expected, radix: 16))): a "
                + "different topology, seed or data"
        case .payloadLength(let what, let got, let expected): "\(what) has \(got) bytes, expected \(expected)"
        case .nonFinite(let what, let index): "\(what) holds a non-finite value at index \(index)"
        case .stateShape(let s): "optimizer state shape: \(s)"
        case .invalidField(let s): s
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

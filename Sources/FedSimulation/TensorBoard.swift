import FedCoordinator
import Foundation

/// TensorBoard event files, written by FedSim itself: `tb/events.out.tfevents.<time>.fedsim` in
/// each run directory, one `Event` per round holding one scalar per metric, so
/// `tensorboard --logdir runs/` shows every run (a comparison's runs by variant and seed, as its
/// directories are named).
///
/// The framing is TFRecord — u64 length, masked CRC-32C of the length, the bytes, masked CRC-32C
/// of the bytes, all little-endian — around `tensorflow.Event` protos: `wall_time` (1, double),
/// `step` (2, int64), `file_version` (3, string) in the first record, `summary` (5) with
/// repeated `Summary.Value` (1) of `tag` (1, string) and `simple_value` (2, float).
public enum TensorBoard {
    /// The scalars of one round, by tag (absent metrics are left out).
    public static func scalars(_ r: RoundRecord) -> [(tag: String, value: Double)] {
        let all: [(String, Double?)] = [
            ("test/loss", r.testLoss), ("test/accuracy", r.testAccuracy), ("test/rmse", r.testRMSE),
            ("test/r2", r.testR2), ("train/loss", r.trainLoss), ("train/global_loss", r.globalTrainLoss),
            ("validation/loss", r.validationLoss), ("validation/accuracy", r.validationAccuracy),
            ("validation/rmse", r.validationRMSE), ("weights/norm", r.weightNorm), ("update/norm", r.updateNorm),
            ("clients/drift", r.clientDrift), ("clients/effective_decay", r.effectiveDecay),
            ("clients/accuracy_mean", r.clientAccuracyMean), ("clients/accuracy_p10", r.clientAccuracyP10),
            ("clients/accuracy_min", r.clientAccuracyMin), ("clients/participants", Double(r.participants.count)),
            ("clients/stragglers", r.stragglers.map(Double.init)), ("round/seconds", r.seconds),
            ("round/payload_bytes", Double(r.payloadBytes)), ("clock/round_seconds", r.virtualSeconds),
            ("clock/time", r.virtualTime), ("clients/offline", r.offline.map(Double.init)),
        ]
        return all.compactMap { tag, value in value.flatMap { $0.isFinite ? (tag, $0) : nil } }
    }

    /// The file's first record: the event-file version TensorBoard checks.
    public static func versionRecord(wallTime: Double) -> [UInt8] {
        var event = Proto()
        event.double(1, wallTime)
        event.string(3, "brain.Event:2")
        return record(event.bytes)
    }

    /// One round as one record.
    public static func roundRecord(_ r: RoundRecord, wallTime: Double) -> [UInt8] {
        var summary = Proto()
        for (tag, value) in scalars(r) {
            var v = Proto()
            v.string(1, tag)
            v.float(2, Float(value))
            summary.message(1, v.bytes)
        }
        var event = Proto()
        event.double(1, wallTime)
        event.varint(2, UInt64(r.round))
        event.message(5, summary.bytes)
        return record(event.bytes)
    }

    /// A TFRecord around `data`.
    static func record(_ data: [UInt8]) -> [UInt8] {
        var out: [UInt8] = []
        withUnsafeBytes(of: UInt64(data.count).littleEndian) { out += $0 }
        let lengthCRC = maskedCRC(out)
        withUnsafeBytes(of: lengthCRC.littleEndian) { out += $0 }
        out += data
        withUnsafeBytes(of: maskedCRC(data).littleEndian) { out += $0 }
        return out
    }

    /// TFRecord's mask: the CRC rotated right by 15 bits plus 0xa282ead8.
    static func maskedCRC(_ bytes: [UInt8]) -> UInt32 {
        let crc = crc32c(bytes)
        return ((crc >> 15) | (crc << 17)) &+ 0xa282_ead8
    }

    /// CRC-32C (Castagnoli, reflected polynomial 0x82F63B78), table-driven.
    static func crc32c(_ bytes: [UInt8]) -> UInt32 {
        var crc: UInt32 = 0xFFFF_FFFF
        for b in bytes { crc = crcTable[Int((crc ^ UInt32(b)) & 0xFF)] ^ (crc >> 8) }
        return crc ^ 0xFFFF_FFFF
    }

    private static let crcTable: [UInt32] = (0..<256).map { i in
        var c = UInt32(i)
        for _ in 0..<8 { c = c & 1 == 1 ? (c >> 1) ^ 0x82F6_3B78 : c >> 1 }
        return c
    }

    /// Just enough protobuf encoding for `Event` and `Summary`.
    struct Proto {
        var bytes: [UInt8] = []
        mutating func key(_ field: Int, _ wireType: Int) { raw(UInt64(field << 3 | wireType)) }
        mutating func raw(_ v: UInt64) {
            var v = v
            while v >= 0x80 {
                bytes.append(UInt8(v & 0x7F) | 0x80)
                v >>= 7
            }
            bytes.append(UInt8(v))
        }
        mutating func varint(_ field: Int, _ v: UInt64) {
            key(field, 0)
            raw(v)
        }
        mutating func double(_ field: Int, _ v: Double) {
            key(field, 1)
            withUnsafeBytes(of: v.bitPattern.littleEndian) { bytes += $0 }
        }
        mutating func float(_ field: Int, _ v: Float) {
            key(field, 5)
            withUnsafeBytes(of: v.bitPattern.littleEndian) { bytes += $0 }
        }
        mutating func message(_ field: Int, _ m: [UInt8]) {
            key(field, 2)
            raw(UInt64(m.count))
            bytes += m
        }
        mutating func string(_ field: Int, _ s: String) { message(field, Array(s.utf8)) }
    }
}

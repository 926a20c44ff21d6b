import FedCoordinator
import FedSimulation
import FedTopology
import Foundation
import XCTest

/// The TensorBoard event files a run writes, read back with an independent TFRecord and
/// protobuf reader (a bitwise CRC-32C, not the writer's table): every record's CRCs hold, the
/// first is the version event, and every round's scalars equal `rounds.jsonl`.
/// `Scripts/tensorboard-check.sh` does the same with TensorBoard's own `EventAccumulator`.
final class TensorBoardTests: XCTestCase {
    func crc32c(_ bytes: some Collection<UInt8>) -> UInt32 {
        var crc: UInt32 = 0xFFFF_FFFF
        for b in bytes {
            crc ^= UInt32(b)
            for _ in 0..<8 { crc = crc & 1 == 1 ? (crc >> 1) ^ 0x82F6_3B78 : crc >> 1 }
        }
        return ~crc
    }
    func masked(_ bytes: some Collection<UInt8>) -> UInt32 {
        let c = crc32c(bytes)
        return ((c >> 15) | (c << 17)) &+ 0xa282_ead8
    }
    func u32(_ b: ArraySlice<UInt8>) -> UInt32 {
        b.enumerated().reduce(0) { $0 | UInt32($1.element) << (8 * $1.offset) }
    }

    /// Protobuf fields of `bytes`: (field, wire type, payload bytes or varint value).
    func fields(_ bytes: [UInt8]) -> [(Int, Int, [UInt8], UInt64)] {
        var out: [(Int, Int, [UInt8], UInt64)] = []
        var i = 0
        func varint() -> UInt64 {
            var v: UInt64 = 0
            var shift: UInt64 = 0
            while true {
                let b = bytes[i]
                i += 1
                v |= UInt64(b & 0x7F) << shift
                if b < 0x80 { return v }
                shift += 7
            }
        }
        while i < bytes.count {
            let key = varint()
            let field = Int(key >> 3)
            let type = Int(key & 7)
            switch type {
            case 0: out.append((field, 0, [], varint()))
            case 1:
                out.append((field, 1, Array(bytes[i..<(i + 8)]), 0))
                i += 8
            case 2:
                let n = Int(varint())
                out.append((field, 2, Array(bytes[i..<(i + n)]), 0))
                i += n
            case 5:
                out.append((field, 5, Array(bytes[i..<(i + 4)]), 0))
                i += 4
            default: XCTFail("wire type \(type)")
            }
        }
        return out
    }

    func testEventFilesHoldEveryRoundsScalars() throws {
        XCTAssertEqual(crc32c(Array("123456789".utf8)), 0xE306_9283, "the CRC-32C check value")
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("fedsim-tb-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: dir) }
        let t = try Topology.parse(
            """
            rounds: 4
            data: {source: blobs, count: 300, features: 4, classes: 3, validation_fraction: 0.2}
            model: {kind: softmax}
            clients: {count: 4, optimizer: {name: adamw, lr: 0.05}}
            """, baseDirectory: "/tmp")
        let prepared = try PreparedRun.prepare(t)
        let run = try RunDirectory(out: dir.path, for: prepared)
        _ = try InProcessRun.run(prepared, directory: run, events: EventLog(file: nil, prefix: "run", echo: false))
        let files = try FileManager.default.contentsOfDirectory(atPath: dir.appendingPathComponent("tb").path)
        XCTAssertEqual(files.count, 1)
        XCTAssertTrue(files[0].hasPrefix("events.out.tfevents."))
        let bytes = [UInt8](try Data(contentsOf: dir.appendingPathComponent("tb").appendingPathComponent(files[0])))
        var records: [[UInt8]] = []
        var i = 0
        while i < bytes.count {
            let length = Int(u32(bytes[i..<(i + 4)])) | Int(u32(bytes[(i + 4)..<(i + 8)])) << 32
            XCTAssertEqual(u32(bytes[(i + 8)..<(i + 12)]), masked(bytes[i..<(i + 8)]), "length CRC")
            let data = Array(bytes[(i + 12)..<(i + 12 + length)])
            XCTAssertEqual(u32(bytes[(i + 12 + length)..<(i + 16 + length)]), masked(data), "data CRC")
            records.append(data)
            i += 16 + length
        }
        XCTAssertEqual(i, bytes.count)
        XCTAssertEqual(records.count, 1 + 5, "the version event and rounds 0–4")
        XCTAssertTrue(fields(records[0]).contains { $0.0 == 3 && $0.2 == Array("brain.Event:2".utf8) })
        let jsonl = try String(contentsOf: dir.appendingPathComponent("rounds.jsonl"), encoding: .utf8)
            .split(separator: "\n").map { try JSONSerialization.jsonObject(with: Data($0.utf8)) as! [String: Any] }
        for (n, record) in records.dropFirst().enumerated() {
            let f = fields(record)
            XCTAssertEqual(f.first { $0.0 == 2 }?.3, UInt64(n), "step = round")
            var scalars: [String: Float] = [:]
            for summary in f where summary.0 == 5 {
                for value in fields(summary.2) where value.0 == 1 {
                    let v = fields(value.2)
                    let tag = String(decoding: v.first { $0.0 == 1 }!.2, as: UTF8.self)
                    scalars[tag] = Float(bitPattern: u32(v.first { $0.0 == 2 }!.2[...]))
                }
            }
            XCTAssertEqual(scalars["test/accuracy"], Float(jsonl[n]["test_accuracy"] as! Double))
            XCTAssertEqual(scalars["test/loss"], Float(jsonl[n]["test_loss"] as! Double))
            XCTAssertEqual(scalars["validation/accuracy"], Float(jsonl[n]["validation_accuracy"] as! Double))
            XCTAssertEqual(scalars["weights/norm"], Float(jsonl[n]["weight_norm"] as! Double))
            if n > 0 { XCTAssertEqual(scalars["train/loss"], Float(jsonl[n]["train_loss"] as! Double)) }
        }
    }
}

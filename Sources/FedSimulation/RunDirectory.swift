import FedCoordinator
import FedTopology
import FedTransport
import FedWire
import Foundation

/// The directory a run writes: `topology.yaml` (resolved), `partition.txt`, `rounds.jsonl`,
/// `rounds.csv`, `clients.jsonl`, and at the end `final_weights.f32` and `summary.json`.
/// Every round is appended and handed to the OS before the next starts, so an interrupted run
/// keeps every finished round; whole files are written atomically (temporary file + rename).
public final class RunDirectory {
    public let url: URL
    /// Whether this process created the directory (a new run), not reopened it (a resume).
    public let isNew: Bool
    private let rounds: FileHandle
    private let roundsCSV: FileHandle
    private let clients: FileHandle
    /// `tb/events.out.tfevents.*`: the rounds for TensorBoard (`TensorBoard`).
    private let tensorBoard: FileHandle
    private let encoder: JSONEncoder

    static let csvHeader =
        "round,test_loss,test_accuracy,test_rmse,test_r2,train_loss,"
        + "weight_norm,update_norm,participant_count,samples,payload_bytes,seconds,weights_hash,"
        + "validation_loss,validation_accuracy,validation_rmse,client_drift,global_train_loss,client_accuracy_mean,"
        + "client_accuracy_p10,client_accuracy_min,effective_decay,stragglers,virtual_seconds,virtual_time,offline\n"

    /// Creates the directory of a new run of `prepared`: `--out` when given (it must not exist
    /// yet), else `runs/<name>-<UTC time>/`.
    public convenience init(out: String?, for prepared: PreparedRun) throws {
        try self.init(
            parent: out == nil ? URL(fileURLWithPath: "runs") : nil, exactly: out.map { URL(fileURLWithPath: $0) },
            topology: prepared.topology, partitionSummary: prepared.partitionListing())
    }

    /// Creates `parent/<name>-<UTC time>/` (or `exactly` when given; it must not exist yet).
    public init(parent: URL?, exactly: URL?, topology: Topology, partitionSummary: String) throws {
        let fm = FileManager.default
        if let exactly {
            url = exactly
        } else {
            let formatter = DateFormatter()
            formatter.dateFormat = "yyyyMMdd-HHmmss"
            formatter.timeZone = TimeZone(identifier: "UTC")
            var candidate = parent!.appendingPathComponent("\(topology.name)-\(formatter.string(from: Date()))")
            var n = 2
            while fm.fileExists(atPath: candidate.path) {
                candidate = parent!.appendingPathComponent("\(topology.name)-\(formatter.string(from: Date()))-\(n)")
                n += 1
            }
            url = candidate
        }
        if fm.fileExists(atPath: url.path) {
            throw RunInputError("\(url.path) already exists; choose another --out (FedSim never overwrites a run)")
        }
        try fm.createDirectory(at: url, withIntermediateDirectories: true)
        isNew = true
        try RunDirectory.writeAtomically(
            Data(topology.resolvedYAML().utf8), to: url.appendingPathComponent("topology.yaml"))
        try RunDirectory.writeAtomically(
            Data((partitionSummary + "\n").utf8), to: url.appendingPathComponent("partition.txt"))
        let dir = url
        func create(_ name: String, _ initial: String = "") throws -> FileHandle {
            let path = dir.appendingPathComponent(name).path
            guard fm.createFile(atPath: path, contents: Data(initial.utf8)) else {
                throw RunInputError("cannot create \(path)")
            }
            let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
            try handle.seekToEnd()
            return handle
        }
        rounds = try create("rounds.jsonl")
        roundsCSV = try create("rounds.csv", RunDirectory.csvHeader)
        clients = try create("clients.jsonl")
        tensorBoard = try RunDirectory.createTensorBoardFile(in: url, records: [])
        encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        encoder.nonConformingFloatEncodingStrategy = .convertToString(
            positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
    }

    /// Removes a new run's directory before any round ran (its endpoint could not be bound, say),
    /// so a retry with the same `--out` is not blocked by a half-made run. A reopened run's
    /// directory is never touched.
    public func discardUnstarted() {
        guard isNew else { return }
        try? rounds.close()
        try? roundsCSV.close()
        try? clients.close()
        try? tensorBoard.close()
        try? FileManager.default.removeItem(at: url)
    }

    /// Replaces `tb/` with one event file holding `records`, open for appending.
    static func createTensorBoardFile(in url: URL, records: [RoundRecord]) throws -> FileHandle {
        let tb = url.appendingPathComponent("tb")
        try? FileManager.default.removeItem(at: tb)
        try FileManager.default.createDirectory(at: tb, withIntermediateDirectories: true)
        let now = Date().timeIntervalSince1970
        let file = tb.appendingPathComponent("events.out.tfevents.\(Int(now)).fedsim")
        var bytes = TensorBoard.versionRecord(wallTime: now)
        for r in records { bytes += TensorBoard.roundRecord(r, wallTime: now) }
        try RunDirectory.writeAtomically(Data(bytes), to: file)
        let handle = try FileHandle(forWritingTo: file)
        try handle.seekToEnd()
        return handle
    }

    /// Reopens the directory of an interrupted run: keeps the metrics of rounds up to `round`
    /// (adding `record`/`clientRecords` for it if the run stopped before writing them) and
    /// drops anything after it, rewriting each file atomically.
    public init(resuming url: URL, through round: Int, record: RoundRecord?, clientRecords: [ClientRecord]) throws {
        isNew = false
        self.url = url
        encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        encoder.nonConformingFloatEncodingStrategy = .convertToString(
            positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        let decoder = JSONDecoder()
        decoder.nonConformingFloatDecodingStrategy = .convertFromString(
            positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        func lines(_ name: String) -> [Substring] {
            (try? String(contentsOf: url.appendingPathComponent(name), encoding: .utf8))?.split(separator: "\n") ?? []
        }
        var records = lines("rounds.jsonl").compactMap { try? decoder.decode(RoundRecord.self, from: Data($0.utf8)) }
            .filter { $0.round <= round }
        var clients = lines("clients.jsonl").compactMap { try? decoder.decode(ClientRecord.self, from: Data($0.utf8)) }
            .filter { $0.round <= round }
        if let record, !records.contains(where: { $0.round == record.round }) {
            records.append(record)
            clients.removeAll { $0.round == record.round }
            clients += clientRecords
        }
        let encoder = self.encoder
        func jsonl<T: Encodable>(_ items: [T]) throws -> Data {
            try items.reduce(into: Data()) { $0 += try encoder.encode($1) + Data("\n".utf8) }
        }
        try RunDirectory.writeAtomically(jsonl(records), to: url.appendingPathComponent("rounds.jsonl"))
        try RunDirectory.writeAtomically(
            Data((RunDirectory.csvHeader + records.map(RunDirectory.csvRow).joined()).utf8),
            to: url.appendingPathComponent("rounds.csv"))
        try RunDirectory.writeAtomically(jsonl(clients), to: url.appendingPathComponent("clients.jsonl"))
        try? FileManager.default.removeItem(at: url.appendingPathComponent("summary.json"))
        func open(_ name: String) throws -> FileHandle {
            let handle = try FileHandle(forWritingTo: url.appendingPathComponent(name))
            try handle.seekToEnd()
            return handle
        }
        rounds = try open("rounds.jsonl")
        roundsCSV = try open("rounds.csv")
        self.clients = try open("clients.jsonl")
        tensorBoard = try RunDirectory.createTensorBoardFile(in: url, records: records)
    }

    /// Appends one round (and its participants) to the metrics files.
    public func append(_ record: RoundRecord, clients clientRecords: [ClientRecord]) throws {
        try rounds.write(contentsOf: encoder.encode(record) + Data("\n".utf8))
        try roundsCSV.write(contentsOf: Data(RunDirectory.csvRow(record).utf8))
        var lines = Data()
        for c in clientRecords { lines += try encoder.encode(c) + Data("\n".utf8) }
        if !lines.isEmpty { try clients.write(contentsOf: lines) }
        try tensorBoard.write(
            contentsOf: Data(TensorBoard.roundRecord(record, wallTime: Date().timeIntervalSince1970)))
    }

    /// Writes the final weights (raw little-endian Float32) and a summary, then closes the files.
    public func finish(weights: [Float], summary: RunSummary) throws {
        try RunDirectory.writeAtomically(Float32LE.data(weights), to: url.appendingPathComponent("final_weights.f32"))
        try RunDirectory.writeAtomically(summary.encoded(), to: url.appendingPathComponent("summary.json"))
        try? rounds.close()
        try? roundsCSV.close()
        try? clients.close()
        try? tensorBoard.close()
    }

    /// With `metrics.client_accuracy`: the final model's accuracy on each client's own data.
    public static let clientAccuracyFile = "client_accuracy.csv"

    static func csvRow(_ r: RoundRecord) -> String {
        func o(_ x: Double?) -> String { x.map { "\($0)" } ?? "" }
        return [
            String(r.round), o(r.testLoss), o(r.testAccuracy), o(r.testRMSE), o(r.testR2), o(r.trainLoss),
            o(r.weightNorm), o(r.updateNorm), String(r.participants.count), String(r.samples), String(r.payloadBytes),
            String(format: "%.6f", r.seconds), r.weightsHash, o(r.validationLoss), o(r.validationAccuracy),
            o(r.validationRMSE), o(r.clientDrift), o(r.globalTrainLoss), o(r.clientAccuracyMean),
            o(r.clientAccuracyP10), o(r.clientAccuracyMin), o(r.effectiveDecay), r.stragglers.map(String.init) ?? "",
            o(r.virtualSeconds), o(r.virtualTime), r.offline.map(String.init) ?? "",
        ].joined(separator: ",") + "\n"
    }

    /// Writes `data` to a temporary file beside `url`, then renames it over `url`.
    /// Writes `parts` one after another to a temporary file beside `url` (straight from their
    /// storage, no joined copy), then renames it over `url`.
    public static func writeAtomically(parts: [OutgoingFrame], to url: URL) throws {
        let temporary = url.deletingLastPathComponent().appendingPathComponent(
            ".\(url.lastPathComponent).tmp-\(getpid())")
        func failure() -> RunInputError {
            RunInputError("cannot write \(url.path): \(String(cString: strerror(errno)))")
        }
        let fd = open(temporary.path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw failure() }
        var ok = true
        for part in parts where ok {
            ok = part.withBytes { pointer, count in
                var offset = 0
                while offset < count {
                    let n = write(fd, pointer.map { $0 + offset }, count - offset)
                    if n < 0 && errno == EINTR { continue }
                    guard n > 0 else { return false }
                    offset += n
                }
                return true
            }
        }
        let error = ok ? nil : failure()
        close(fd)
        if let error {
            unlink(temporary.path)
            throw error
        }
        if rename(temporary.path, url.path) != 0 {
            let error = failure()
            unlink(temporary.path)
            throw error
        }
    }

    public static func writeAtomically(_ data: Data, to url: URL) throws {
        let temporary = url.deletingLastPathComponent().appendingPathComponent(
            ".\(url.lastPathComponent).tmp-\(getpid())")
        try data.write(to: temporary)
        if rename(temporary.path, url.path) != 0 {
            try? FileManager.default.removeItem(at: temporary)
            throw RunInputError("cannot write \(url.path): \(String(cString: strerror(errno)))")
        }
    }
}
